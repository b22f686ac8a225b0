//! The delays the services' listeners use: short, so that a demo or a test
//! sees redeliveries within a second.

use std::sync::Arc;
use std::time::Duration;

use typebus::ordering::{SequenceStore, Sequenced, Versioned};
use typebus::{Backoff, Listener};

/// The ordering guard's first delay before an early event is delivered again.
pub const GUARD_EARLY_DELAY: Duration = Duration::from_millis(100);

/// The ordering guard's longest delay between deliveries of an early event.
pub const GUARD_MAX_EARLY_DELAY: Duration = Duration::from_secs(2);

/// On which delivery an event still early is dead-lettered as a gap.
pub const GUARD_PATIENCE: u32 = 30;

/// Wraps `listener` in the ordering guard over `store`, with the short
/// delays above.
pub fn guarded<L>(listener: L, store: &Arc<dyn SequenceStore>) -> Sequenced<L>
where
    L: Listener,
    L::Event: Versioned,
{
    Sequenced::new(listener, Arc::clone(store))
        .early_delay(GUARD_EARLY_DELAY)
        .max_early_delay(GUARD_MAX_EARLY_DELAY)
        .patience(GUARD_PATIENCE)
}

/// The delays before a failed delivery is retried: 100 ms doubling, at
/// most 2 s (the listeners' [`ListenOptions::retry`](typebus::ListenOptions::retry)).
pub const QUICK_RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

#[cfg(test)]
mod tests {
    use super::QUICK_RETRY;
    use std::time::Duration;

    fn quick_retry_delay(delivery_count: u64) -> Duration {
        typebus::ListenOptions::new("services")
            .retry(QUICK_RETRY)
            .retry_delay(delivery_count)
    }

    #[test]
    fn delays_double_up_to_two_seconds() {
        assert_eq!(quick_retry_delay(1), Duration::from_millis(100));
        assert_eq!(quick_retry_delay(2), Duration::from_millis(200));
        assert_eq!(quick_retry_delay(5), Duration::from_millis(1600));
        assert_eq!(quick_retry_delay(6), Duration::from_secs(2));
        assert_eq!(quick_retry_delay(60), Duration::from_secs(2));
        assert_eq!(quick_retry_delay(0), Duration::from_millis(100));
        assert_eq!(quick_retry_delay(u64::MAX), Duration::from_secs(2));
    }
}
