//! [`Crashing`]: a listener instance that crashes on its first deliveries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ticketing_services::{Describe, Journal, Verb};
use typebus::{Delivery, Event, HandlerError, Listener};

/// The panic message of an injected crash (the demo's panic hook keeps it
/// off stderr; the timeline shows it).
pub(crate) const INJECTED_CRASH: &str = "injected crash";

/// Wraps a listener: its first `crashes` deliveries panic before the
/// handler runs, as a service instance that dies mid-message would; the
/// broker delivers those events again, and from then on the wrapped
/// listener handles them.
pub(crate) struct Crashing<L> {
    inner: L,
    remaining: AtomicU32,
    crashes: u32,
    journal: Journal,
    service: &'static str,
}

impl<L> Crashing<L> {
    /// `inner`, crashing on its first `crashes` deliveries, recorded in
    /// `journal` under `service`.
    pub(crate) fn new(inner: L, crashes: u32, journal: Journal, service: &'static str) -> Self {
        Self {
            inner,
            remaining: AtomicU32::new(crashes),
            crashes,
            journal,
            service,
        }
    }
}

impl<L> Listener for Crashing<L>
where
    L: Listener,
    L::Event: Describe,
{
    type Event = L::Event;

    fn queue_group(&self) -> &str {
        self.inner.queue_group()
    }

    fn ack_wait(&self) -> Duration {
        self.inner.ack_wait()
    }

    fn max_deliver(&self) -> Option<u32> {
        self.inner
            .max_deliver()
            .map(|max| max.saturating_add(self.crashes))
    }

    fn retry_delay(&self, _delivery_count: u64) -> Duration {
        Duration::from_millis(100)
    }

    fn reads_version(&self, version: u32) -> bool {
        self.inner.reads_version(version)
    }

    async fn on_message(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        let crash = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if crash {
            self.journal.record(
                self.service,
                Verb::Injected,
                L::Event::SUBJECT,
                format!(
                    "{} (delivery {}): instance crashed before handling it",
                    event.describe(),
                    delivery.delivery_count()
                ),
            );
            std::panic::panic_any(INJECTED_CRASH);
        }
        self.inner.on_message(event, delivery).await
    }
}
