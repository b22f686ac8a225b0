//! Listening across versions, on the embedded transport and on a real
//! nats-server: publishers of versions 1, 2 and 3 of `ticket:updated` (and
//! an old publisher that sends no version header) on one stream; a listener
//! of the newest version gets every event, upcast; a listener still built
//! for version 1 gets what it can read and dead-letters the rest, each
//! dead letter naming the version.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use typebus::transport::OutgoingMessage;
use typebus::{Bus, Delivery, Event, HandlerError, Headers, ListenOptions, Listener, StreamConfig};
use typebus_tests::golden::versions::{
    Label, SeatHeld, SeatHeldV1, TicketUpdated, TicketUpdatedV1, TicketUpdatedV2, ticket_updated_v1,
};

/// What a listener saw: the event (as JSON of its own type) and the
/// version header it came with.
type Seen = Arc<Mutex<Vec<(serde_json::Value, Option<String>)>>>;

struct Collect<E> {
    group: &'static str,
    seen: Seen,
    options: fn(ListenOptions) -> ListenOptions,
    _event: std::marker::PhantomData<fn() -> E>,
}

impl<E: Event> Collect<E> {
    fn new(group: &'static str, options: fn(ListenOptions) -> ListenOptions) -> (Self, Seen) {
        let seen = Seen::default();
        let listener = Self {
            group,
            seen: Arc::clone(&seen),
            options,
            _event: std::marker::PhantomData,
        };
        (listener, seen)
    }
}

impl<E: Event> Listener for Collect<E> {
    type Event = E;
    fn options(&self) -> ListenOptions {
        (self.options)(ListenOptions::new(self.group).ack_wait(Duration::from_secs(2)))
    }
    async fn on_message(&self, event: E, delivery: &Delivery) -> Result<(), HandlerError> {
        let json = serde_json::to_value(&event).map_err(HandlerError::permanent)?;
        let version = delivery.version_header().map(str::to_owned);
        self.seen.lock().expect("lock").push((json, version));
        Ok(())
    }
}

/// A dead letter's body, read whatever version it carries.
#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "typebus.dlq.old-service", version = 1)]
struct DeadLetter(serde_json::Value);

fn v1(n: u64) -> TicketUpdatedV1 {
    TicketUpdatedV1 {
        id: format!("t{n}"),
        labels: Some(vec![ticket_updated_v1::Label::Vip]),
        order_id: None,
        price: 10.25 + n as f64,
        title: format!("v1 #{n}"),
        version: n,
    }
}

fn v2(n: u64) -> TicketUpdatedV2 {
    TicketUpdatedV2 {
        id: format!("t{n}"),
        labels: None,
        order_id: Some("o".into()),
        price_cents: 2000 + n as i64,
        seats: 2,
        title: format!("v2 #{n}"),
        version: n,
    }
}

fn v3(n: u64) -> TicketUpdated {
    TicketUpdated {
        id: format!("t{n}"),
        version: n,
        title: format!("v3 #{n}"),
        price_cents: 3000 + n as i64,
        seats: 3,
        currency: "EUR".into(),
        tags: Some(vec!["x".into()]),
        labels: None,
        order_id: None,
    }
}

async fn wait_for(seen: &Seen, count: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().expect("lock").len() < count {
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {count} events arrived",
            seen.lock().expect("lock").len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn every_version_reaches_the_newest_listener(bus: Bus) {
    bus.provision(&StreamConfig::new([
        TicketUpdated::SUBJECT,
        SeatHeld::SUBJECT,
    ]))
    .await
    .expect("provision the event stream");
    bus.provision(&Bus::default_dead_letter_stream())
        .await
        .expect("provision the dead-letter stream");
    for n in 0..3 {
        bus.publisher::<TicketUpdatedV1>()
            .publish(&v1(n))
            .await
            .unwrap();
        bus.publisher::<TicketUpdatedV2>()
            .publish(&v2(10 + n))
            .await
            .unwrap();
        bus.publisher::<TicketUpdated>()
            .publish(&v3(20 + n))
            .await
            .unwrap();
    }
    // Two events from an old publisher outside typebus: a v1 body, no
    // version header.
    for n in 30..32 {
        let mut headers = Headers::new();
        headers.append("Nats-Msg-Id", format!("legacy-{n}"));
        let body = serde_json::to_vec(&v1(n)).unwrap();
        bus.transport()
            .publish(OutgoingMessage {
                subject: TicketUpdated::SUBJECT.to_owned(),
                headers,
                payload: Bytes::from(body),
            })
            .await
            .unwrap()
            .await
            .unwrap();
    }

    // `seat:held` v2 only added an optional field: its publisher says v1
    // readers read it, and a v1 listener does.
    for n in 0..4 {
        let seat = SeatHeld {
            seat: format!("s{n}"),
            count: n,
            note: Some("aisle".into()),
        };
        bus.publisher::<SeatHeld>().publish(&seat).await.unwrap();
    }
    let (seats, seats_seen) = Collect::<SeatHeldV1>::new("old-service", |o| o);
    let seats = bus.listen(seats).await.unwrap();
    wait_for(&seats_seen, 4, "the v1 listener of seat:held").await;
    seats.shutdown().await.unwrap();
    for (json, version) in seats_seen.lock().expect("lock").iter() {
        assert_eq!(version.as_deref(), Some("2"));
        assert!(json.get("note").is_none(), "read as v1: {json}");
    }

    let (newest, new_seen) = Collect::<TicketUpdated>::new("new-service", |o| o.unversioned(1));
    let (oldest, old_seen) = Collect::<TicketUpdatedV1>::new("old-service", |o| o);
    let (letters, letters_seen) =
        Collect::<DeadLetter>::new("dead-letter-reader", |o| o.max_version(u32::MAX));
    let handles = [
        bus.listen(newest).await.unwrap(),
        bus.listen(oldest).await.unwrap(),
        bus.listen(letters).await.unwrap(),
    ];
    wait_for(&new_seen, 11, "the newest listener").await;
    wait_for(&old_seen, 5, "the v1 listener").await;
    wait_for(&letters_seen, 6, "the dead letters").await;
    for handle in handles {
        handle.shutdown().await.unwrap();
    }

    let mut new_seen = new_seen.lock().expect("lock").clone();
    new_seen.sort_by_key(|(json, _)| json["version"].as_u64());
    let events: Vec<TicketUpdated> = new_seen
        .iter()
        .map(|(json, _)| serde_json::from_value(json.clone()).unwrap())
        .collect();
    assert_eq!(events.len(), 11, "{events:?}");
    for (event, (_, header)) in events.iter().zip(&new_seen) {
        let n = event.version;
        match n {
            // v1 (with its header, or none): upcast by hand to v2, then by
            // the generated step to v3.
            0..=2 | 30..=31 => {
                assert_eq!(header.as_deref(), (n < 30).then_some("1"));
                assert_eq!(event.price_cents, (1025 + 100 * n) as i64, "{event:?}");
                assert_eq!((event.seats, event.currency.as_str()), (1, "USD"));
                assert_eq!(event.labels, Some(vec![Label::Vip]));
            }
            // v2: read directly (mechanical: seats widened, currency and
            // tags added with a default and as optional).
            10..=12 => {
                assert_eq!(header.as_deref(), Some("2"));
                assert_eq!((event.price_cents, event.seats), (2000 + n as i64, 2));
                assert_eq!(
                    (event.currency.as_str(), event.tags.as_ref()),
                    ("USD", None)
                );
                assert_eq!(event.order_id.as_deref(), Some("o"));
            }
            20..=22 => {
                assert_eq!(header.as_deref(), Some("3"));
                assert_eq!(event, &v3(n));
            }
            other => panic!("unexpected event {other}"),
        }
    }

    // The v1 listener read v1 (with and without the header) and nothing else.
    let old: Vec<u64> = {
        let mut v: Vec<u64> = old_seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(json, _)| json["version"].as_u64().unwrap())
            .collect();
        v.sort_unstable();
        v
    };
    assert_eq!(old, [0, 1, 2, 30, 31]);
    // Its dead letters are the v2 and v3 events, each naming the version.
    let mut letters: Vec<(u64, String)> = letters_seen
        .lock()
        .expect("lock")
        .iter()
        .map(|(json, version)| (json["version"].as_u64().unwrap(), version.clone().unwrap()))
        .collect();
    letters.sort();
    assert_eq!(
        letters,
        [
            (10, "2"),
            (11, "2"),
            (12, "2"),
            (20, "3"),
            (21, "3"),
            (22, "3")
        ]
        .map(|(n, v)| (n, v.to_owned()))
    );
}

/// The reasons the v1 listener gave, read from the embedded broker.
fn version_reasons(broker: &typebus::memory::Broker) -> Vec<String> {
    broker
        .messages_on("typebus.dlq.old-service")
        .iter()
        .map(|m| {
            m.headers
                .get("Typebus-Dlq-Reason")
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_reaches_the_newest_listener_on_the_memory_transport() {
    let broker = typebus::memory::Broker::new();
    every_version_reaches_the_newest_listener(broker.bus()).await;
    let reasons = version_reasons(&broker);
    assert_eq!(reasons.len(), 6);
    for reason in reasons {
        assert!(
            reason.starts_with("contract version 2 of `ticket:updated` is not readable by this listener (it reads version 1)")
                || reason.starts_with("contract version 3 of `ticket:updated` is not readable by this listener (it reads version 1)"),
            "{reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_reaches_the_newest_listener_on_nats() {
    let server = typebus::testing::NatsServer::start().expect("start nats-server");
    let bus = typebus::nats::connect(typebus::nats::ConnectOptions::new(server.url()))
        .await
        .expect("connect");
    every_version_reaches_the_newest_listener(bus).await;
}
