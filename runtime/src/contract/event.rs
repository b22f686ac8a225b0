//! The [`Event`] trait every typed event implements.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A typed event: a payload with a fixed NATS subject and contract version.
///
/// Implemented by `#[derive(Event)]`, which generated code uses too. The JSON
/// of the value is the whole message body on the wire; metadata (the contract
/// version, the message id) travels in headers.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The subject the event is published on, e.g. `ticket:created`.
    const SUBJECT: &'static str;
    /// The contract version of the payload shape (>= 1).
    const VERSION: u32;
    /// The event's name, e.g. `TicketCreated`.
    const NAME: &'static str;
}
