//! Exponential backoff: the one formula behind every delay that doubles
//! (publish retries, listener redeliveries, the ordering guard's early
//! events, the outbox relay's failed rounds, NATS reconnects).
//!
//! ```
//! use std::time::Duration;
//! use typebus::Backoff;
//!
//! let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
//! assert_eq!(backoff.delay(0), Duration::from_millis(100));
//! assert_eq!(backoff.delay(3), Duration::from_millis(800));
//! assert_eq!(backoff.delay(5), Duration::from_secs(2));
//! assert_eq!(backoff.delay(u64::MAX), Duration::from_secs(2));
//! ```

use std::time::Duration;

/// Delays that start at `initial` and double with every attempt, up to
/// `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay of attempt 0.
    pub initial: Duration,
    /// The longest delay. When it is shorter than `initial`, every delay
    /// is `max`.
    pub max: Duration,
}

impl Backoff {
    /// Delays from `initial`, doubling, at most `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The delay of `attempt` (counted from 0): `initial * 2^attempt`, at
    /// most `max`. Saturates: it never overflows or panics, whatever the
    /// attempt. A caller whose attempts count from 1 passes
    /// `attempt.saturating_sub(1)`; one that stops doubling after `n`
    /// doublings passes `attempt.min(n)`.
    pub fn delay(&self, attempt: u64) -> Duration {
        let grown = match u32::try_from(attempt)
            .ok()
            .and_then(|n| 1u32.checked_shl(n))
        {
            Some(factor) => self.initial.saturating_mul(factor),
            None if self.initial.is_zero() => Duration::ZERO,
            None => Duration::MAX,
        };
        grown.min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_max_and_saturates() {
        let backoff = Backoff::new(MS, Duration::from_secs(10));
        let delays: Vec<_> = (0..5).map(|attempt| backoff.delay(attempt)).collect();
        assert_eq!(delays, [MS, 2 * MS, 4 * MS, 8 * MS, 16 * MS]);
        assert_eq!(backoff.delay(13), 8192 * MS);
        assert_eq!(backoff.delay(14), Duration::from_secs(10));
        for attempt in [31, 32, 33, 63, 64, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(backoff.delay(attempt), Duration::from_secs(10), "{attempt}");
        }
        let unbounded = Backoff::new(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(unbounded.delay(1), Duration::MAX);
        assert_eq!(unbounded.delay(u64::MAX), Duration::MAX);
    }

    #[test]
    fn zero_and_inverted_bounds() {
        let zero = Backoff::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(zero.delay(0), Duration::ZERO);
        assert_eq!(zero.delay(u64::MAX), Duration::ZERO);
        let inverted = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(inverted.delay(0), Duration::from_secs(1));
        assert_eq!(inverted.delay(40), Duration::from_secs(1));
        let none = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(none.delay(7), Duration::ZERO);
    }

    /// The sites whose delays `Backoff` took over, each against its
    /// formula before.
    #[cfg(feature = "bus")]
    mod sites {
        use std::borrow::Cow;
        use std::sync::Arc;
        use std::time::Duration;

        use crate::ordering::{MemorySequenceStore, Sequenced, Versioned};
        use crate::{Delivery, HandlerError, ListenOptions, Listener};

        #[derive(serde::Serialize, serde::Deserialize, crate::Event)]
        #[event(subject = "backoff.tick", version = 1)]
        struct Tick {
            sequence: u64,
        }

        impl Versioned for Tick {
            const AGGREGATE: &'static str = "tick";

            fn id(&self) -> Cow<'_, str> {
                Cow::Borrowed("t")
            }

            fn sequence(&self) -> u64 {
                self.sequence
            }
        }

        struct Ticks;

        impl Listener for Ticks {
            type Event = Tick;

            fn options(&self) -> ListenOptions {
                ListenOptions::new("backoff")
            }

            async fn on_message(&self, _: Tick, _: &Delivery) -> Result<(), HandlerError> {
                Ok(())
            }
        }

        const COUNTS: [u64; 13] = [0, 1, 2, 3, 6, 7, 8, 20, 21, 22, 33, 64, u64::MAX];

        #[test]
        fn listener_redelivery_delays_are_unchanged() {
            // 1 s doubling from delivery 1, at most 60 s.
            let before = |count: u64| {
                let exponent = count.saturating_sub(1).min(6) as u32;
                Duration::from_secs(1u64 << exponent).min(Duration::from_secs(60))
            };
            for count in COUNTS {
                assert_eq!(Ticks.options().retry_delay(count), before(count), "{count}");
            }
            assert_eq!(Ticks.options().retry_delay(1), Duration::from_secs(1));
            assert_eq!(Ticks.options().retry_delay(4), Duration::from_secs(8));
            assert_eq!(Ticks.options().retry_delay(7), Duration::from_secs(60));
        }

        #[test]
        fn guard_early_delays_are_unchanged() {
            let ms = Duration::from_millis(1);
            for (early, max) in [
                (Duration::from_secs(1), Duration::from_secs(30)),
                (100 * ms, Duration::from_secs(2)),
                (ms, Duration::from_secs(3600)),
                (Duration::from_secs(5), Duration::from_secs(1)),
                (Duration::ZERO, Duration::from_secs(1)),
            ] {
                // Doubling from delivery 1, twenty times at most, at most
                // the larger of the two delays.
                let before = |delivered: u64| {
                    let doublings =
                        u32::try_from(delivered.saturating_sub(1).min(20)).unwrap_or(20);
                    early.saturating_mul(1u32 << doublings).min(max.max(early))
                };
                let guard = Sequenced::new(Ticks, Arc::new(MemorySequenceStore::new()))
                    .early_delay(early)
                    .max_early_delay(max);
                for delivered in COUNTS {
                    assert_eq!(
                        guard.early_wait(delivered),
                        before(delivered),
                        "{early:?} {max:?} {delivered}"
                    );
                }
            }
            let guard = Sequenced::new(Ticks, Arc::new(MemorySequenceStore::new()))
                .early_delay(ms)
                .max_early_delay(Duration::from_secs(3600));
            assert_eq!(guard.early_wait(40), (1 << 20) * ms, "at most 2^20");
        }
    }
}
