//! The ticketing system's tickets, orders and expiration services, written
//! on typebus with the contracts of the `ticketing-events` crate.
//!
//! Each service keeps its records in memory (a database in the real
//! system) and implements every listener of
//! `shared/ticketing/REFERENCE.md`:
//!
//! | service | listens to | does |
//! |---|---|---|
//! | [`orders`] | `ticket:created`, `ticket:updated` | keeps a replica of tickets, guarded by [`typebus::ordering::Sequenced`] |
//! | [`orders`] | `expiration:complete` | cancels the order unless it is complete; publishes `order:cancelled` |
//! | [`orders`] | `payment:created` | marks the order complete |
//! | [`tickets`] | `order:created` | reserves the ticket; publishes `ticket:updated` with `orderId` |
//! | [`tickets`] | `order:cancelled` | releases the ticket; publishes `ticket:updated` without `orderId` |
//! | [`expiration`] | `order:created` | publishes `expiration:complete` once `expiresAt` has passed |
//!
//! The guarded listeners keep their last applied versions in a
//! [`typebus::ordering::MemorySequenceStore`] per service: right for one
//! instance of each service (as in the demo); instances in several
//! processes would share a `KvSequenceStore` instead.
//!
//! The payments service lives in its own crate (`ticketing-payments`),
//! which generates its contracts from a build script.
//!
//! Every service saves its record first and then publishes with a message
//! id derived from the record and its version ([`message_id`]): when the
//! publish fails, the listener's redelivery saves nothing new and publishes
//! the same message again, which the stream stores once. A command (create
//! a ticket, place an order, ...) whose publish fails returns the error
//! with its record saved and no event sent: in-memory state has no
//! transaction to share, which is what the PostgreSQL outbox
//! (`typebus::postgres`) is for in a real service.

mod error;
mod ids;
mod journal;
mod retry;
mod state;

pub mod expiration;
pub mod orders;
pub mod tickets;

pub use error::ServiceError;
pub use ids::{ObjectId, message_id};
pub use journal::{Describe, Entry, Journal, Verb};
pub use retry::{GUARD_EARLY_DELAY, GUARD_MAX_EARLY_DELAY, GUARD_PATIENCE, QUICK_RETRY, guarded};
