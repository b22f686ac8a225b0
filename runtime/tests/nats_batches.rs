//! Listeners dispatched in batches ([`typebus::Dispatch::Batches`]) over a real nats-server: the
//! engine hands them the messages at hand together, within half the
//! concurrency, and settles each message of a batch by its own outcome
//! (acknowledged, retried, dead-lettered, or dead-lettered unread).

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use nats_support::*;
use typebus::{Delivery, Dispatch, HandlerError, ListenOptions, Listener};

/// A probe whose deliveries come in batches; it records each batch's
/// tickets and their delivery counts.
struct Batched {
    probe: Probe<TicketCreated>,
    batches: Batches,
}

type Batches = Arc<Mutex<Vec<Vec<(String, u64)>>>>;

impl Batched {
    /// An instance of `probe`, batched, and where it records its batches.
    fn of(probe: &Probe<TicketCreated>) -> (Self, Batches) {
        let batches = Batches::default();
        let listener = Self {
            probe: probe.instance(0),
            batches: Arc::clone(&batches),
        };
        (listener, batches)
    }
}

/// Tickets 0..total, published before the listener starts: its first
/// fetch is full.
async fn publish_tickets(bus: &typebus::Bus, total: u64) {
    let publisher = bus.publisher::<TicketCreated>();
    for n in 0..total {
        publisher.publish(&ticket(n)).await.unwrap();
    }
}

impl Listener for Batched {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        self.probe.options().dispatch(Dispatch::Batches)
    }

    async fn on_message(
        &self,
        event: TicketCreated,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        self.probe.on_message(event, delivery).await
    }

    async fn on_batch(
        &self,
        events: Vec<(TicketCreated, &Delivery)>,
    ) -> Vec<Result<(), HandlerError>> {
        let batch = events
            .iter()
            .map(|(event, delivery)| (event.id.clone(), delivery.delivery_count()))
            .collect();
        self.batches.lock().unwrap().push(batch);
        let mut outcomes = Vec::with_capacity(events.len());
        for (event, delivery) in events {
            outcomes.push(self.probe.on_message(event, delivery).await);
        }
        outcomes
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_listener_settles_each_message_of_a_batch_by_its_outcome() {
    let (server, bus) = setup().await;
    let js = raw_jetstream(&server).await;
    let total = 600;
    // Every 50th ticket fails once; ticket 13 is refused for good.
    let probe = Probe::<TicketCreated>::new("orders-service", |event, delivery| {
        let n = u64::from_str_radix(&event.id[2..], 16).unwrap();
        if n == 13 {
            Act::Permanent("ticket 13 is cursed")
        } else if n % 50 == 7 && delivery.delivery_count() == 1 {
            Act::Retry(None)
        } else {
            Act::Ok
        }
    });
    let (listener, batches) = Batched::of(&probe);
    publish_tickets(&bus, total).await;
    // One body that does not decode, amid the batch.
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "unreadable-1");
    js.publish_with_headers("ticket:created", headers, "{\"id\": 5".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let handle = bus
        .listen_with(listener, |o: ListenOptions| o.concurrency(64))
        .await
        .unwrap();

    let retried = (0..total).filter(|n| n % 50 == 7).count();
    eventually(Duration::from_secs(30), "every event handled", || {
        probe.calls().len() == total as usize + retried
    })
    .await;
    let waiting = std::time::Instant::now();
    while dead_letters(&js, "orders-service").await.len() < 2 {
        assert!(
            waiting.elapsed() < Duration::from_secs(15),
            "timed out waiting for two dead letters"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.shutdown().await.unwrap();

    // Each event handled once, the failed ones twice, nothing else.
    let mut per_ticket: HashMap<String, Vec<u64>> = HashMap::new();
    for call in probe.calls() {
        per_ticket
            .entry(call.event.id.clone())
            .or_default()
            .push(call.delivery.delivery_count());
    }
    assert_eq!(per_ticket.len(), total as usize);
    for n in 0..total {
        let deliveries = &per_ticket[&object_id(n)];
        if n % 50 == 7 {
            assert_eq!(deliveries, &[1, 2], "ticket {n}");
        } else {
            assert_eq!(deliveries, &[1], "ticket {n}");
        }
    }
    let letters = dead_letters(&js, "orders-service").await;
    let kinds: Vec<&str> = letters
        .iter()
        .map(|letter| header(letter, "Typebus-Dlq-Kind").unwrap_or("none"))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds.contains(&"rejected") && kinds.contains(&"decode"),
        "{kinds:?}"
    );

    // Batches of more than one message, never more than half the concurrency.
    let sizes: Vec<usize> = batches.lock().unwrap().iter().map(Vec::len).collect();
    assert!(sizes.iter().any(|&size| size > 1), "{sizes:?}");
    assert!(sizes.iter().all(|&size| size <= 32), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), total as usize + retried);

    // Nothing left pending or unsettled.
    let stream = js.get_stream("EVENTS").await.unwrap();
    let info = stream
        .consumer_info(typebus::consumer_name("orders-service", "ticket:created"))
        .await
        .unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_hung_handler_is_retried_whole_after_the_handler_timeout() {
    let (_server, bus) = setup().await;
    let total = 40;
    let hung = object_id(3);
    let probe = Probe::<TicketCreated>::new("orders-service", {
        let hung = hung.clone();
        move |event, delivery| {
            if event.id == hung && delivery.delivery_count() == 1 {
                Act::Hang
            } else {
                Act::Ok
            }
        }
    });
    let (listener, batches) = Batched::of(&probe);
    publish_tickets(&bus, total).await;
    let handle = bus
        .listen_with(listener, |o: ListenOptions| {
            o.handler_timeout(Duration::from_secs(1))
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "the hung ticket handled", || {
        probe
            .calls()
            .iter()
            .any(|call| call.event.id == hung && call.delivery.delivery_count() == 2)
    })
    .await;
    let first: Vec<String> = batches
        .lock()
        .unwrap()
        .iter()
        .find(|batch| batch.contains(&(hung.clone(), 1)))
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    eventually(
        Duration::from_secs(20),
        "the hung batch delivered again",
        || {
            let calls = probe.calls();
            first.iter().all(|id| {
                calls
                    .iter()
                    .any(|call| &call.event.id == id && call.delivery.delivery_count() == 2)
            })
        },
    )
    .await;
    handle.shutdown().await.unwrap();
    // The hung ticket's batch-mates were abandoned with it and delivered
    // again; every other ticket once.
    for n in 0..total {
        let id = object_id(n);
        let deliveries: Vec<u64> = probe
            .calls()
            .iter()
            .filter(|call| call.event.id == id)
            .map(|call| call.delivery.delivery_count())
            .collect();
        if first.contains(&id) {
            assert_eq!(deliveries.last(), Some(&2), "ticket {n}: {deliveries:?}");
        } else {
            assert_eq!(deliveries, [1], "ticket {n}");
        }
    }
    assert!(first.len() > 1, "{first:?}");
}
