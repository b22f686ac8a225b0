//! The transport conformance suite: one set of cases, each generic over a
//! [`Backend`] (a broker and a way to connect to it), run against the
//! embedded `memory` broker (`conformance_memory.rs`) and a real
//! `nats-server` (`conformance_nats.rs`) by [`suite!`].
//!
//! Every case checks one promise of the transport contract
//! (`typebus::transport`) or of the listener engine on top of it, the same
//! way on both backends. Timings are small (ack waits of 1 s, delays of a
//! few hundred ms); lower bounds on redelivery delays are checked loosely
//! and upper bounds only as generous timeouts.

// Test support: unwrapping is how a case fails.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use typebus::headers::{Headers, names};
use typebus::transport::{ConsumerSpec, Incoming, MessageSource, OutgoingMessage};
use typebus::{Bus, Delivery, Event, HandlerError, ListenOptions, Listener, StreamConfig};

mod dead_letters;
pub use dead_letters::{
    a_cut_dead_letter_is_replayed_whole_from_its_original,
    a_replay_dead_lettered_again_is_replayed_again, an_interrupted_replay_is_not_delivered_twice,
    dead_letters_are_listed_shown_replayed_and_purged,
    stored_messages_are_read_and_deleted_by_sequence,
};

/// A broker to run the cases on.
pub trait Backend: Sized + Send + Sync + 'static {
    /// A fresh, empty broker (a new server for NATS).
    fn start() -> impl Future<Output = Self> + Send;
    /// A new client of the broker: a separate process's view of it.
    fn connect(&self) -> impl Future<Output = Bus> + Send;
    /// Whether the durable consumer `durable` of the `EVENTS` stream has
    /// settled everything: nothing pending, nothing waiting for an ack or a
    /// redelivery (on NATS: its ack floor at the stream's last sequence).
    fn consumer_settled(&self, durable: &str) -> impl Future<Output = bool> + Send;
}

/// Defines one `#[tokio::test]` per case for `$backend`.
macro_rules! suite {
    ($backend:ty) => {
        $crate::conformance::suite!(@cases $backend;
            provisioning_is_idempotent_and_reports_conflicts,
            publish_acks_count_up_from_one,
            message_id_deduplicates,
            durable_consumer_replays_from_the_start,
            queue_group_shares_the_work,
            unsettled_delivery_comes_back_after_ack_wait,
            in_progress_extends_the_deadline,
            nak_delays_the_redelivery,
            retryable_handler_error_is_redelivered_after_its_delay,
            term_is_never_delivered_again,
            max_deliver_exhaustion_is_dead_lettered,
            undecodable_payload_is_dead_lettered_and_good_events_flow,
            poison_near_the_size_limit_is_dead_lettered_cut_to_fit,
            json_array_is_not_an_event,
            handler_panic_is_retried,
            newer_contract_version_is_dead_lettered,
            restarted_listener_resumes_where_the_durable_left_off,
            dead_letters_are_listed_shown_replayed_and_purged,
            an_interrupted_replay_is_not_delivered_twice,
            a_cut_dead_letter_is_replayed_whole_from_its_original,
            a_replay_dead_lettered_again_is_replayed_again,
            stored_messages_are_read_and_deleted_by_sequence,
        );
    };
    (@cases $backend:ty; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::$case::<$backend>().await;
            }
        )*
    };
}
pub(crate) use suite;

/// The event every case publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:created", version = 1)]
pub struct TicketCreated {
    pub id: String,
    pub price: f64,
}

pub fn ticket(n: u64) -> TicketCreated {
    TicketCreated {
        id: format!("t{n}"),
        price: 10.0 + n as f64 / 4.0,
    }
}

const SUBJECT: &str = "ticket:created";
/// How long a case waits for something that should happen.
const PATIENCE: Duration = Duration::from_secs(20);

/// A broker with the `EVENTS` stream for [`TicketCreated`], and a bus on it.
async fn setup<B: Backend>() -> (B, Bus) {
    let backend = B::start().await;
    let bus = backend.connect().await;
    bus.provision(&StreamConfig::new([SUBJECT]))
        .await
        .expect("stream provisioned");
    (backend, bus)
}

async fn publish(bus: &Bus, range: std::ops::RangeInclusive<u64>) {
    let publisher = bus.publisher::<TicketCreated>();
    for n in range {
        publisher.publish(&ticket(n)).await.expect("published");
    }
}

/// Publishes a message as built, outside any publisher: what a foreign or
/// broken service sends.
async fn publish_raw(bus: &Bus, headers: Headers, payload: Bytes) {
    bus.transport()
        .publish(OutgoingMessage {
            subject: SUBJECT.into(),
            headers,
            payload,
        })
        .await
        .expect("the broker takes the message")
        .await
        .expect("the broker stores the message");
}

fn raw_spec(durable: &str, filter: &str, ack_wait: Duration) -> ConsumerSpec {
    ConsumerSpec {
        stream: None,
        durable_name: durable.into(),
        filter_subject: filter.into(),
        ack_wait,
        max_deliver: None,
        max_ack_pending: 100,
        backoff: Vec::new(),
        batch: 10,
    }
}

async fn next(source: &mut Box<dyn MessageSource>) -> Incoming {
    tokio::time::timeout(PATIENCE, source.next())
        .await
        .expect("a message within the patience limit")
        .expect("the source delivers")
}

/// Whether the source delivers anything within `window`.
async fn delivers_within(
    source: &mut Box<dyn MessageSource>,
    window: Duration,
) -> Option<Incoming> {
    match tokio::time::timeout(window, source.next()).await {
        Ok(next) => Some(next.expect("the source delivers")),
        Err(_) => None,
    }
}

/// Waits until `done` holds, checking every 20 ms.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < PATIENCE,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The dead letters of `group`, read through a raw consumer of the
/// dead-letter stream: waits for `count` of them.
async fn dead_letters(bus: &Bus, group: &str, count: usize) -> Vec<Incoming> {
    let mut spec = raw_spec(
        "dlq-reader",
        &format!("typebus.dlq.{group}"),
        Duration::from_secs(30),
    );
    spec.stream = Some(Bus::DEAD_LETTER_STREAM.into());
    let mut source = bus
        .transport()
        .consume(spec)
        .await
        .expect("dead-letter consumer");
    let mut letters = Vec::new();
    while letters.len() < count {
        let letter = next(&mut source).await;
        letter.ack().await.expect("ack dead letter");
        letters.push(letter);
    }
    assert!(
        delivers_within(&mut source, Duration::from_millis(500))
            .await
            .is_none(),
        "more than {count} dead letters"
    );
    source.close().await;
    letters
}

fn header<'a>(incoming: &'a Incoming, name: &str) -> &'a str {
    incoming
        .delivery()
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("dead letter has no {name} header"))
}

/// What a probe listener does with one delivery.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    Ok,
    Retry(Option<Duration>),
    Permanent,
    Sleep(Duration),
    Panic,
}

/// One handler call a probe saw.
#[derive(Debug, Clone)]
pub struct Call {
    pub event: TicketCreated,
    pub delivery: Delivery,
    pub instance: usize,
    pub at: Instant,
}

type Decide = dyn Fn(&TicketCreated, &Delivery) -> Act + Send + Sync;

/// A listener that records its calls and acts as told.
#[derive(Clone)]
pub struct Probe {
    group: &'static str,
    instance: usize,
    ack_wait: Duration,
    max_deliver: Option<u32>,
    calls: Arc<Mutex<Vec<Call>>>,
    decide: Arc<Decide>,
}

impl Probe {
    pub fn new(
        group: &'static str,
        decide: impl Fn(&TicketCreated, &Delivery) -> Act + Send + Sync + 'static,
    ) -> Self {
        Self {
            group,
            instance: 0,
            ack_wait: Duration::from_secs(1),
            max_deliver: Some(10),
            calls: Arc::new(Mutex::new(Vec::new())),
            decide: Arc::new(decide),
        }
    }

    pub fn instance(&self, instance: usize) -> Self {
        Self {
            instance,
            ..self.clone()
        }
    }

    pub fn max_deliver(mut self, max: Option<u32>) -> Self {
        self.max_deliver = max;
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The ids handled, sorted (handlers run concurrently).
    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.calls().into_iter().map(|call| call.event.id).collect();
        ids.sort();
        ids
    }
}

impl Listener for Probe {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(self.group)
            .retry(typebus::Backoff::new(
                Duration::from_millis(100),
                Duration::from_millis(100),
            ))
            .max_deliver(self.max_deliver)
            .ack_wait(self.ack_wait)
    }

    async fn on_message(
        &self,
        event: TicketCreated,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        let act = (self.decide)(&event, delivery);
        self.calls.lock().unwrap().push(Call {
            event,
            delivery: delivery.clone(),
            instance: self.instance,
            at: Instant::now(),
        });
        match act {
            Act::Ok => Ok(()),
            Act::Retry(None) => Err(HandlerError::retry("not yet")),
            Act::Retry(Some(delay)) => Err(HandlerError::retry_after(delay, "not yet")),
            Act::Permanent => Err(HandlerError::permanent("refused")),
            Act::Sleep(duration) => {
                tokio::time::sleep(duration).await;
                Ok(())
            }
            Act::Panic => panic!("probe told to panic"),
        }
    }
}

// ---- the cases -------------------------------------------------------------

/// Provisioning again is harmless, new subjects extend the stream, and a
/// stream that cannot be reconciled is an error of the right kind.
pub async fn provisioning_is_idempotent_and_reports_conflicts<B: Backend>() {
    use typebus::{ProvisionErrorKind, ProvisionOutcome};
    let (_backend, bus) = setup::<B>().await;
    let config = StreamConfig::new([SUBJECT]);
    assert_eq!(
        bus.provision(&config).await.unwrap(),
        ProvisionOutcome::Unchanged
    );
    let wider = StreamConfig::new([SUBJECT, "ticket:updated"]);
    assert_eq!(
        bus.provision(&wider).await.unwrap(),
        ProvisionOutcome::Extended(vec!["ticket:updated".into()])
    );
    assert_eq!(
        bus.provision(&wider).await.unwrap(),
        ProvisionOutcome::Unchanged
    );
    let err = bus
        .provision(&wider.clone().duplicate_window(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Conflict);
    assert!(err.to_string().contains("duplicate window"), "{err}");
    let err = bus
        .provision(&StreamConfig::new(["ticket:updated"]).name("OTHER"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Rejected, "{err}");
    // The extended stream stores the new subject.
    let ack = bus
        .transport()
        .publish(OutgoingMessage {
            subject: "ticket:updated".into(),
            headers: Headers::new(),
            payload: Bytes::from_static(b"{}"),
        })
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((ack.stream.as_str(), ack.sequence), ("EVENTS", 1));
}

/// Publishing returns the stream's ack: sequences 1, 2, 3 in `EVENTS`.
pub async fn publish_acks_count_up_from_one<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let publisher = bus.publisher::<TicketCreated>();
    for expected in 1..=3 {
        let ack = publisher
            .publish(&ticket(expected))
            .await
            .expect("published");
        assert_eq!(ack.stream, "EVENTS");
        assert_eq!(ack.sequence, expected);
        assert!(!ack.duplicate);
    }
    // A subject no stream stores is an error, not a silent drop.
    let sent = bus
        .transport()
        .publish(OutgoingMessage {
            subject: "nobody.stores.this".into(),
            headers: Headers::new(),
            payload: Bytes::new(),
        })
        .await;
    let err = match sent {
        Ok(pending) => pending.await.expect_err("no stream stores the subject"),
        Err(err) => err,
    };
    assert_eq!(err.kind(), typebus::PublishErrorKind::NoStream);
}

/// A message id seen within the duplicate window is acked as a duplicate
/// with the first copy's sequence, and stored (and delivered) once.
pub async fn message_id_deduplicates<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let publisher = bus.publisher::<TicketCreated>();
    let first = publisher
        .publish_with_id(&ticket(1), "order-1-created")
        .await
        .unwrap();
    let again = publisher
        .publish_with_id(&ticket(1), "order-1-created")
        .await
        .unwrap();
    let other = publisher
        .publish_with_id(&ticket(2), "order-2-created")
        .await
        .unwrap();
    assert_eq!((first.sequence, first.duplicate), (1, false));
    assert_eq!((again.sequence, again.duplicate), (1, true));
    assert_eq!((other.sequence, other.duplicate), (2, false));

    let mut source = bus
        .transport()
        .consume(raw_spec("dedupe", SUBJECT, Duration::from_secs(5)))
        .await
        .unwrap();
    for expected in [1, 2] {
        let message = next(&mut source).await;
        assert_eq!(message.delivery().stream_sequence(), expected);
        message.ack().await.unwrap();
    }
    assert!(
        delivers_within(&mut source, Duration::from_millis(500))
            .await
            .is_none()
    );
    source.close().await;
}

/// A new durable consumer starts from the first stored message, in order,
/// with the body and headers as published.
pub async fn durable_consumer_replays_from_the_start<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    publish(&bus, 1..=5).await;
    let probe = Probe::new("replay-service", |_, _| Act::Ok);
    let handle = bus
        .listen_with(probe.clone(), |o: ListenOptions| {
            o.concurrency(1).prefetch(1)
        })
        .await
        .unwrap();
    eventually("5 events handled", || probe.calls().len() == 5).await;
    handle.shutdown().await.unwrap();
    let calls = probe.calls();
    assert_eq!(
        calls.iter().map(|c| c.event.clone()).collect::<Vec<_>>(),
        (1..=5).map(ticket).collect::<Vec<_>>()
    );
    for (index, call) in calls.iter().enumerate() {
        assert_eq!(call.delivery.stream_sequence(), index as u64 + 1);
        assert_eq!(call.delivery.delivery_count(), 1);
        assert_eq!(call.delivery.subject(), SUBJECT);
        assert_eq!(call.delivery.version_header(), Some("1"));
        assert!(call.delivery.message_id().is_some());
    }
}

/// Two instances of one queue group (separate connections) share the
/// durable consumer: every event is handled exactly once, by one of them,
/// and both take part.
pub async fn queue_group_shares_the_work<B: Backend>() {
    let (backend, bus) = setup::<B>().await;
    let other_bus = backend.connect().await;
    let probe = Probe::new("shared-service", |_, _| {
        Act::Sleep(Duration::from_millis(15))
    });
    let options = |o: ListenOptions| o.concurrency(1).prefetch(1);
    let a = bus.listen_with(probe.instance(1), options).await.unwrap();
    let b = other_bus
        .listen_with(probe.instance(2), options)
        .await
        .unwrap();
    publish(&bus, 1..=40).await;
    eventually("40 events handled", || probe.calls().len() >= 40).await;
    // Give a wrongly duplicated delivery time to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for id in probe.ids() {
        *per_id.entry(id).or_default() += 1;
    }
    assert_eq!(per_id.len(), 40, "every event handled");
    assert!(
        per_id.values().all(|n| *n == 1),
        "an event was handled twice: {per_id:?}"
    );
    let by = |instance| {
        probe
            .calls()
            .iter()
            .filter(|c| c.instance == instance)
            .count()
    };
    assert!(
        by(1) > 0 && by(2) > 0,
        "both instances took part: {} and {}",
        by(1),
        by(2)
    );
}

/// A delivery nobody settles (the process died) comes back after ack_wait,
/// with the same stream sequence and a delivery count of 2.
pub async fn unsettled_delivery_comes_back_after_ack_wait<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    publish(&bus, 1..=1).await;
    let ack_wait = Duration::from_secs(1);
    let mut source = bus
        .transport()
        .consume(raw_spec("forgetful", SUBJECT, ack_wait))
        .await
        .unwrap();
    let first = next(&mut source).await;
    let taken = Instant::now();
    assert_eq!(first.delivery().delivery_count(), 1);
    drop(first);
    let second = next(&mut source).await;
    assert!(
        taken.elapsed() >= ack_wait.mul_f32(0.8),
        "redelivered after only {:?}",
        taken.elapsed()
    );
    assert_eq!(second.delivery().stream_sequence(), 1);
    assert_eq!(second.delivery().delivery_count(), 2);
    second.ack().await.unwrap();
    assert!(
        delivers_within(&mut source, ack_wait * 2).await.is_none(),
        "acked, yet delivered again"
    );
    source.close().await;
}

/// In-progress acks keep a slow delivery from being handed out again.
pub async fn in_progress_extends_the_deadline<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    publish(&bus, 1..=1).await;
    let ack_wait = Duration::from_secs(1);
    let mut source = bus
        .transport()
        .consume(raw_spec("slow", SUBJECT, ack_wait))
        .await
        .unwrap();
    let message = next(&mut source).await;
    for _ in 0..5 {
        // Without the in-progress acks the deadline would pass in the fourth
        // round; each round leaves 0.7 x ack_wait of slack for a busy machine.
        tokio::time::sleep(ack_wait.mul_f32(0.3)).await;
        message.in_progress().await.unwrap();
    }
    assert!(
        delivers_within(&mut source, ack_wait.mul_f32(0.5))
            .await
            .is_none(),
        "redelivered while in progress"
    );
    message.ack().await.unwrap();
    assert!(
        delivers_within(&mut source, ack_wait * 2).await.is_none(),
        "acked, yet delivered again"
    );
    source.close().await;
}

/// A nak with a delay brings the message back after (not before) it.
pub async fn nak_delays_the_redelivery<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    publish(&bus, 1..=1).await;
    let mut source = bus
        .transport()
        .consume(raw_spec("naks", SUBJECT, Duration::from_secs(5)))
        .await
        .unwrap();
    let first = next(&mut source).await;
    let delay = Duration::from_millis(600);
    first.nak(Some(delay)).await.unwrap();
    let nakked = Instant::now();
    let second = next(&mut source).await;
    assert!(
        nakked.elapsed() >= delay.mul_f32(0.8),
        "redelivered after only {:?}",
        nakked.elapsed()
    );
    assert_eq!(
        (
            second.delivery().stream_sequence(),
            second.delivery().delivery_count()
        ),
        (1, 2)
    );
    // A nak without a delay redelivers at once (well within ack_wait).
    second.nak(None).await.unwrap();
    let third = tokio::time::timeout(Duration::from_secs(3), source.next())
        .await
        .expect("prompt")
        .unwrap();
    assert_eq!(third.delivery().delivery_count(), 3);
    third.ack().await.unwrap();
    source.close().await;
}

/// Through the listener: a retryable error asks for a redelivery after the
/// error's delay; the event is then handled.
pub async fn retryable_handler_error_is_redelivered_after_its_delay<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let delay = Duration::from_millis(400);
    let probe = Probe::new("retry-service", move |_, d| {
        if d.delivery_count() == 1 {
            Act::Retry(Some(delay))
        } else {
            Act::Ok
        }
    });
    let handle = bus.listen(probe.clone()).await.unwrap();
    publish(&bus, 1..=1).await;
    eventually("the redelivery", || probe.calls().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.shutdown().await.unwrap();
    let calls = probe.calls();
    assert_eq!(calls.len(), 2, "handled once after one retry");
    assert_eq!(calls[1].delivery.delivery_count(), 2);
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= delay.mul_f32(0.8), "redelivered after only {gap:?}");
}

/// A termed message is never delivered again; the next one is.
pub async fn term_is_never_delivered_again<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    publish(&bus, 1..=2).await;
    let ack_wait = Duration::from_secs(1);
    let mut source = bus
        .transport()
        .consume(raw_spec("terms", SUBJECT, ack_wait))
        .await
        .unwrap();
    let first = next(&mut source).await;
    assert_eq!(first.delivery().stream_sequence(), 1);
    first.term().await.unwrap();
    let second = next(&mut source).await;
    assert_eq!(second.delivery().stream_sequence(), 2);
    second.ack().await.unwrap();
    assert!(
        delivers_within(&mut source, ack_wait * 2).await.is_none(),
        "a termed message came back"
    );
    source.close().await;
}

/// A handler that keeps failing gets `max_deliver` deliveries; then the
/// message is dead-lettered (`exhausted`) with its body, and never
/// delivered again.
pub async fn max_deliver_exhaustion_is_dead_lettered<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let probe = Probe::new("failing-service", |_, _| {
        Act::Retry(Some(Duration::from_millis(50)))
    })
    .max_deliver(Some(3));
    let handle = bus.listen(probe.clone()).await.unwrap();
    publish(&bus, 1..=1).await;
    let letters = dead_letters(&bus, "failing-service", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.shutdown().await.unwrap();
    let counts: Vec<u64> = probe
        .calls()
        .iter()
        .map(|c| c.delivery.delivery_count())
        .collect();
    assert_eq!(counts, [1, 2, 3]);
    let letter = &letters[0];
    assert_eq!(header(letter, names::DLQ_KIND), "exhausted");
    assert_eq!(header(letter, names::DLQ_DELIVERIES), "3");
    assert_eq!(header(letter, names::DLQ_SUBJECT), SUBJECT);
    assert_eq!(header(letter, names::DLQ_SEQUENCE), "1");
    assert!(
        header(letter, names::DLQ_REASON).contains("not yet"),
        "{}",
        header(letter, names::DLQ_REASON)
    );
    let original: TicketCreated = serde_json::from_slice(letter.payload()).unwrap();
    assert_eq!(original, ticket(1));
}

/// Bodies that are not the event's JSON are dead-lettered (`decode`, with
/// the JSON path in the reason) while the good events around them are
/// handled.
pub async fn undecodable_payload_is_dead_lettered_and_good_events_flow<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let probe = Probe::new("strict-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.clone()).await.unwrap();
    let raw = |body: &'static [u8]| publish_raw(&bus, Headers::new(), Bytes::from_static(body));
    publish(&bus, 1..=1).await;
    raw(b"{not json").await;
    publish(&bus, 2..=2).await;
    raw(br#"{"id":"t9","price":"free"}"#).await;
    publish(&bus, 3..=3).await;
    let letters = dead_letters(&bus, "strict-service", 2).await;
    eventually("the 3 good events handled", || probe.calls().len() == 3).await;
    handle.shutdown().await.unwrap();
    assert_eq!(probe.ids(), ["t1", "t2", "t3"]);
    let mut reasons: Vec<(&str, &str, &[u8])> = letters
        .iter()
        .map(|l| {
            (
                header(l, names::DLQ_KIND),
                header(l, names::DLQ_REASON),
                l.payload().as_ref(),
            )
        })
        .collect();
    reasons.sort_by_key(|(_, _, body)| body.to_vec());
    assert_eq!(reasons[0].0, "decode");
    assert_eq!(reasons[0].2, b"{\"id\":\"t9\",\"price\":\"free\"}");
    assert!(reasons[0].1.contains("$.price"), "{}", reasons[0].1);
    assert_eq!(reasons[1].0, "decode");
    assert_eq!(reasons[1].2, b"{not json");
}

/// A body that fits the broker but not beside the dead-letter headers
/// (1 MiB less 128 bytes, undecodable) is still dead-lettered: the letter
/// holds the body's first bytes and its size, the original is settled
/// (never delivered again, the consumer ends with nothing pending), and the
/// events around it are handled.
pub async fn poison_near_the_size_limit_is_dead_lettered_cut_to_fit<B: Backend>() {
    let (backend, bus) = setup::<B>().await;
    let probe = Probe::new("strict-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.clone()).await.unwrap();
    let max = bus.transport().max_payload();
    assert_eq!(max, 1024 * 1024, "the default max_payload");
    let body = vec![b'x'; max - 128];
    let mut headers = Headers::new();
    headers.append(names::MSG_ID, "near-limit");
    publish(&bus, 1..=1).await;
    publish_raw(&bus, headers, Bytes::from(body.clone())).await;
    publish(&bus, 2..=2).await;
    let letters = dead_letters(&bus, "strict-service", 1).await;
    eventually("the 2 good events handled", || probe.calls().len() == 2).await;
    handle.shutdown().await.unwrap();
    assert_eq!(probe.ids(), ["t1", "t2"]);

    let letter = &letters[0];
    assert_eq!(header(letter, names::DLQ_KIND), "decode");
    assert_eq!(header(letter, names::DLQ_BODY_SIZE), body.len().to_string());
    assert_eq!(header(letter, names::DLQ_MSG_ID), "near-limit");
    assert_eq!(header(letter, names::DLQ_SEQUENCE), "2");
    let cut = letter.payload();
    assert!(cut.len() < body.len() && body.starts_with(cut), "a prefix");
    assert!(
        cut.len() + letter.delivery().headers().wire_len() <= max,
        "the letter fits"
    );
    assert!(
        backend
            .consumer_settled(&typebus::consumer_name("strict-service", SUBJECT))
            .await,
        "the consumer settled every message"
    );
}

/// A JSON array is not an event, even one whose items line up with the
/// fields in order: it is dead-lettered (`decode`) with a reason naming
/// what was found, never handled as a misread event.
pub async fn json_array_is_not_an_event<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let probe = Probe::new("strict-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.clone()).await.unwrap();
    publish(&bus, 1..=1).await;
    publish_raw(&bus, Headers::new(), Bytes::from_static(br#"["t9",20]"#)).await;
    publish(&bus, 2..=2).await;
    let letters = dead_letters(&bus, "strict-service", 1).await;
    eventually("the 2 good events handled", || probe.calls().len() == 2).await;
    handle.shutdown().await.unwrap();
    assert_eq!(probe.ids(), ["t1", "t2"]);
    assert_eq!(header(&letters[0], names::DLQ_KIND), "decode");
    let reason = header(&letters[0], names::DLQ_REASON);
    assert!(
        reason.starts_with("invalid `ticket:created` payload at $: invalid type: array, expected a JSON object (`TicketCreated`)"),
        "{reason}"
    );
}

/// An event of a newer contract version than the listener reads (the
/// `Typebus-Version` header) is dead-lettered (`version`), not misread;
/// an older or equal version, or none, is handled.
pub async fn newer_contract_version_is_dead_lettered<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let probe = Probe::new("versioned-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.clone()).await.unwrap();
    for (n, version) in [(1, Some("2")), (2, Some("1")), (3, None)] {
        let mut headers = Headers::new();
        if let Some(version) = version {
            headers.append(names::VERSION, version);
        }
        let message = OutgoingMessage {
            subject: SUBJECT.into(),
            headers,
            payload: Bytes::from(serde_json::to_vec(&ticket(n)).unwrap()),
        };
        bus.transport()
            .publish(message)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let letters = dead_letters(&bus, "versioned-service", 1).await;
    eventually("the readable events handled", || probe.calls().len() == 2).await;
    handle.shutdown().await.unwrap();
    assert_eq!(probe.ids(), ["t2", "t3"]);
    assert_eq!(header(&letters[0], names::DLQ_KIND), "version");
    assert_eq!(header(&letters[0], names::VERSION), "2");
    let reason = header(&letters[0], names::DLQ_REASON);
    assert!(reason.contains("contract version 2"), "{reason}");
}

/// A panicking handler does not kill the listener: the event is retried.
pub async fn handler_panic_is_retried<B: Backend>() {
    let (_backend, bus) = setup::<B>().await;
    let probe = Probe::new("panicky-service", |_, d| {
        if d.delivery_count() == 1 {
            Act::Panic
        } else {
            Act::Ok
        }
    });
    let handle = bus.listen(probe.clone()).await.unwrap();
    publish(&bus, 1..=2).await;
    eventually("both events handled after their panics", || {
        probe.calls().len() == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!handle.is_finished(), "the listener survived the panics");
    handle.shutdown().await.unwrap();
    let mut seen: Vec<(String, u64)> = probe
        .calls()
        .into_iter()
        .map(|c| (c.event.id, c.delivery.delivery_count()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("t1".into(), 1),
            ("t1".into(), 2),
            ("t2".into(), 1),
            ("t2".into(), 2)
        ]
    );
}

/// A listener stopped and started again (a new process: a new connection)
/// continues after the last acknowledged event instead of replaying.
pub async fn restarted_listener_resumes_where_the_durable_left_off<B: Backend>() {
    let (backend, bus) = setup::<B>().await;
    publish(&bus, 1..=3).await;
    let first = Probe::new("restarting-service", |_, _| Act::Ok);
    let handle = bus.listen(first.clone()).await.unwrap();
    eventually("the first 3 events", || first.calls().len() == 3).await;
    handle.shutdown().await.unwrap();

    publish(&bus, 4..=6).await;
    let restarted_bus = backend.connect().await;
    let second = Probe::new("restarting-service", |_, _| Act::Ok);
    let handle = restarted_bus.listen(second.clone()).await.unwrap();
    eventually("the next 3 events", || second.calls().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.shutdown().await.unwrap();
    assert_eq!(first.ids(), ["t1", "t2", "t3"]);
    assert_eq!(second.ids(), ["t4", "t5", "t6"]);
    let mut sequences: Vec<u64> = second
        .calls()
        .iter()
        .map(|c| c.delivery.stream_sequence())
        .collect();
    sequences.sort_unstable();
    assert_eq!(sequences, [4, 5, 6]);
}
