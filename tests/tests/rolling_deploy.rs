//! A rolling deploy, on the embedded transport and on a real nats-server:
//! publishers of old and new versions and listeners of old and new versions
//! of one queue group run together over 2,000 events of mixed versions (the
//! `versions` golden fixture: `ticket:updated` v1, v2, v3, where v1 readers
//! read neither newer version; `seat:held` v1 and v2, where v2 tells v1
//! readers they read it), the new listeners deployed before the new
//! publishers or after them. Every event is handled once by a listener that
//! can read it; only events an old listener cannot read are dead-lettered,
//! each naming its version; after the upgrade (old listeners stopped),
//! `dlq replay` brings them back and the new listener handles each once.
//! Nothing is lost.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use typebus::{
    Bus, DeadLetterFilter, Delivery, Event, HandlerError, ListenOptions, Listener, StreamConfig,
};
use typebus_tests::golden::versions::{
    SeatHeld, SeatHeldV1, TicketUpdated, TicketUpdatedV1, TicketUpdatedV2,
};

const GROUP: &str = "ticketing-service";
const EVENTS: u64 = 2_000;

/// Who handled what: event id -> (listener, version header) per handling.
type Handled = Arc<Mutex<BTreeMap<String, Vec<(&'static str, String)>>>>;

/// A listener instance of the group, of one version of one event.
struct Instance<E> {
    name: &'static str,
    handled: Handled,
    id: fn(&E) -> String,
}

impl<E: Event> Listener for Instance<E> {
    type Event = E;
    fn options(&self) -> ListenOptions {
        ListenOptions::new(GROUP)
            .ack_wait(Duration::from_secs(5))
            .concurrency(8)
            .prefetch(8)
    }
    async fn on_message(&self, event: E, delivery: &Delivery) -> Result<(), HandlerError> {
        let version = delivery.version_header().unwrap_or("none").to_owned();
        self.handled
            .lock()
            .expect("lock")
            .entry((self.id)(&event))
            .or_default()
            .push((self.name, version));
        Ok(())
    }
}

fn instance<E: Event>(name: &'static str, handled: &Handled, id: fn(&E) -> String) -> Instance<E> {
    Instance {
        name,
        handled: Arc::clone(handled),
        id,
    }
}

/// Publishes event `n`: even ones on `ticket:updated`, odd ones on
/// `seat:held`, in the version [`published_version`] says.
async fn publish(bus: &Bus, n: u64) {
    let id = format!("e{n}");
    let version = published_version(n);
    if n.is_multiple_of(2) {
        match version {
            "1" => {
                let event = TicketUpdatedV1 {
                    id,
                    labels: None,
                    order_id: None,
                    price: 1.5,
                    title: "t".into(),
                    version: n,
                };
                bus.publisher::<TicketUpdatedV1>()
                    .publish(&event)
                    .await
                    .unwrap();
            }
            "2" => {
                let event = TicketUpdatedV2 {
                    id,
                    labels: None,
                    order_id: None,
                    price_cents: 150,
                    seats: 1,
                    title: "t".into(),
                    version: n,
                };
                bus.publisher::<TicketUpdatedV2>()
                    .publish(&event)
                    .await
                    .unwrap();
            }
            _ => {
                let event = TicketUpdated {
                    id,
                    version: n,
                    title: "t".into(),
                    price_cents: 150,
                    seats: 1,
                    currency: "USD".into(),
                    tags: None,
                    labels: None,
                    order_id: None,
                };
                bus.publisher::<TicketUpdated>()
                    .publish(&event)
                    .await
                    .unwrap();
            }
        }
    } else if version == "1" {
        let event = SeatHeldV1 { count: 1, seat: id };
        bus.publisher::<SeatHeldV1>().publish(&event).await.unwrap();
    } else {
        let event = SeatHeld {
            count: 1,
            note: Some("aisle".into()),
            seat: id,
        };
        bus.publisher::<SeatHeld>().publish(&event).await.unwrap();
    }
}

/// The version event `n` is published with: the first third by the old
/// publishers only (v1), the rest by old and new ones interleaved.
fn published_version(n: u64) -> &'static str {
    if n < EVENTS / 3 {
        "1"
    } else if n.is_multiple_of(2) {
        ["1", "2", "3"][((n / 2) % 3) as usize]
    } else {
        ["1", "2"][((n / 2) % 2) as usize]
    }
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Which side of the service is deployed first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// New listeners join the group, then new publishers start.
    ListenersFirst,
    /// New publishers start while only old listeners run; new listeners
    /// join after.
    PublishersFirst,
}

async fn rolling_deploy(bus: Bus, order: Order) {
    bus.provision(&StreamConfig::new([
        TicketUpdated::SUBJECT,
        SeatHeld::SUBJECT,
    ]))
    .await
    .unwrap();
    bus.provision(&Bus::default_dead_letter_stream())
        .await
        .unwrap();
    let handled = Handled::default();
    // The old and the new version of the service, side by side in one
    // queue group.
    // The old version of the service, with the old publishers.
    let old = [
        bus.listen(instance::<TicketUpdatedV1>("old", &handled, |e| {
            e.id.clone()
        }))
        .await
        .unwrap(),
        bus.listen(instance::<SeatHeldV1>("old", &handled, |e| e.seat.clone()))
            .await
            .unwrap(),
    ];
    for n in 0..EVENTS / 3 {
        publish(&bus, n).await;
    }
    // The new version of the service joins the queue group, before or
    // after the new publishers start (old and new publishers interleaved).
    let start_new = || async {
        [
            bus.listen(instance::<TicketUpdated>("new", &handled, |e| e.id.clone()))
                .await
                .unwrap(),
            bus.listen(instance::<SeatHeld>("new", &handled, |e| e.seat.clone()))
                .await
                .unwrap(),
        ]
    };
    let mut new = None;
    if order == Order::ListenersFirst {
        new = Some(start_new().await);
    }
    for n in EVENTS / 3..EVENTS {
        publish(&bus, n).await;
    }
    let new = match new {
        Some(new) => new,
        None => start_new().await,
    };
    let dead_letters = bus.dead_letters();
    let count = |handled: &Handled| handled.lock().expect("lock").len();
    let dead = || async {
        dead_letters
            .list(Some(GROUP))
            .await
            .unwrap()
            .iter()
            .map(|g| g.count)
            .sum::<u64>() as usize
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let settled = count(&handled) + dead().await;
        if settled >= EVENTS as usize {
            break;
        }
        assert!(Instant::now() < deadline, "{settled} of {EVENTS} settled");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Every event an old listener got and could not read is a dead letter
    // naming its version; nothing else is.
    let letters = dead_letters
        .matching(&DeadLetterFilter::new(GROUP))
        .await
        .unwrap();
    if order == Order::PublishersFirst {
        assert!(!letters.is_empty(), "the old listener got no newer ticket");
    }
    for letter in &letters {
        let version = letter.version().unwrap();
        assert_eq!(
            letter.original_subject.as_deref(),
            Some(TicketUpdated::SUBJECT),
            "{letter:?}"
        );
        assert!(version == "2" || version == "3", "{letter:?}");
        assert_eq!(letter.kind, "version");
        assert!(
            letter.reason.starts_with(&format!(
                "contract version {version} of `ticket:updated` is not readable by this listener (it reads version 1)"
            )),
            "{}",
            letter.reason
        );
    }
    {
        let handled = handled.lock().expect("lock");
        for (id, by) in handled.iter() {
            let n: u64 = id[1..].parse().unwrap();
            let version = published_version(n);
            assert_eq!(by.len(), 1, "{id} handled {by:?}");
            let (listener, header) = &by[0];
            assert_eq!(header, version, "{id}");
            // Old listeners handle only what they read: ticket v1, seat v1
            // and v2 (Typebus-Readable-As).
            if *listener == "old" {
                assert!(
                    n % 2 == 1 || version == "1",
                    "{id} v{version} handled by the old listener"
                );
            }
        }
        assert_eq!(handled.len() + letters.len(), EVENTS as usize);
    }

    // The upgrade: the old instances stop, the dead letters are replayed,
    // and the new instance handles each once.
    for handle in old {
        handle.shutdown().await.unwrap();
    }
    let report = dead_letters
        .replay(&DeadLetterFilter::new(GROUP), false)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.done.len(), letters.len());
    wait_until("the replayed events", || count(&handled) == EVENTS as usize).await;
    // Settle anything still in flight before the final counts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for handle in new {
        handle.shutdown().await.unwrap();
    }
    assert_eq!(dead().await, 0, "nothing left in the dead-letter stream");
    let handled = handled.lock().expect("lock");
    assert_eq!(handled.len(), EVENTS as usize, "nothing lost");
    for letter in &letters {
        let body: serde_json::Value = serde_json::from_slice(&letter.body).unwrap();
        let id = body["id"].as_str().unwrap();
        let by = handled.get(id).cloned().unwrap_or_default();
        assert_eq!(by.len(), 1, "replayed {id}: {by:?}");
        assert_eq!(by[0].0, "new");
    }
    assert!(handled.values().all(|by| by.len() == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_loses_nothing_on_the_memory_transport() {
    for order in [Order::ListenersFirst, Order::PublishersFirst] {
        rolling_deploy(typebus::memory::Broker::new().bus(), order).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_loses_nothing_on_nats() {
    for order in [Order::ListenersFirst, Order::PublishersFirst] {
        let server = typebus::testing::NatsServer::start().expect("start nats-server");
        let bus = typebus::nats::connect(typebus::nats::ConnectOptions::new(server.url()))
            .await
            .expect("connect");
        rolling_deploy(bus, order).await;
    }
}
