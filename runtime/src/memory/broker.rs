//! [`Broker`]: the memory transport's shared state and its [`Transport`] impl.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::consumer::{Consumer, Settings};
use super::source::MemorySource;
use super::stream::Stream;
use crate::bus::Bus;
use crate::bus::transport::{
    BoxFuture, ConsumerSpec, MessageSource, OutgoingMessage, PendingAck, ProvisionOutcome,
    StoredMessage, StreamConfig, Transport,
};
use crate::error::{
    AckError, ListenError, ListenErrorKind, ProvisionError, ProvisionErrorKind, PublishError,
    PublishErrorKind, StreamError, StreamErrorKind,
};

/// The largest message a broker accepts by default: 1 MiB, as
/// `nats-server`'s default `max_payload`.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// An in-process broker with JetStream semantics (see the [module
/// docs](super)).
///
/// Cheap to clone: clones share the broker. Every [`Bus`] made from one
/// broker sees the same streams and consumers, as separate processes
/// connected to one server would.
#[derive(Clone)]
pub struct Broker {
    pub(crate) shared: Arc<Shared>,
}

/// What every clone of a broker, its sources and ackers share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken on every change a waiting source may care about.
    pub(crate) changed: Notify,
    max_payload: usize,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) streams: BTreeMap<String, Stream>,
}

impl Shared {
    /// Locks the state. A panic while it was held (a bug) leaves data that
    /// is still consistent per operation, so the lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A durable consumer's counters, for tests and diagnostics
/// ([`Broker::consumer_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerState {
    /// Messages delivered and waiting for a settlement.
    pub ack_pending: usize,
    /// Messages nakked or timed out, waiting for their redelivery.
    pub redelivery_pending: usize,
    /// Matching messages never delivered yet.
    pub unseen: u64,
    /// Deliveries made so far, redeliveries included.
    pub deliveries: u64,
}

impl Default for Broker {
    fn default() -> Self {
        Self::new()
    }
}

impl Broker {
    /// An empty broker: no streams.
    pub fn new() -> Self {
        Self::with_max_payload(DEFAULT_MAX_PAYLOAD)
    }

    /// An empty broker that refuses messages larger than `max_payload`
    /// bytes (body and headers, as `nats-server` counts them).
    pub fn with_max_payload(max_payload: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                max_payload,
            }),
        }
    }

    /// A [`Bus`] over this broker. Call it once per simulated process: all
    /// of them share the broker's streams and consumers.
    pub fn bus(&self) -> Bus {
        Bus::new(self.clone())
    }

    /// Creates or verifies a stream at once (what [`Transport::provision`]
    /// does, without a future).
    pub fn provision_now(&self, config: &StreamConfig) -> Result<ProvisionOutcome, ProvisionError> {
        check_stream_config(config)?;
        let mut state = self.shared.lock();
        for (name, other) in &state.streams {
            if *name == config.name {
                continue;
            }
            for wanted in &config.subjects {
                if let Some(taken) = other
                    .config
                    .subjects
                    .iter()
                    .find(|taken| crate::bus::subject::overlaps(wanted, taken))
                {
                    return Err(ProvisionError::new(ProvisionErrorKind::Rejected).with_detail(format!(
                        "subject `{wanted}` of stream `{}` overlaps subject `{taken}` of stream `{name}`",
                        config.name
                    )));
                }
            }
        }
        let Some(existing) = state.streams.get_mut(&config.name) else {
            state
                .streams
                .insert(config.name.clone(), Stream::new(config.clone()));
            tracing::debug!(stream = %config.name, subjects = ?config.subjects, "memory stream created");
            return Ok(ProvisionOutcome::Created);
        };
        let conflict = |field: &str, existing: String, wanted: String| {
            ProvisionError::new(ProvisionErrorKind::Conflict).with_detail(format!(
                "stream `{}` has {field} {existing}, the configuration asks for {wanted}",
                config.name
            ))
        };
        let have = &existing.config;
        if have.storage != config.storage {
            return Err(conflict(
                "storage",
                format!("{:?}", have.storage).to_lowercase(),
                format!("{:?}", config.storage).to_lowercase(),
            ));
        }
        if have.replicas != config.replicas {
            return Err(conflict(
                "replicas",
                have.replicas.to_string(),
                config.replicas.to_string(),
            ));
        }
        if have.duplicate_window != config.duplicate_window {
            return Err(conflict(
                "duplicate window",
                format!("{:?}", have.duplicate_window),
                format!("{:?}", config.duplicate_window),
            ));
        }
        if have.max_age != config.max_age {
            return Err(conflict(
                "max age",
                format!("{:?}", have.max_age),
                format!("{:?}", config.max_age),
            ));
        }
        let added: Vec<String> = config
            .subjects
            .iter()
            .filter(|wanted| !have.subjects.contains(wanted))
            .cloned()
            .collect();
        if added.is_empty() {
            return Ok(ProvisionOutcome::Unchanged);
        }
        existing.config.subjects.extend(added.iter().cloned());
        tracing::debug!(stream = %config.name, added = ?added, "memory stream extended");
        Ok(ProvisionOutcome::Extended(added))
    }

    /// Every message `stream` stores, oldest first (empty for no such stream).
    pub fn messages(&self, stream: &str) -> Vec<StoredMessage> {
        let state = self.shared.lock();
        state
            .streams
            .get(stream)
            .map(|stream| stream.log.messages().cloned().collect())
            .unwrap_or_default()
    }

    /// Every message stored on `subject`, across streams, in stream order.
    pub fn messages_on(&self, subject: &str) -> Vec<StoredMessage> {
        let state = self.shared.lock();
        state
            .streams
            .values()
            .flat_map(|stream| {
                stream
                    .log
                    .messages()
                    .filter(|message| message.subject == subject)
            })
            .cloned()
            .collect()
    }

    /// The names of the streams, in order.
    pub fn streams(&self) -> Vec<String> {
        self.shared.lock().streams.keys().cloned().collect()
    }

    /// The sequence of the last message `stream` stored (0 when none was),
    /// or `None` for no such stream.
    pub fn last_sequence(&self, stream: &str) -> Option<u64> {
        self.shared
            .lock()
            .streams
            .get(stream)
            .map(|stream| stream.log.last_sequence())
    }

    /// The first message `stream` stores at `from` or later on a subject
    /// matching `filter` (what [`Transport::next_message`] does, without a
    /// future).
    pub fn next_message_now(
        &self,
        stream: &str,
        filter: &str,
        from: u64,
    ) -> Result<Option<StoredMessage>, StreamError> {
        let mut state = self.shared.lock();
        let stream = stream_mut(&mut state, stream)?;
        stream.expire(Instant::now());
        Ok(stream
            .log
            .next_matching(from, filter)
            .and_then(|sequence| stream.log.get(sequence))
            .cloned())
    }

    /// The message `stream` stores at `sequence` (what
    /// [`Transport::get_message`] does, without a future).
    pub fn get_message_now(
        &self,
        stream: &str,
        sequence: u64,
    ) -> Result<Option<StoredMessage>, StreamError> {
        let mut state = self.shared.lock();
        let stream = stream_mut(&mut state, stream)?;
        stream.expire(Instant::now());
        Ok(stream.log.get(sequence).cloned())
    }

    /// Deletes the message `stream` stores at `sequence` (what
    /// [`Transport::delete_message`] does, without a future).
    pub fn delete_message_now(&self, stream: &str, sequence: u64) -> Result<bool, StreamError> {
        let mut state = self.shared.lock();
        let deleted = stream_mut(&mut state, stream)?.delete(sequence);
        drop(state);
        if deleted {
            self.shared.changed.notify_waiters();
        }
        Ok(deleted)
    }

    /// The counters of the durable consumer `durable_name` of `stream`.
    pub fn consumer_state(&self, stream: &str, durable_name: &str) -> Option<ConsumerState> {
        let state = self.shared.lock();
        let consumer = state.streams.get(stream)?.consumers.get(durable_name)?;
        let (ack_pending, redelivery_pending, unseen, deliveries) = consumer.counts();
        Some(ConsumerState {
            ack_pending,
            redelivery_pending,
            unseen,
            deliveries,
        })
    }

    fn publish_now(&self, message: OutgoingMessage) -> Result<PendingAck, PublishError> {
        crate::bus::subject::check_publish(&message.subject)?;
        // Counted as nats-server counts it: headers and body together.
        let size = message.payload.len();
        if size + message.headers.wire_len() > self.shared.max_payload {
            return Err(crate::bus::transport::too_large(
                &message.subject,
                size,
                self.shared.max_payload,
            ));
        }
        let now = Instant::now();
        let mut state = self.shared.lock();
        let Some(stream) = state
            .streams
            .values_mut()
            .find(|stream| stream.stores(&message.subject))
        else {
            let detail = message.subject.clone();
            return Ok(PendingAck::ready(Err(PublishError::new(
                PublishErrorKind::NoStream,
            )
            .with_detail(detail))));
        };
        let ack = stream.append(message, now);
        drop(state);
        if !ack.duplicate {
            self.shared.changed.notify_waiters();
        }
        Ok(PendingAck::ready(Ok(ack)))
    }

    fn consume_now(&self, spec: &ConsumerSpec) -> Result<MemorySource, ListenError> {
        check_consumer_spec(spec)?;
        let mut state = self.shared.lock();
        let stream_name = match &spec.stream {
            Some(name) if state.streams.contains_key(name) => name.clone(),
            Some(name) => {
                return Err(ListenError::new(ListenErrorKind::NoStream)
                    .with_detail(format!("no stream `{name}`")));
            }
            None => state
                .streams
                .values()
                .find(|stream| stream.stores(&spec.filter_subject))
                .map(|stream| stream.config.name.clone())
                .ok_or_else(|| {
                    ListenError::new(ListenErrorKind::NoStream)
                        .with_detail(spec.filter_subject.clone())
                })?,
        };
        let Some(stream) = state.streams.get_mut(&stream_name) else {
            return Err(ListenError::new(ListenErrorKind::NoStream).with_detail(stream_name));
        };
        let settings = Settings::from_spec(spec);
        match stream.consumers.get_mut(&spec.durable_name) {
            Some(existing) if existing.settings.filter_subject != spec.filter_subject => {
                return Err(
                    ListenError::new(ListenErrorKind::Consumer).with_detail(format!(
                        "consumer `{}` of stream `{stream_name}` filters `{}`, not `{}`",
                        spec.durable_name, existing.settings.filter_subject, spec.filter_subject
                    )),
                );
            }
            Some(existing) => existing.settings = settings,
            None => {
                let consumer = Consumer::new(settings, &stream.log);
                stream.consumers.insert(spec.durable_name.clone(), consumer);
                tracing::debug!(stream = %stream_name, consumer = %spec.durable_name, "memory consumer created");
            }
        }
        drop(state);
        self.shared.changed.notify_waiters();
        Ok(MemorySource::new(
            Arc::clone(&self.shared),
            stream_name,
            spec.durable_name.clone(),
        ))
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("streams", &self.streams())
            .finish_non_exhaustive()
    }
}

/// The stream `name`, or [`StreamErrorKind::NoStream`].
fn stream_mut<'a>(state: &'a mut State, name: &str) -> Result<&'a mut Stream, StreamError> {
    state
        .streams
        .get_mut(name)
        .ok_or_else(|| StreamError::new(StreamErrorKind::NoStream).with_detail(format!("`{name}`")))
}

/// The checks `nats-server` makes on a stream configuration, and the one
/// this broker adds: it is one server.
fn check_stream_config(config: &StreamConfig) -> Result<(), ProvisionError> {
    crate::bus::subject::check_stream(config)?;
    if config.replicas != 1 {
        return Err(
            ProvisionError::new(ProvisionErrorKind::Rejected).with_detail(format!(
                "stream `{}`: the memory broker is one server, so replicas must be 1 (got {})",
                config.name, config.replicas
            )),
        );
    }
    Ok(())
}

fn check_consumer_spec(spec: &ConsumerSpec) -> Result<(), ListenError> {
    let invalid =
        |detail: String| ListenError::new(ListenErrorKind::InvalidConfig).with_detail(detail);
    if let Err(problem) = typebus_names::check_name(&spec.durable_name) {
        return Err(invalid(format!(
            "consumer name `{}` {problem}",
            spec.durable_name
        )));
    }
    if spec.max_deliver == Some(0) {
        return Err(invalid("max_deliver must be at least 1".into()));
    }
    crate::bus::subject::check_consume("filter subject", &spec.filter_subject)
}

impl Transport for Broker {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn publish(&self, message: OutgoingMessage) -> BoxFuture<'_, Result<PendingAck, PublishError>> {
        let result = self.publish_now(message);
        Box::pin(std::future::ready(result))
    }

    fn max_payload(&self) -> usize {
        self.shared.max_payload
    }

    fn provision<'a>(
        &'a self,
        config: &'a StreamConfig,
    ) -> BoxFuture<'a, Result<ProvisionOutcome, ProvisionError>> {
        let result = self.provision_now(config);
        Box::pin(std::future::ready(result))
    }

    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn MessageSource>, ListenError>> {
        let result = self
            .consume_now(&spec)
            .map(|source| Box::new(source) as Box<dyn MessageSource>);
        Box::pin(std::future::ready(result))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), AckError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn next_message<'a>(
        &'a self,
        stream: &'a str,
        filter: &'a str,
        from: u64,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>, StreamError>> {
        Box::pin(std::future::ready(
            self.next_message_now(stream, filter, from),
        ))
    }

    fn get_message<'a>(
        &'a self,
        stream: &'a str,
        sequence: u64,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>, StreamError>> {
        Box::pin(std::future::ready(self.get_message_now(stream, sequence)))
    }

    fn delete_message<'a>(
        &'a self,
        stream: &'a str,
        sequence: u64,
    ) -> BoxFuture<'a, Result<bool, StreamError>> {
        Box::pin(std::future::ready(
            self.delete_message_now(stream, sequence),
        ))
    }
}
