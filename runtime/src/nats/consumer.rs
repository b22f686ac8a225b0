//! The listener side of the NATS transport: a durable pull consumer that
//! re-binds itself, and the acker of its messages.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};

use super::transport::NatsTransport;
use crate::bus::delivery::{Delivery, DeliveryInfo};
use crate::bus::transport::{AckKind, Acker, BoxFuture, ConsumerSpec, Incoming, MessageSource};
use crate::contract::headers::Headers;
use crate::error::{AckError, AckErrorKind, ListenError, ListenErrorKind, chain};

/// Pull request timings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PullSettings {
    pub(crate) expiry: Duration,
    pub(crate) heartbeat: Duration,
}

/// The messages of one bound durable pull consumer.
pub(crate) struct NatsSource {
    transport: NatsTransport,
    spec: ConsumerSpec,
    pull: PullSettings,
    stream_name: String,
    messages: Option<pull::Stream>,
}

impl NatsSource {
    /// Binds the consumer once; errors are reported, not retried.
    pub(crate) async fn bind(
        transport: NatsTransport,
        spec: ConsumerSpec,
        pull: PullSettings,
    ) -> Result<Self, ListenError> {
        let stream_name = match &spec.stream {
            Some(stream) => stream.clone(),
            None => find_stream(transport.jetstream(), &spec.filter_subject).await?,
        };
        let mut source = Self {
            transport,
            spec,
            pull,
            stream_name,
            messages: None,
        };
        source.messages = Some(source.pull_stream().await?);
        Ok(source)
    }

    /// Creates (or updates) the consumer and starts pulling from it.
    async fn pull_stream(&self) -> Result<pull::Stream, ListenError> {
        let spec = &self.spec;
        let config = pull::Config {
            durable_name: Some(spec.durable_name.clone()),
            filter_subject: spec.filter_subject.clone(),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: spec.ack_wait,
            max_deliver: spec.max_deliver.map_or(-1, i64::from),
            max_ack_pending: i64::try_from(spec.max_ack_pending).unwrap_or(i64::MAX),
            backoff: spec.backoff.clone(),
            ..Default::default()
        };
        let consumer_error = |detail: String| {
            move |err: crate::error::BoxError| {
                ListenError::new(ListenErrorKind::Consumer)
                    .with_detail(detail)
                    .with_source(err)
            }
        };
        let what = format!("`{}` on stream `{}`", spec.durable_name, self.stream_name);
        let consumer: jetstream::consumer::PullConsumer = self
            .transport
            .jetstream()
            .create_consumer_on_stream(config, &self.stream_name)
            .await
            .map_err(|err| consumer_error(what.clone())(err.into()))?;
        let bound_filter = &consumer.cached_info().config.filter_subject;
        if *bound_filter != spec.filter_subject {
            return Err(
                ListenError::new(ListenErrorKind::Consumer).with_detail(format!(
                    "{what} exists with filter subject `{bound_filter}`, not `{}`",
                    spec.filter_subject
                )),
            );
        }
        consumer
            .stream()
            .max_messages_per_batch(spec.batch)
            .expires(self.pull.expiry)
            .heartbeat(self.pull.heartbeat)
            .messages()
            .await
            .map_err(|err| consumer_error(what)(err.into()))
    }

    /// Re-binds until it works or the connection is closed for good.
    async fn rebind(&mut self) -> Result<(), ListenError> {
        let mut delay = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            if self.transport.is_closed() {
                return Err(ListenError::new(ListenErrorKind::Closed)
                    .with_detail(format!("consumer `{}`", self.spec.durable_name)));
            }
            match self.pull_stream().await {
                Ok(messages) => {
                    if failures > 0 {
                        tracing::info!(consumer = %self.spec.durable_name, stream = %self.stream_name, "consumer re-bound");
                    }
                    self.messages = Some(messages);
                    return Ok(());
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(consumer = %self.spec.durable_name, stream = %self.stream_name, failures, error = %chain(&err), "cannot bind consumer yet; retrying");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    fn incoming(&self, mut message: jetstream::Message) -> Result<Incoming, String> {
        let info = message
            .info()
            .map_err(|err| format!("unreadable delivery metadata: {err}"))?;
        let delivery_info = DeliveryInfo {
            stream: info.stream.to_owned(),
            consumer: info.consumer.to_owned(),
            stream_sequence: info.stream_sequence,
            consumer_sequence: info.consumer_sequence,
            delivered: u64::try_from(info.delivered).unwrap_or(0),
            pending: info.pending,
            published: info.published.into(),
        };
        let headers = message
            .message
            .headers
            .take()
            .map(Headers::from_nats)
            .unwrap_or_default();
        let delivery = Delivery::new(message.message.subject.as_str(), headers, delivery_info);
        let payload = message.message.payload.clone();
        // The message keeps its connection and reply subject: it acks itself.
        Ok(Incoming::new(
            delivery,
            payload,
            Box::new(NatsAcker { message }),
        ))
    }
}

/// The stream that stores `subject`.
async fn find_stream(js: &jetstream::Context, subject: &str) -> Result<String, ListenError> {
    js.stream_by_subject(subject).await.map_err(|err| {
        let kind = match err.kind() {
            jetstream::context::GetStreamByNameErrorKind::NotFound => ListenErrorKind::NoStream,
            _ => ListenErrorKind::Consumer,
        };
        ListenError::new(kind)
            .with_detail(format!("`{subject}`"))
            .with_source(err)
    })
}

impl MessageSource for NatsSource {
    fn next(&mut self) -> BoxFuture<'_, Result<Incoming, ListenError>> {
        Box::pin(async move {
            loop {
                let Some(messages) = self.messages.as_mut() else {
                    self.rebind().await?;
                    continue;
                };
                match messages.next().await {
                    Some(Ok(message)) => match self.incoming(message) {
                        Ok(incoming) => return Ok(incoming),
                        Err(problem) => {
                            tracing::error!(consumer = %self.spec.durable_name, %problem, "message cannot be settled; it will be redelivered after ack_wait");
                        }
                    },
                    Some(Err(err)) => {
                        tracing::warn!(consumer = %self.spec.durable_name, stream = %self.stream_name, error = %chain(&err), "pull failed; re-binding the consumer");
                        self.messages = None;
                    }
                    None => {
                        tracing::warn!(consumer = %self.spec.durable_name, "pull ended; re-binding the consumer");
                        self.messages = None;
                    }
                }
            }
        })
    }

    fn try_next(&mut self) -> Option<Result<Incoming, ListenError>> {
        // Only a message already fetched; anything else (waiting, errors,
        // re-binding) goes through `next`.
        let messages = self.messages.as_mut()?;
        match messages.next().now_or_never() {
            Some(Some(Ok(message))) => match self.incoming(message) {
                Ok(incoming) => Some(Ok(incoming)),
                Err(problem) => {
                    tracing::error!(consumer = %self.spec.durable_name, %problem, "message cannot be settled; it will be redelivered after ack_wait");
                    None
                }
            },
            Some(Some(Err(err))) => {
                tracing::warn!(consumer = %self.spec.durable_name, stream = %self.stream_name, error = %chain(&err), "pull failed; re-binding the consumer");
                self.messages = None;
                None
            }
            Some(None) => {
                self.messages = None;
                None
            }
            None => None,
        }
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Some(mut messages) = self.messages.take() else {
                return;
            };
            // Release what was fetched but not handed out, so another
            // instance gets it now rather than after ack_wait.
            let mut released = 0usize;
            while released < self.spec.batch {
                match messages.next().now_or_never() {
                    Some(Some(Ok(message))) => {
                        if let Some(reply) = message.message.reply {
                            let nak = Bytes::from(jetstream::AckKind::Nak(None));
                            if let Err(err) = self.transport.client().publish(reply, nak).await {
                                tracing::debug!(error = %err, "release of a fetched message failed");
                            }
                        }
                        released += 1;
                    }
                    _ => break,
                }
            }
            drop(messages);
            tracing::debug!(consumer = %self.spec.durable_name, released, "pull stopped");
        })
    }
}

/// Settles one JetStream delivery by publishing to its reply subject.
struct NatsAcker {
    message: jetstream::Message,
}

impl Acker for NatsAcker {
    fn send(&self, kind: AckKind) -> BoxFuture<'_, Result<(), AckError>> {
        Box::pin(async move {
            let kind = match kind {
                AckKind::Ack => jetstream::AckKind::Ack,
                AckKind::Nak(delay) => jetstream::AckKind::Nak(delay),
                AckKind::InProgress => jetstream::AckKind::Progress,
                AckKind::Term => jetstream::AckKind::Term,
            };
            self.message
                .ack_with(kind)
                .await
                .map_err(|err| AckError::new(AckErrorKind::Disconnected).with_source(err))
        })
    }
}
