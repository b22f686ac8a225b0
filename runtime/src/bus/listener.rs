//! The [`Listener`] trait and [`HandlerError`]: a service's handler of one
//! event type and how it fails.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt as _;

use crate::bus::delivery::Delivery;
use crate::bus::options::ListenOptions;
use crate::contract::event::Event;
use crate::error::BoxError;

/// A service's handler of one event type.
///
/// The trait is the handler; how it runs (queue group, ack wait, retries,
/// readable versions, dispatch, concurrency) is one [`ListenOptions`]
/// value that [`options`](Self::options) returns. A wrapper (a guard, a
/// fault injector) maps its inner listener's options instead of forwarding
/// settings one by one, and forwards [`on_batch`](Self::on_batch) when its
/// inner listener may take [batches](crate::Dispatch::Batches).
///
/// Every instance of a service listens with the same
/// [queue group](ListenOptions::queue_group): they share one durable
/// consumer (named after it and the subject), so each event is handled by
/// one of them. Events are delivered from the start of the stream on the
/// consumer's first start.
///
/// ```
/// use typebus::{Delivery, HandlerError, ListenOptions, Listener};
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
///     fn options(&self) -> ListenOptions {
///         ListenOptions::new("orders-service")
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

    /// How this listener runs. Read once, when it starts
    /// ([`Bus::listen`](crate::Bus::listen)).
    fn options(&self) -> ListenOptions;

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

    /// Handles the decoded events of one batch, when the options ask for
    /// [`Dispatch::Batches`](crate::Dispatch::Batches); the outcomes are in the events' order, one
    /// each, with the meaning of [`on_message`](Self::on_message)'s.
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
/// reason names it.
///
/// A combinator rather than an `async fn`: an `async fn` keeps its argument
/// and the future it builds from it side by side, and every delivery's
/// future (which the engine boxes) would hold the handler's twice.
pub(crate) fn caught(
    handling: impl Future<Output = Result<(), HandlerError>>,
) -> impl Future<Output = Result<(), HandlerError>> {
    AssertUnwindSafe(handling)
        .catch_unwind()
        .map(|caught| caught.unwrap_or_else(|panic| Err(panicked(&*panic))))
}

/// The retryable error of a handler that panicked.
pub(crate) fn panicked(panic: &(dyn Any + Send)) -> HandlerError {
    HandlerError::retry(format!("handler panicked: {}", panic_message(panic)))
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
    pub(crate) kind: HandlerErrorKind,
    source: BoxError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerErrorKind {
    Retry(Option<Duration>),
    Permanent,
    /// Given up with a reason of its own class (the ordering guard's gaps).
    DeadLetter(DeadLetterKind),
}

impl HandlerError {
    /// A failure worth retrying, after the listener's
    /// [`retry`](ListenOptions::retry) delay.
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

    /// Every kind, in the order above.
    pub const ALL: [Self; 5] = [
        Self::Decode,
        Self::Version,
        Self::Rejected,
        Self::Exhausted,
        Self::Gap,
    ];

    /// The kind a header value names (see [`as_str`](Self::as_str)).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{DeadLetterKind, consumer_name};

    #[test]
    fn dead_letter_kinds_parse_their_header_values() {
        for kind in DeadLetterKind::ALL {
            assert_eq!(DeadLetterKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DeadLetterKind::parse("Rejected"), None);
        assert_eq!(DeadLetterKind::parse(""), None);
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
