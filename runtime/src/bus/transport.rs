//! The transport abstraction: what [`Bus`](crate::Bus), publishers and the
//! listener engine need from a message broker.
//!
//! typebus has one engine (publisher retries, the listener's decode /
//! dispose / ack loop, dead letters) and several transports behind the
//! object-safe [`Transport`] trait: `nats` (JetStream) and `memory`
//! (embedded). A transport moves bytes and headers and keeps JetStream's
//! delivery semantics; it knows nothing about events.
//!
//! # The contract every transport keeps
//!
//! The NATS transport is the reference: another transport mimics what
//! JetStream does with the settings below, so that one conformance suite
//! passes on both.
//!
//! **Streams.** A stream stores every message published on one of its
//! subjects, in order, numbering them 1, 2, 3... (the stream sequence).
//! Subjects are literal (typebus never publishes on wildcards), though a
//! stream's subject list may hold wildcards (`typebus.dlq.>`). Messages stay
//! until the stream is deleted (limits retention, no expiry unless
//! `max_age` is set). Two streams never share a subject.
//!
//! **Publishing** ([`Transport::publish`]). The first future resolves once
//! the message is handed to the connection (so a caller can send many before
//! awaiting any ack: pipelining); the returned [`PendingAck`] resolves when
//! the stream has stored it. A message whose `Nats-Msg-Id` header equals
//! that of a message the same stream stored within its `duplicate_window`
//! is not stored again: its ack carries the first copy's sequence and
//! `duplicate: true`. No stream for the subject: [`PublishErrorKind::NoStream`].
//! Headers are stored and delivered as given. (Order: the values of one
//! name keep their order; the NATS transport delivers names sorted, since
//! async-nats holds headers in a hash map, so tests should not depend on the
//! order between different names.)
//!
//! **Consumers** ([`Transport::consume`]). A durable consumer is identified
//! by (stream, [`ConsumerSpec::durable_name`]) and remembers, across
//! restarts of the process and of the server, which messages were
//! acknowledged. On first creation it delivers every stored message whose
//! subject matches `filter_subject`, from the first (deliver all). Binding
//! the same durable name again (another instance of the service, or a
//! restart) shares it: each message is delivered to one bound source at a
//! time (queue-group semantics). Every source bound to it pulls from the
//! same queue.
//!
//! A delivered message is *pending* until settled through its [`Acker`]:
//! - [`AckKind::Ack`]: done, never delivered again.
//! - [`AckKind::Nak`]`(delay)`: delivered again (to any source) after `delay`,
//!   or at once for `None`.
//! - [`AckKind::Term`]: never delivered again (not an error for the consumer).
//! - [`AckKind::InProgress`]: not settled; restarts its `ack_wait` timer.
//!   May be sent many times.
//! - Nothing within `ack_wait` of the delivery (or of the last in-progress):
//!   delivered again. With a non-empty [`ConsumerSpec::backoff`], the n-th
//!   redelivery after a missed ack waits `backoff[n-1]` (the last entry
//!   repeating) instead of `ack_wait`.
//!
//! Each delivery of a message increments its delivery count
//! ([`DeliveryInfo::delivered`], 1 on the first). A message delivered
//! `max_deliver` times is not delivered again, whatever happens to that last
//! delivery. At most `max_ack_pending` messages of the consumer are pending
//! at a time, across all bound sources; further messages wait.
//!
//! The first settlement of a delivery counts; later ones for the same
//! delivery may be ignored or rejected with [`AckErrorKind::AlreadySettled`].
//! A message handed out by [`MessageSource::next`] and then dropped without
//! settlement behaves as if the process died: redelivered after `ack_wait`.
//!
//! **Reading and deleting stored messages** ([`Transport::next_message`],
//! [`Transport::get_message`], [`Transport::delete_message`]): what the
//! dead-letter tools ([`DeadLetters`](crate::DeadLetters)) need. They read a
//! stream by sequence without a consumer (nothing is acknowledged, no
//! consumer state changes) and delete one message by its sequence; a
//! deleted message is never delivered again, to any consumer. A transport
//! without them keeps the default methods, which answer
//! [`StreamErrorKind::Unsupported`].
//!
//! **Failures.** A source survives a restart of the broker: it keeps
//! waiting (re-binding the consumer if it vanished) and delivers again once
//! the broker is back, rather than ending. It returns an error from
//! [`MessageSource::next`] only when it can never deliver again (the
//! connection was closed for good).
//!
//! Everything a transport logs goes through `tracing`; credentials never
//! appear in logs or errors.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use crate::bus::delivery::Delivery;
pub use crate::bus::delivery::DeliveryInfo;
use crate::contract::headers::Headers;
use crate::contract::timestamp::Timestamp;
use crate::error::{
    AckError, ListenError, ProvisionError, PublishError, StreamError, StreamErrorKind,
};

#[cfg(doc)]
use crate::error::{AckErrorKind, PublishErrorKind};

/// A boxed, sendable future: what the object-safe [`Transport`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A message to publish: subject, headers and body.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// The literal subject to publish on.
    pub subject: String,
    /// Headers, stored and delivered as given (`Nats-Msg-Id` deduplicates).
    pub headers: Headers,
    /// The body: for events, their JSON and nothing else.
    pub payload: Bytes,
}

/// A message as a stream stores it, read by sequence
/// ([`Transport::get_message`], [`Transport::next_message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The stream that stores it.
    pub stream: String,
    /// Its sequence in the stream (from 1).
    pub sequence: u64,
    /// The subject it was published on.
    pub subject: String,
    /// Its headers, as published.
    pub headers: Headers,
    /// Its body.
    pub payload: Bytes,
    /// When the stream stored it.
    pub published: Timestamp,
}

/// The error of a transport without the stored-message operations.
fn unsupported(transport: &str, stream: &str) -> StreamError {
    StreamError::new(StreamErrorKind::Unsupported)
        .with_detail(format!("stream `{stream}` on the `{transport}` transport"))
}

/// The stream's acknowledgement of a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishAck {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in the stream (the first copy's, for a duplicate).
    pub sequence: u64,
    /// Whether the stream already held a message with the same message id.
    pub duplicate: bool,
}

/// The ack of a message already sent: await it to learn whether (and where)
/// the stream stored it.
#[must_use = "the message may not be stored; await the ack"]
pub struct PendingAck {
    inner: BoxFuture<'static, Result<PublishAck, PublishError>>,
}

impl PendingAck {
    /// Wraps the future a transport resolves when the stream acks.
    pub fn new(
        future: impl Future<Output = Result<PublishAck, PublishError>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(future),
        }
    }

    /// An ack that is already known (a transport that stores synchronously).
    pub fn ready(result: Result<PublishAck, PublishError>) -> Self {
        Self::new(std::future::ready(result))
    }
}

impl Future for PendingAck {
    type Output = Result<PublishAck, PublishError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingAck")
    }
}

/// How a stream keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// On disk (survives a server restart).
    #[default]
    File,
    /// In memory (lost when the server stops).
    Memory,
}

/// A stream to create, or to check that it exists as described
/// ([`Bus::provision`](crate::Bus::provision)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    /// The stream's name (default `EVENTS`).
    pub name: String,
    /// The subjects it stores (e.g. a generated `SUBJECTS`).
    pub subjects: Vec<String>,
    /// File or memory storage (default file).
    pub storage: Storage,
    /// How many servers keep a copy (default 1; 3 or 5 in a cluster).
    pub replicas: usize,
    /// How long message ids are remembered for deduplication (default 2 minutes).
    pub duplicate_window: Duration,
    /// How long messages are kept; `None` (default) keeps them until deleted.
    pub max_age: Option<Duration>,
}

impl StreamConfig {
    /// The default stream name.
    pub const DEFAULT_NAME: &'static str = "EVENTS";
    /// The default duplicate window, as JetStream's.
    pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

    /// A stream named `EVENTS` storing `subjects` on file, one replica, a
    /// two-minute duplicate window.
    pub fn new<S: AsRef<str>>(subjects: impl IntoIterator<Item = S>) -> Self {
        Self {
            name: Self::DEFAULT_NAME.to_owned(),
            subjects: subjects
                .into_iter()
                .map(|s| s.as_ref().to_owned())
                .collect(),
            storage: Storage::File,
            replicas: 1,
            duplicate_window: Self::DEFAULT_DUPLICATE_WINDOW,
            max_age: None,
        }
    }

    /// Sets the stream's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the storage.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// Sets the number of replicas.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// Sets the duplicate window.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// Sets the maximum age of messages.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }
}

/// What provisioning did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionOutcome {
    /// The stream did not exist and was created.
    Created,
    /// The stream existed as described.
    Unchanged,
    /// The stream existed without some of the subjects, which were added
    /// (a schema gained events); listed here.
    Extended(Vec<String>),
}

/// A durable consumer to create or bind ([`Transport::consume`]).
///
/// Always delivers all stored messages on first creation and needs an
/// explicit acknowledgement of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The stream to consume from; `None` finds the stream that stores
    /// `filter_subject`.
    pub stream: Option<String>,
    /// The durable name, shared by every instance of the service
    /// ([`consumer_name`](crate::consumer_name) of the queue group and
    /// subject: no `.`, `*`, `>`, whitespace or path separators).
    pub durable_name: String,
    /// Only messages on this subject are delivered.
    pub filter_subject: String,
    /// How long a delivery may stay unsettled before it is delivered again.
    pub ack_wait: Duration,
    /// How many times a message is delivered at most; `None` for no limit.
    pub max_deliver: Option<u32>,
    /// How many messages may be pending (delivered, unsettled) at once,
    /// across every bound source.
    pub max_ack_pending: usize,
    /// Redelivery delays after missed acks (see the module docs); empty to
    /// use `ack_wait` every time.
    pub backoff: Vec<Duration>,
    /// How many messages a source may fetch ahead of [`MessageSource::next`]
    /// calls (a pull batch). The engine keeps `concurrency + batch` under
    /// `max_ack_pending`.
    pub batch: usize,
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// Handled: never deliver again.
    Ack,
    /// Not handled: deliver again after the delay (at once for `None`).
    Nak(Option<Duration>),
    /// Still working: restart the `ack_wait` timer. Does not settle.
    InProgress,
    /// Never deliver again, without it having been handled.
    Term,
}

/// Settles one delivery (see [`AckKind`]).
pub trait Acker: Send + Sync + 'static {
    /// Sends `kind` for this delivery. Resolves once the transport has taken
    /// it (the NATS transport does not wait for the server's confirmation;
    /// [`Transport::flush`] does).
    fn send(&self, kind: AckKind) -> BoxFuture<'_, Result<(), AckError>>;
}

/// A delivered message: its [`Delivery`], body and [`Acker`].
pub struct Incoming {
    delivery: Delivery,
    payload: Bytes,
    acker: Box<dyn Acker>,
}

impl Incoming {
    /// A delivered message.
    pub fn new(delivery: Delivery, payload: Bytes, acker: Box<dyn Acker>) -> Self {
        Self {
            delivery,
            payload,
            acker,
        }
    }

    /// Subject, headers and delivery metadata.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The body.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The delivery's acker.
    pub fn acker(&self) -> &dyn Acker {
        &*self.acker
    }

    /// Splits into its parts.
    pub fn into_parts(self) -> (Delivery, Bytes, Box<dyn Acker>) {
        (self.delivery, self.payload, self.acker)
    }

    /// Acknowledges: handled, never deliver again.
    pub async fn ack(&self) -> Result<(), AckError> {
        self.acker.send(AckKind::Ack).await
    }

    /// Delivers again after `delay` (at once for `None`).
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), AckError> {
        self.acker.send(AckKind::Nak(delay)).await
    }

    /// Never delivers again.
    pub async fn term(&self) -> Result<(), AckError> {
        self.acker.send(AckKind::Term).await
    }

    /// Restarts the `ack_wait` timer.
    pub async fn in_progress(&self) -> Result<(), AckError> {
        self.acker.send(AckKind::InProgress).await
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("delivery", &self.delivery)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// The messages of one bound consumer, as one instance receives them.
pub trait MessageSource: Send + 'static {
    /// Waits for the next message.
    ///
    /// Cancel-safe: dropping the future before it resolves loses no message
    /// (the engine does so on shutdown). Recovers from broker outages by
    /// itself (see the module docs); an error means the source is finished.
    fn next(&mut self) -> BoxFuture<'_, Result<Incoming, ListenError>>;

    /// The next message if one is at hand without waiting; `None` when
    /// [`next`](Self::next) would have to wait. An optional fast path (the
    /// default always says `None`): the engine tries it before `next`.
    fn try_next(&mut self) -> Option<Result<Incoming, ListenError>> {
        None
    }

    /// Stops fetching. Messages already fetched but not yet returned by
    /// [`next`](Self::next) are released for redelivery (nakked at once, or
    /// left to `ack_wait`). Called once, on shutdown; `next` is not called after.
    fn close(&mut self) -> BoxFuture<'_, ()>;
}

/// The error for a message over the broker's `max_payload` (every
/// transport says it the same way): `size` is its body, which may fit
/// alone while body and headers do not.
pub(crate) fn too_large(subject: &str, size: usize, max_payload: usize) -> PublishError {
    let size = if size > max_payload {
        format!("{size} bytes")
    } else {
        format!("{size} bytes and its headers")
    };
    PublishError::new(crate::error::PublishErrorKind::MaxPayloadExceeded).with_detail(format!(
        "`{subject}`: {size}, the server accepts {max_payload}"
    ))
}

/// A message broker with JetStream semantics (see the module docs).
pub trait Transport: Send + Sync + 'static {
    /// A short name for logs: `nats`, `memory`.
    fn name(&self) -> &'static str;

    /// Hands `message` to the connection and returns the ack to await.
    ///
    /// Errors of the first future mean nothing was sent
    /// ([`PublishErrorKind::InvalidSubject`], [`PublishErrorKind::MaxPayloadExceeded`],
    /// [`PublishErrorKind::Disconnected`]); errors of the [`PendingAck`] mean the message
    /// may or may not be stored ([`PublishErrorKind::TimedOut`]) or was not
    /// ([`PublishErrorKind::NoStream`], [`PublishErrorKind::Rejected`]).
    fn publish(&self, message: OutgoingMessage) -> BoxFuture<'_, Result<PendingAck, PublishError>>;

    /// The largest message it accepts, in bytes: body plus
    /// [`Headers::wire_len`](crate::contract::headers::Headers::wire_len), as the
    /// server's `max_payload` counts them. Dead letters are cut to fit it.
    fn max_payload(&self) -> usize;

    /// Creates the stream, or checks that the existing one matches: same
    /// storage, replicas and duplicate window, and every subject in the
    /// config (missing subjects are added: [`ProvisionOutcome::Extended`]).
    /// A mismatch that cannot be reconciled is a
    /// [`ProvisionErrorKind::Conflict`](crate::ProvisionErrorKind::Conflict)
    /// naming the field, both values, and the stream. Idempotent.
    fn provision<'a>(
        &'a self,
        config: &'a StreamConfig,
    ) -> BoxFuture<'a, Result<ProvisionOutcome, ProvisionError>>;

    /// Creates the durable consumer `spec` describes, or binds to the
    /// existing one of that name, and returns a source of its messages.
    ///
    /// An existing consumer whose settings differ is updated to `spec`
    /// where the broker allows it (ack wait, max deliver, max ack pending,
    /// backoff); a different filter subject is a
    /// [`ListenErrorKind::Consumer`](crate::ListenErrorKind::Consumer) error.
    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn MessageSource>, ListenError>>;

    /// Waits until everything sent so far (publishes, acks) has reached the
    /// broker.
    fn flush(&self) -> BoxFuture<'_, Result<(), AckError>>;

    /// The first message `stream` stores at sequence `from` or later whose
    /// subject matches `filter` (which may hold wildcards: `typebus.dlq.>`);
    /// `None` when there is none. Reads without a consumer.
    ///
    /// No stream of that name: [`StreamErrorKind::NoStream`]. The default
    /// answers [`StreamErrorKind::Unsupported`].
    fn next_message<'a>(
        &'a self,
        stream: &'a str,
        filter: &'a str,
        from: u64,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>, StreamError>> {
        let _ = (filter, from);
        Box::pin(std::future::ready(Err(unsupported(self.name(), stream))))
    }

    /// The message `stream` stores at `sequence`; `None` when there is none
    /// (never stored, deleted, or expired). Reads without a consumer.
    ///
    /// No stream of that name: [`StreamErrorKind::NoStream`]. The default
    /// answers [`StreamErrorKind::Unsupported`].
    fn get_message<'a>(
        &'a self,
        stream: &'a str,
        sequence: u64,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>, StreamError>> {
        let _ = sequence;
        Box::pin(std::future::ready(Err(unsupported(self.name(), stream))))
    }

    /// Deletes the message `stream` stores at `sequence`: no consumer
    /// delivers it again. `true` when it was deleted, `false` when there was
    /// no such message (already deleted: deleting is idempotent).
    ///
    /// No stream of that name: [`StreamErrorKind::NoStream`]. The default
    /// answers [`StreamErrorKind::Unsupported`].
    fn delete_message<'a>(
        &'a self,
        stream: &'a str,
        sequence: u64,
    ) -> BoxFuture<'a, Result<bool, StreamError>> {
        let _ = sequence;
        Box::pin(std::future::ready(Err(unsupported(self.name(), stream))))
    }
}
