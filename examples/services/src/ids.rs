//! Record ids (24-character hex, like database object ids) and the message
//! ids events are published with.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A 24-character hex id: 8 hex digits of Unix seconds, then 16 of a
/// process-wide counter seeded from the clock, so ids of one process never
/// repeat and ids of two runs are unlikely to meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    seconds: u32,
    counter: u64,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl ObjectId {
    /// A new id.
    pub fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // Seed once from the sub-second clock; every id after adds one.
        let _ = COUNTER.compare_exchange(
            0,
            u64::from(now.subsec_nanos()) << 20,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        Self {
            seconds: u32::try_from(now.as_secs()).unwrap_or(u32::MAX),
            counter: COUNTER.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}{:016x}", self.seconds, self.counter)
    }
}

/// The message id of the event on `subject` for version `version` of record
/// `id`: publishing the same save twice (a retry, a redelivered handler)
/// gives the same id, so the stream stores it once.
///
/// ```
/// assert_eq!(ticketing_services::message_id("ticket:updated", "5f1a", 3), "ticket:updated:5f1a:3");
/// ```
pub fn message_id(subject: &str, id: &str, version: u64) -> String {
    format!("{subject}:{id}:{version}")
}

#[cfg(test)]
mod tests {
    use super::ObjectId;

    #[test]
    fn ids_are_24_hex_digits_and_distinct() {
        let a = ObjectId::new().to_string();
        let b = ObjectId::new().to_string();
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
