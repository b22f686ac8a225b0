//! `memory`: an embedded, in-process broker with JetStream's semantics, for
//! tests and local runs.
//!
//! A [`Broker`] keeps streams, message-id deduplication and durable
//! consumers in memory and implements [`Transport`] with the contract the
//! NATS transport keeps (see [`crate::bus::transport`]): append-only streams
//! numbered from 1, `Nats-Msg-Id` deduplication within the duplicate
//! window, durable queue-group consumers that replay from the first message
//! and hand each message to one bound source at a time, `ack_wait`
//! redelivery, nak with delay, term, in-progress, `max_deliver`,
//! `max_ack_pending`, backoff and `max_age`. The same conformance suite
//! runs against this broker and a real `nats-server`.
//!
//! Time is tokio's clock, so tests may pause and advance it
//! (`tokio::time::pause`) to make redelivery deterministic and instant.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use typebus::StreamConfig;
//!
//! #[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
//! #[event(subject = "expiration:complete", version = 1)]
//! struct ExpirationComplete {
//!     #[serde(rename = "orderId")]
//!     order_id: String,
//! }
//!
//! let broker = typebus::memory::Broker::new();
//! let bus = broker.bus();
//! bus.provision(&StreamConfig::new(["expiration:complete"])).await?;
//! let ack = bus.publisher::<ExpirationComplete>().publish(&ExpirationComplete { order_id: "5f1a".into() }).await?;
//! assert_eq!(ack.sequence, 1);
//! assert_eq!(broker.messages("EVENTS")[0].payload.as_ref(), br#"{"orderId":"5f1a"}"#);
//! # Ok(()) }
//! ```

mod broker;
mod consumer;
mod source;
mod stream;
mod subject;
#[cfg(test)]
mod tests;

pub use crate::bus::transport::StoredMessage;
pub use broker::{Broker, ConsumerState};

#[cfg(doc)]
use crate::bus::transport::Transport;

/// A [`Bus`](crate::Bus) over a new, empty [`Broker`].
///
/// Use [`Broker::bus`] instead when several buses (service instances,
/// restarts) must share one broker.
pub fn bus() -> crate::Bus {
    Broker::new().bus()
}
