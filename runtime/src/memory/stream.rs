//! One stream: an append-only [`Log`] of messages numbered from 1, with
//! message-id deduplication, and the durable consumers bound to it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::consumer::Consumer;
use super::subject;
use crate::bus::transport::{OutgoingMessage, PublishAck, StoredMessage, StreamConfig};
use crate::contract::headers::names;
use crate::contract::timestamp::Timestamp;

/// A stored message with the broker-clock instant it was stored at.
#[derive(Debug)]
struct Entry {
    message: StoredMessage,
    stored_at: Instant,
}

/// The messages of a stream and the message ids it remembers.
#[derive(Debug)]
pub(crate) struct Log {
    name: String,
    /// Oldest first, by sequence; deleted messages leave gaps.
    entries: VecDeque<Entry>,
    first_sequence: u64,
    last_sequence: u64,
    /// Message id -> (sequence, stored at), within the duplicate window.
    ids: HashMap<String, (u64, Instant)>,
    /// Message ids in the order they were stored, to forget them in order.
    id_order: VecDeque<(Instant, String)>,
}

/// What appending did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) sequence: u64,
    pub(crate) duplicate: bool,
}

impl Log {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            entries: VecDeque::new(),
            first_sequence: 1,
            last_sequence: 0,
            ids: HashMap::new(),
            id_order: VecDeque::new(),
        }
    }

    /// Stores `message` unless a message with its `Nats-Msg-Id` was stored
    /// within `duplicate_window` before `now`.
    pub(crate) fn append(
        &mut self,
        message: OutgoingMessage,
        now: Instant,
        duplicate_window: Duration,
    ) -> Appended {
        self.forget_ids(now, duplicate_window);
        let id = message.headers.get(names::MSG_ID).map(str::to_owned);
        if let Some(id) = &id
            && let Some((sequence, _)) = self.ids.get(id)
        {
            return Appended {
                sequence: *sequence,
                duplicate: true,
            };
        }
        self.last_sequence += 1;
        let sequence = self.last_sequence;
        if let Some(id) = id {
            self.ids.insert(id.clone(), (sequence, now));
            self.id_order.push_back((now, id));
        }
        self.entries.push_back(Entry {
            message: StoredMessage {
                stream: self.name.clone(),
                sequence,
                subject: message.subject,
                headers: message.headers,
                payload: message.payload,
                published: Timestamp::now(),
            },
            stored_at: now,
        });
        Appended {
            sequence,
            duplicate: false,
        }
    }

    fn forget_ids(&mut self, now: Instant, window: Duration) {
        while let Some((stored, _)) = self.id_order.front() {
            if now.saturating_duration_since(*stored) < window {
                break;
            }
            if let Some((stored, id)) = self.id_order.pop_front()
                && self.ids.get(&id).is_some_and(|(_, at)| *at == stored)
            {
                self.ids.remove(&id);
            }
        }
    }

    /// Removes the oldest message if it is at least `max_age` old.
    fn pop_older_than(&mut self, now: Instant, max_age: Duration) -> Option<StoredMessage> {
        let oldest = self.entries.front()?;
        if now.saturating_duration_since(oldest.stored_at) < max_age {
            return None;
        }
        let removed = self.entries.pop_front()?;
        self.first_sequence = self.first_sequence.max(removed.message.sequence + 1);
        Some(removed.message)
    }

    /// The index in `entries` of the first message at `sequence` or later.
    fn index_of(&self, sequence: u64) -> usize {
        self.entries
            .partition_point(|entry| entry.message.sequence < sequence)
    }

    /// The message with `sequence`, if still stored.
    pub(crate) fn get(&self, sequence: u64) -> Option<&StoredMessage> {
        if sequence < self.first_sequence {
            return None;
        }
        self.entries
            .get(self.index_of(sequence))
            .map(|entry| &entry.message)
            .filter(|message| message.sequence == sequence)
    }

    /// Removes the message with `sequence`, returning it if it was stored.
    pub(crate) fn remove(&mut self, sequence: u64) -> Option<StoredMessage> {
        self.get(sequence)?;
        let index = self.index_of(sequence);
        self.entries.remove(index).map(|entry| entry.message)
    }

    fn from(&self, sequence: u64) -> impl Iterator<Item = &StoredMessage> {
        self.entries
            .range(self.index_of(sequence)..)
            .map(|entry| &entry.message)
    }

    /// The first stored sequence at or after `sequence` whose subject
    /// matches `filter`.
    pub(crate) fn next_matching(&self, sequence: u64, filter: &str) -> Option<u64> {
        self.from(sequence)
            .find(|message| subject::matches(filter, &message.subject))
            .map(|message| message.sequence)
    }

    /// How many stored messages at or after `sequence` match `filter`.
    pub(crate) fn count_matching(&self, sequence: u64, filter: &str) -> u64 {
        self.from(sequence)
            .filter(|message| subject::matches(filter, &message.subject))
            .count() as u64
    }

    /// Every stored message, oldest first.
    pub(crate) fn messages(&self) -> impl Iterator<Item = &StoredMessage> {
        self.entries.iter().map(|entry| &entry.message)
    }

    /// The sequence of the last message stored (0 when none was).
    pub(crate) fn last_sequence(&self) -> u64 {
        self.last_sequence
    }
}

/// A stream: its configuration, log and consumers.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) config: StreamConfig,
    pub(crate) log: Log,
    pub(crate) consumers: BTreeMap<String, Consumer>,
}

impl Stream {
    pub(crate) fn new(config: StreamConfig) -> Self {
        Self {
            log: Log::new(config.name.clone()),
            config,
            consumers: BTreeMap::new(),
        }
    }

    /// Whether the stream stores messages published on `subject`.
    pub(crate) fn stores(&self, subject: &str) -> bool {
        self.config
            .subjects
            .iter()
            .any(|pattern| subject::matches(pattern, subject))
    }

    /// Stores `message` (or recognises it as a duplicate) and returns the ack.
    pub(crate) fn append(&mut self, message: OutgoingMessage, now: Instant) -> PublishAck {
        self.expire(now);
        let subject = message.subject.clone();
        let appended = self.log.append(message, now, self.config.duplicate_window);
        if !appended.duplicate {
            for consumer in self.consumers.values_mut() {
                consumer.on_stored(&subject);
            }
        }
        PublishAck {
            stream: self.config.name.clone(),
            sequence: appended.sequence,
            duplicate: appended.duplicate,
        }
    }

    /// Deletes the message at `sequence`: no consumer delivers it again.
    /// Whether it was stored.
    pub(crate) fn delete(&mut self, sequence: u64) -> bool {
        let Some(removed) = self.log.remove(sequence) else {
            return false;
        };
        for consumer in self.consumers.values_mut() {
            consumer.on_removed(removed.sequence, &removed.subject);
        }
        true
    }

    /// Removes messages older than the stream's `max_age`.
    pub(crate) fn expire(&mut self, now: Instant) {
        let Some(max_age) = self.config.max_age else {
            return;
        };
        while let Some(removed) = self.log.pop_older_than(now, max_age) {
            for consumer in self.consumers.values_mut() {
                consumer.on_removed(removed.sequence, &removed.subject);
            }
        }
    }
}

/// A message stored with no headers, for tests of this module's users.
#[cfg(test)]
pub(crate) fn outgoing(subject: &str, id: Option<&str>) -> OutgoingMessage {
    let mut headers = crate::contract::headers::Headers::new();
    if let Some(id) = id {
        headers.append(names::MSG_ID, id);
    }
    OutgoingMessage {
        subject: subject.into(),
        headers,
        payload: bytes::Bytes::from_static(b"{}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Log, Stream, outgoing};
    use crate::bus::transport::StreamConfig;

    #[test]
    fn sequences_count_from_one_and_ids_deduplicate_within_the_window() {
        let now = Instant::now();
        let window = Duration::from_secs(10);
        let mut log = Log::new("EVENTS");
        assert_eq!(
            log.append(outgoing("a", Some("x")), now, window).sequence,
            1
        );
        assert_eq!(log.append(outgoing("a", None), now, window).sequence, 2);
        let again = log.append(
            outgoing("a", Some("x")),
            now + Duration::from_secs(9),
            window,
        );
        assert_eq!((again.sequence, again.duplicate), (1, true));
        let later = log.append(
            outgoing("a", Some("x")),
            now + Duration::from_secs(10),
            window,
        );
        assert_eq!((later.sequence, later.duplicate), (3, false));
        assert_eq!(
            log.messages().map(|m| m.sequence).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn deleted_messages_leave_gaps_that_reads_skip() {
        let now = Instant::now();
        let window = Duration::from_secs(10);
        let mut log = Log::new("EVENTS");
        for subject in ["a", "b", "a", "a"] {
            log.append(outgoing(subject, None), now, window);
        }
        assert_eq!(log.remove(3).map(|m| m.sequence), Some(3));
        assert!(log.remove(3).is_none(), "deleting twice finds nothing");
        assert!(log.get(3).is_none());
        assert_eq!(log.get(4).map(|m| m.sequence), Some(4));
        assert_eq!(log.next_matching(2, "a"), Some(4));
        assert_eq!(log.next_matching(5, "a"), None);
        assert_eq!(log.count_matching(1, "a"), 2);
        assert_eq!(log.remove(1).map(|m| m.subject), Some("a".to_owned()));
        assert_eq!(
            log.messages().map(|m| m.sequence).collect::<Vec<_>>(),
            [2, 4]
        );
        assert_eq!(log.last_sequence(), 4, "sequences are never reused");
    }

    #[test]
    fn max_age_removes_old_messages() {
        let now = Instant::now();
        let config = StreamConfig::new(["a"]).max_age(Duration::from_secs(5));
        let mut stream = Stream::new(config);
        stream.append(outgoing("a", None), now);
        stream.append(outgoing("a", None), now + Duration::from_secs(3));
        stream.expire(now + Duration::from_secs(6));
        assert_eq!(
            stream
                .log
                .messages()
                .map(|m| m.sequence)
                .collect::<Vec<_>>(),
            [2]
        );
        assert!(stream.log.get(1).is_none());
        assert_eq!(stream.log.next_matching(1, "a"), Some(2));
    }
}
