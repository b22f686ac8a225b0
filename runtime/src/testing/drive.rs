//! [`drive`]: runs a listener on one crafted delivery and tells what the
//! engine would do with it (ack, nak with a delay, dead letter + term).

use std::time::Duration;

use bytes::Bytes;

use crate::bus::delivery::{Delivery, DeliveryInfo};
use crate::bus::dispose::{Disposition, dispose};
use crate::bus::listener::{DeadLetterKind, Listener, consumer_name};
use crate::bus::transport::AckKind;
use crate::contract::event::Event;
use crate::contract::headers::{Headers, names};
use crate::contract::timestamp::Timestamp;

/// Starts a crafted delivery to `listener`: set the delivery count or
/// headers, then hand it an [`event`](Drive::event) or a raw
/// [`payload`](Drive::payload) and get the [`Outcome`].
///
/// The delivery looks like one from a typebus publisher: the event's
/// subject, `Nats-Msg-Id`, `Typebus-Version` (the event's version) and
/// `Typebus-Event` headers, delivery count 1. The listener's handler runs
/// exactly as under the listener engine (panics caught, version checked,
/// `max_deliver` applied).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use typebus::{DeadLetterKind, Delivery, HandlerError, Listener};
/// use typebus::testing::drive;
///
/// #[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
/// #[event(subject = "ticket:updated", version = 1)]
/// struct TicketUpdated { id: String, version: u64 }
///
/// /// Applies version n only after n - 1: an early arrival is retried.
/// struct UpdateTicket { last_applied: u64 }
///
/// impl Listener for UpdateTicket {
///     type Event = TicketUpdated;
///     fn options(&self) -> typebus::ListenOptions { typebus::ListenOptions::new("orders-service") }
///     async fn on_message(&self, event: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
///         if event.version != self.last_applied + 1 {
///             return Err(HandlerError::retry("not the next version yet"));
///         }
///         Ok(())
///     }
/// }
///
/// let listener = UpdateTicket { last_applied: 3 };
/// drive(&listener).event(&TicketUpdated { id: "t".into(), version: 4 }).await.assert_acked();
/// let delay = drive(&listener).event(&TicketUpdated { id: "t".into(), version: 6 }).await.assert_nakked();
/// assert_eq!(delay, std::time::Duration::from_secs(1));
/// // On the last allowed delivery the same failure gives up.
/// let outcome = drive(&listener).delivery_count(10).event(&TicketUpdated { id: "t".into(), version: 6 }).await;
/// outcome.assert_dead_lettered(DeadLetterKind::Exhausted);
/// let outcome = drive(&listener).payload(br#"{"id":"t","version":"four"}"#).await;
/// assert!(outcome.assert_dead_lettered(DeadLetterKind::Decode).contains("$.version"));
/// # }
/// ```
pub fn drive<L: Listener>(listener: &L) -> Drive<'_, L> {
    let mut headers = Headers::with_capacity(3);
    headers.append(names::MSG_ID, "typebus-testing-drive");
    headers.append(names::VERSION, L::Event::VERSION.to_string());
    headers.append(names::EVENT, L::Event::NAME);
    Drive {
        listener,
        subject: L::Event::SUBJECT.to_owned(),
        headers,
        delivery_count: 1,
        stream_sequence: 1,
        published: Timestamp::now(),
    }
}

/// A crafted delivery to a listener (see [`drive`]).
#[must_use = "hand it an event or a payload and await the outcome"]
pub struct Drive<'a, L> {
    listener: &'a L,
    subject: String,
    headers: Headers,
    delivery_count: u64,
    stream_sequence: u64,
    published: Timestamp,
}

impl<'a, L: Listener> Drive<'a, L> {
    /// Sets the delivery count (1 for a first delivery).
    pub fn delivery_count(mut self, count: u64) -> Self {
        self.delivery_count = count;
        self
    }

    /// Sets the stream sequence.
    pub fn stream_sequence(mut self, sequence: u64) -> Self {
        self.stream_sequence = sequence;
        self
    }

    /// Sets the publish time.
    pub fn published(mut self, published: Timestamp) -> Self {
        self.published = published;
        self
    }

    /// Sets the subject (default: the event's).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// Sets header `name` to `value`, replacing its values.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets the `Typebus-Version` header, e.g. to a newer contract version.
    pub fn version(self, version: u32) -> Self {
        self.header(names::VERSION, version.to_string())
    }

    /// Removes header `name` (e.g. `Typebus-Version`, as a publisher in
    /// another language may not set it).
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.remove(name);
        self
    }

    /// The delivery the listener will see.
    pub fn delivery(&self) -> Delivery {
        let info = DeliveryInfo {
            stream: "EVENTS".to_owned(),
            consumer: consumer_name(&self.listener.options().queue_group, &self.subject),
            stream_sequence: self.stream_sequence,
            consumer_sequence: self.stream_sequence,
            delivered: self.delivery_count,
            pending: 0,
            published: self.published,
        };
        Delivery::new(self.subject.clone(), self.headers.clone(), info)
    }

    /// Delivers `event` (as its JSON) and returns the outcome.
    ///
    /// # Panics
    ///
    /// When the event does not serialise to JSON (a bug in its type).
    #[track_caller]
    pub fn event(self, event: &L::Event) -> impl Future<Output = Outcome> + Send + 'a {
        let payload = match crate::to_json(event) {
            Ok(payload) => payload,
            Err(err) => panic!("`{}` does not serialise to json: {err}", L::Event::NAME),
        };
        self.payload(payload)
    }

    /// Delivers the raw `payload` (any bytes) and returns the outcome.
    pub async fn payload(self, payload: impl AsRef<[u8]>) -> Outcome {
        let payload = Bytes::copy_from_slice(payload.as_ref());
        let delivery = self.delivery();
        let options = self.listener.options();
        let disposition = dispose(self.listener, &options, &delivery, &payload).await;
        Outcome {
            disposition,
            delivery,
        }
    }
}

/// What the listener engine does with a delivery: the acknowledgement it
/// sends, and the dead letter it publishes first, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    disposition: Disposition,
    delivery: Delivery,
}

impl Outcome {
    /// The decision, as the engine made it.
    pub fn disposition(&self) -> &Disposition {
        &self.disposition
    }

    /// The delivery the listener saw.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The acknowledgement the engine sends: `Ack`, `Nak(Some(delay))`, or
    /// `Term` once the dead letter is stored.
    pub fn ack(&self) -> AckKind {
        match &self.disposition {
            Disposition::Ack => AckKind::Ack,
            Disposition::Retry { delay, .. } => AckKind::Nak(Some(*delay)),
            Disposition::DeadLetter { .. } => AckKind::Term,
        }
    }

    /// Whether the event was handled and acknowledged.
    pub fn is_acked(&self) -> bool {
        self.disposition == Disposition::Ack
    }

    /// The redelivery delay, when the message is nakked to be delivered again.
    pub fn nak_delay(&self) -> Option<Duration> {
        match &self.disposition {
            Disposition::Retry { delay, .. } => Some(*delay),
            _ => None,
        }
    }

    /// Whether the message is terminated (never delivered again): always
    /// after a dead letter.
    pub fn is_termed(&self) -> bool {
        self.ack() == AckKind::Term
    }

    /// The dead letter's kind and reason, when the message is dead-lettered.
    pub fn dead_letter(&self) -> Option<(DeadLetterKind, &str)> {
        match &self.disposition {
            Disposition::DeadLetter { kind, reason } => Some((*kind, reason.as_str())),
            _ => None,
        }
    }

    /// Asserts that the event was acknowledged.
    ///
    /// # Panics
    ///
    /// Otherwise, saying what happened instead.
    #[track_caller]
    pub fn assert_acked(&self) {
        if !self.is_acked() {
            panic!("expected the delivery to be acked; {}", self.describe());
        }
    }

    /// Asserts that the message was nakked for a redelivery; returns the delay.
    ///
    /// # Panics
    ///
    /// Otherwise, saying what happened instead.
    #[track_caller]
    pub fn assert_nakked(&self) -> Duration {
        match self.nak_delay() {
            Some(delay) => delay,
            None => panic!("expected the delivery to be nakked; {}", self.describe()),
        }
    }

    /// Asserts that the message was dead-lettered (and so termed) with
    /// `kind`; returns the reason.
    ///
    /// # Panics
    ///
    /// Otherwise, saying what happened instead.
    #[track_caller]
    pub fn assert_dead_lettered(&self, kind: DeadLetterKind) -> &str {
        match self.dead_letter() {
            Some((actual, reason)) if actual == kind => reason,
            _ => panic!(
                "expected the delivery to be dead-lettered ({kind}); {}",
                self.describe()
            ),
        }
    }

    /// The outcome in words, for failure messages.
    pub fn describe(&self) -> String {
        let what = match &self.disposition {
            Disposition::Ack => "it was acked".to_owned(),
            Disposition::Retry { delay, reason } => {
                format!("it was nakked for a redelivery in {delay:?}: {reason}")
            }
            Disposition::DeadLetter { kind, reason } => {
                format!("it was dead-lettered ({kind}) and termed: {reason}")
            }
        };
        format!(
            "{what} (subject `{}`, delivery {})",
            self.delivery.subject(),
            self.delivery.delivery_count()
        )
    }
}
