//! [`Headers`]: message headers, ordered and multi-valued, and the names
//! typebus reads and writes ([`names`]).

use std::fmt;

/// The header names typebus reads and writes.
pub mod names {
    /// The message id JetStream deduplicates on within the stream's duplicate window.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// The contract version of the payload (`1`, `2`...), set by every typebus publisher.
    pub const VERSION: &str = "Typebus-Version";
    /// The event's name (`TicketCreated`), set by every typebus publisher.
    pub const EVENT: &str = "Typebus-Event";
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
}

/// Message headers: an ordered list of (name, value) pairs, where a name may
/// repeat.
///
/// Names compare exactly (case-sensitively), as the NATS server does for
/// `Nats-Msg-Id`. Order of insertion is kept, so what a transport delivers
/// reads back in the order it was written.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// No headers, with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// Adds a value for `name`, keeping values already there.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Sets `name` to the single `value`, replacing any values it had (the
    /// first one in place, the others removed).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.entries.iter().position(|(n, _)| *n == name) {
            Some(first) => {
                self.entries[first].1 = value;
                let mut index = 0;
                self.entries.retain(|(n, _)| {
                    let keep = index <= first || *n != name;
                    index += 1;
                    keep
                });
            }
            None => self.entries.push((name, value)),
        }
    }

    /// Removes every value of `name`, returning whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| n != name);
        self.entries.len() != before
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every (name, value) pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of (name, value) pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self {
            entries: iter
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

impl<N: Into<String>, V: Into<String>> Extend<(N, V)> for Headers {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, iter: I) {
        self.entries
            .extend(iter.into_iter().map(|(n, v)| (n.into(), v.into())));
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
}
