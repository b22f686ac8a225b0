//! [`PgSequenceStore`]: the ordering guard's sequences in a PostgreSQL
//! table, recordable inside a handler's own transaction.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, PgPool, Row as _};

use super::claims::{Notes, PgClaims};
use super::schema::Schema;
use crate::bus::transport::BoxFuture;
use crate::ordering::{
    Answers, Claim, ClaimRequest, Entry, Finish, Finished, Holder, RecordKey, SequenceStore, State,
    Step, StoreError, StoreErrorKind, StoreFuture, Swapped, Ticket, Verdict, cas_claim_all,
    cas_finish_all, decide, now_ms,
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
/// How a step is claimed before its handler runs is [`PgClaims`]: by
/// default ([`PgClaims::Stored`]) a claim is written to the row and the
/// step recorded after the handler, two writes per batch besides the
/// handler's transaction. A service whose handlers all record their step
/// with `record_in` can leave the claim out
/// ([`claims(PgClaims::InTransaction)`](Self::claims)): one read per batch,
/// and nothing more after a handler that recorded its step.
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
    claims: PgClaims,
    /// The steps `record_in` recorded, in [`PgClaims::InTransaction`]
    /// mode; shared by the store's clones.
    notes: Arc<Notes>,
}

impl PgSequenceStore {
    /// The store in `schema`'s `sequences` table, reached through `pool`,
    /// claiming steps in [`PgClaims::Stored`] mode.
    pub fn new(pool: PgPool, schema: Schema) -> Self {
        Self {
            pool,
            table: schema.sequences_table(),
            claims: PgClaims::default(),
            notes: Arc::default(),
        }
    }

    /// Sets how steps are claimed (see [`PgClaims`]). In
    /// [`PgClaims::InTransaction`] mode the handlers must call
    /// [`record_in`](Self::record_in) on this store or a clone of it (the
    /// clones share what it notes) in the transaction of their effects.
    pub fn claims(mut self, claims: PgClaims) -> Self {
        self.claims = claims;
        self
    }

    /// Records `step` as applied inside the caller's transaction (pass
    /// `&mut tx`), if the record's last applied sequence is still
    /// `step.previous`, whoever holds a claim on it. Returns whether it
    /// did; on `false` (another delivery applied the step first) the
    /// caller should roll back its own changes.
    ///
    /// The row stays locked until the transaction ends, so a concurrent
    /// delivery of the same step waits and then finds it applied. In
    /// [`PgClaims::InTransaction`] mode the store notes the step, so the
    /// guard acknowledges it after the handler without a write.
    pub async fn record_in(
        &self,
        conn: &mut PgConnection,
        step: &Step,
    ) -> Result<bool, StoreError> {
        let recorded = self.record_on(conn, step).await?;
        if recorded && self.claims == PgClaims::InTransaction {
            self.notes.note(&step.key, step.sequence);
        }
        Ok(recorded)
    }

    /// Records `step` through `executor` (a transaction's connection, or
    /// the pool): an `UPDATE` conditional on the previous sequence, or for
    /// the record's first step an `INSERT` that only fills an empty row.
    async fn record_on<'e>(
        &self,
        executor: impl PgExecutor<'e>,
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
                    .execute(executor)
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
                    .execute(executor)
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

/// [`PgClaims::InTransaction`]: the guard's claims and records without a
/// stored claim.
impl PgSequenceStore {
    /// Reads the batch's rows in one `SELECT` and decides each request
    /// over its row; nothing is written.
    async fn claim_by_reading(
        &self,
        requests: &[ClaimRequest<'_>],
    ) -> Answers<Result<Verdict, StoreError>> {
        let entries = match self.load_all(requests).await {
            Ok(entries) => entries,
            Err(err) => {
                let err = Arc::new(err);
                return requests
                    .iter()
                    .map(|request| {
                        Err(StoreError::new(StoreErrorKind::Unavailable)
                            .with_detail(format!("reading {}", request.key))
                            .with_source(Arc::clone(&err)))
                    })
                    .collect();
            }
        };
        let now = now_ms();
        requests
            .iter()
            .map(|request| {
                Ok(claimed_without_writing(
                    entries.get(request.key),
                    request,
                    now,
                ))
            })
            .collect()
    }

    /// The entries of the requests' records that have a row.
    async fn load_all(
        &self,
        requests: &[ClaimRequest<'_>],
    ) -> Result<HashMap<RecordKey, Entry>, StoreError> {
        let aggregates: Vec<&str> = requests.iter().map(|r| r.key.aggregate.as_ref()).collect();
        let ids: Vec<&str> = requests.iter().map(|r| r.key.id.as_str()).collect();
        let statement = format!(
            "SELECT s.aggregate, s.id, s.applied, s.claim_sequence, s.claim_message, \
               s.claim_delivered, s.claim_expires_ms, s.revision \
             FROM {} AS s JOIN unnest($1::text[], $2::text[]) AS k(aggregate, id) \
               ON s.aggregate = k.aggregate AND s.id = k.id",
            self.table
        );
        let rows = sqlx::query(&statement)
            .bind(&aggregates)
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(|err| unavailable(&format!("reading {} records", requests.len()), err))?;
        let mut entries = HashMap::with_capacity(rows.len());
        for row in rows {
            let aggregate: String = row.try_get("aggregate").map_err(corrupt_row)?;
            let id: String = row.try_get("id").map_err(corrupt_row)?;
            let key = RecordKey::new(aggregate, id);
            let entry = entry(&key, &row)?;
            entries.insert(key, entry);
        }
        Ok(entries)
    }

    /// Finishes each step without a write when there is nothing to write:
    /// a failed handler claimed nothing, and a step its handler recorded
    /// (noted by `record_in`) is done. The others are recorded outside a
    /// transaction, all at once.
    async fn finish_unclaimed(
        &self,
        finishes: &[Finish<'_>],
    ) -> Answers<Result<Finished, StoreError>> {
        let answers = finishes.iter().map(|finish| async move {
            let noted = self.notes.take(finish.key, finish.sequence);
            if !finish.handled || noted {
                return Ok(Finished::Done);
            }
            self.record_after(finish).await
        });
        join_all(answers).await.into()
    }

    /// Records a handled step its handler did not record (or whose
    /// `record_in` found it applied): the one conditional write, and when
    /// it matches nothing, one read of where the record stands.
    async fn record_after(&self, finish: &Finish<'_>) -> Result<Finished, StoreError> {
        let step = Step {
            key: finish.key.clone(),
            previous: finish.ticket.applied,
            sequence: finish.sequence,
        };
        if self.record_on(&self.pool, &step).await? {
            return Ok(Finished::Done);
        }
        match self.applied(finish.key).await? {
            Some(last) if last >= finish.sequence => Ok(Finished::Done),
            moved => Ok(Finished::Moved(moved)),
        }
    }
}

/// [`decide`] over a record's entry, claiming nothing: a won step's ticket
/// is the entry as read.
fn claimed_without_writing(entry: Option<&Entry>, request: &ClaimRequest<'_>, now: u64) -> Verdict {
    decide(entry.map(|entry| &entry.state), request, now).map(|()| Ticket {
        applied: entry.and_then(|entry| entry.state.applied),
        revision: entry.map_or(0, |entry| entry.revision),
    })
}

impl SequenceStore for PgSequenceStore {
    fn claim_all<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> StoreFuture<'a, Answers<Result<Verdict, StoreError>>> {
        match self.claims {
            PgClaims::Stored => StoreFuture::new(cas_claim_all(self, requests)),
            PgClaims::InTransaction => StoreFuture::new(self.claim_by_reading(requests)),
        }
    }

    fn finish_all<'a>(
        &'a self,
        finishes: &'a [Finish<'a>],
    ) -> StoreFuture<'a, Answers<Result<Finished, StoreError>>> {
        match self.claims {
            PgClaims::Stored => StoreFuture::new(cas_finish_all(self, finishes)),
            PgClaims::InTransaction => StoreFuture::new(self.finish_unclaimed(finishes)),
        }
    }

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

fn corrupt_row(err: sqlx::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt)
        .with_detail("a row of the batch's records")
        .with_source(err)
}

fn corrupt(key: &RecordKey, err: sqlx::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Corrupt)
        .with_detail(format!("row of {key}"))
        .with_source(err)
}
