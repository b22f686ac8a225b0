//! [`Versioned`]: the record an event belongs to and its place in that
//! record's history; [`RecordKey`] and [`Step`], what the ordering guard and
//! its stores work with.

use std::borrow::Cow;
use std::fmt;

/// An event that belongs to one record (an aggregate) and carries the
/// record's sequence number: the record's version, 0 when it was created
/// and up by exactly 1 on every save.
///
/// Generated for every event whose schema declares
/// `aggregate: { id: FIELD, sequence: FIELD, name?: NAME }`. Events of one
/// record's key space share the aggregate name (`ticket:created` and
/// `ticket:updated` are both `ticket`), so one record's history spans them.
///
/// ```
/// use std::borrow::Cow;
/// use typebus::Versioned;
///
/// struct TicketUpdated { id: String, version: u64 }
///
/// impl Versioned for TicketUpdated {
///     const AGGREGATE: &'static str = "ticket";
///     fn id(&self) -> Cow<'_, str> { Cow::Borrowed(&self.id) }
///     fn sequence(&self) -> u64 { self.version }
/// }
///
/// let event = TicketUpdated { id: "5f1a".into(), version: 3 };
/// assert_eq!(typebus::ordering::RecordKey::of(&event).to_string(), "ticket/5f1a");
/// ```
pub trait Versioned {
    /// The aggregate's name: the key space of the record ids.
    const AGGREGATE: &'static str;

    /// The sequence of a record's first event (default 0).
    const INITIAL_SEQUENCE: u64 = 0;

    /// The id of the record this event belongs to.
    fn id(&self) -> Cow<'_, str>;

    /// The record's sequence number after this event.
    fn sequence(&self) -> u64;
}

/// One record: aggregate name and record id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// The aggregate's name ([`Versioned::AGGREGATE`]).
    pub aggregate: Cow<'static, str>,
    /// The record's id.
    pub id: String,
}

impl RecordKey {
    /// The key of `aggregate` record `id`.
    pub fn new(aggregate: impl Into<Cow<'static, str>>, id: impl Into<String>) -> Self {
        Self {
            aggregate: aggregate.into(),
            id: id.into(),
        }
    }

    /// The record `event` belongs to.
    pub fn of<E: Versioned>(event: &E) -> Self {
        Self {
            aggregate: Cow::Borrowed(E::AGGREGATE),
            id: event.id().into_owned(),
        }
    }
}

/// `aggregate/id`, as in the gap reason `gap: waiting for ticket/5f1a@3`.
impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.aggregate, self.id)
    }
}

/// The step an event makes in its record's history: from `previous` (the
/// last applied sequence; `None` before the record's first event) to
/// `sequence`.
///
/// The ordering guard calls a handler only for the next step of a record,
/// so a handler can rebuild its step from the event alone with
/// [`Step::of`], e.g. to record it in its own database transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    /// The record.
    pub key: RecordKey,
    /// The sequence applied before this step; `None` for the record's first event.
    pub previous: Option<u64>,
    /// The sequence this step applies.
    pub sequence: u64,
}

impl Step {
    /// The step `event` makes when the guard hands it to a handler: from
    /// `sequence - 1`, or from nothing when the event is the record's first
    /// (its sequence is [`Versioned::INITIAL_SEQUENCE`] or below).
    pub fn of<E: Versioned>(event: &E) -> Self {
        let sequence = event.sequence();
        Self {
            key: RecordKey::of(event),
            previous: if sequence <= E::INITIAL_SEQUENCE {
                None
            } else {
                Some(sequence - 1)
            },
            sequence,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.key, self.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Moved {
        id: uuid::Uuid,
        rev: u32,
    }

    impl Versioned for Moved {
        const AGGREGATE: &'static str = "thing";
        const INITIAL_SEQUENCE: u64 = 1;

        fn id(&self) -> Cow<'_, str> {
            Cow::Owned(self.id.to_string())
        }

        fn sequence(&self) -> u64 {
            u64::from(self.rev)
        }
    }

    #[test]
    fn steps_start_from_nothing_at_the_initial_sequence() {
        let id = uuid::Uuid::nil();
        let first = Step::of(&Moved { id, rev: 1 });
        assert_eq!(first.previous, None);
        assert_eq!(first.key, RecordKey::new("thing", id.to_string()));
        let third = Step::of(&Moved { id, rev: 3 });
        assert_eq!(third.previous, Some(2));
        assert_eq!(
            third.to_string(),
            "thing/00000000-0000-0000-0000-000000000000@3"
        );
    }
}
