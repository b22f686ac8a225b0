//! [`NatsTransport`]: the [`Transport`] over JetStream.

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind as NatsPublishErrorKind};

use super::consumer::{NatsSource, PullSettings};
use super::options::ConnectOptions;
use super::provision;
use crate::bus::transport::{
    BoxFuture, ConsumerSpec, MessageSource, OutgoingMessage, PendingAck, ProvisionOutcome,
    PublishAck, StoredMessage, StreamConfig, Transport,
};
use crate::contract::headers::Headers;
use crate::error::{
    AckError, AckErrorKind, ConnectError, ListenError, ProvisionError, PublishError,
    PublishErrorKind, StreamError, StreamErrorKind,
};

/// The JetStream transport. Holds one NATS connection; clones share it.
#[derive(Clone)]
pub struct NatsTransport {
    client: async_nats::Client,
    publishing: jetstream::Context,
    api: jetstream::Context,
    closed: Arc<AtomicBool>,
    pull: PullSettings,
    publish_timeout: Duration,
}

impl NatsTransport {
    /// Connects with `options`.
    pub async fn connect(options: ConnectOptions) -> Result<Self, ConnectError> {
        let closed = Arc::new(AtomicBool::new(false));
        let client = super::connect::client(&options, Arc::clone(&closed)).await?;
        Ok(Self::build(client, &options, closed))
    }

    /// Wraps a client connected elsewhere, with `options`' JetStream timings
    /// (its connection settings are not used). Listeners over such a client
    /// cannot tell a closed connection from an outage, and keep waiting.
    pub fn from_client(client: async_nats::Client, options: &ConnectOptions) -> Self {
        Self::build(client, options, Arc::new(AtomicBool::new(false)))
    }

    fn build(
        client: async_nats::Client,
        options: &ConnectOptions,
        closed: Arc<AtomicBool>,
    ) -> Self {
        let publishing = jetstream::ContextBuilder::new()
            .timeout(options.publish_timeout)
            .max_ack_inflight(options.max_publishes_in_flight.max(1))
            .backpressure_on_inflight(true)
            .build(client.clone());
        let api = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client.clone());
        let expiry = options.pull_expiry.max(Duration::from_millis(200));
        let heartbeat = options
            .idle_heartbeat
            .min(expiry / 2)
            .max(Duration::from_millis(50));
        Self {
            client,
            publishing,
            api,
            closed,
            pull: PullSettings { expiry, heartbeat },
            publish_timeout: options.publish_timeout,
        }
    }

    /// The NATS client, e.g. for key-value buckets or requests of your own.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// A JetStream context for management requests (streams, consumers,
    /// key-value buckets), with the request timeout.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.api
    }

    /// Flushes, then closes the connection: listeners over it end.
    pub async fn close(&self) {
        if let Err(err) = self.client.flush().await {
            tracing::debug!(error = %err, "flush before close failed");
        }
        self.closed.store(true, Ordering::SeqCst);
        if let Err(err) = self.client.drain().await {
            tracing::debug!(error = %err, "drain failed");
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for NatsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsTransport")
            .field("state", &self.client.connection_state())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A publish ack that times out `publish_timeout` after the send.
///
/// async-nats starts an ack's timeout when it is first polled, and a
/// pipelining caller may await it much later. Rather than a second timer,
/// an ack still pending past the deadline when polled is a timeout (`None`);
/// async-nats' own timer still wakes a waiting ack at most `publish_timeout`
/// after its first poll.
struct AckByDeadline {
    ack: <jetstream::context::PublishAckFuture as std::future::IntoFuture>::IntoFuture,
    deadline: tokio::time::Instant,
}

impl std::future::Future for AckByDeadline {
    type Output = Result<jetstream::publish::PublishAck, Option<jetstream::context::PublishError>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.ack.as_mut().poll(cx) {
            std::task::Poll::Ready(result) => std::task::Poll::Ready(result.map_err(Some)),
            std::task::Poll::Pending if tokio::time::Instant::now() >= self.deadline => {
                std::task::Poll::Ready(Err(None))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

fn publish_error(
    err: jetstream::context::PublishError,
    subject: &str,
    closed: bool,
) -> PublishError {
    let kind = match err.kind() {
        NatsPublishErrorKind::StreamNotFound => PublishErrorKind::NoStream,
        NatsPublishErrorKind::TimedOut => PublishErrorKind::TimedOut,
        NatsPublishErrorKind::MaxPayloadExceeded => PublishErrorKind::MaxPayloadExceeded,
        NatsPublishErrorKind::WrongLastMessageId | NatsPublishErrorKind::WrongLastSequence => {
            PublishErrorKind::Rejected
        }
        _ if closed => PublishErrorKind::Disconnected,
        NatsPublishErrorKind::BrokenPipe => PublishErrorKind::TimedOut,
        NatsPublishErrorKind::Other
            if std::error::Error::source(&err)
                .is_some_and(|source| source.is::<jetstream::Error>()) =>
        {
            PublishErrorKind::Rejected
        }
        _ => PublishErrorKind::Other,
    };
    PublishError::new(kind)
        .with_detail(subject)
        .with_source(err)
}

/// A message read with `STREAM.MSG.GET`, as the transport returns it.
fn stored(stream: &str, message: jetstream::message::StreamMessage) -> StoredMessage {
    StoredMessage {
        stream: stream.to_owned(),
        sequence: message.sequence,
        subject: message.subject.to_string(),
        headers: Headers::from_nats(message.headers),
        payload: message.payload,
        published: message.time.into(),
    }
}

/// A `STREAM.MSG.GET` answer: the message, `None` for no such message, or
/// the error (no such stream, refused, failed).
fn got(
    stream: &str,
    what: &str,
    result: Result<jetstream::message::StreamMessage, jetstream::stream::RawMessageError>,
) -> Result<Option<StoredMessage>, StreamError> {
    use jetstream::stream::RawMessageErrorKind;
    match result {
        Ok(message) => Ok(Some(stored(stream, message))),
        Err(err) => match err.kind() {
            RawMessageErrorKind::NoMessageFound => Ok(None),
            RawMessageErrorKind::JetStream(js)
                if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Err(StreamError::new(StreamErrorKind::NoStream).with_detail(format!("`{stream}`")))
            }
            RawMessageErrorKind::JetStream(_) | RawMessageErrorKind::InvalidSubject => {
                Err(StreamError::new(StreamErrorKind::Rejected)
                    .with_detail(format!("{what} in stream `{stream}`"))
                    .with_source(err))
            }
            _ => Err(StreamError::new(StreamErrorKind::Request)
                .with_detail(format!("{what} in stream `{stream}`"))
                .with_source(err)),
        },
    }
}

impl NatsTransport {
    /// A handle on stream `name` for one request (no info request).
    async fn stream_handle(
        &self,
        name: &str,
    ) -> Result<jetstream::stream::Stream<()>, StreamError> {
        self.api.get_stream_no_info(name).await.map_err(|err| {
            StreamError::new(StreamErrorKind::Rejected)
                .with_detail(format!("stream name `{name}`"))
                .with_source(err)
        })
    }
}

impl Transport for NatsTransport {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn publish(&self, message: OutgoingMessage) -> BoxFuture<'_, Result<PendingAck, PublishError>> {
        Box::pin(async move {
            if self.is_closed() {
                return Err(
                    PublishError::new(PublishErrorKind::Disconnected).with_detail(message.subject)
                );
            }
            // Only literal subjects: a wildcard here would be rejected by the
            // server at best, and must never be sent at all.
            crate::bus::subject::check_publish(&message.subject)?;
            let size = message.payload.len();
            let publish = jetstream::message::PublishMessage::build()
                .payload(message.payload)
                .headers(message.headers.into_nats());
            let subject = async_nats::Subject::from(message.subject);
            let ack = self
                .publishing
                .send_publish(subject.clone(), publish)
                .await
                .map_err(|err| match err.kind() {
                    // async-nats refuses body + headers over the server's
                    // max_payload before sending anything: say by how much.
                    NatsPublishErrorKind::MaxPayloadExceeded => {
                        crate::bus::transport::too_large(&subject, size, self.client.max_payload())
                            .with_source(err)
                    }
                    _ => publish_error(err, &subject, self.is_closed()),
                })?;
            let closed = Arc::clone(&self.closed);
            let ack = AckByDeadline {
                ack: ack.into_future(),
                deadline: tokio::time::Instant::now() + self.publish_timeout,
            };
            Ok(PendingAck::new(async move {
                match ack.await {
                    Ok(ack) => Ok(PublishAck {
                        stream: ack.stream,
                        sequence: ack.sequence,
                        duplicate: ack.duplicate,
                    }),
                    Err(Some(err)) => {
                        Err(publish_error(err, &subject, closed.load(Ordering::SeqCst)))
                    }
                    Err(None) => {
                        Err(PublishError::new(PublishErrorKind::TimedOut)
                            .with_detail(subject.as_str()))
                    }
                }
            }))
        })
    }

    fn max_payload(&self) -> usize {
        self.client.max_payload()
    }

    fn provision<'a>(
        &'a self,
        config: &'a StreamConfig,
    ) -> BoxFuture<'a, Result<ProvisionOutcome, ProvisionError>> {
        Box::pin(provision::provision(&self.api, config))
    }

    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn MessageSource>, ListenError>> {
        Box::pin(async move {
            // A consumer filtered on a wildcard would receive other events'
            // subjects: refuse it before any request is made.
            crate::bus::subject::check_consume("filter subject", &spec.filter_subject)?;
            let source = NatsSource::bind(self.clone(), spec, self.pull).await?;
            Ok(Box::new(source) as Box<dyn MessageSource>)
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), AckError>> {
        Box::pin(async move {
            self.client.flush().await.map_err(|err| {
                AckError::new(AckErrorKind::Disconnected)
                    .with_detail("flush")
                    .with_source(err)
            })
        })
    }

    fn next_message<'a>(
        &'a self,
        stream: &'a str,
        filter: &'a str,
        from: u64,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>, StreamError>> {
        Box::pin(async move {
            let handle = self.stream_handle(stream).await?;
            // `STREAM.MSG.GET` with `seq` and `next_by_subject`: the first
            // message at `seq` or later on the filter (wildcards allowed).
            let result = handle
                .raw_message_builder()
                .sequence(from.max(1))
                .next_by_subject(filter)
                .send()
                .await;
            got(stream, &format!("reading `{filter}` from {from}"), result)
        })
    }

    fn get_message<'a>(
        &'a self,
        stream: &'a str,
        sequence: u64,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>, StreamError>> {
        Box::pin(async move {
            if sequence == 0 {
                return Ok(None);
            }
            let handle = self.stream_handle(stream).await?;
            let result = handle.get_raw_message(sequence).await;
            got(stream, &format!("reading message {sequence}"), result)
        })
    }

    fn delete_message<'a>(
        &'a self,
        stream: &'a str,
        sequence: u64,
    ) -> BoxFuture<'a, Result<bool, StreamError>> {
        use jetstream::stream::DeleteMessageErrorKind;
        Box::pin(async move {
            if sequence == 0 {
                return Ok(false);
            }
            let handle = self.stream_handle(stream).await?;
            match handle.delete_message(sequence).await {
                Ok(deleted) => Ok(deleted),
                Err(err) => match err.kind() {
                    DeleteMessageErrorKind::JetStream(js)
                        if js.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                    {
                        Err(StreamError::new(StreamErrorKind::NoStream)
                            .with_detail(format!("`{stream}`")))
                    }
                    // nats-server answers a sequence it does not hold
                    // (never stored, or deleted already) with an error.
                    DeleteMessageErrorKind::JetStream(_)
                        if self.get_message(stream, sequence).await.ok() == Some(None) =>
                    {
                        Ok(false)
                    }
                    DeleteMessageErrorKind::JetStream(_) => {
                        Err(StreamError::new(StreamErrorKind::Rejected)
                            .with_detail(format!(
                                "deleting message {sequence} of stream `{stream}`"
                            ))
                            .with_source(err))
                    }
                    _ => Err(StreamError::new(StreamErrorKind::Request)
                        .with_detail(format!("deleting message {sequence} of stream `{stream}`"))
                        .with_source(err)),
                },
            }
        })
    }
}
