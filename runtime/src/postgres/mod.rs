//! `postgres` (feature `postgres`): a transactional outbox, its relay to
//! the bus, and the ordering guard's sequence store, in PostgreSQL.
//!
//! A service that saves a record and then publishes an event can die in
//! between; a listener that writes to its database and then acknowledges
//! can die in between too. Both gaps close when the event, or the record of
//! the applied step, is written in the same database transaction as the
//! service's own data:
//!
//! - [`Outbox::enqueue`] writes the typed event (subject, contract version,
//!   message id, headers, body, and the record it belongs to for a
//!   [`Versioned`](crate::Versioned) event) into the outbox table, inside
//!   the caller's transaction. The event exists if and only if the
//!   transaction commits.
//! - A [`Relay`] publishes pending rows through the [`Bus`](crate::Bus)'s
//!   transport with `Nats-Msg-Id` = the row's message id, marks them sent,
//!   and wakes on `LISTEN/NOTIFY` (with a slow poll as a fallback). A relay
//!   that dies after publishing and before marking leaves its rows pending;
//!   the next relay publishes them again with the same message ids, and the
//!   stream, within its duplicate window, stores each once. Several relays
//!   may run: rows are claimed with `FOR UPDATE SKIP LOCKED`, and a row is
//!   claimed only when no earlier row of its record is unsent, so each
//!   record's events reach the stream in the order they were enqueued.
//! - [`PgSequenceStore`] is the [`Sequenced`](crate::ordering::Sequenced)
//!   guard's [`SequenceStore`](crate::ordering::SequenceStore) in a table; a
//!   handler records its step with [`PgSequenceStore::record_in`] in its
//!   own transaction, so its write and the record of the step commit
//!   together or not at all: an exactly-once effect.
//! - Retention and inspection: [`Outbox::prune`] deletes sent rows older
//!   than an age (the relay can do it periodically), [`Outbox::summary`]
//!   and [`Outbox::rows`] show pending and failed rows, and
//!   [`Outbox::retry_failed`] puts failed rows back in the queue.
//!
//! Tables live in one schema per service ([`Schema`], default `typebus`),
//! created by the explicit, idempotent [`Schema::install`].
//!
//! # What the guarantees rest on
//!
//! - The stream's duplicate window (default 2 minutes) must be longer than
//!   the time a relay may take to come back after a crash: a row published
//!   again after the window is stored twice.
//! - Per-record order follows the order in which rows were inserted
//!   (their identity column). Writes to one record are serialised by the
//!   service anyway (a version check or a row lock on the record), so its
//!   events are inserted in order.
//!
//! # Example
//!
//! ```no_run
//! # #[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
//! # #[event(subject = "ticket:created", version = 1)]
//! # struct TicketCreated { id: String, version: u64, title: String }
//! # impl typebus::Versioned for TicketCreated {
//! #     const AGGREGATE: &'static str = "ticket";
//! #     fn id(&self) -> std::borrow::Cow<'_, str> { std::borrow::Cow::Borrowed(&self.id) }
//! #     fn sequence(&self) -> u64 { self.version }
//! # }
//! # async fn demo(bus: typebus::Bus, pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! use typebus::postgres::{Outbox, Relay, Schema};
//!
//! let schema = Schema::new("tickets")?;
//! schema.install(&pool).await?;
//! let outbox = Outbox::new(schema);
//! let relay = Relay::new(pool.clone(), &bus, outbox.clone()).spawn();
//!
//! let ticket = TicketCreated { id: "5f1a".into(), version: 0, title: "concert".into() };
//! let mut tx = pool.begin().await?;
//! sqlx::query("INSERT INTO tickets.tickets (id, version, title) VALUES ($1, $2, $3)")
//!     .bind(&ticket.id).bind(0_i64).bind(&ticket.title)
//!     .execute(&mut *tx).await?;
//! outbox.enqueue_versioned(&mut tx, &ticket).await?;
//! tx.commit().await?; // the relay publishes it now
//!
//! relay.shutdown().await;
//! # Ok(()) }
//! ```

mod claims;
mod error;
mod inspect;
mod outbox;
mod relay;
mod schema;
mod sequence_store;

pub use claims::PgClaims;
pub use error::{OutboxError, OutboxErrorKind};
pub use inspect::{OutboxRow, OutboxSummary, RowStatus};
pub use outbox::{Outbox, OutboxMessage};
pub use relay::{Relay, RelayHandle, RelayReport};
pub use schema::Schema;
pub use sequence_store::PgSequenceStore;
