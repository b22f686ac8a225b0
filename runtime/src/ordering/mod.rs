//! Per-record ordering and exactly-once effects: the version-number problem
//! solved once.
//!
//! Events of one record (a ticket, an order) carry the record's sequence
//! number, its version: 0 when created, up by exactly 1 on every save. A
//! listener must apply version `n` only after `n - 1`, apply it once even
//! when it arrives twice, and wait for it when it arrives early (another
//! instance is slow, a publisher retried). Events whose schema declares
//! `aggregate` implement [`Versioned`]; wrap a listener of such events in
//! [`Sequenced`] and it gets each record's events once, in order:
//!
//! - a duplicate or stale event (`s <= a`, `a` the record's last applied
//!   sequence) is acknowledged without calling the handler;
//! - the next event (`s = a + 1`, or the record's first at its initial
//!   sequence) is claimed in the [`SequenceStore`], handled, recorded, and
//!   acknowledged;
//! - an early event (`s > a + 1`) is delivered again later, and after the
//!   guard's patience dead-lettered with the reason
//!   `gap: waiting for <record>@<a+1>`.
//!
//! The last applied sequences live in a [`SequenceStore`], changed only by
//! compare-and-set. The stores:
//!
//! - [`MemorySequenceStore`]: one process;
//! - [`KvSequenceStore`](crate::nats::KvSequenceStore) (feature `nats`, on by default): several instances
//!   of a service sharing the work, one key per record in a JetStream
//!   key-value bucket, bounded memory;
//! - `PgSequenceStore` (feature `postgres`, in `typebus::postgres`): a
//!   handler that writes to PostgreSQL, which can record its step in its
//!   own transaction.
//!
//! # The contract: at-least-once calls, exactly-once effects
//!
//! A step is claimed before the handler runs, so two deliveries of one step
//! (a duplicate publish, on another instance) never run the handler at the
//! same time, and once the step is recorded they never run it again. But
//! the handler's work and the record of the step are two writes: **the
//! handler may be called more than once for one event** when its process
//! dies (or its handler times out, or the store cannot be reached) after
//! the handler's write and before the step is recorded. The message is then
//! delivered again and the handler called again. This is at-least-once
//! delivery, and no broker or library can do better on its own.
//!
//! So the handler's *effect* is applied exactly once when either
//!
//! - its write is **idempotent**: applying version `n` twice leaves the
//!   state as applying it once (an upsert of the record at version `n`, a
//!   conditional update `WHERE version = n - 1`), or
//! - its write **shares a transaction with the record of the step**: the
//!   handler records the step itself, in its own database transaction, so
//!   both commit or neither does. [`Step::of`] rebuilds the step from the
//!   event (the guard calls a handler only with a record's next step), and a
//!   database-backed store offers a way to record it inside the caller's
//!   transaction. After a successful handler the guard finds the step
//!   recorded and acknowledges without recording it again; should the
//!   process die before the ack, the redelivered event is a duplicate. For
//!   stores without transactions, [`SequenceStore::record`] is the same
//!   hook outside one.
//!
//! Side effects outside any transaction (an email, a call to another
//! service) happen at least once; make them idempotent on the event's
//! record and sequence.
//!
//! # Claims, and what they cost
//!
//! A claim names the claiming message and delivery and expires after the
//! guard's [`lease`](Sequenced::lease); a later delivery of the same message
//! (the earlier one was abandoned) or any delivery after the expiry takes
//! it over. With a shared store ([`KvSequenceStore`](crate::nats::KvSequenceStore), a database) every
//! applied step is two compare-and-set writes: the claim before the
//! handler, the record after it. Neither can be left out: instances share
//! nothing but the store, so without the claim two instances handed copies
//! of one step (a duplicate publish) would both call the handler; and a
//! step acknowledged before it is recorded would be lost if the process
//! died in between (the record's next event would wait for it until
//! dead-lettered as a gap). The store's cache spares the reads while an instance sees a
//! record's events in a row.
//!
//! The exception is a handler that records its step in its own database
//! transaction: the row lock of that record serialises two deliveries of
//! one step (the second finds the step applied and rolls back), so the
//! claim can be left out and the record after the handler is already
//! done. `PgSequenceStore` does this in its opt-in
//! `PgClaims::InTransaction` mode (feature `postgres`): one read per
//! batch, at the price of a duplicate delivery possibly running the
//! handler (not its effect) twice at once.
//!
//! Over a shared store the guard asks for
//! [`Dispatch::Batches`](crate::Dispatch::Batches): it claims the steps of
//! the messages the engine has at hand in one
//! [`claim_all`](SequenceStore::claim_all) (one
//! [`swap_all`](SequenceStore::swap_all)), runs their handlers together,
//! and records the steps in one [`finish_all`](SequenceStore::finish_all)
//! before they are acknowledged (`bus.listen_with(guard, |options|
//! options.dispatch(Dispatch::OneByOne))` turns that off).
//!
//! What those writes cost depends on the store: the ordering bench
//! (`runtime/benches/ordering.rs`) measures it, and the README's
//! "Ordering" section has its figures.
//!
//! A [`MemorySequenceStore`] is reached only by this process, so its
//! claims need not be stored: the guard keeps them in the store's
//! per-record slots (claims held by [`Holder::Local`]), one map lookup
//! per event, and a claim ends with the delivery holding it (a handler
//! that fails, panics or is abandoned releases it at once; no lease).
//!
//! # Example
//!
//! The orders service keeps a local copy of tickets from `ticket:created`
//! and `ticket:updated` (`runtime/examples/orders_ticket_replica.rs` is the
//! full program):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use typebus::{Delivery, HandlerError, ListenOptions, Listener};
//! # use typebus::ordering::{MemorySequenceStore, Sequenced};
//! # #[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
//! # #[event(subject = "ticket:updated", version = 1)]
//! # struct TicketUpdated { id: String, version: u64, title: String }
//! # impl typebus::Versioned for TicketUpdated {
//! #     const AGGREGATE: &'static str = "ticket";
//! #     fn id(&self) -> std::borrow::Cow<'_, str> { std::borrow::Cow::Borrowed(&self.id) }
//! #     fn sequence(&self) -> u64 { self.version }
//! # }
//! struct UpdateReplica;
//!
//! impl Listener for UpdateReplica {
//!     type Event = TicketUpdated;
//!
//!     fn options(&self) -> ListenOptions {
//!         ListenOptions::new("orders-service")
//!     }
//!
//!     async fn on_message(&self, ticket: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
//!         // Only ever called with version n after n - 1 was applied.
//!         println!("ticket {} is now {:?} (version {})", ticket.id, ticket.title, ticket.version);
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo(bus: typebus::Bus) -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemorySequenceStore::new());
//! let handle = bus.listen(Sequenced::new(UpdateReplica, store)).await?;
//! # drop(handle); Ok(()) }
//! ```

mod versioned;

pub use versioned::{RecordKey, Step, Versioned};

#[cfg(feature = "bus")]
mod answers;
#[cfg(feature = "bus")]
mod cas;
#[cfg(feature = "bus")]
mod decide;
#[cfg(feature = "bus")]
mod guard;
#[cfg(feature = "bus")]
mod memory_store;
#[cfg(feature = "bus")]
mod store;

#[cfg(feature = "bus")]
pub use answers::{Answers, StoreFuture};
#[cfg(feature = "bus")]
pub use guard::Sequenced;
#[cfg(feature = "bus")]
pub use memory_store::MemorySequenceStore;
#[cfg(feature = "bus")]
pub use store::{
    Claim, ClaimRequest, Entry, Finish, Finished, Holder, SequenceStore, State, StoreError,
    StoreErrorKind, Swap, Swapped, Ticket, Verdict,
};
/// What a store other than these answers with: the guard's rule, and the
/// compare-and-set defaults an override may fall back to.
#[cfg(feature = "postgres")]
pub(crate) use {
    cas::{claim_all as cas_claim_all, finish_all as cas_finish_all},
    decide::decide,
    store::now_ms,
};
