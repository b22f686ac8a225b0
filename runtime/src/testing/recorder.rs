//! [`Recorder`]: a bus on the memory transport whose published events can
//! be asserted typed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::pin::pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;

use crate::bus::Bus;
use crate::bus::transport::StreamConfig;
use crate::contract::decode::{DecodeError, from_json};
use crate::contract::event::Event;
use crate::contract::headers::{Headers, names};
use crate::memory::{Broker, StoredMessage};

/// A [`Bus`] on an in-process [`Broker`] that remembers everything
/// published, for a service's unit tests: hand [`bus`](Self::bus) to the
/// code under test, then assert on what it published, typed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use typebus::testing::Recorder;
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, typebus::Event)]
/// #[event(subject = "ticket:updated", version = 1)]
/// struct TicketUpdated {
///     id: String,
///     #[serde(rename = "orderId", skip_serializing_if = "Option::is_none")]
///     order_id: Option<String>,
/// }
///
/// let recorder = Recorder::new(["ticket:updated"]);
/// let publisher = recorder.bus().publisher::<TicketUpdated>();
/// publisher.publish(&TicketUpdated { id: "t1".into(), order_id: Some("o1".into()) }).await.unwrap();
///
/// let event = recorder.assert_published::<TicketUpdated>(|e| e.order_id.as_deref() == Some("o1"));
/// assert_eq!(event.id, "t1");
/// assert_eq!(recorder.published::<TicketUpdated>().len(), 1);
/// # }
/// ```
pub struct Recorder {
    broker: Broker,
    bus: Bus,
    /// Per stream, the last sequence [`clear`](Self::clear) saw.
    cleared: Mutex<BTreeMap<String, u64>>,
}

/// A message the recorder saw on a dead-letter subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDeadLetter {
    /// The dead-letter subject (`typebus.dlq.<queue group>`).
    pub subject: String,
    /// The subject the message was first published on.
    pub original_subject: String,
    /// Why it was dead-lettered: `decode`, `version`, `rejected`, `exhausted`.
    pub kind: String,
    /// The reason in words.
    pub reason: String,
    /// How many times it had been delivered.
    pub deliveries: u64,
    /// The original body.
    pub payload: Bytes,
    /// Every header of the dead letter.
    pub headers: Headers,
}

impl Recorder {
    /// A new broker with a stream `EVENTS` storing `subjects` (e.g. a
    /// generated `SUBJECTS`), and a bus on it. Provisioning the same stream
    /// again from the code under test is harmless.
    ///
    /// # Panics
    ///
    /// When `subjects` is empty or holds an invalid subject.
    #[track_caller]
    pub fn new<S: AsRef<str>>(subjects: impl IntoIterator<Item = S>) -> Self {
        let broker = Broker::new();
        let config = StreamConfig::new(subjects);
        if let Err(err) = broker.provision_now(&config) {
            panic!(
                "recorder: cannot provision the stream: {}",
                crate::error::chain(&err)
            );
        }
        Self::on(broker)
    }

    /// A recorder of what is published to `broker` (streams provisioned by
    /// the caller).
    pub fn on(broker: Broker) -> Self {
        let bus = broker.bus();
        Self {
            broker,
            bus,
            cleared: Mutex::new(BTreeMap::new()),
        }
    }

    /// A bus on the recorder's broker: give it to the code under test.
    /// Clones share the broker, like processes sharing a server.
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// The broker.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Every message stored since the recorder was made (or last cleared),
    /// by stream name, then in stream order.
    pub fn messages(&self) -> Vec<StoredMessage> {
        let cleared = self.cleared.lock().unwrap_or_else(PoisonError::into_inner);
        self.broker
            .streams()
            .iter()
            .flat_map(|stream| {
                let after = cleared.get(stream).copied().unwrap_or(0);
                self.broker
                    .messages(stream)
                    .into_iter()
                    .filter(move |message| message.sequence > after)
            })
            .collect()
    }

    /// Every message stored on `subject` since the recorder was made (or
    /// last cleared), in order.
    pub fn messages_on(&self, subject: &str) -> Vec<StoredMessage> {
        self.messages()
            .into_iter()
            .filter(|message| message.subject == subject)
            .collect()
    }

    /// Forgets what was recorded so far: later assertions see only what is
    /// published from now on. Consumers are not affected.
    pub fn clear(&self) {
        let mut cleared = self.cleared.lock().unwrap_or_else(PoisonError::into_inner);
        for stream in self.broker.streams() {
            if let Some(last) = self.broker.last_sequence(&stream) {
                cleared.insert(stream, last);
            }
        }
    }

    /// The `E` events published, decoded, in order; an error names the
    /// first message that does not decode as `E`.
    pub fn try_published<E: Event>(&self) -> Result<Vec<E>, DecodeError> {
        self.messages_on(E::SUBJECT)
            .iter()
            .map(|message| from_json::<E>(E::SUBJECT, &message.payload))
            .collect()
    }

    /// The `E` events published, decoded, in order.
    ///
    /// # Panics
    ///
    /// When a message on `E::SUBJECT` does not decode as `E`.
    #[track_caller]
    pub fn published<E: Event>(&self) -> Vec<E> {
        match self.try_published::<E>() {
            Ok(events) => events,
            Err(err) => panic!(
                "a message published on `{}` does not decode as `{}`: {err}\n{}",
                E::SUBJECT,
                E::NAME,
                self.describe()
            ),
        }
    }

    /// Asserts that an `E` matching `predicate` was published, and returns
    /// the first such event.
    ///
    /// # Panics
    ///
    /// When none matches: the message lists what was published instead.
    #[track_caller]
    pub fn assert_published<E: Event>(&self, predicate: impl Fn(&E) -> bool) -> E {
        let events = self.published::<E>();
        let count = events.len();
        match events.into_iter().find(|event| predicate(event)) {
            Some(event) => event,
            None => panic!(
                "expected a published `{}` (subject `{}`) matching the predicate; {count} `{}` published, none matched\n{}",
                E::NAME,
                E::SUBJECT,
                E::NAME,
                self.describe()
            ),
        }
    }

    /// Waits until an `E` matching `predicate` is published (by a listener
    /// running on the recorder's bus, say), and returns the first such
    /// event.
    ///
    /// # Panics
    ///
    /// When none is published within `timeout`: the message lists what was
    /// published instead.
    #[track_caller]
    pub fn wait_for<'a, E: Event>(
        &'a self,
        timeout: Duration,
        predicate: impl Fn(&E) -> bool + Send + 'a,
    ) -> impl Future<Output = E> + Send + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let mut changed = pin!(self.broker.shared.changed.notified());
                changed.as_mut().enable();
                if let Some(event) = self
                    .published::<E>()
                    .into_iter()
                    .find(|event| predicate(event))
                {
                    return event;
                }
                if tokio::time::timeout_at(deadline, changed).await.is_err() {
                    panic!(
                        "{caller}: no `{}` (subject `{}`) matching the predicate was published within {timeout:?}\n{}",
                        E::NAME,
                        E::SUBJECT,
                        self.describe()
                    );
                }
            }
        }
    }

    /// Asserts that an event equal to `expected` was published.
    ///
    /// # Panics
    ///
    /// When none was: the message shows `expected` and what was published.
    #[track_caller]
    pub fn assert_published_eq<E: Event + PartialEq + std::fmt::Debug>(&self, expected: &E) {
        if !self.published::<E>().iter().any(|event| event == expected) {
            panic!(
                "expected a published `{}` equal to {expected:?}; none was\n{}",
                E::NAME,
                self.describe()
            );
        }
    }

    /// Asserts that exactly `count` `E` events were published.
    ///
    /// # Panics
    ///
    /// When another number was.
    #[track_caller]
    pub fn assert_published_count<E: Event>(&self, count: usize) {
        let published = self.messages_on(E::SUBJECT).len();
        if published != count {
            panic!(
                "expected {count} published `{}` (subject `{}`), found {published}\n{}",
                E::NAME,
                E::SUBJECT,
                self.describe()
            );
        }
    }

    /// Asserts that no `E` was published.
    ///
    /// # Panics
    ///
    /// When one was.
    #[track_caller]
    pub fn assert_not_published<E: Event>(&self) {
        self.assert_published_count::<E>(0);
    }

    /// The dead letters stored so far (messages carrying the
    /// `Typebus-Dlq-Kind` header), in order.
    pub fn dead_letters(&self) -> Vec<RecordedDeadLetter> {
        self.messages()
            .into_iter()
            .filter_map(|message| {
                let kind = message.headers.get(names::DLQ_KIND)?.to_owned();
                let header = |name: &str| message.headers.get(name).unwrap_or_default().to_owned();
                Some(RecordedDeadLetter {
                    original_subject: header(names::DLQ_SUBJECT),
                    reason: header(names::DLQ_REASON),
                    deliveries: header(names::DLQ_DELIVERIES).parse().unwrap_or(0),
                    kind,
                    subject: message.subject,
                    payload: message.payload,
                    headers: message.headers,
                })
            })
            .collect()
    }

    /// Everything recorded, for failure messages: each message's stream,
    /// sequence, subject and body.
    pub fn describe(&self) -> String {
        let messages = self.messages();
        if messages.is_empty() {
            return "nothing was published".to_owned();
        }
        let mut out = format!("published ({}):", messages.len());
        for message in &messages {
            let body = String::from_utf8_lossy(&message.payload);
            let _ = write!(
                out,
                "\n  {}#{} `{}` {body}",
                message.stream, message.sequence, message.subject
            );
            if let Some(kind) = message.headers.get(names::DLQ_KIND) {
                let reason = message.headers.get(names::DLQ_REASON).unwrap_or_default();
                let _ = write!(out, " (dead letter, {kind}: {reason})");
            }
        }
        out
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}
