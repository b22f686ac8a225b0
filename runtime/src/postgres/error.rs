//! [`OutboxError`]: what the outbox, the relay and the schema set-up report.

use std::fmt;

/// Why an outbox operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutboxErrorKind {
    /// The schema name is not a plain lowercase SQL identifier.
    InvalidSchema,
    /// The database refused the statement or could not be reached.
    Database,
    /// The event could not be serialised to JSON.
    Serialize,
    /// The event's subject is not a literal NATS subject.
    InvalidSubject,
    /// A number does not fit the table's column (a sequence above `i64::MAX`).
    OutOfRange,
    /// A stored row could not be read back (written by something else).
    Corrupt,
}

impl fmt::Display for OutboxErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidSchema => "invalid schema name",
            Self::Database => "database error",
            Self::Serialize => "event does not serialise to json",
            Self::InvalidSubject => "invalid subject",
            Self::OutOfRange => "value out of range for the outbox table",
            Self::Corrupt => "outbox row is unreadable",
        })
    }
}

/// An outbox operation that failed; see [`OutboxErrorKind`].
pub type OutboxError = crate::error::Error<OutboxErrorKind>;

/// A database error, with what was being done.
pub(crate) fn database(doing: &str, err: sqlx::Error) -> OutboxError {
    OutboxError::new(OutboxErrorKind::Database)
        .with_detail(doing.to_owned())
        .with_source(err)
}

/// `value` as a BIGINT, or an out-of-range error naming `what`.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, OutboxError> {
    i64::try_from(value).map_err(|_| {
        OutboxError::new(OutboxErrorKind::OutOfRange).with_detail(format!("{what} {value}"))
    })
}
