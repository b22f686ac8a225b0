//! [`Bus`]: the handle services hold — publishers, listeners and stream
//! provisioning over one [`Transport`].

pub(crate) mod dead_letter;
pub(crate) mod dead_letters;
pub(crate) mod delivery;
pub(crate) mod dispose;
pub(crate) mod engine;
pub(crate) mod listener;
pub(crate) mod options;
pub(crate) mod publisher;
pub(crate) mod subject;
pub mod transport;

use std::sync::Arc;

use crate::bus::listener::Listener;
use crate::bus::options::ListenOptions;
use crate::bus::publisher::Publisher;
use crate::bus::transport::{ProvisionOutcome, StreamConfig, Transport};
use crate::contract::event::Event;
use crate::error::{ListenError, ListenErrorKind, ProvisionError};
use engine::ListenerHandle;

/// Publishers, listeners and stream provisioning over one transport.
///
/// Cheap to clone: clones share the transport (one NATS connection).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use typebus::{Bus, StreamConfig};
///
/// let bus: Bus = typebus::nats::connect(typebus::nats::ConnectOptions::new("nats://127.0.0.1:4222")).await?;
/// bus.provision(&StreamConfig::new(["ticket:created", "ticket:updated"])).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Bus {
    transport: Arc<dyn Transport>,
    dead_letter_stream: Option<Arc<StreamConfig>>,
}

impl Bus {
    /// The name of the stream that stores dead letters by default.
    pub const DEAD_LETTER_STREAM: &'static str = "TYPEBUS_DLQ";

    /// A bus over `transport`.
    pub fn new(transport: impl Transport) -> Self {
        Self::from_arc(Arc::new(transport))
    }

    /// A bus over a shared transport.
    pub fn from_arc(transport: Arc<dyn Transport>) -> Self {
        Self {
            transport,
            dead_letter_stream: Some(Arc::new(Self::default_dead_letter_stream())),
        }
    }

    /// The stream provisioned for dead letters unless configured otherwise:
    /// `TYPEBUS_DLQ`, storing `typebus.dlq.>` on file.
    pub fn default_dead_letter_stream() -> StreamConfig {
        StreamConfig::new([format!("{}>", crate::bus::dead_letter::PREFIX)])
            .name(Self::DEAD_LETTER_STREAM)
    }

    /// The subject a listener of `queue_group` dead-letters to unless its
    /// [`ListenOptions::dead_letter_subject()`] says otherwise:
    /// `typebus.dlq.<queue group>`, the group made one subject token as in
    /// its [`consumer_name`](crate::consumer_name)s.
    ///
    /// ```
    /// assert_eq!(typebus::Bus::dead_letter_subject("orders-service"), "typebus.dlq.orders-service");
    /// assert_eq!(typebus::Bus::dead_letter_subject("eu.orders"), "typebus.dlq.eu_orders");
    /// ```
    pub fn dead_letter_subject(queue_group: &str) -> String {
        crate::bus::dead_letter::default_subject(queue_group)
    }

    /// Sets the stream that [`listen`](Self::listen) provisions (create or
    /// verify) for dead letters before it starts a listener, e.g. with more
    /// replicas; `None` provisions nothing (the dead-letter subjects must
    /// then be stored by a stream made otherwise, or dead letters cannot be
    /// stored and their messages are retried).
    pub fn with_dead_letter_stream(mut self, config: Option<StreamConfig>) -> Self {
        self.dead_letter_stream = config.map(Arc::new);
        self
    }

    /// The name of the dead-letter stream: the configured one, else
    /// [`DEAD_LETTER_STREAM`](Self::DEAD_LETTER_STREAM).
    pub fn dead_letter_stream_name(&self) -> &str {
        self.dead_letter_stream
            .as_deref()
            .map_or(Self::DEAD_LETTER_STREAM, |config| config.name.as_str())
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// A publisher of `E` events.
    pub fn publisher<E: Event>(&self) -> Publisher<E> {
        Publisher::new(Arc::clone(&self.transport))
    }

    /// Creates the stream, or verifies that it exists as configured (see
    /// [`Transport::provision`]).
    pub async fn provision(
        &self,
        config: &StreamConfig,
    ) -> Result<ProvisionOutcome, ProvisionError> {
        let outcome = self.transport.provision(config).await?;
        tracing::debug!(stream = %config.name, ?outcome, "stream provisioned");
        Ok(outcome)
    }

    /// Starts `listener` with its [`options`](Listener::options):
    /// provisions the dead-letter stream, binds the durable consumer named
    /// after its queue group, and runs it on a task until the returned
    /// handle stops it.
    pub async fn listen<L: Listener>(&self, listener: L) -> Result<ListenerHandle, ListenError> {
        self.listen_with(listener, |options| options).await
    }

    /// Starts `listener` as [`listen`](Self::listen) does, with its options
    /// mapped by `configure` (a deployment's concurrency, a test's short
    /// timeout):
    ///
    /// ```no_run
    /// # async fn demo(bus: typebus::Bus, listener: impl typebus::Listener) -> Result<(), typebus::ListenError> {
    /// let handle = bus.listen_with(listener, |options| options.concurrency(8).prefetch(16)).await?;
    /// # drop(handle); Ok(()) }
    /// ```
    pub async fn listen_with<L: Listener>(
        &self,
        listener: L,
        configure: impl FnOnce(ListenOptions) -> ListenOptions,
    ) -> Result<ListenerHandle, ListenError> {
        let plan = engine::plan::<L::Event>(configure(listener.options()))?;
        if let Some(config) = &self.dead_letter_stream {
            self.transport.provision(config).await.map_err(|err| {
                ListenError::new(ListenErrorKind::Other)
                    .with_detail(format!(
                        "provisioning the dead-letter stream `{}`",
                        config.name
                    ))
                    .with_source(err)
            })?;
        }
        engine::start(Arc::clone(&self.transport), listener, plan).await
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("transport", &self.transport.name())
            .field("dead_letter_stream", &self.dead_letter_stream)
            .finish()
    }
}
