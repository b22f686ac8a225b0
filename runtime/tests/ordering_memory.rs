//! The ordering guard on the embedded `memory` transport, with the
//! in-memory sequence store: the same scenarios as `ordering_nats.rs`, plus
//! the hook for handlers that record their own step.

mod ordering_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ordering_support::*;
use typebus::memory::Broker;
use typebus::ordering::{MemorySequenceStore, RecordKey, SequenceStore, Sequenced, Step};
use typebus::{Delivery, HandlerError, ListenOptions, Listener, consumer_name};

fn settled(broker: &Broker) -> bool {
    ["ticket:created", "ticket:updated"].iter().all(|subject| {
        broker
            .consumer_state("EVENTS", &consumer_name(GROUP, subject))
            .is_some_and(|state| {
                state.ack_pending == 0 && state.redelivery_pending == 0 && state.unseen == 0
            })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_events_with_duplicates_are_applied_once_in_order() {
    let broker = Broker::new();
    // One process: both instances share the in-memory store (as they would
    // share a KV bucket).
    let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
    let instances = vec![(broker.bus(), Arc::clone(&store)), (broker.bus(), store)];
    shuffled_with_duplicates(&broker.bus(), instances, async || settled(&broker)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_version_is_dead_lettered_with_the_gap_reason() {
    let broker = Broker::new();
    let store = Arc::new(MemorySequenceStore::new());
    gap_is_dead_lettered(&broker.bus(), store, async || {
        broker
            .messages_on("typebus.dlq.orders-service")
            .iter()
            .map(|m| dead_letter(&m.headers, &m.payload))
            .collect()
    })
    .await;
}

/// A handler that records its step itself (as one with a database
/// transaction does, inside it): the guard finds it recorded and acks.
struct SelfRecording {
    store: Arc<MemorySequenceStore>,
    calls: AtomicU32,
    fail_first: bool,
}

impl Listener for SelfRecording {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(GROUP).retry(typebus::Backoff::new(
            std::time::Duration::from_millis(20),
            std::time::Duration::from_millis(20),
        ))
    }

    async fn on_message(&self, ticket: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_first && call == 0 {
            // Fails before its write: the claim is released and the retry
            // applies the step.
            return Err(HandlerError::retry("database busy"));
        }
        // "BEGIN; write the ticket; record the step; COMMIT"
        let recorded = self.store.record(&Step::of(&ticket)).await?;
        assert!(recorded, "the guard hands out only the record's next step");
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_may_record_its_own_step_and_retries_keep_their_meaning() {
    for fail_first in [false, true] {
        let broker = Broker::new();
        let bus = broker.bus();
        bus.provision(&stream()).await.unwrap();
        let store = Arc::new(MemorySequenceStore::new());
        let listener = Arc::new(SelfRecording {
            store: Arc::clone(&store),
            calls: AtomicU32::new(0),
            fail_first,
        });
        let TicketEvent::Created(created) = event(7, 0) else {
            unreachable!()
        };
        // The event, and a duplicate of it.
        publish_all(
            &bus,
            &[
                TicketEvent::Created(created.clone()),
                TicketEvent::Created(created.clone()),
            ],
        )
        .await;
        let handle = bus
            .listen(Sequenced::new(
                SharedListener(Arc::clone(&listener)),
                Arc::clone(&store) as Arc<dyn SequenceStore>,
            ))
            .await
            .unwrap();
        wait_until(
            std::time::Duration::from_secs(20),
            "both copies settled",
            async || {
                broker
                    .consumer_state("EVENTS", &consumer_name(GROUP, "ticket:created"))
                    .is_some_and(|s| {
                        s.ack_pending == 0 && s.redelivery_pending == 0 && s.unseen == 0
                    })
            },
        )
        .await;
        handle.shutdown().await.unwrap();
        let expected_calls = if fail_first { 2 } else { 1 };
        assert_eq!(listener.calls.load(Ordering::SeqCst), expected_calls);
        assert_eq!(
            store.applied(&RecordKey::of(&created)).await.unwrap(),
            Some(0)
        );
        assert!(broker.messages_on("typebus.dlq.orders-service").is_empty());
    }
}

/// Lets the test keep a handle on the listener it hands to the bus.
struct SharedListener<L>(Arc<L>);

impl<L: Listener> Listener for SharedListener<L> {
    type Event = L::Event;

    fn options(&self) -> ListenOptions {
        self.0.options()
    }

    async fn on_message(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        self.0.on_message(event, delivery).await
    }
}
