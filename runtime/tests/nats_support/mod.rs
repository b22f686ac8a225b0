//! Shared support for the NATS integration tests: the ticketing events as
//! hand-written `#[derive(Event)]` structs (per REFERENCE.md), a server +
//! bus fixture, and a configurable probe listener.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::testing::NatsServer;
use typebus::{Bus, Delivery, Event, HandlerError, ListenOptions, Listener, StreamConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:created", version = 1)]
pub struct TicketCreated {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub price: f64,
    #[serde(rename = "userId")]
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:updated", version = 1)]
pub struct TicketUpdated {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub price: f64,
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "orderId", default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "cancelled")]
    Cancelled,
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    #[serde(rename = "complete")]
    Complete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRef {
    pub id: String,
    pub price: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "order:created", version = 1)]
pub struct OrderCreated {
    pub id: String,
    pub version: u64,
    pub status: OrderStatus,
    #[serde(rename = "userId")]
    pub user_id: String,
    #[serde(rename = "expiresAt")]
    pub expires_at: typebus::Timestamp,
    pub ticket: TicketRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketId {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "order:cancelled", version = 1)]
pub struct OrderCancelled {
    pub id: String,
    pub version: u64,
    pub ticket: TicketId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "expiration:complete", version = 1)]
pub struct ExpirationComplete {
    #[serde(rename = "orderId")]
    pub order_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "payment:created", version = 1)]
pub struct PaymentCreated {
    pub id: String,
    #[serde(rename = "orderId")]
    pub order_id: String,
    #[serde(rename = "stripeId")]
    pub stripe_id: String,
}

/// Every ticketing subject, as a generated `SUBJECTS` would list them.
pub const SUBJECTS: [&str; 6] = [
    "ticket:created",
    "ticket:updated",
    "order:created",
    "order:cancelled",
    "expiration:complete",
    "payment:created",
];

/// A 24-character hex id, as the old services' database ids.
pub fn object_id(n: u64) -> String {
    format!("5f{n:022x}")
}

pub fn ticket(n: u64) -> TicketCreated {
    TicketCreated {
        id: object_id(n),
        version: 0,
        title: format!("concert {n}"),
        price: 20.0 + (n % 7) as f64 * 0.5,
        user_id: object_id(1_000_000 + n),
    }
}

/// Options tuned for tests: short pulls and heartbeats, so outages longer
/// than a pull expiry happen within seconds.
pub fn test_options(server: &NatsServer) -> ConnectOptions {
    ConnectOptions::new(server.url())
        .name("typebus-tests")
        .pull_expiry(Duration::from_secs(2))
        .idle_heartbeat(Duration::from_millis(500))
        .publish_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(3))
        .max_reconnect_delay(Duration::from_millis(250))
}

/// A server with the `EVENTS` stream provisioned, and a bus on it.
pub async fn setup() -> (NatsServer, Bus) {
    let server = NatsServer::start().expect("nats-server starts");
    let bus = connect(&server).await;
    bus.provision(&StreamConfig::new(SUBJECTS))
        .await
        .expect("stream provisioned");
    (server, bus)
}

pub async fn connect(server: &NatsServer) -> Bus {
    Bus::new(
        NatsTransport::connect(test_options(server))
            .await
            .expect("connects"),
    )
}

/// A raw JetStream context on the server, to look at what is stored.
pub async fn raw_jetstream(server: &NatsServer) -> async_nats::jetstream::Context {
    let client = async_nats::connect(server.url())
        .await
        .expect("raw connect");
    async_nats::jetstream::new(client)
}

/// What a probe does with one delivery.
#[derive(Debug, Clone)]
pub enum Act {
    Ok,
    Retry(Option<Duration>),
    Permanent(&'static str),
    /// Await this long, then succeed.
    Sleep(Duration),
    /// Block the thread this long (a handler stuck in sync code), then succeed.
    Block(Duration),
    /// Never finish.
    Hang,
    Panic,
}

/// One recorded handler call.
#[derive(Debug, Clone)]
pub struct Call<E> {
    pub event: E,
    pub delivery: Delivery,
    pub at: Instant,
    pub instance: usize,
}

type Decide<E> = dyn Fn(&E, &Delivery) -> Act + Send + Sync;

/// A listener that records every call and acts as `decide` says.
pub struct Probe<E> {
    pub group: String,
    pub instance: usize,
    pub ack_wait: Duration,
    pub max_deliver: Option<u32>,
    pub calls: Arc<Mutex<Vec<Call<E>>>>,
    pub decide: Arc<Decide<E>>,
}

impl<E: Event + Clone> Probe<E> {
    pub fn new(group: &str, decide: impl Fn(&E, &Delivery) -> Act + Send + Sync + 'static) -> Self {
        Self {
            group: group.to_owned(),
            instance: 0,
            ack_wait: Duration::from_secs(5),
            max_deliver: Some(10),
            calls: Arc::new(Mutex::new(Vec::new())),
            decide: Arc::new(decide),
        }
    }

    /// Another instance of the same service, recording into the same list.
    pub fn instance(&self, instance: usize) -> Self {
        Self {
            group: self.group.clone(),
            instance,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver,
            calls: Arc::clone(&self.calls),
            decide: Arc::clone(&self.decide),
        }
    }

    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    pub fn max_deliver(mut self, max_deliver: Option<u32>) -> Self {
        self.max_deliver = max_deliver;
        self
    }

    pub fn calls(&self) -> Vec<Call<E>> {
        self.calls.lock().expect("calls lock").clone()
    }

    pub fn calls_handle(&self) -> Arc<Mutex<Vec<Call<E>>>> {
        Arc::clone(&self.calls)
    }
}

impl<E: Event + Clone> Listener for Probe<E> {
    type Event = E;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(&self.group)
            .retry(typebus::Backoff::new(
                Duration::from_millis(100),
                Duration::from_millis(100),
            ))
            .max_deliver(self.max_deliver)
            .ack_wait(self.ack_wait)
    }

    async fn on_message(&self, event: E, delivery: &Delivery) -> Result<(), HandlerError> {
        let act = (self.decide)(&event, delivery);
        self.calls.lock().expect("calls lock").push(Call {
            event,
            delivery: delivery.clone(),
            at: Instant::now(),
            instance: self.instance,
        });
        match act {
            Act::Ok => Ok(()),
            Act::Retry(None) => Err(HandlerError::retry("try again")),
            Act::Retry(Some(delay)) => Err(HandlerError::retry_after(delay, "try later")),
            Act::Permanent(reason) => Err(HandlerError::permanent(reason)),
            Act::Sleep(duration) => {
                tokio::time::sleep(duration).await;
                Ok(())
            }
            Act::Block(duration) => {
                std::thread::sleep(duration);
                Ok(())
            }
            Act::Hang => std::future::pending().await,
            Act::Panic => panic!("probe told to panic"),
        }
    }
}

/// Waits until `done` holds, checking every 20 ms; panics with `what` after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message of `stream` on `subject` (raw: body and headers), read by
/// sequence from the stream's first to its last. Nothing is skipped
/// silently: every message the stream holds must be read (an error other
/// than "no message" is retried, then fails the test naming the sequence),
/// and the messages read must number what the stream says it holds, so a
/// sequence reported missing can only be one the stream deleted.
pub async fn stored(
    js: &async_nats::jetstream::Context,
    stream: &str,
    subject: &str,
) -> Vec<async_nats::jetstream::message::StreamMessage> {
    use async_nats::jetstream::stream::RawMessageErrorKind;

    let name = stream;
    let mut stream = js.get_stream(name).await.expect("stream exists");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut read = 0u64;
    let mut missing = Vec::new();
    let mut out = Vec::new();
    for sequence in state.first_sequence.max(1)..=state.last_sequence {
        let mut attempts = 0;
        let message = loop {
            attempts += 1;
            match stream.get_raw_message(sequence).await {
                Ok(message) => break Some(message),
                Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => break None,
                Err(err) if attempts < 10 => {
                    eprintln!("{name}: reading sequence {sequence} again: {err}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("{name}: sequence {sequence} not read: {err}"),
            }
        };
        match message {
            Some(message) => {
                read += 1;
                if message.subject.as_str() == subject {
                    out.push(message);
                }
            }
            None => missing.push(sequence),
        }
    }
    assert_eq!(
        read, state.messages,
        "{name}: read {read} of the {} messages it holds between sequences {} and {}; \
         sequences the server reported missing: {missing:?}",
        state.messages, state.first_sequence, state.last_sequence
    );
    out
}

/// The dead letters of `group` stored so far.
pub async fn dead_letters(
    js: &async_nats::jetstream::Context,
    group: &str,
) -> Vec<async_nats::jetstream::message::StreamMessage> {
    stored(
        js,
        typebus::Bus::DEAD_LETTER_STREAM,
        &format!("typebus.dlq.{group}"),
    )
    .await
}

/// A header of a raw stored message.
pub fn header<'a>(
    message: &'a async_nats::jetstream::message::StreamMessage,
    name: &str,
) -> Option<&'a str> {
    message.headers.get(name).map(|v| v.as_str())
}
