//! [`Headers`]: message headers, ordered and multi-valued, and the names
//! typebus reads and writes ([`names`]).

use std::borrow::Cow;
use std::fmt;

/// The header names typebus reads and writes.
pub mod names {
    /// The message id JetStream deduplicates on within the stream's duplicate window.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// The contract version of the payload (`1`, `2`...), set by every typebus publisher.
    pub const VERSION: &str = "Typebus-Version";
    /// The event's name (`TicketCreated`), set by every typebus publisher.
    pub const EVENT: &str = "Typebus-Event";
    /// The older contract versions whose readers decode this payload
    /// (`1,2`), set by publishers of a version that has such
    /// ([`Event::READABLE_AS`](crate::Event::READABLE_AS)).
    pub const READABLE_AS: &str = "Typebus-Readable-As";
    /// On a dead letter: why it was dead-lettered, a [`DeadLetterKind`](crate::DeadLetterKind) (`decode`, `version`, ...).
    pub const DLQ_KIND: &str = "Typebus-Dlq-Kind";
    /// On a dead letter: the reason in words (`invalid ... payload at $.price: ...`).
    pub const DLQ_REASON: &str = "Typebus-Dlq-Reason";
    /// On a dead letter: how many times the message had been delivered.
    pub const DLQ_DELIVERIES: &str = "Typebus-Dlq-Deliveries";
    /// On a dead letter: the subject the message was published on.
    pub const DLQ_SUBJECT: &str = "Typebus-Dlq-Subject";
    /// On a dead letter: the stream that held the message.
    pub const DLQ_STREAM: &str = "Typebus-Dlq-Stream";
    /// On a dead letter: the message's sequence in that stream.
    pub const DLQ_SEQUENCE: &str = "Typebus-Dlq-Sequence";
    /// On a dead letter: the queue group that gave up on it.
    pub const DLQ_GROUP: &str = "Typebus-Dlq-Group";
    /// On a dead letter: the original `Nats-Msg-Id`, renamed so that the
    /// dead-letter stream does not deduplicate on it.
    pub const DLQ_MSG_ID: &str = "Typebus-Dlq-Msg-Id";
    /// On a dead letter whose original did not fit beside the dead-letter
    /// headers: the original body's size in bytes. The dead letter's body is
    /// then the original's first bytes; the whole original stays in its
    /// stream at `Typebus-Dlq-Sequence`.
    pub const DLQ_BODY_SIZE: &str = "Typebus-Dlq-Body-Size";
    /// On a dead letter whose original headers did not fit: how many of
    /// them were left out (the `Typebus-Dlq-*` headers are always there).
    pub const DLQ_HEADERS_DROPPED: &str = "Typebus-Dlq-Headers-Dropped";
    /// On a replayed dead letter ([`DeadLetters::replay`](crate::DeadLetters::replay)):
    /// the `Nats-Msg-Id` the event was first published with. The replay's
    /// own `Nats-Msg-Id` is `<that id>~replay~<dead-letter sequence>`.
    pub const REPLAY_OF: &str = "Typebus-Replay-Of";
}

/// Message headers: an ordered list of (name, value) pairs, where a name may
/// repeat.
///
/// Names compare exactly (case-sensitively), as the NATS server does for
/// `Nats-Msg-Id`. Order of insertion is kept. (Headers received from NATS
/// list names sorted, each name's values in their order: async-nats holds
/// headers in a hash map.)
///
/// Static names and values ([`append_static`](Self::append_static)) are
/// stored without allocating. Headers received from NATS are copied into
/// the list at the boundary: 255 instructions more per consumed message
/// than reading async-nats' map in place, and no consume figure of
/// `cargo bench -p typebus --bench throughput` beyond its noise.
#[derive(Clone, Default)]
pub struct Headers {
    list: Vec<Entry>,
}

type Entry = (Cow<'static, str>, Cow<'static, str>);

/// The names typebus writes, to receive them without allocating.
#[cfg(feature = "nats")]
const KNOWN: [&str; 3] = [names::MSG_ID, names::VERSION, names::EVENT];

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// No headers, with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            list: Vec::with_capacity(capacity),
        }
    }

    /// Headers received from NATS: names sorted, each name's values in order.
    #[cfg(feature = "nats")]
    pub(crate) fn from_nats(map: async_nats::HeaderMap) -> Self {
        let mut list: Vec<Entry> = Vec::with_capacity(map.len());
        for (name, values) in map.iter() {
            let name: &str = name.as_ref();
            let name = match KNOWN.iter().find(|known| **known == name) {
                Some(known) => Cow::Borrowed(*known),
                None => Cow::Owned(name.to_owned()),
            };
            for value in values {
                list.push((name.clone(), Cow::Owned(value.as_str().to_owned())));
            }
        }
        // Stable: each name's values keep their order.
        list.sort_by(|a, b| a.0.cmp(&b.0));
        Self { list }
    }

    /// Adds a value for `name`, keeping values already there.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.list
            .push((Cow::Owned(name.into()), Cow::Owned(value.into())));
    }

    /// [`append`](Self::append) for a static name and a value that may be
    /// static: neither is copied when static.
    pub fn append_static(&mut self, name: &'static str, value: impl Into<Cow<'static, str>>) {
        self.list.push((Cow::Borrowed(name), value.into()));
    }

    /// Sets `name` to the single `value`, replacing any values it had (the
    /// first one in place, the others removed).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name: String = name.into();
        let value = Cow::Owned(value.into());
        let entries = &mut self.list;
        match entries.iter().position(|(n, _)| *n == name) {
            Some(first) => {
                entries[first].1 = value;
                let mut index = 0;
                entries.retain(|(n, _)| {
                    let keep = index <= first || *n != name;
                    index += 1;
                    keep
                });
            }
            None => entries.push((Cow::Owned(name), value)),
        }
    }

    /// Removes every value of `name`, returning whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|(n, _)| n != name);
        self.list.len() != before
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every (name, value) pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.list.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// The number of (name, value) pairs.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Their size on the NATS wire, which counts against the server's
    /// `max_payload` with the body: `NATS/1.0\r\n`, each `name: value\r\n`,
    /// and a final `\r\n`; 0 for no headers (a plain `PUB`).
    pub fn wire_len(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        let lines: usize = self
            .iter()
            .map(|(name, value)| name.len() + ": ".len() + value.len() + "\r\n".len())
            .sum();
        "NATS/1.0\r\n".len() + lines + "\r\n".len()
    }

    /// The headers as an async-nats header map: static names without
    /// allocating, owned values moved rather than copied.
    #[cfg(feature = "nats")]
    pub(crate) fn into_nats(self) -> async_nats::HeaderMap {
        let mut list = self.list;
        let mut map = async_nats::HeaderMap::new();
        for i in 0..list.len() {
            let value = String::from(std::mem::take(&mut list[i].1));
            let (earlier, rest) = list.split_at(i);
            let name = &rest[0].0;
            let repeated = earlier.iter().any(|(n, _)| n == name);
            let name = match name {
                Cow::Borrowed(name) => async_nats::HeaderName::from_static(name),
                Cow::Owned(name) => {
                    async_nats::header::IntoHeaderName::into_header_name(name.as_str())
                }
            };
            // `insert` hashes the name once, `append` twice. With the values
            // moved rather than copied: 970 fewer instructions per publish
            // (callgrind, `TYPEBUS_BENCH_PUBLISH_ONLY=typebus`).
            if repeated {
                map.append(name, value);
            } else {
                map.insert(name, value);
            }
        }
        map
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Self::new();
        headers.extend(iter);
        headers
    }
}

impl<N: Into<String>, V: Into<String>> Extend<(N, V)> for Headers {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        self.list.extend(
            iter.into_iter()
                .map(|(n, v)| (Cow::Owned(n.into()), Cow::Owned(v.into()))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_repeated_names() {
        let mut h = Headers::new();
        h.append("B", "1");
        h.append("A", "2");
        h.append("B", "3");
        assert_eq!(h.get("B"), Some("1"));
        assert_eq!(h.get_all("B").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(h.get("b"), None);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("B", "1"), ("A", "2"), ("B", "3")]
        );
    }

    #[test]
    fn insert_replaces_all_values_in_place() {
        let mut h: Headers = [("A", "1"), ("B", "2"), ("A", "3")].into_iter().collect();
        h.insert("A", "9");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("A", "9"), ("B", "2")]);
        h.insert("C", "4");
        assert_eq!(h.get("C"), Some("4"));
        assert!(h.remove("A"));
        assert!(!h.remove("A"));
        assert_eq!(h.len(), 2);
    }

    #[cfg(feature = "nats")]
    #[test]
    fn headers_received_from_nats_read_sorted_and_compare_by_content() {
        let mut map = async_nats::HeaderMap::new();
        map.append("Zeta", "1");
        map.append("Alpha", "2");
        map.append("Zeta", "3");
        let mut received = Headers::from_nats(map);
        assert_eq!(received.get("Zeta"), Some("1"));
        assert_eq!(received.len(), 3);
        assert_eq!(
            received.iter().collect::<Vec<_>>(),
            [("Alpha", "2"), ("Zeta", "1"), ("Zeta", "3")]
        );
        let same: Headers = [("Alpha", "2"), ("Zeta", "1"), ("Zeta", "3")]
            .into_iter()
            .collect();
        assert_eq!(received, same);
        assert_eq!(
            received
                .clone()
                .into_nats()
                .get("Alpha")
                .map(|v| v.as_str()),
            Some("2")
        );
        received.insert("Zeta", "9");
        assert_eq!(
            received.iter().collect::<Vec<_>>(),
            [("Alpha", "2"), ("Zeta", "9")]
        );
        let mut built = Headers::new();
        built.append_static(names::MSG_ID, String::from("id-1"));
        built.append("Zeta", "1");
        built.append_static(names::VERSION, "2");
        built.append("Zeta", "3");
        let map = built.into_nats();
        assert_eq!(map.get(names::MSG_ID).map(|v| v.as_str()), Some("id-1"));
        assert_eq!(map.get(names::VERSION).map(|v| v.as_str()), Some("2"));
        let zeta: Vec<&str> = map.get_all("Zeta").map(|v| v.as_str()).collect();
        assert_eq!(zeta, ["1", "3"]);
    }
}
