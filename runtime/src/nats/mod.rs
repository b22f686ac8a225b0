//! The NATS JetStream transport: [`connect`] (the old "buildClient") and
//! [`NatsTransport`].
//!
//! - Publishing: JetStream publish with headers; the ack carries the stream
//!   sequence and the duplicate flag. Publishes are pipelined: up to
//!   [`ConnectOptions::max_publishes_in_flight`] acks may be outstanding.
//! - Listening: a durable pull consumer per queue group, filtered to the
//!   event's subject (`filter_subject`, singular, as NATS 2.9 understands
//!   it), deliver all, explicit ack. Pull requests expire and carry an idle
//!   heartbeat; when a pull fails, heartbeats stop or the consumer vanishes,
//!   the listener re-binds the consumer (creating it again if needed) and
//!   pulls again, for as long as the connection lives — so it survives a
//!   server restart or an outage longer than the pull expiry.
//! - Provisioning: create-or-verify of a stream (see [`Transport::provision`](crate::Transport::provision)).
//!
//! What a JetStream ack promises: the server acknowledges a publish once
//! the message is in its stream, before it is synced to disk (by default it
//! syncs every two minutes). A process crash (kill -9) keeps the data in the
//! OS page cache; a power failure or OS crash can lose acknowledged events
//! unless the stream is replicated (`StreamConfig::replicas(3)`) or the
//! server's `sync_interval` is set to `always` (NATS 2.10+).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use typebus::nats::{ConnectOptions, connect};
//!
//! let bus = connect(
//!     ConnectOptions::servers(["nats://nats-1:4222", "nats://nats-2:4222"])
//!         .name("orders-service")
//!         .credentials_file("/etc/nats/orders.creds"),
//! )
//! .await?;
//! # Ok(()) }
//! ```

mod connect;
mod consumer;
mod options;
mod provision;
mod sequence_store;
mod stream_diff;
mod transport;

pub use options::ConnectOptions;
pub use sequence_store::{KvSequenceStore, kv_key};
pub use stream_diff::{StreamDifference, stream_differences};
pub use transport::NatsTransport;

use crate::bus::Bus;
use crate::error::ConnectError;

/// Connects to NATS and returns a [`Bus`] over JetStream.
pub async fn connect(options: ConnectOptions) -> Result<Bus, ConnectError> {
    Ok(Bus::new(NatsTransport::connect(options).await?))
}
