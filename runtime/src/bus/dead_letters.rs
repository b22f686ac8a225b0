//! [`DeadLetters`]: list, show, replay and purge the dead letters a
//! listener left in the dead-letter stream.
//!
//! A listener that gives up on a message publishes a dead letter on
//! `typebus.dlq.<queue group>` (stored by the `TYPEBUS_DLQ` stream unless
//! configured otherwise, see [`Bus::with_dead_letter_stream`]): the
//! original body and headers plus `Typebus-Dlq-*` headers saying why, how
//! often it was delivered, and where the original was. This module reads
//! them back (without a consumer: nothing is acknowledged), sends them back
//! to their original subject once the listener is fixed, and deletes them.
//!
//! The message-id rule of a replay is documented on [`DeadLetters`].

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::bus::Bus;
use crate::bus::dead_letter;
use crate::bus::listener::DeadLetterKind;
use crate::bus::transport::{OutgoingMessage, PublishAck, StoredMessage, Transport};
use crate::contract::headers::{Headers, names};
use crate::contract::timestamp::Timestamp;
use crate::error::{DeadLetterError, DeadLetterErrorKind, StreamError, StreamErrorKind};

/// The prefix of every `Typebus-Dlq-*` header.
const DLQ_HEADER_PREFIX: &str = "Typebus-Dlq-";

/// The dead letters of one dead-letter stream: list, show, replay, purge.
///
/// Got from [`Bus::dead_letters`] (the bus's dead-letter stream) or made
/// with [`DeadLetters::new`]. Works on every transport that reads and
/// deletes stored messages (NATS and memory).
///
/// # Replay and message ids
///
/// A replayed event must reach the listener again even though its first
/// copy's `Nats-Msg-Id` may still be inside the stream's duplicate window
/// (two minutes by default): republished under its original id, it would
/// be taken for a duplicate and never stored. So a replay carries a new id,
/// derived from the dead letter alone:
///
/// ```text
/// Nats-Msg-Id: <original id>~replay~<dead-letter sequence>
/// Typebus-Replay-Of: <original id>
/// ```
///
/// - The original id is the `Nats-Msg-Id` the event was first published
///   with (kept on the dead letter as `Typebus-Dlq-Msg-Id`). An event that
///   had none (a foreign publisher) is named by its position:
///   `typebus:<stream>:<sequence>`. An event that was itself a replay keeps
///   the id of the first publication (its `Typebus-Replay-Of`), so ids do
///   not grow with each round.
/// - The dead-letter sequence makes the id unique per dead letter: an event
///   replayed, dead-lettered again and replayed again gets a new id and is
///   delivered again.
/// - It is deterministic: replaying the same dead letter twice sends the
///   same id. A replay is published, acknowledged by the stream, and only
///   then deleted from the dead-letter stream; if the process stops between
///   the two, the dead letter stays, and the next replay's publish is
///   recognised as a duplicate by the stream (within its duplicate window)
///   instead of being delivered twice, and the dead letter is deleted then.
///   After the window has passed, such a second replay is delivered again.
///
/// Handlers see the replayed event with its original body and headers
/// (`Typebus-Version`, `Typebus-Event`, tracing headers...), the new
/// `Nats-Msg-Id`, and `Typebus-Replay-Of` with the original id (for handlers
/// that deduplicate on their own). No `Typebus-Dlq-*` header is sent.
///
/// A dead letter whose original did not fit beside the dead-letter headers
/// holds only the first bytes of the body (`Typebus-Dlq-Body-Size`) or lacks
/// the original headers (`Typebus-Dlq-Headers-Dropped`): its replay reads
/// the whole original from its stream (`Typebus-Dlq-Stream`,
/// `Typebus-Dlq-Sequence`), and fails
/// ([`DeadLetterErrorKind::Incomplete`]) if the original is gone.
///
/// ```no_run
/// # async fn demo(bus: typebus::Bus) -> Result<(), typebus::DeadLetterError> {
/// use typebus::{DeadLetterFilter, DeadLetterKind};
///
/// let dead_letters = bus.dead_letters();
/// for group in dead_letters.list(None).await? {
///     println!("{}: {} dead letters", group.group, group.count);
/// }
/// // The handler is fixed: send its rejected events back.
/// let filter = DeadLetterFilter::new("orders-service").kind(DeadLetterKind::Rejected);
/// let report = dead_letters.replay(&filter, false).await?;
/// println!("{} replayed, {} failed", report.done.len(), report.failed.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DeadLetters {
    transport: Arc<dyn Transport>,
    stream: String,
}

/// Which dead letters of one queue group to replay or purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterFilter {
    group: String,
    kind: Option<DeadLetterKind>,
    subject: Option<String>,
}

impl DeadLetterFilter {
    /// Every dead letter of queue group `group` (the name the listener was
    /// configured with, e.g. `orders-service`).
    pub fn new(group: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            kind: None,
            subject: None,
        }
    }

    /// Only those dead-lettered for `kind` (`Typebus-Dlq-Kind`).
    pub fn kind(mut self, kind: DeadLetterKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Only those originally published on `subject`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The queue group.
    pub fn group_name(&self) -> &str {
        &self.group
    }

    fn matches(&self, letter: &DeadLetter) -> bool {
        letter.group == self.group
            && self.kind.is_none_or(|kind| letter.kind == kind.as_str())
            && self
                .subject
                .as_deref()
                .is_none_or(|subject| letter.original_subject.as_deref() == Some(subject))
    }
}

/// One dead letter, as [`DeadLetters::show`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The dead-letter stream that stores it.
    pub stream: String,
    /// Its sequence in the dead-letter stream: what `show`, and the replay
    /// id, name it by.
    pub sequence: u64,
    /// The subject it is stored on (`typebus.dlq.<group>`).
    pub subject: String,
    /// When it was dead-lettered.
    pub published: Timestamp,
    /// The queue group that gave up on it (`Typebus-Dlq-Group`; else the
    /// last token of its subject).
    pub group: String,
    /// Why, as a [`DeadLetterKind`] string (`decode`, `version`, `rejected`,
    /// `exhausted`, `gap`; `unknown` when the header is missing).
    pub kind: String,
    /// The reason in words (`Typebus-Dlq-Reason`).
    pub reason: String,
    /// How many times the original had been delivered.
    pub deliveries: Option<u64>,
    /// The subject the original was published on.
    pub original_subject: Option<String>,
    /// The stream that holds the original.
    pub original_stream: Option<String>,
    /// The original's sequence in that stream.
    pub original_sequence: Option<u64>,
    /// The original's `Nats-Msg-Id`, if it had one.
    pub original_msg_id: Option<String>,
    /// The original's headers, as published: neither the `Typebus-Dlq-*`
    /// headers nor the dead letter's own `Nats-Msg-Id` (the original's is
    /// [`original_msg_id`](Self::original_msg_id)).
    pub headers: Headers,
    /// The original body (only its first bytes when
    /// [`body_size`](Self::body_size) is set).
    pub body: Bytes,
    /// When the original body was cut to fit: its whole size in bytes.
    pub body_size: Option<u64>,
    /// When original headers were left out to fit: how many.
    pub headers_dropped: Option<u64>,
}

impl DeadLetter {
    /// Reads a stored message of the dead-letter stream.
    pub fn from_stored(message: StoredMessage) -> Self {
        let all = &message.headers;
        let text = |name: &str| all.get(name).map(str::to_owned);
        let number = |name: &str| all.get(name).and_then(|value| value.parse::<u64>().ok());
        let mut headers = Headers::with_capacity(all.len());
        for (name, value) in all.iter() {
            if !name.starts_with(DLQ_HEADER_PREFIX) && !name.starts_with("Nats-") {
                headers.append(name, value);
            }
        }
        let group = text(names::DLQ_GROUP).unwrap_or_else(|| {
            message
                .subject
                .strip_prefix(dead_letter::PREFIX)
                .unwrap_or(&message.subject)
                .to_owned()
        });
        Self {
            stream: message.stream,
            sequence: message.sequence,
            group,
            kind: text(names::DLQ_KIND).unwrap_or_else(|| "unknown".to_owned()),
            reason: text(names::DLQ_REASON).unwrap_or_default(),
            deliveries: number(names::DLQ_DELIVERIES),
            original_subject: text(names::DLQ_SUBJECT),
            original_stream: text(names::DLQ_STREAM),
            original_sequence: number(names::DLQ_SEQUENCE),
            original_msg_id: text(names::DLQ_MSG_ID),
            body_size: number(names::DLQ_BODY_SIZE),
            headers_dropped: number(names::DLQ_HEADERS_DROPPED),
            subject: message.subject,
            published: message.published,
            headers,
            body: message.payload,
        }
    }

    /// The contract version of the original (`Typebus-Version`), if it had one.
    pub fn version(&self) -> Option<&str> {
        self.headers.get(names::VERSION)
    }

    /// Whether the dead letter holds the whole original: its body was not
    /// cut and no header was left out.
    pub fn is_complete(&self) -> bool {
        self.body_size.is_none() && self.headers_dropped.is_none()
    }

    /// The id of the first publication: the `Typebus-Replay-Of` of an
    /// original that was itself a replay, else its `Nats-Msg-Id`, else its
    /// position `typebus:<stream>:<sequence>`, else the dead letter's
    /// position `typebus-dlq:<stream>:<sequence>`.
    pub fn original_id(&self) -> String {
        if let Some(first) = self.headers.get(names::REPLAY_OF) {
            return first.to_owned();
        }
        if let Some(id) = &self.original_msg_id {
            return id.clone();
        }
        match (&self.original_stream, self.original_sequence) {
            (Some(stream), Some(sequence)) => format!("typebus:{stream}:{sequence}"),
            _ => format!("typebus-dlq:{}:{}", self.stream, self.sequence),
        }
    }

    /// The `Nats-Msg-Id` its replay is published with:
    /// `<original id>~replay~<dead-letter sequence>` (see
    /// [`DeadLetters`] for why).
    pub fn replay_id(&self) -> String {
        format!("{}~replay~{}", self.original_id(), self.sequence)
    }
}

/// The dead letters of one queue group, counted ([`DeadLetters::list`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The queue group.
    pub group: String,
    /// How many dead letters it has.
    pub count: u64,
    /// The sequence of its oldest dead letter in the dead-letter stream.
    pub first_sequence: u64,
    /// The sequence of its newest.
    pub last_sequence: u64,
    /// How many per kind (`decode`, `version`, `rejected`, `exhausted`,
    /// `gap`), in name order; kinds without dead letters are left out.
    pub kinds: BTreeMap<String, u64>,
    /// How many per original subject and contract version, in order.
    pub events: Vec<EventCount>,
}

/// How many dead letters of one original subject and contract version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCount {
    /// The subject the originals were published on (`unknown` when the
    /// dead letter does not say).
    pub subject: String,
    /// Their `Typebus-Version` header; `None` for originals without one
    /// (publishers outside typebus).
    pub version: Option<String>,
    /// How many.
    pub count: u64,
}

/// One dead letter a replay or purge acted on (or would, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// Its sequence in the dead-letter stream.
    pub sequence: u64,
    /// Its kind (`rejected`...).
    pub kind: String,
    /// The original subject (`unknown` when the dead letter does not say).
    pub subject: String,
    /// For a replay: the `Nats-Msg-Id` it was (or would be) published with.
    pub msg_id: Option<String>,
    /// For a replay that was published: where the stream stored it. With
    /// `duplicate: true`, an earlier replay of the same dead letter had
    /// already stored it (one interrupted before it could delete the dead
    /// letter), and it was not delivered again.
    pub ack: Option<PublishAck>,
}

/// A dead letter a replay or purge could not handle; it stays in the
/// dead-letter stream (unless `error` says it was republished and only the
/// deletion failed, in which case replaying again deletes it without
/// delivering it twice, within the duplicate window).
#[derive(Debug)]
pub struct Failure {
    /// Its sequence in the dead-letter stream.
    pub sequence: u64,
    /// What went wrong.
    pub error: DeadLetterError,
}

/// What [`DeadLetters::replay`] or [`DeadLetters::purge`] did.
#[derive(Debug, Default)]
pub struct Report {
    /// Whether it was a dry run (nothing published or deleted).
    pub dry_run: bool,
    /// The dead letters replayed or purged (or that would be), in order.
    pub done: Vec<Handled>,
    /// Those that failed; the others were still handled.
    pub failed: Vec<Failure>,
}

impl DeadLetters {
    /// The dead letters stored by `stream` (e.g. [`Bus::DEAD_LETTER_STREAM`])
    /// over `transport`.
    pub fn new(transport: Arc<dyn Transport>, stream: impl Into<String>) -> Self {
        Self {
            transport,
            stream: stream.into(),
        }
    }

    /// The dead-letter stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Every dead letter of `group` (every group for `None`), counted per
    /// kind and per original subject and version; groups in name order.
    /// No dead-letter stream yet: no groups.
    pub async fn list(&self, group: Option<&str>) -> Result<Vec<GroupSummary>, DeadLetterError> {
        /// Per (subject, version), while counting.
        type Events = BTreeMap<(String, Option<String>), u64>;
        let mut groups: BTreeMap<String, (GroupSummary, Events)> = BTreeMap::new();
        for letter in self.read(group).await? {
            let (summary, events) = groups.entry(letter.group.clone()).or_insert_with(|| {
                (
                    GroupSummary {
                        group: letter.group.clone(),
                        count: 0,
                        first_sequence: letter.sequence,
                        last_sequence: letter.sequence,
                        kinds: BTreeMap::new(),
                        events: Vec::new(),
                    },
                    BTreeMap::new(),
                )
            });
            summary.count += 1;
            summary.last_sequence = letter.sequence;
            *summary.kinds.entry(letter.kind.clone()).or_default() += 1;
            let subject = letter
                .original_subject
                .clone()
                .unwrap_or_else(|| "unknown".to_owned());
            *events
                .entry((subject, letter.version().map(str::to_owned)))
                .or_default() += 1;
        }
        Ok(groups
            .into_values()
            .map(|(mut summary, events)| {
                summary.events = events
                    .into_iter()
                    .map(|((subject, version), count)| EventCount {
                        subject,
                        version,
                        count,
                    })
                    .collect();
                summary
            })
            .collect())
    }

    /// The dead letter of `group` at `sequence` in the dead-letter stream.
    /// [`DeadLetterErrorKind::NotFound`] when there is none, or it belongs to
    /// another group.
    pub async fn show(&self, group: &str, sequence: u64) -> Result<DeadLetter, DeadLetterError> {
        let not_found = || {
            DeadLetterError::new(DeadLetterErrorKind::NotFound).with_detail(format!(
                "group `{group}` has no dead letter at sequence {sequence} of stream `{}`",
                self.stream
            ))
        };
        let message = match self.transport.get_message(&self.stream, sequence).await {
            Ok(Some(message)) => message,
            Ok(None) => return Err(not_found()),
            Err(err) if err.kind() == StreamErrorKind::NoStream => return Err(not_found()),
            Err(err) => return Err(self.stream_error("reading", err)),
        };
        let letter = DeadLetter::from_stored(message);
        if letter.group != group {
            return Err(not_found());
        }
        Ok(letter)
    }

    /// The dead letters `filter` selects, oldest first.
    pub async fn matching(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, DeadLetterError> {
        if filter.group.is_empty() {
            return Err(DeadLetterError::new(DeadLetterErrorKind::InvalidFilter)
                .with_detail("the queue group is empty"));
        }
        let mut letters = self.read(Some(&filter.group)).await?;
        letters.retain(|letter| filter.matches(letter));
        Ok(letters)
    }

    /// Republishes every dead letter `filter` selects to its original
    /// subject, with its original body and headers and a new message id
    /// (see [`DeadLetters`]), and deletes each from the dead-letter
    /// stream once the stream acknowledged its replay. With `dry_run`, only
    /// says what it would replay.
    ///
    /// The dead letters are read first, then replayed one at a time, oldest
    /// first: one that the listener dead-letters again during the replay is
    /// a new dead letter, not replayed in this run. A dead letter that
    /// cannot be replayed (no stream for its subject, the original gone) is
    /// reported in [`Report::failed`] and kept; the others are still
    /// replayed. An error means nothing could be read.
    pub async fn replay(
        &self,
        filter: &DeadLetterFilter,
        dry_run: bool,
    ) -> Result<Report, DeadLetterError> {
        let mut report = Report {
            dry_run,
            ..Report::default()
        };
        for letter in self.matching(filter).await? {
            let sequence = letter.sequence;
            let mut handled = handled(&letter);
            let msg_id = letter.replay_id();
            handled.msg_id = Some(msg_id.clone());
            if dry_run {
                report.done.push(handled);
                continue;
            }
            match self.replay_one(letter, msg_id).await {
                Ok(ack) => {
                    handled.ack = Some(ack);
                    report.done.push(handled);
                }
                Err(error) => report.failed.push(Failure { sequence, error }),
            }
        }
        Ok(report)
    }

    /// Deletes every dead letter `filter` selects. With `dry_run`, only
    /// says what it would delete.
    pub async fn purge(
        &self,
        filter: &DeadLetterFilter,
        dry_run: bool,
    ) -> Result<Report, DeadLetterError> {
        let mut report = Report {
            dry_run,
            ..Report::default()
        };
        for letter in self.matching(filter).await? {
            let handled = handled(&letter);
            if dry_run {
                report.done.push(handled);
                continue;
            }
            match self.delete(letter.sequence).await {
                Ok(()) => report.done.push(handled),
                Err(error) => report.failed.push(Failure {
                    sequence: letter.sequence,
                    error,
                }),
            }
        }
        Ok(report)
    }

    /// Reads every dead letter of `group` (every message of the stream for
    /// `None`), oldest first.
    async fn read(&self, group: Option<&str>) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let filter = match group {
            Some(group) => dead_letter::default_subject(group),
            None => ">".to_owned(),
        };
        let mut letters = Vec::new();
        let mut from = 1;
        loop {
            let next = match self
                .transport
                .next_message(&self.stream, &filter, from)
                .await
            {
                Ok(next) => next,
                Err(err) if err.kind() == StreamErrorKind::NoStream => break,
                Err(err) => return Err(self.stream_error("reading", err)),
            };
            let Some(message) = next else { break };
            from = message.sequence + 1;
            let letter = DeadLetter::from_stored(message);
            if group.is_none_or(|group| letter.group == group) {
                letters.push(letter);
            }
        }
        Ok(letters)
    }

    async fn replay_one(
        &self,
        letter: DeadLetter,
        msg_id: String,
    ) -> Result<PublishAck, DeadLetterError> {
        let sequence = letter.sequence;
        let Some(subject) = letter.original_subject.clone() else {
            return Err(DeadLetterError::new(DeadLetterErrorKind::Malformed)
                .with_detail(format!("dead letter {sequence} names no original subject")));
        };
        let first_id = letter.original_id();
        let (mut headers, body) = if letter.is_complete() {
            (letter.headers, letter.body)
        } else {
            self.original(&letter).await?
        };
        // An original read from its stream says itself whether it was a replay.
        let first_id = headers
            .get(names::REPLAY_OF)
            .map_or(first_id, str::to_owned);
        headers.remove(names::MSG_ID);
        headers.insert(names::REPLAY_OF, first_id);
        headers.append(names::MSG_ID, msg_id);
        let publish_failed = |err: crate::error::PublishError| {
            DeadLetterError::new(DeadLetterErrorKind::Publish)
                .with_detail(format!("dead letter {sequence} to `{subject}`; it is kept"))
                .with_source(err)
        };
        let ack = self
            .transport
            .publish(OutgoingMessage {
                subject: subject.clone(),
                headers,
                payload: body,
            })
            .await
            .map_err(publish_failed)?
            .await
            .map_err(publish_failed)?;
        self.delete(sequence).await.map_err(|err| {
            DeadLetterError::new(DeadLetterErrorKind::Stream)
                .with_detail(format!(
                    "dead letter {sequence} was replayed to `{subject}` ({} #{}) but not deleted; \
                     replaying it again deletes it without a second delivery",
                    ack.stream, ack.sequence
                ))
                .with_source(err)
        })?;
        Ok(ack)
    }

    /// The whole original of a dead letter that holds only part of it, read
    /// from its stream: its headers (no `Nats-*` ones) and body.
    async fn original(&self, letter: &DeadLetter) -> Result<(Headers, Bytes), DeadLetterError> {
        let gone = |why: &str| {
            DeadLetterError::new(DeadLetterErrorKind::Incomplete).with_detail(format!(
                "dead letter {} of group `{}`: {why}",
                letter.sequence, letter.group
            ))
        };
        let (Some(stream), Some(sequence)) = (&letter.original_stream, letter.original_sequence)
        else {
            return Err(gone("it does not say where its original is"));
        };
        let original = match self.transport.get_message(stream, sequence).await {
            Ok(Some(original)) if Some(&original.subject) == letter.original_subject.as_ref() => {
                original
            }
            Ok(_) => {
                return Err(gone(&format!(
                    "stream `{stream}` no longer holds #{sequence}"
                )));
            }
            Err(err) if err.kind() == StreamErrorKind::NoStream => {
                return Err(gone(&format!("stream `{stream}` no longer exists")));
            }
            Err(err) => {
                return Err(DeadLetterError::new(DeadLetterErrorKind::Stream)
                    .with_detail(format!("reading the original {stream} #{sequence}"))
                    .with_source(err));
            }
        };
        let mut headers = Headers::with_capacity(original.headers.len());
        for (name, value) in original.headers.iter() {
            if !name.starts_with("Nats-") {
                headers.append(name, value);
            }
        }
        Ok((headers, original.payload))
    }

    async fn delete(&self, sequence: u64) -> Result<(), DeadLetterError> {
        match self.transport.delete_message(&self.stream, sequence).await {
            // Gone already (another replay or purge got there first): done.
            Ok(_) => Ok(()),
            Err(err) => Err(self.stream_error("deleting from", err)),
        }
    }

    fn stream_error(&self, what: &str, err: StreamError) -> DeadLetterError {
        DeadLetterError::new(DeadLetterErrorKind::Stream)
            .with_detail(format!("{what} stream `{}`", self.stream))
            .with_source(err)
    }
}

fn handled(letter: &DeadLetter) -> Handled {
    Handled {
        sequence: letter.sequence,
        kind: letter.kind.clone(),
        subject: letter
            .original_subject
            .clone()
            .unwrap_or_else(|| "unknown".to_owned()),
        msg_id: None,
        ack: None,
    }
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("transport", &self.transport.name())
            .field("stream", &self.stream)
            .finish()
    }
}

impl Bus {
    /// The dead letters of this bus's dead-letter stream (see
    /// [`with_dead_letter_stream`](Self::with_dead_letter_stream); `TYPEBUS_DLQ`
    /// when none is provisioned by the bus).
    pub fn dead_letters(&self) -> DeadLetters {
        DeadLetters::new(Arc::clone(self.transport()), self.dead_letter_stream_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(headers: &[(&str, &str)]) -> StoredMessage {
        StoredMessage {
            stream: "TYPEBUS_DLQ".into(),
            sequence: 7,
            subject: "typebus.dlq.orders".into(),
            headers: headers.iter().copied().collect(),
            payload: Bytes::from_static(b"{}"),
            published: Timestamp::now(),
        }
    }

    #[test]
    fn a_dead_letter_separates_the_original_headers_from_its_own() {
        let letter = DeadLetter::from_stored(stored(&[
            (names::MSG_ID, "typebus-dlq:EVENTS:orders_t:3"),
            (names::VERSION, "2"),
            ("X-Trace", "abc"),
            (names::DLQ_MSG_ID, "m-1"),
            (names::DLQ_KIND, "rejected"),
            (names::DLQ_GROUP, "orders"),
            (names::DLQ_SUBJECT, "ticket:created"),
            (names::DLQ_STREAM, "EVENTS"),
            (names::DLQ_SEQUENCE, "3"),
            (names::DLQ_DELIVERIES, "1"),
        ]));
        assert_eq!(
            letter.headers.iter().collect::<Vec<_>>(),
            [(names::VERSION, "2"), ("X-Trace", "abc")]
        );
        assert_eq!(letter.version(), Some("2"));
        assert_eq!(letter.original_sequence, Some(3));
        assert_eq!(letter.deliveries, Some(1));
        assert!(letter.is_complete());
        assert_eq!(letter.replay_id(), "m-1~replay~7");
    }

    #[test]
    fn replay_ids_name_the_first_publication_and_the_dead_letter() {
        let again = DeadLetter::from_stored(stored(&[
            (names::REPLAY_OF, "m-1"),
            (names::DLQ_MSG_ID, "m-1~replay~3"),
        ]));
        assert_eq!(again.replay_id(), "m-1~replay~7", "ids do not grow");
        let foreign = DeadLetter::from_stored(stored(&[
            (names::DLQ_STREAM, "EVENTS"),
            (names::DLQ_SEQUENCE, "12"),
        ]));
        assert_eq!(foreign.replay_id(), "typebus:EVENTS:12~replay~7");
        assert_eq!(foreign.group, "orders", "from the subject");
        assert_eq!(foreign.kind, "unknown");
        let bare = DeadLetter::from_stored(stored(&[]));
        assert_eq!(bare.replay_id(), "typebus-dlq:TYPEBUS_DLQ:7~replay~7");
    }
}
