//! The memory transport's [`MessageSource`] (one bound instance of a
//! durable consumer) and [`Acker`] (settles one delivery).

use std::pin::pin;
use std::sync::Arc;

use tokio::time::Instant;

use super::broker::Shared;
use crate::bus::delivery::{Delivery, DeliveryInfo};
use crate::bus::transport::{AckKind, Acker, BoxFuture, Incoming, MessageSource};
use crate::error::{AckError, AckErrorKind, ListenError, ListenErrorKind};

/// One bound instance of a durable consumer: every source bound to the same
/// consumer takes from the same queue.
pub(crate) struct MemorySource {
    shared: Arc<Shared>,
    stream: String,
    consumer: String,
    closed: bool,
}

impl MemorySource {
    pub(crate) fn new(shared: Arc<Shared>, stream: String, consumer: String) -> Self {
        Self {
            shared,
            stream,
            consumer,
            closed: false,
        }
    }

    fn closed_error(&self) -> ListenError {
        ListenError::new(ListenErrorKind::Closed).with_detail(format!(
            "consumer `{}` of stream `{}`",
            self.consumer, self.stream
        ))
    }

    /// Takes the next delivery if one is due, else says when to look again.
    fn try_take(&self) -> Result<Result<Incoming, Option<Instant>>, ListenError> {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let Some(stream) = state.streams.get_mut(&self.stream) else {
            return Err(self.closed_error());
        };
        stream.expire(now);
        let log = &stream.log;
        let Some(consumer) = stream.consumers.get_mut(&self.consumer) else {
            return Err(self.closed_error());
        };
        let Some(taken) = consumer.take(log, now) else {
            return Ok(Err(consumer.next_wake()));
        };
        let Some(message) = log.get(taken.stream_sequence) else {
            // `take` only hands out stored messages; a gap here is a bug.
            return Err(
                ListenError::new(ListenErrorKind::Other).with_detail(format!(
                    "stream `{}` lost message {}",
                    self.stream, taken.stream_sequence
                )),
            );
        };
        let info = DeliveryInfo {
            stream: self.stream.clone(),
            consumer: self.consumer.clone(),
            stream_sequence: taken.stream_sequence,
            consumer_sequence: taken.consumer_sequence,
            delivered: taken.delivered,
            pending: taken.pending,
            published: message.published,
        };
        let delivery = Delivery::new(message.subject.clone(), message.headers.clone(), info);
        let acker = MemoryAcker {
            shared: Arc::clone(&self.shared),
            stream: self.stream.clone(),
            consumer: self.consumer.clone(),
            stream_sequence: taken.stream_sequence,
            consumer_sequence: taken.consumer_sequence,
        };
        Ok(Ok(Incoming::new(
            delivery,
            message.payload.clone(),
            Box::new(acker),
        )))
    }
}

impl MessageSource for MemorySource {
    fn next(&mut self) -> BoxFuture<'_, Result<Incoming, ListenError>> {
        Box::pin(async move {
            loop {
                if self.closed {
                    return Err(self.closed_error());
                }
                // Registered before looking, so a change made in between
                // still wakes this wait.
                let mut changed = pin!(self.shared.changed.notified());
                changed.as_mut().enable();
                match self.try_take()? {
                    Ok(incoming) => return Ok(incoming),
                    Err(Some(wake)) => {
                        tokio::select! {
                            () = changed => {}
                            () = tokio::time::sleep_until(wake) => {}
                        }
                    }
                    Err(None) => changed.await,
                }
            }
        })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        // Nothing is fetched ahead of `next`, so nothing is to release.
        self.closed = true;
        Box::pin(std::future::ready(()))
    }
}

/// Settles one delivery of one message.
struct MemoryAcker {
    shared: Arc<Shared>,
    stream: String,
    consumer: String,
    stream_sequence: u64,
    consumer_sequence: u64,
}

impl Acker for MemoryAcker {
    fn send(&self, kind: AckKind) -> BoxFuture<'_, Result<(), AckError>> {
        let result = {
            let now = Instant::now();
            let mut state = self.shared.lock();
            match state
                .streams
                .get_mut(&self.stream)
                .and_then(|stream| stream.consumers.get_mut(&self.consumer))
            {
                Some(consumer) => {
                    consumer.settle(self.stream_sequence, self.consumer_sequence, kind, now)
                }
                None => Err(AckError::new(AckErrorKind::Other).with_detail(format!(
                    "consumer `{}` of stream `{}` is gone",
                    self.consumer, self.stream
                ))),
            }
        };
        if result.is_ok() {
            self.shared.changed.notify_waiters();
        }
        Box::pin(std::future::ready(result))
    }
}
