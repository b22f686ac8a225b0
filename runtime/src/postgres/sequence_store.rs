//! [`PgSequenceStore`]: the ordering guard's sequences in a PostgreSQL
//! table, recordable inside a handler's own transaction.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row as _};

use super::schema::Schema;
use crate::bus::transport::BoxFuture;
use crate::ordering::{
    Claim, Entry, Holder, RecordKey, SequenceStore, State, Step, StoreError, StoreErrorKind,
    Swapped,
};

/// A [`SequenceStore`] in the `sequences` table of a [`Schema`] (created by
/// [`Schema::install`]), shared by every instance of a service.
///
/// Compare-and-set is a conditional `UPDATE` on the row's revision, so two
/// instances never both claim or record a step. Its point is
/// [`record_in`](Self::record_in): a handler wrapped in
/// [`Sequenced`](crate::ordering::Sequenced) writes its changes and records its
/// step in one transaction, so they commit together or not at all.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use typebus::{Delivery, HandlerError, Listener};
/// # use typebus::ordering::{Sequenced, Step};
/// # use typebus::postgres::PgSequenceStore;
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
/// # #[event(subject = "ticket:updated", version = 1)]
/// # struct TicketUpdated { id: String, version: u64, title: String }
/// # impl typebus::Versioned for TicketUpdated {
/// #     const AGGREGATE: &'static str = "ticket";
/// #     fn id(&self) -> std::borrow::Cow<'_, str> { std::borrow::Cow::Borrowed(&self.id) }
/// #     fn sequence(&self) -> u64 { self.version }
/// # }
/// struct UpdateReplica { pool: sqlx::PgPool, store: Arc<PgSequenceStore> }
///
/// impl Listener for UpdateReplica {
///     type Event = TicketUpdated;
///     fn options(&self) -> typebus::ListenOptions { typebus::ListenOptions::new("orders-service") }
///
///     async fn on_message(&self, ticket: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
///         let mut tx = self.pool.begin().await.map_err(HandlerError::retry)?;
///         sqlx::query("UPDATE orders.tickets SET title = $1, version = $2 WHERE id = $3")
///             .bind(&ticket.title).bind(ticket.version as i64).bind(&ticket.id)
///             .execute(&mut *tx).await.map_err(HandlerError::retry)?;
///         // Both or neither: the write and the record of the applied step.
///         if !self.store.record_in(&mut tx, &Step::of(&ticket)).await.map_err(HandlerError::retry)? {
///             return Ok(()); // applied meanwhile by another delivery: roll back
///         }
///         tx.commit().await.map_err(HandlerError::retry)?;
///         Ok(())
///     }
/// }
/// # async fn demo(bus: typebus::Bus, pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(PgSequenceStore::new(pool.clone(), typebus::postgres::Schema::new("orders")?));
/// let handle = bus.listen(Sequenced::new(UpdateReplica { pool, store: store.clone() }, store)).await?;
/// # drop(handle); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgSequenceStore {
    pool: PgPool,
    table: String,
}

impl PgSequenceStore {
    /// The store in `schema`'s `sequences` table, reached through `pool`.
    pub fn new(pool: PgPool, schema: Schema) -> Self {
        Self {
            pool,
            table: schema.sequences_table(),
        }
    }

    /// Records `step` as applied inside the caller's transaction (pass
    /// `&mut tx`), if the record's last applied sequence is still
    /// `step.previous`, whoever holds a claim on it. Returns whether it
    /// did; on `false` (another delivery applied the step first) the
    /// caller should roll back its own changes.
    ///
    /// The row stays locked until the transaction ends, so a concurrent
    /// delivery of the same step waits and then finds it applied.
    pub async fn record_in(
        &self,
        conn: &mut PgConnection,
        step: &Step,
    ) -> Result<bool, StoreError> {
        let sequence = to_i64(step.sequence)?;
        let done = match step.previous {
            Some(previous) => {
                let statement = format!(
                    "UPDATE {} SET applied = $3, claim_sequence = NULL, claim_message = NULL, \
                       claim_delivered = NULL, claim_expires_ms = NULL, revision = revision + 1, updated_at = now() \
                     WHERE aggregate = $1 AND id = $2 AND applied = $4",
                    self.table
                );
                sqlx::query(&statement)
                    .bind(step.key.aggregate.as_ref())
                    .bind(&step.key.id)
                    .bind(sequence)
                    .bind(to_i64(previous)?)
                    .execute(conn)
                    .await
            }
            None => {
                let statement = format!(
                    "INSERT INTO {table} AS s (aggregate, id, applied, revision) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (aggregate, id) DO UPDATE SET applied = EXCLUDED.applied, \
                       claim_sequence = NULL, claim_message = NULL, claim_delivered = NULL, \
                       claim_expires_ms = NULL, revision = s.revision + 1, updated_at = now() \
                     WHERE s.applied IS NULL",
                    table = self.table
                );
                sqlx::query(&statement)
                    .bind(step.key.aggregate.as_ref())
                    .bind(&step.key.id)
                    .bind(sequence)
                    .execute(conn)
                    .await
            }
        }
        .map_err(|err| unavailable(&format!("recording {step}"), err))?;
        Ok(done.rows_affected() == 1)
    }

    /// The record's last applied sequence, read inside the caller's
    /// transaction.
    pub async fn applied_in(
        &self,
        conn: &mut PgConnection,
        key: &RecordKey,
    ) -> Result<Option<u64>, StoreError> {
        let statement = format!(
            "SELECT applied FROM {} WHERE aggregate = $1 AND id = $2",
            self.table
        );
        let row = sqlx::query(&statement)
            .bind(key.aggregate.as_ref())
            .bind(&key.id)
            .fetch_optional(conn)
            .await
            .map_err(|err| unavailable(&format!("reading {key}"), err))?;
        match row {
            None => Ok(None),
            Some(row) => from_i64(row.try_get("applied").map_err(|err| corrupt(key, err))?),
        }
    }
}

impl SequenceStore for PgSequenceStore {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            let statement = format!(
                "SELECT applied, claim_sequence, claim_message, claim_delivered, claim_expires_ms, revision \
                 FROM {} WHERE aggregate = $1 AND id = $2",
                self.table
            );
            let row = sqlx::query(&statement)
                .bind(key.aggregate.as_ref())
                .bind(&key.id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|err| unavailable(&format!("loading {key}"), err))?;
            row.map(|row| entry(key, &row)).transpose()
        })
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        Box::pin(async move {
            let applied = state.applied.map(to_i64).transpose()?;
            let (claim_sequence, claim_message, claim_delivered, claim_expires) = match &state.claim
            {
                None => (None, None, None, None),
                Some(Claim {
                    sequence,
                    holder:
                        Holder::Delivery {
                            message,
                            delivered,
                            expires_ms,
                        },
                }) => (
                    Some(to_i64(*sequence)?),
                    Some(message.clone()),
                    Some(to_i64(*delivered)?),
                    Some(to_i64(*expires_ms)?),
                ),
                Some(Claim {
                    holder: Holder::Local,
                    ..
                }) => {
                    return Err(StoreError::new(StoreErrorKind::Rejected)
                        .with_detail("a claim held in this process's memory is never stored"));
                }
            };
            let row = match expected {
                None => {
                    let statement = format!(
                        "INSERT INTO {} (aggregate, id, applied, claim_sequence, claim_message, \
                           claim_delivered, claim_expires_ms, revision) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1) \
                         ON CONFLICT (aggregate, id) DO NOTHING RETURNING revision",
                        self.table
                    );
                    sqlx::query(&statement)
                        .bind(key.aggregate.as_ref())
                        .bind(&key.id)
                        .bind(applied)
                        .bind(claim_sequence)
                        .bind(claim_message)
                        .bind(claim_delivered)
                        .bind(claim_expires)
                        .fetch_optional(&self.pool)
                        .await
                }
                Some(revision) => {
                    let statement = format!(
                        "UPDATE {} SET applied = $3, claim_sequence = $4, claim_message = $5, \
                           claim_delivered = $6, claim_expires_ms = $7, revision = revision + 1, updated_at = now() \
                         WHERE aggregate = $1 AND id = $2 AND revision = $8 RETURNING revision",
                        self.table
                    );
                    sqlx::query(&statement)
                        .bind(key.aggregate.as_ref())
                        .bind(&key.id)
                        .bind(applied)
                        .bind(claim_sequence)
                        .bind(claim_message)
                        .bind(claim_delivered)
                        .bind(claim_expires)
                        .bind(to_i64(revision)?)
                        .fetch_optional(&self.pool)
                        .await
                }
            }
            .map_err(|err| unavailable(&format!("updating {key}"), err))?;
            match row {
                None => Ok(Swapped::Conflict),
                Some(row) => {
                    let revision: i64 = row.try_get("revision").map_err(|err| corrupt(key, err))?;
                    Ok(Swapped::Done {
                        revision: revision.unsigned_abs(),
                    })
                }
            }
        })
    }
}

fn entry(key: &RecordKey, row: &PgRow) -> Result<Entry, StoreError> {
    let get = |column: &str| -> Result<Option<i64>, StoreError> {
        row.try_get(column).map_err(|err| corrupt(key, err))
    };
    let claim = match (
        get("claim_sequence")?,
        row.try_get::<Option<String>, _>("claim_message")
            .map_err(|err| corrupt(key, err))?,
    ) {
        (Some(sequence), Some(message)) => Some(Claim {
            sequence: sequence.unsigned_abs(),
            holder: Holder::Delivery {
                message,
                delivered: get("claim_delivered")?.unwrap_or(0).unsigned_abs(),
                expires_ms: get("claim_expires_ms")?.unwrap_or(0).unsigned_abs(),
            },
        }),
        _ => None,
    };
    Ok(Entry {
        state: State {
            applied: from_i64(get("applied")?)?,
            claim,
        },
        revision: get("revision")?.unwrap_or(0).unsigned_abs(),
    })
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::new(StoreErrorKind::Rejected)
            .with_detail(format!("{value} does not fit a bigint"))
    })
}

fn from_i64(value: Option<i64>) -> Result<Option<u64>, StoreError> {
    value
        .map(|value| {
            u64::try_from(value).map_err(|_| {
                StoreError::new(StoreErrorKind::Corrupt)
                    .with_detail(format!("negative sequence {value}"))
            })
        })
        .transpose()
}

fn unavailable(doing: &str, err: sqlx::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable)
        .with_detail(doing.to_owned())
        .with_source(err)
}

fn corrupt(key: &RecordKey, err: sqlx::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt)
        .with_detail(format!("row of {key}"))
        .with_source(err)
}
