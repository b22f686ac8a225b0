//! [`Publisher`]: typed publishing with message ids, version headers,
//! retries and pipelining.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use crate::backoff::Backoff;
use crate::bus::transport::{BoxFuture, OutgoingMessage, PendingAck, PublishAck, Transport};
use crate::contract::event::Event;
use crate::contract::headers::{Headers, names};
use crate::error::{PublishError, PublishErrorKind};

/// How a publisher retries a publish whose outcome is unknown or transient
/// (a timeout, no connection, no stream yet). Every attempt reuses the
/// message id, so the stream stores the event once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishRetry {
    /// How many attempts in all (1 = no retry). Default 5.
    pub attempts: u32,
    /// The delay before the first retry, doubling each time. Default 100 ms.
    pub initial_delay: Duration,
    /// The longest delay between attempts. Default 2 s.
    pub max_delay: Duration,
}

impl Default for PublishRetry {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl PublishRetry {
    /// No retries: one attempt.
    pub const NONE: Self = Self {
        attempts: 1,
        initial_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The delay before retry `retry` (from 0): doubling from
    /// `initial_delay` sixteen times at most, never above `max_delay`.
    fn delay(&self, retry: u32) -> Duration {
        Backoff::new(self.initial_delay, self.max_delay).delay(u64::from(retry.min(16)))
    }
}

/// Publishes events of type `E` on `E::SUBJECT`.
///
/// Each message carries the event's JSON as its body and three headers:
/// `Nats-Msg-Id` (a fresh unique id unless one is given; JetStream
/// deduplicates on it), `Typebus-Version` (`E::VERSION`) and `Typebus-Event`
/// (`E::NAME`).
///
/// ```no_run
/// # async fn demo(bus: typebus::Bus) -> Result<(), Box<dyn std::error::Error>> {
/// # #[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
/// # #[event(subject = "expiration:complete", version = 1)]
/// # struct ExpirationComplete { #[serde(rename = "orderId")] order_id: String }
/// let publisher = bus.publisher::<ExpirationComplete>();
/// let ack = publisher.publish(&ExpirationComplete { order_id: "5f1a".into() }).await?;
/// println!("stored as #{} (duplicate: {})", ack.sequence, ack.duplicate);
///
/// // Pipelined: send many, then await the acks.
/// let mut pending = Vec::new();
/// for id in ["a", "b", "c"] {
///     pending.push(publisher.send(&ExpirationComplete { order_id: id.into() }).await?);
/// }
/// for ack in pending {
///     ack.await?;
/// }
/// # Ok(()) }
/// ```
pub struct Publisher<E> {
    transport: Arc<dyn Transport>,
    retry: PublishRetry,
    /// What is wrong with `E::SUBJECT`, checked once.
    subject_problem: Option<&'static str>,
    _event: PhantomData<fn(&E)>,
}

impl<E> Clone for Publisher<E> {
    fn clone(&self) -> Self {
        Self {
            transport: Arc::clone(&self.transport),
            retry: self.retry,
            subject_problem: self.subject_problem,
            _event: PhantomData,
        }
    }
}

impl<E> std::fmt::Debug for Publisher<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("transport", &self.transport.name())
            .field("retry", &self.retry)
            .finish()
    }
}

impl<E: Event> Publisher<E> {
    pub(crate) fn new(transport: Arc<dyn Transport>) -> Self {
        Self {
            transport,
            retry: PublishRetry::default(),
            subject_problem: crate::bus::subject::check_literal(E::SUBJECT).err(),
            _event: PhantomData,
        }
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: PublishRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Publishes `event` with a fresh message id and waits for the stream's ack.
    pub async fn publish(&self, event: &E) -> Result<PublishAck, PublishError> {
        self.send(event).await?.await
    }

    /// Publishes `event` with the caller's message id (e.g. an outbox row's
    /// id, or the id of a record): publishing it again with the same id
    /// within the stream's duplicate window stores nothing new and returns
    /// `duplicate: true`.
    pub async fn publish_with_id(
        &self,
        event: &E,
        message_id: impl Into<String>,
    ) -> Result<PublishAck, PublishError> {
        self.send_with_id(event, message_id).await?.await
    }

    /// Sends `event` with a fresh message id and returns its pending ack, to
    /// await later: many publishes can be in flight at once.
    pub async fn send(&self, event: &E) -> Result<PendingPublish, PublishError> {
        let id = nuid::next();
        self.send_message(self.message(event, &id)?).await
    }

    /// [`send`](Self::send) with the caller's message id.
    pub async fn send_with_id(
        &self,
        event: &E,
        message_id: impl Into<String>,
    ) -> Result<PendingPublish, PublishError> {
        let message_id = message_id.into();
        self.send_message(self.message(event, &message_id)?).await
    }

    /// The message `publish` sends for `event` with `message_id`: its JSON
    /// and the typebus headers.
    pub fn message(&self, event: &E, message_id: &str) -> Result<OutgoingMessage, PublishError> {
        if let Some(problem) = self.subject_problem {
            return Err(PublishError::new(PublishErrorKind::InvalidSubject)
                .with_detail(format!("`{}`: {problem}", E::SUBJECT)));
        }
        let payload = crate::to_json(event).map_err(|err| {
            PublishError::new(PublishErrorKind::Serialize)
                .with_detail(E::SUBJECT)
                .with_source(err)
        })?;
        let mut headers = Headers::with_capacity(3);
        headers.append_static(names::MSG_ID, message_id.to_owned());
        headers.append_static(names::VERSION, version_text(E::VERSION));
        headers.append_static(names::EVENT, E::NAME);
        if let Some(readable_as) = readable_as::<E>() {
            headers.append(names::READABLE_AS, readable_as);
        }
        Ok(OutgoingMessage {
            subject: E::SUBJECT.to_owned(),
            headers,
            payload: Bytes::from(payload),
        })
    }

    async fn send_message(&self, message: OutgoingMessage) -> Result<PendingPublish, PublishError> {
        send_with_retry(Arc::clone(&self.transport), message, self.retry).await
    }
}

/// The `Typebus-Readable-As` value of `E`'s messages (`1,2`), if any.
pub(crate) fn readable_as<E: Event>() -> Option<String> {
    let mut versions = E::READABLE_AS.iter();
    let first = versions.next()?;
    Some(versions.fold(first.to_string(), |text, v| format!("{text},{v}")))
}

/// A contract version as header text, without allocating for small ones.
fn version_text(version: u32) -> Cow<'static, str> {
    const SMALL: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    match SMALL.get(version as usize) {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(version.to_string()),
    }
}

/// Sends `message`, retrying transient send failures, and returns its
/// pending ack, which retries too.
pub(crate) async fn send_with_retry(
    transport: Arc<dyn Transport>,
    message: OutgoingMessage,
    retry: PublishRetry,
) -> Result<PendingPublish, PublishError> {
    let mut attempt = 1;
    loop {
        match transport.publish(message.clone()).await {
            Ok(pending) => {
                return Ok(PendingPublish {
                    state: State::First {
                        pending,
                        again: Again {
                            transport,
                            message,
                            retry,
                            attempt,
                        },
                    },
                });
            }
            Err(err) if err.kind().is_transient() && attempt < retry.attempts => {
                tracing::debug!(subject = %message.subject, attempt, error = %crate::error::chain(&err), "publish not sent; retrying");
                tokio::time::sleep(retry.delay(attempt - 1)).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// What a retry needs: the message (same id) and where the attempts stand.
struct Again {
    transport: Arc<dyn Transport>,
    message: OutgoingMessage,
    retry: PublishRetry,
    attempt: u32,
}

impl Again {
    /// Whether `err` of the current attempt is worth another.
    fn allows(&self, err: &PublishError) -> bool {
        err.kind().is_transient() && self.attempt < self.retry.attempts
    }

    /// Publishes again until acked or out of attempts.
    async fn run(mut self, mut err: PublishError) -> Result<PublishAck, PublishError> {
        loop {
            tracing::debug!(subject = %self.message.subject, attempt = self.attempt, error = %crate::error::chain(&err), "publish not acked; retrying with the same message id");
            tokio::time::sleep(self.retry.delay(self.attempt - 1)).await;
            self.attempt += 1;
            let outcome = match self.transport.publish(self.message.clone()).await {
                Ok(pending) => pending.await,
                Err(err) => Err(err),
            };
            match outcome {
                Ok(ack) => return Ok(ack),
                Err(next) if self.allows(&next) => err = next,
                Err(next) => return Err(next),
            }
        }
    }
}

/// A sent message's ack, still to come: `.await` it. Retries a timed-out
/// publish with the same message id, per the publisher's [`PublishRetry`].
#[must_use = "the event may not be stored; await the ack"]
pub struct PendingPublish {
    state: State,
}

enum State {
    /// Awaiting the first attempt's ack (no allocation beyond the transport's).
    First { pending: PendingAck, again: Again },
    /// Retrying after a transient failure.
    Retrying(BoxFuture<'static, Result<PublishAck, PublishError>>),
    /// Resolved.
    Done,
}

impl Future for PendingPublish {
    type Output = Result<PublishAck, PublishError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::First { pending, .. } => {
                    let result = match Pin::new(pending).poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => return Poll::Pending,
                    };
                    let State::First { again, .. } =
                        std::mem::replace(&mut this.state, State::Done)
                    else {
                        return Poll::Ready(result);
                    };
                    match result {
                        Err(err) if again.allows(&err) => {
                            this.state = State::Retrying(Box::pin(again.run(err)));
                        }
                        result => return Poll::Ready(result),
                    }
                }
                State::Retrying(retrying) => {
                    let result = std::task::ready!(retrying.as_mut().poll(cx));
                    this.state = State::Done;
                    return Poll::Ready(result);
                }
                State::Done => {
                    return Poll::Ready(Err(PublishError::new(PublishErrorKind::Other)
                        .with_detail("publish ack polled after it resolved")));
                }
            }
        }
    }
}

impl std::fmt::Debug for PendingPublish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingPublish")
    }
}

#[cfg(test)]
mod tests {
    use super::PublishRetry;
    use std::time::Duration;

    /// The delays before `Backoff`: `initial << min(retry, 16)`, at most
    /// `max`.
    fn before(retry: &PublishRetry, n: u32) -> Duration {
        retry
            .initial_delay
            .saturating_mul(1u32 << n.min(16))
            .min(retry.max_delay)
    }

    #[test]
    fn retry_delays_are_unchanged() {
        let far = PublishRetry {
            attempts: 40,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(3600),
        };
        for retry in [PublishRetry::default(), PublishRetry::NONE, far] {
            for n in [0, 1, 2, 4, 5, 15, 16, 17, 31, 32, u32::MAX] {
                assert_eq!(retry.delay(n), before(&retry, n), "{retry:?} {n}");
            }
        }
        let default = PublishRetry::default();
        assert_eq!(default.delay(0), Duration::from_millis(100));
        assert_eq!(default.delay(3), Duration::from_millis(800));
        assert_eq!(default.delay(5), Duration::from_secs(2));
        assert_eq!(far.delay(20), Duration::from_millis(65_536));
    }
}
