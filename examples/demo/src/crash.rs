//! [`Crashing`]: a listener instance that crashes on its first deliveries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ticketing_services::{Describe, Journal, Verb};
use typebus::{Backoff, Delivery, Event, HandlerError, ListenOptions, Listener};

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

    fn options(&self) -> ListenOptions {
        let options = self.inner.options();
        let max_deliver = options
            .max_deliver
            .map(|max| max.saturating_add(self.crashes));
        options.max_deliver(max_deliver).retry(Backoff::new(
            Duration::from_millis(100),
            Duration::from_millis(100),
        ))
    }

    async fn on_message(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        self.maybe_crash(&event, delivery);
        self.inner.on_message(event, delivery).await
    }

    /// A batch (the guard over a shared store takes them) crashes as a
    /// whole, as an instance that dies mid-batch loses all of it; and it
    /// stays a batch for the wrapped listener.
    async fn on_batch<'a>(
        &'a self,
        events: Vec<(L::Event, &'a Delivery)>,
    ) -> Vec<Result<(), HandlerError>> {
        for (event, delivery) in &events {
            self.maybe_crash(event, delivery);
        }
        self.inner.on_batch(events).await
    }
}

impl<L> Crashing<L>
where
    L: Listener,
    L::Event: Describe,
{
    /// Panics while crashes remain, recording the crash in the journal.
    fn maybe_crash(&self, event: &L::Event, delivery: &Delivery) {
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
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ticketing_events::TicketUpdated;
    use typebus::ordering::{
        Entry, MemorySequenceStore, RecordKey, SequenceStore, Sequenced, State, StoreError, Swap,
        Swapped,
    };
    use typebus::transport::BoxFuture;
    use typebus::{DeliveryInfo, Dispatch, Headers, Timestamp};

    use super::*;

    /// A shared store (compare-and-set over memory) that records how many
    /// swaps each of its `swap_all` writes carries.
    #[derive(Default)]
    struct Counted {
        memory: MemorySequenceStore,
        writes: Mutex<Vec<usize>>,
    }

    impl SequenceStore for Counted {
        fn load<'a>(
            &'a self,
            key: &'a RecordKey,
        ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
            self.memory.load(key)
        }

        fn swap<'a>(
            &'a self,
            key: &'a RecordKey,
            expected: Option<u64>,
            state: &'a State,
        ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
            self.memory.swap(key, expected, state)
        }

        fn swap_all<'a>(
            &'a self,
            swaps: &'a [Swap],
        ) -> BoxFuture<'a, Vec<Result<Swapped, StoreError>>> {
            self.writes.lock().unwrap().push(swaps.len());
            Box::pin(async move {
                let mut answers = Vec::new();
                for swap in swaps {
                    answers.push(
                        self.memory
                            .swap(&swap.key, swap.expected, &swap.state)
                            .await,
                    );
                }
                answers
            })
        }

        fn cached(&self, key: &RecordKey) -> Option<Entry> {
            self.memory.cached(key)
        }
    }

    struct Apply(Arc<Mutex<Vec<String>>>);

    impl Listener for Apply {
        type Event = TicketUpdated;

        fn options(&self) -> ListenOptions {
            ListenOptions::new("orders-service")
        }

        async fn on_message(
            &self,
            ticket: TicketUpdated,
            _: &Delivery,
        ) -> Result<(), HandlerError> {
            self.0
                .lock()
                .unwrap()
                .push(format!("{}@{}", ticket.id, ticket.version));
            Ok(())
        }
    }

    fn ticket(id: &str) -> TicketUpdated {
        TicketUpdated {
            id: id.into(),
            version: 0,
            title: "concert".into(),
            price: 20.0,
            user_id: "u".into(),
            order_id: None,
        }
    }

    fn delivery(stream_sequence: u64) -> Delivery {
        let info = DeliveryInfo {
            stream: "EVENTS".into(),
            consumer: "orders-service".into(),
            stream_sequence,
            consumer_sequence: stream_sequence,
            delivered: 1,
            pending: 0,
            published: Timestamp::now(),
        };
        Delivery::new(TicketUpdated::SUBJECT, Headers::new(), info)
    }

    /// The guard over a shared store batches; wrapped in `Crashing`, it
    /// still does: the options say so, and a batch reaches the guard whole
    /// (one write claims its steps, one records them).
    #[tokio::test]
    async fn a_crashing_wrapper_keeps_the_guard_batched() {
        let store = Arc::new(Counted::default());
        let applied = Arc::new(Mutex::new(Vec::new()));
        let guard = Sequenced::new(
            Apply(Arc::clone(&applied)),
            Arc::clone(&store) as Arc<dyn SequenceStore>,
        );
        let crashing = Crashing::new(guard, 0, Journal::new(), "orders");
        assert_eq!(crashing.options().dispatch, Dispatch::Batches);
        let deliveries: Vec<Delivery> = (1..=3).map(delivery).collect();
        let events = ["a", "b", "c"]
            .into_iter()
            .map(ticket)
            .zip(&deliveries)
            .collect();
        let outcomes = crashing.on_batch(events).await;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        assert_eq!(*store.writes.lock().unwrap(), vec![3, 3]);
        assert_eq!(*applied.lock().unwrap(), ["a@0", "b@0", "c@0"]);
    }
}
