//! [`ListenOptions`]: how a listener runs, as one value that wrappers map.

use std::time::Duration;

use crate::backoff::Backoff;

/// How a listener runs: its queue group, retries, readable versions,
/// dispatch and concurrency, and the consumer it binds.
/// [`Listener::options`](crate::Listener::options) returns it; a wrapper
/// maps its inner listener's value, and
/// [`Bus::listen_with`](crate::Bus::listen_with) maps it once more where the
/// listener is started.
///
/// ```
/// use std::time::Duration;
/// use typebus::{Backoff, ListenOptions};
///
/// let options = ListenOptions::new("orders-service")
///     .max_deliver(Some(5))
///     .retry(Backoff::new(Duration::from_millis(100), Duration::from_secs(2)))
///     .concurrency(16);
/// assert_eq!(options.retry_delay(3), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenOptions {
    /// The queue group: shared by every instance of the service. With the
    /// subject it names the durable consumer (see
    /// [`consumer_name`](crate::consumer_name)).
    pub queue_group: String,
    /// How long a delivery may go unsettled before it is delivered again
    /// (the handler gets in-progress acks while it runs; see
    /// [`handler_timeout`](Self::handler_timeout)). Default 5 seconds, as
    /// the old listeners had.
    pub ack_wait: Duration,
    /// How many deliveries a message gets before it is dead-lettered;
    /// `None` for no limit. Default 10.
    pub max_deliver: Option<u32>,
    /// The delays before a message whose handler failed with a retryable
    /// error (without its own delay) is delivered again: attempt 0 after
    /// the first delivery. Default 1 s doubling, at most 60 s.
    pub retry: Backoff,
    /// The newest contract version (the `Typebus-Version` header) the
    /// listener reads; a newer one is dead-lettered. `None` (the default):
    /// its event's own version. Messages without the header (from
    /// publishers that do not set it) are read as
    /// [`unversioned`](Self::unversioned) says.
    pub max_version: Option<u32>,
    /// The contract version a message without a `Typebus-Version` header
    /// (from a publisher outside typebus, like the old Node services) is
    /// read as. `None` (the default): its event's own version, so the body
    /// is decoded as the listener's type. Set it to the version such
    /// publishers still send, and the body is decoded as that version and
    /// upcast like any older event.
    pub unversioned: Option<u32>,
    /// Whether the handler gets messages one at a time or in batches.
    pub dispatch: Dispatch,
    /// How many handler calls run at once (default 64).
    pub concurrency: usize,
    /// How many messages are fetched ahead of the handlers (default 128).
    ///
    /// A fetched message waits for a free handler without in-progress
    /// acks, and is delivered again (to any instance) once it has waited
    /// `ack_wait`. A JetStream pull request is answered whether or not the
    /// handlers are free, and the next one goes out when half of the last
    /// has arrived, so up to 1.5 x `prefetch` messages can be waiting: keep
    /// `1.5 x prefetch / concurrency` handler durations well under
    /// `ack_wait`. With the defaults (128, 64 handlers, 5 s) a backlog whose
    /// handlers take more than about 1.6 s each sees fetched messages
    /// handed out twice; lower `prefetch` (down to 1) for slow handlers.
    pub prefetch: usize,
    /// The consumer's limit of unsettled messages across all instances
    /// (default 1000). `concurrency + prefetch` must not exceed it.
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

/// How the engine hands messages to a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dispatch {
    /// One message per [`on_message`](crate::Listener::on_message) call,
    /// each on its own task when it waits (the default).
    #[default]
    OneByOne,
    /// The messages fetched and not yet handled, up to half the
    /// [`concurrency`](ListenOptions::concurrency), together through
    /// [`on_batch`](crate::Listener::on_batch), polled on one task. Every
    /// message of a batch is settled (acknowledged, retried or
    /// dead-lettered) once the whole batch is handled. Worth it when the
    /// handlers wait on one shared resource that does better with one
    /// request per batch than one per event (the
    /// [ordering guard](crate::ordering::Sequenced) over a shared store
    /// claims and records a batch's steps in one write each), not for
    /// handlers that compute. The batch shares one
    /// [`handler_timeout`](ListenOptions::handler_timeout): a handler that
    /// hangs holds its batch up until then, and the whole batch is
    /// delivered again.
    Batches,
}

impl ListenOptions {
    /// The defaults, for the listeners of `queue_group`.
    pub fn new(queue_group: impl Into<String>) -> Self {
        Self {
            queue_group: queue_group.into(),
            ack_wait: Duration::from_secs(5),
            max_deliver: Some(10),
            retry: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            max_version: None,
            unversioned: None,
            dispatch: Dispatch::OneByOne,
            concurrency: 64,
            prefetch: 128,
            max_ack_pending: 1000,
            dead_letter_subject: None,
            stream: None,
            handler_timeout: None,
        }
    }

    /// Sets how long a delivery may go unsettled.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Sets how many deliveries a message gets (`None`: no limit).
    pub fn max_deliver(mut self, max_deliver: Option<u32>) -> Self {
        self.max_deliver = max_deliver;
        self
    }

    /// Sets the delays between deliveries of a failing message.
    pub fn retry(mut self, retry: Backoff) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the newest contract version read.
    pub fn max_version(mut self, version: u32) -> Self {
        self.max_version = Some(version);
        self
    }

    /// Sets the contract version a message without a version header is
    /// read as.
    pub fn unversioned(mut self, version: u32) -> Self {
        self.unversioned = Some(version);
        self
    }

    /// Sets how messages are handed to the handler.
    pub fn dispatch(mut self, dispatch: Dispatch) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// Sets how many handler calls run at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets how many messages are fetched ahead of the handlers.
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch;
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

    /// The delay before a message whose handler failed, on delivery
    /// number `delivery_count` (from 1), is delivered again.
    pub fn retry_delay(&self, delivery_count: u64) -> Duration {
        self.retry.delay(delivery_count.saturating_sub(1))
    }

    /// The newest contract version read by a listener of an event whose
    /// own version is `own`.
    pub(crate) fn newest_version(&self, own: u32) -> u32 {
        self.max_version.unwrap_or(own)
    }
}
