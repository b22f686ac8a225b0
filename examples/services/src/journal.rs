//! [`Journal`]: the timeline of what the services published and handled,
//! one line per event.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use typebus::{PublishAck, Publisher};

use crate::ServiceError;
use ticketing_events::{
    ExpirationComplete, OrderCancelled, OrderCreated, PaymentCreated, TicketCreated, TicketUpdated,
};

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// The service published it (`->`).
    Published,
    /// The stream already held a message with its id and stored nothing (`=>`).
    Deduplicated,
    /// The service's listener handled it (`<-`).
    Handled,
    /// The listener handled it and decided nothing changes (`<=`).
    Ignored,
    /// A fault the demo injected (`**`).
    Injected,
}

impl Verb {
    /// The arrow the timeline shows.
    pub fn arrow(self) -> &'static str {
        match self {
            Self::Published => "->",
            Self::Deduplicated => "=>",
            Self::Handled => "<-",
            Self::Ignored => "<=",
            Self::Injected => "**",
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since the journal started.
    pub at: Duration,
    /// The service (`tickets`, `orders`, `payments`, `expiration`, `demo`).
    pub service: &'static str,
    /// What happened.
    pub verb: Verb,
    /// The event's subject.
    pub subject: &'static str,
    /// The event's key fields, or what went wrong.
    pub detail: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "+{:>7.3}s  {:<10} {} {:<19} {}",
            self.at.as_secs_f64(),
            self.service,
            self.verb.arrow(),
            self.subject,
            self.detail
        )
    }
}

/// The timeline shared by every service of one process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
}

impl Journal {
    /// An empty journal whose clock starts now.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                start: Instant::now(),
                entries: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Records an entry about `event`, described by its key fields.
    pub fn event<E: Describe + typebus::Event>(
        &self,
        service: &'static str,
        verb: Verb,
        event: &E,
    ) {
        self.record(service, verb, E::SUBJECT, event.describe());
    }

    /// Records an entry at the current time.
    pub fn record(
        &self,
        service: &'static str,
        verb: Verb,
        subject: &'static str,
        detail: impl Into<String>,
    ) {
        self.record_at(self.elapsed(), service, verb, subject, detail);
    }

    /// The time since the journal started.
    pub fn elapsed(&self) -> Duration {
        self.inner.start.elapsed()
    }

    /// Records an entry at `at` (from [`elapsed`](Self::elapsed)).
    pub fn record_at(
        &self,
        at: Duration,
        service: &'static str,
        verb: Verb,
        subject: &'static str,
        detail: impl Into<String>,
    ) {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Entry {
                at,
                service,
                verb,
                subject,
                detail: detail.into(),
            });
    }

    /// Publishes `event` with `message_id` and, once the stream acked it,
    /// records it at the time the publish began (so it comes before its
    /// handling): as published, or as deduplicated when the stream already
    /// held that message id.
    pub async fn publish<E: Describe + typebus::Event>(
        &self,
        service: &'static str,
        publisher: &Publisher<E>,
        event: &E,
        message_id: String,
    ) -> Result<PublishAck, ServiceError> {
        let at = self.elapsed();
        let ack = publisher
            .publish_with_id(event, message_id)
            .await
            .map_err(|err| ServiceError::publish(E::SUBJECT, err))?;
        let verb = if ack.duplicate {
            Verb::Deduplicated
        } else {
            Verb::Published
        };
        self.record_at(at, service, verb, E::SUBJECT, event.describe());
        Ok(ack)
    }

    /// Every entry so far, in time order (entries of one instant in the
    /// order recorded).
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries = self
            .inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        entries.sort_by_key(|e| e.at);
        entries
    }

    /// How many entries match `service`, `verb` and `subject`.
    pub fn count(&self, service: &str, verb: Verb, subject: &str) -> usize {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e.service == service && e.verb == verb && e.subject == subject)
            .count()
    }
}

impl Default for Journal {
    fn default() -> Self {
        Self::new()
    }
}

/// An event's key fields for the timeline.
pub trait Describe {
    /// The key fields, e.g. `id=… v=1 orderId=…`.
    fn describe(&self) -> String;
}

impl Describe for TicketCreated {
    fn describe(&self) -> String {
        format!(
            "id={} v={} title={:?} price={}",
            self.id, self.version, self.title, self.price
        )
    }
}

impl Describe for TicketUpdated {
    fn describe(&self) -> String {
        format!(
            "id={} v={} price={} orderId={}",
            self.id,
            self.version,
            self.price,
            self.order_id.as_deref().unwrap_or("-")
        )
    }
}

impl Describe for OrderCreated {
    fn describe(&self) -> String {
        format!(
            "id={} v={} status={} ticket={} expiresAt={}",
            self.id, self.version, self.status, self.ticket.id, self.expires_at
        )
    }
}

impl Describe for OrderCancelled {
    fn describe(&self) -> String {
        format!(
            "id={} v={} ticket={}",
            self.id, self.version, self.ticket.id
        )
    }
}

impl Describe for ExpirationComplete {
    fn describe(&self) -> String {
        format!("orderId={}", self.order_id)
    }
}

impl Describe for PaymentCreated {
    fn describe(&self) -> String {
        format!(
            "id={} orderId={} stripeId={}",
            self.id, self.order_id, self.stripe_id
        )
    }
}
