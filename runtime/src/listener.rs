//! The [`Listener`] trait, [`HandlerError`], and [`dispose`]: what becomes
//! of one delivered message, decided without any transport.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt as _;

use crate::delivery::Delivery;
use crate::error::BoxError;
use crate::event::Event;

/// A service's handler of one event type.
///
/// Every instance of a service listens with the same [`queue_group`](Self::queue_group):
/// they share one durable consumer (named after it and the subject), so
/// each event is handled by one of them. Events are delivered from the start of the stream
/// on the consumer's first start.
///
/// ```
/// use typebus::{Delivery, HandlerError, Listener};
///
/// #[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
/// #[event(subject = "expiration:complete", version = 1)]
/// struct ExpirationComplete {
///     #[serde(rename = "orderId")]
///     order_id: String,
/// }
///
/// struct CancelExpiredOrders;
///
/// impl Listener for CancelExpiredOrders {
///     type Event = ExpirationComplete;
///
///     fn queue_group(&self) -> &str {
///         "orders-service"
///     }
///
///     async fn on_message(&self, event: ExpirationComplete, delivery: &Delivery) -> Result<(), HandlerError> {
///         if event.order_id.is_empty() {
///             return Err(HandlerError::permanent("expiration without an order id"));
///         }
///         println!("cancelling {} (delivery {})", event.order_id, delivery.delivery_count());
///         Ok(())
///     }
/// }
/// ```
pub trait Listener: Send + Sync + 'static {
    /// The event this listener handles; its subject is the listener's filter.
    type Event: Event;

    /// The queue group: shared by every instance of the service. With the
    /// subject it names the durable consumer (see [`consumer_name`]).
    fn queue_group(&self) -> &str;

    /// How long a delivery may go unsettled before it is delivered again
    /// (the handler gets in-progress acks while it runs; see
    /// [`ListenOptions::handler_timeout`]). Default 5 seconds, as the old
    /// listeners had.
    fn ack_wait(&self) -> Duration {
        Duration::from_secs(5)
    }

    /// How many deliveries a message gets before it is dead-lettered; `None`
    /// for no limit. Default 10.
    fn max_deliver(&self) -> Option<u32> {
        Some(10)
    }

    /// The delay before a message whose handler failed with a retryable
    /// error (without its own delay) is delivered again, given the count of
    /// the failed delivery (from 1). Default: 1 s doubling, at most 60 s.
    fn retry_delay(&self, delivery_count: u64) -> Duration {
        crate::Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
            .delay(delivery_count.saturating_sub(1))
    }

    /// Whether the listener reads payloads of contract `version` (from the
    /// `Typebus-Version` header). Default: every version up to its event's
    /// own; a newer one is dead-lettered. Messages without the header (from
    /// publishers that do not set it) are read.
    fn reads_version(&self, version: u32) -> bool {
        version <= Self::Event::VERSION
    }

    /// Handles one event. `Ok` acknowledges it; an error asks for a
    /// redelivery ([`HandlerError::retry`]) or gives up on it
    /// ([`HandlerError::permanent`]: dead-lettered). A panic counts as a
    /// retryable error.
    ///
    /// Called at least once per event: it may be called again for an event
    /// it already handled (a lost ack, a redelivery after a crash).
    fn on_message(
        &self,
        event: Self::Event,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Whether the engine hands this listener the messages it has at hand
    /// together, through [`on_batch`](Self::on_batch), instead of one at a
    /// time. Default `false`.
    ///
    /// A batch holds the messages fetched and not yet handled, up to half
    /// the listener's [`concurrency`](ListenOptions::concurrency). Every
    /// message of a batch is settled (acknowledged, retried or
    /// dead-lettered) once the whole batch is handled, and its handlers are
    /// polled on one task: worth it when the handlers wait on one shared
    /// resource that does better with one request per batch than one per
    /// event (the [ordering guard](crate::ordering::Ordered) over a shared
    /// store records a batch's steps in one write), not for handlers that
    /// compute. The batch shares one
    /// [`handler_timeout`](ListenOptions::handler_timeout): a handler that
    /// hangs holds its batch up until then, and the whole batch is
    /// delivered again.
    fn batched(&self) -> bool {
        false
    }

    /// Handles the decoded events of one batch (see
    /// [`batched`](Self::batched)); the outcomes are in the events' order,
    /// one each, with the meaning of [`on_message`](Self::on_message)'s.
    /// Default: `on_message` for every event, all polled together, a panic
    /// counting as a retryable error of its own event.
    fn on_batch<'a>(
        &'a self,
        events: Vec<(Self::Event, &'a Delivery)>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send + 'a {
        futures_util::future::join_all(
            events
                .into_iter()
                .map(|(event, delivery)| caught(self.on_message(event, delivery))),
        )
    }
}

/// Runs a handler's future, turning a panic into a retryable error whose
/// reason names it (as [`dispose`] words it).
pub(crate) async fn caught(
    handling: impl Future<Output = Result<(), HandlerError>>,
) -> Result<(), HandlerError> {
    match AssertUnwindSafe(handling).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(panicked(&*panic)),
    }
}

/// The retryable error of a handler that panicked.
pub(crate) fn panicked(panic: &(dyn Any + Send)) -> HandlerError {
    HandlerError::retry(format!("handler panicked: {}", panic_message(panic)))
}

/// The durable consumer name of a queue group's listener of `subject`:
/// `<queue group>_<subject>`, with the characters JetStream does not allow
/// in names (`.`, `*`, `>`, `/`, `\`, whitespace, control characters)
/// replaced by `_` ([`typebus_names::sanitise`]).
///
/// The subject is part of the name because a JetStream consumer belongs to a
/// stream, not to a subject: a service listening to several subjects of one
/// stream under one queue group needs one consumer per subject (NATS
/// Streaming keyed durables by subject and name).
///
/// ```
/// assert_eq!(typebus::consumer_name("orders-service", "ticket:created"), "orders-service_ticket:created");
/// assert_eq!(typebus::consumer_name("orders service", "audit.v2"), "orders_service_audit_v2");
/// ```
pub fn consumer_name(queue_group: &str, subject: &str) -> String {
    use typebus_names::sanitise;
    format!("{}_{}", sanitise(queue_group), sanitise(subject))
}

/// Why a handler failed: retryable (delivered again, optionally after a
/// delay) or permanent (dead-lettered, never delivered again).
///
/// Any error converts into a retryable one, so `?` works in handlers:
///
/// ```
/// # use typebus::HandlerError;
/// fn parse(s: &str) -> Result<u32, HandlerError> {
///     Ok(s.parse::<u32>()?)
/// }
/// assert!(parse("x").unwrap_err().is_retryable());
/// ```
pub struct HandlerError {
    kind: HandlerErrorKind,
    source: BoxError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandlerErrorKind {
    Retry(Option<Duration>),
    Permanent,
    /// Given up with a reason of its own class (the ordering guard's gaps).
    DeadLetter(DeadLetterKind),
}

impl HandlerError {
    /// A failure worth retrying, after the listener's
    /// [`retry_delay`](Listener::retry_delay).
    pub fn retry(source: impl Into<BoxError>) -> Self {
        Self {
            kind: HandlerErrorKind::Retry(None),
            source: source.into(),
        }
    }

    /// A failure worth retrying after `delay`.
    pub fn retry_after(delay: Duration, source: impl Into<BoxError>) -> Self {
        Self {
            kind: HandlerErrorKind::Retry(Some(delay)),
            source: source.into(),
        }
    }

    /// A failure no retry can fix: the message is dead-lettered with this
    /// error's message as the reason, and never delivered again.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        Self {
            kind: HandlerErrorKind::Permanent,
            source: source.into(),
        }
    }

    /// A failure that dead-letters the message as `kind` (used by the
    /// ordering guard for [`DeadLetterKind::Gap`]).
    pub(crate) fn dead_letter(kind: DeadLetterKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind: HandlerErrorKind::DeadLetter(kind),
            source: source.into(),
        }
    }

    /// Whether a redelivery was asked for.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, HandlerErrorKind::Retry(_))
    }

    /// The delay asked for with [`retry_after`](Self::retry_after).
    pub fn delay(&self) -> Option<Duration> {
        match self.kind {
            HandlerErrorKind::Retry(delay) => delay,
            HandlerErrorKind::Permanent | HandlerErrorKind::DeadLetter(_) => None,
        }
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// The underlying error, owned.
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::retry(error)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

/// Why a message was dead-lettered (the `Typebus-Dlq-Kind` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterKind {
    /// The body is not the JSON of the listener's event.
    Decode,
    /// The contract version header is unreadable or newer than the listener reads.
    Version,
    /// The handler rejected it ([`HandlerError::permanent`]).
    Rejected,
    /// It was delivered `max_deliver` times without being handled.
    Exhausted,
    /// An ordered listener waited past its patience for an earlier event of
    /// the same record (reason `gap: waiting for <record>@<sequence>`).
    Gap,
}

impl DeadLetterKind {
    /// The header value: `decode`, `version`, `rejected`, `exhausted`, `gap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Version => "version",
            Self::Rejected => "rejected",
            Self::Exhausted => "exhausted",
            Self::Gap => "gap",
        }
    }
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What becomes of one delivery, as [`dispose`] decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Handled: acknowledge.
    Ack,
    /// Not handled yet: deliver again after `delay`. `reason` says why.
    Retry {
        /// The delay before the redelivery.
        delay: Duration,
        /// Why the handler failed.
        reason: String,
    },
    /// Given up: publish to the dead-letter subject with `reason`, then
    /// terminate (never deliver again).
    DeadLetter {
        /// The class of the reason.
        kind: DeadLetterKind,
        /// The reason in words.
        reason: String,
    },
}

/// Decides what becomes of one delivery of `payload` to `listener`: checks
/// the delivery count and the contract version header, decodes the event,
/// calls the handler (catching a panic) and maps its outcome.
///
/// - the delivery count exceeds `max_deliver` (the previous delivery never
///   finished) -> dead letter, `exhausted`, without calling the handler;
/// - an unreadable or too new `Typebus-Version` -> dead letter, `version`;
/// - a body that does not decode -> dead letter, `decode` (with the JSON path);
/// - `Ok` -> [`Disposition::Ack`];
/// - a retryable error or a panic -> [`Disposition::Retry`], or dead letter
///   `exhausted` when this was delivery number `max_deliver`;
/// - a permanent error -> dead letter, `rejected`, with the error as reason.
///
/// The engine runs this for every message; tests can run it directly with
/// a hand-made [`Delivery`].
pub async fn dispose<L: Listener>(
    listener: &L,
    delivery: &Delivery,
    payload: &[u8],
) -> Disposition {
    let event = match admit(listener, delivery, payload) {
        Ok(event) => event,
        Err(disposition) => return disposition,
    };
    let outcome = caught(listener.on_message(event, delivery)).await;
    outcome_disposition(listener, delivery, outcome)
}

/// Decides what becomes of a batch of deliveries (see
/// [`Listener::batched`]), as [`dispose`] does for each: the deliveries it
/// may handle go to [`Listener::on_batch`] together (a panic there counts
/// as a retryable error of every one of them). The dispositions are in the
/// messages' order.
///
/// The engine runs this for a batched listener's batches; tests can run
/// it directly with hand-made [`Delivery`]s.
pub async fn dispose_batch<L: Listener>(
    listener: &L,
    messages: &[(Delivery, impl AsRef<[u8]>)],
) -> Vec<Disposition> {
    // Decided already, or (`Err`) waiting for the handler's outcome.
    let mut dispositions: Vec<Result<Disposition, &Delivery>> = Vec::with_capacity(messages.len());
    let mut events = Vec::with_capacity(messages.len());
    for (delivery, payload) in messages {
        match admit(listener, delivery, payload.as_ref()) {
            Ok(event) => {
                events.push((event, delivery));
                dispositions.push(Err(delivery));
            }
            Err(disposition) => dispositions.push(Ok(disposition)),
        }
    }
    // An outcome missing (a panic, a handler that answered short) is a
    // retryable error of its event.
    let (outcomes, missing) = if events.is_empty() {
        (Vec::new(), String::new())
    } else {
        match AssertUnwindSafe(listener.on_batch(events))
            .catch_unwind()
            .await
        {
            Ok(outcomes) => (
                outcomes,
                "the batch handler gave no outcome for this event".to_owned(),
            ),
            Err(panic) => (Vec::new(), panicked(&*panic).to_string()),
        }
    };
    let mut outcomes = outcomes.into_iter();
    dispositions
        .into_iter()
        .map(|disposition| {
            disposition.unwrap_or_else(|delivery| {
                let outcome = outcomes
                    .next()
                    .unwrap_or_else(|| Err(HandlerError::retry(missing.clone())));
                outcome_disposition(listener, delivery, outcome)
            })
        })
        .collect()
}

/// The event of a delivery the listener may handle, or the disposition of
/// one it may not: delivered too often, of an unreadable contract
/// version, or an undecodable body.
pub(crate) fn admit<L: Listener>(
    listener: &L,
    delivery: &Delivery,
    payload: &[u8],
) -> Result<L::Event, Disposition> {
    if let Some(disposition) = precheck(listener, delivery) {
        return Err(disposition);
    }
    crate::decode::from_json::<L::Event>(delivery.subject(), payload).map_err(|err| {
        Disposition::DeadLetter {
            kind: DeadLetterKind::Decode,
            reason: err.to_string(),
        }
    })
}

/// The disposition of a handler's outcome.
pub(crate) fn outcome_disposition<L: Listener>(
    listener: &L,
    delivery: &Delivery,
    outcome: Result<(), HandlerError>,
) -> Disposition {
    let Err(err) = outcome else {
        return Disposition::Ack;
    };
    match err.kind {
        HandlerErrorKind::Permanent => Disposition::DeadLetter {
            kind: DeadLetterKind::Rejected,
            reason: err.to_string(),
        },
        HandlerErrorKind::DeadLetter(kind) => Disposition::DeadLetter {
            kind,
            reason: err.to_string(),
        },
        HandlerErrorKind::Retry(delay) => {
            retry_or_give_up(listener, delivery, delay, err.to_string())
        }
    }
}

/// The checks made before decoding: delivery count and contract version.
fn precheck<L: Listener>(listener: &L, delivery: &Delivery) -> Option<Disposition> {
    let count = delivery.delivery_count();
    if let Some(max) = listener.max_deliver()
        && count > u64::from(max)
    {
        return Some(Disposition::DeadLetter {
            kind: DeadLetterKind::Exhausted,
            reason: format!(
                "delivered {count} times (max_deliver {max}); the last delivery was never settled"
            ),
        });
    }
    let header = delivery.version_header()?;
    let Ok(version) = header.trim().parse::<u32>() else {
        return Some(Disposition::DeadLetter {
            kind: DeadLetterKind::Version,
            reason: format!("unreadable contract version header `{header}`"),
        });
    };
    if listener.reads_version(version) {
        None
    } else {
        Some(Disposition::DeadLetter {
            kind: DeadLetterKind::Version,
            reason: format!(
                "contract version {version} of `{}` is not readable by this listener (it reads version {})",
                delivery.subject(),
                L::Event::VERSION
            ),
        })
    }
}

/// A retryable failure: retry, unless this was the last allowed delivery.
pub(crate) fn retry_or_give_up<L: Listener>(
    listener: &L,
    delivery: &Delivery,
    delay: Option<Duration>,
    reason: String,
) -> Disposition {
    let count = delivery.delivery_count();
    match listener.max_deliver() {
        Some(max) if count >= u64::from(max) => Disposition::DeadLetter {
            kind: DeadLetterKind::Exhausted,
            reason: format!("gave up after {count} deliveries: {reason}"),
        },
        _ => Disposition::Retry {
            delay: delay.unwrap_or_else(|| listener.retry_delay(count)),
            reason,
        },
    }
}

/// The message of a caught panic.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// How a listener runs: concurrency, dead letters, time limits
/// ([`Bus::listen_with`](crate::Bus::listen_with)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// How many handler calls run at once (default 64).
    pub concurrency: usize,
    /// How many messages are fetched ahead of the handlers (default 128).
    pub batch: usize,
    /// The consumer's limit of unsettled messages across all instances
    /// (default 1000). `concurrency + batch` must not exceed it.
    pub max_ack_pending: usize,
    /// Where dead letters go; default `typebus.dlq.<queue group>` (with `.`,
    /// `*`, `>` and whitespace in the group replaced by `_`).
    pub dead_letter_subject: Option<String>,
    /// The stream to consume from; default: the one that stores the subject.
    pub stream: Option<String>,
    /// How long a handler may run, with in-progress acks keeping its
    /// delivery alive, before it is abandoned (its future dropped) and the
    /// message retried. Default: 6 x `ack_wait`.
    pub handler_timeout: Option<Duration>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            concurrency: 64,
            batch: 128,
            max_ack_pending: 1000,
            dead_letter_subject: None,
            stream: None,
            handler_timeout: None,
        }
    }
}

impl ListenOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how many handler calls run at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets how many messages are fetched ahead of the handlers.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Sets the consumer's limit of unsettled messages.
    pub fn max_ack_pending(mut self, max_ack_pending: usize) -> Self {
        self.max_ack_pending = max_ack_pending;
        self
    }

    /// Sets the dead-letter subject.
    pub fn dead_letter_subject(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter_subject = Some(subject.into());
        self
    }

    /// Sets the stream to consume from.
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = Some(stream.into());
        self
    }

    /// Sets how long a handler may run.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = Some(timeout);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::DeliveryInfo;
    use crate::headers::{Headers, names};

    #[derive(Debug, serde::Serialize, serde::Deserialize, crate::Event)]
    #[event(subject = "ticket:created", version = 1)]
    struct TicketCreated {
        id: String,
        price: f64,
    }

    struct Probe;

    impl Listener for Probe {
        type Event = TicketCreated;

        fn queue_group(&self) -> &str {
            "orders-service"
        }

        fn max_deliver(&self) -> Option<u32> {
            Some(3)
        }

        async fn on_message(&self, event: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
            match event.id.as_str() {
                "ok" => Ok(()),
                "retry" => Err(HandlerError::retry("database down")),
                "later" => Err(HandlerError::retry_after(
                    Duration::from_millis(250),
                    "not yet",
                )),
                "bad" => Err(HandlerError::permanent("ticket refused")),
                _ => panic!("boom {}", event.id),
            }
        }
    }

    fn delivery(count: u64, version: Option<&str>) -> Delivery {
        let mut headers = Headers::new();
        if let Some(version) = version {
            headers.append(names::VERSION, version);
        }
        let info = DeliveryInfo {
            stream: "EVENTS".into(),
            consumer: "orders-service".into(),
            stream_sequence: 7,
            consumer_sequence: 9,
            delivered: count,
            pending: 0,
            published: crate::Timestamp::now(),
        };
        Delivery::new("ticket:created", headers, info)
    }

    async fn run(id: &str, count: u64, version: Option<&str>) -> Disposition {
        let body = format!(r#"{{"id":"{id}","price":9.99}}"#);
        dispose(&Probe, &delivery(count, version), body.as_bytes()).await
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn handler_outcomes_map_to_dispositions() {
        block_on(async {
            assert_eq!(run("ok", 1, Some("1")).await, Disposition::Ack);
            assert_eq!(
                run("retry", 1, None).await,
                Disposition::Retry {
                    delay: Duration::from_secs(1),
                    reason: "database down".into()
                }
            );
            assert_eq!(
                run("retry", 2, None).await,
                Disposition::Retry {
                    delay: Duration::from_secs(2),
                    reason: "database down".into()
                }
            );
            assert_eq!(
                run("later", 1, None).await,
                Disposition::Retry {
                    delay: Duration::from_millis(250),
                    reason: "not yet".into()
                }
            );
            assert_eq!(
                run("bad", 1, None).await,
                Disposition::DeadLetter {
                    kind: DeadLetterKind::Rejected,
                    reason: "ticket refused".into()
                }
            );
            assert_eq!(
                run("x", 1, None).await,
                Disposition::Retry {
                    delay: Duration::from_secs(1),
                    reason: "handler panicked: boom x".into()
                }
            );
        });
    }

    #[test]
    fn the_last_delivery_and_beyond_are_dead_lettered() {
        block_on(async {
            assert_eq!(
                run("retry", 3, None).await,
                Disposition::DeadLetter {
                    kind: DeadLetterKind::Exhausted,
                    reason: "gave up after 3 deliveries: database down".into()
                }
            );
            let Disposition::DeadLetter { kind, reason } = run("ok", 4, None).await else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Exhausted);
            assert!(
                reason.starts_with("delivered 4 times (max_deliver 3)"),
                "{reason}"
            );
        });
    }

    #[test]
    fn bad_versions_and_bodies_are_dead_lettered() {
        block_on(async {
            let Disposition::DeadLetter { kind, reason } = run("ok", 1, Some("2")).await else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Version);
            assert!(reason.contains("contract version 2"), "{reason}");
            let Disposition::DeadLetter { kind, .. } = run("ok", 1, Some("v1")).await else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Version);
            let d = dispose(&Probe, &delivery(1, None), br#"{"id":"ok","price":"free"}"#).await;
            let Disposition::DeadLetter { kind, reason } = d else {
                panic!("not dead-lettered")
            };
            assert_eq!(kind, DeadLetterKind::Decode);
            assert!(reason.contains("$.price"), "{reason}");
        });
    }

    #[test]
    fn consumer_names_are_sanitised() {
        assert_eq!(
            consumer_name("orders-service", "ticket:created"),
            "orders-service_ticket:created"
        );
        assert_eq!(
            consumer_name("a.b*c>d/e\\f g\th", "x.y"),
            "a_b_c_d_e_f_g_h_x_y"
        );
    }
}
