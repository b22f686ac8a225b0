//! [`Relay`]: publishes committed outbox rows to the bus, in order per
//! record, and marks them sent, one round at a time; its workers' loop is
//! in [`worker`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sqlx::{PgPool, Postgres, Row as _, Transaction};

mod worker;

pub use worker::RelayHandle;

use super::error::{OutboxError, OutboxErrorKind, database};
use super::outbox::Outbox;
use crate::backoff::Backoff;
use crate::bus::Bus;
use crate::bus::transport::{OutgoingMessage, PublishAck, Transport};
use crate::contract::headers::{Headers, names};
use crate::error::{PublishError, PublishErrorKind, chain};

/// Publishes the outbox's committed rows through a bus's transport.
///
/// Each round ([`publish_batch`](Self::publish_batch)) runs in one database
/// transaction: it claims up to [`batch_size`](Self::batch_size) pending
/// rows with `FOR UPDATE SKIP LOCKED` (rows another relay holds are left
/// to it), publishes them with `Nats-Msg-Id` = the row's message id, waits
/// for the stream's acks, marks them sent and commits. A relay that dies
/// before the commit leaves its rows pending (the database releases its
/// locks), and the next round publishes them again with the same message
/// ids: the stream stores each once, within its duplicate window.
///
/// **Order.** A row of a record (enqueued with
/// [`Outbox::enqueue_versioned`]) is claimed only when every earlier row of
/// that record is sent, and within a round a record's rows go out one after
/// the other, each after the previous one's ack; a row that fails holds
/// back the rows of its record behind it. Rows without a record go out as
/// soon as possible.
///
/// **Failures.** A publish whose outcome is unknown or transient (timeout,
/// no connection, no stream yet) leaves the row pending, to be tried again
/// after a growing delay; one the broker refuses for good (rejected, too
/// large, invalid subject) marks it `failed`, to be inspected with
/// [`Outbox::rows`] and re-queued with [`Outbox::retry_failed`]. Nothing
/// is dropped.
///
/// [`spawn`](Self::spawn) runs [`workers`](Self::workers) (default 2)
/// loops of rounds, each on its own task: after each round that
/// found rows, at once; otherwise when a `NOTIFY` from an insert arrives
/// (`LISTEN` on [`Schema::channel`](super::Schema::channel)), or after
/// [`poll_interval`](Self::poll_interval) as a fallback. Inserts notify
/// only while the relays are idle (a flag a relay sets once it found no
/// work for a second, polling every 5 ms meanwhile, and clears when it
/// finds work): a transaction that notifies holds
/// a database-wide lock through its commit, which would queue every
/// producer's commit behind the others under load. Each worker holds one
/// connection of the pool for `LISTEN` and takes another for each round:
/// give the pool at least two per worker (four by default).
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    transport: Arc<dyn Transport>,
    outbox: Outbox,
    batch_size: usize,
    workers: usize,
    poll_interval: Duration,
    retry: Backoff,
    publish_timeout: Duration,
    retention: Option<Duration>,
    prune_interval: Duration,
}

/// What one round of a relay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Rows published and marked sent.
    pub sent: usize,
    /// Of those, rows the stream already held (an earlier relay published
    /// them and died before marking them).
    pub duplicates: usize,
    /// Rows left pending after a transient failure, to be tried again.
    pub retrying: usize,
    /// Rows marked failed after a permanent failure.
    pub failed: usize,
}

/// How a round's transaction starts, in the same round trip as `BEGIN`.
/// Rows marked sent leave dead entries in `outbox_pending` until the table
/// is vacuumed. A bitmap scan (the planner's pick for a few hundred pending
/// rows) reads every one of them on every round; an index scan in id order
/// marks them dead once and skips them after.
const BEGIN_ROUND: &str = "BEGIN; SET LOCAL enable_bitmapscan = off";

/// A claimed row.
struct Claimed {
    id: i64,
    message_id: String,
    subject: String,
    headers: String,
    body: Vec<u8>,
    aggregate: Option<String>,
    attempts: i32,
}

/// What happened to one claimed row.
enum Outcome {
    Sent(PublishAck),
    Failed(PublishError),
}

impl Relay {
    /// A relay of `outbox`'s rows in `pool`'s database to `bus`.
    pub fn new(pool: PgPool, bus: &Bus, outbox: Outbox) -> Self {
        Self::with_transport(pool, Arc::clone(bus.transport()), outbox)
    }

    /// A relay publishing through `transport` directly.
    pub fn with_transport(pool: PgPool, transport: Arc<dyn Transport>, outbox: Outbox) -> Self {
        Self {
            pool,
            transport,
            outbox,
            batch_size: 256,
            workers: 2,
            poll_interval: Duration::from_secs(2),
            retry: Backoff::new(Duration::from_millis(500), Duration::from_secs(60)),
            publish_timeout: Duration::from_secs(30),
            retention: None,
            prune_interval: Duration::from_secs(60),
        }
    }

    /// Sets how many rounds this relay runs at once (at least 1). Default 2:
    /// one round claims and publishes while another commits, which halves
    /// the commit-to-ack latency under load. Each round is its own
    /// transaction; `FOR UPDATE SKIP LOCKED` gives them disjoint rows, and a
    /// row is claimed only once every earlier row of its record is sent, so
    /// per-record order holds exactly as between separate relays. Each
    /// worker keeps a connection for `LISTEN` and uses one per round: give
    /// the pool at least two connections per worker.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Sets how many rows one round claims at most (at least 1). Default 256.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Sets how long a spawned relay waits for a notification before it
    /// looks for rows anyway. Default 2 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the delay before a row whose publish failed transiently is
    /// tried again, doubling with each attempt up to `max`. Default 500 ms,
    /// at most 60 s.
    pub fn retry_delay(mut self, initial: Duration, max: Duration) -> Self {
        self.retry = Backoff::new(initial, max.max(initial));
        self
    }

    /// Sets how long a round waits for the stream's ack of a message before
    /// it counts the publish as timed out (and tries again later, with the
    /// same message id). Default 30 s.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Makes a spawned relay delete sent rows older than `age`, every
    /// `interval` (see [`Outbox::prune`]). Default: keep them.
    pub fn retention(mut self, age: Duration, interval: Duration) -> Self {
        self.retention = Some(age);
        self.prune_interval = interval;
        self
    }

    /// The outbox it relays.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Runs rounds until one finds no row ready to publish; returns how
    /// many rows were sent. Rows waiting for a retry delay are left.
    pub async fn publish_pending(&self) -> Result<usize, OutboxError> {
        let mut sent = 0;
        loop {
            let report = self.publish_batch().await?;
            sent += report.sent;
            if report.claimed == 0 {
                return Ok(sent);
            }
        }
    }

    /// One round: claims ready rows, publishes them, marks them, commits.
    pub async fn publish_batch(&self) -> Result<RelayReport, OutboxError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_ROUND)
            .await
            .map_err(|err| database("starting a relay round", err))?;
        let chains = self.claim(&mut tx).await?;
        let mut report = RelayReport {
            claimed: chains.iter().map(Vec::len).sum(),
            ..RelayReport::default()
        };
        if report.claimed == 0 {
            tx.commit()
                .await
                .map_err(|err| database("ending an empty relay round", err))?;
            return Ok(report);
        }
        let outcomes = self.publish(&chains).await;
        let mut sent: (Vec<i64>, Vec<String>, Vec<i64>) = Default::default();
        let mut failed: (Vec<i64>, Vec<String>, Vec<bool>, Vec<f64>) = Default::default();
        for (row, outcome) in outcomes {
            match outcome {
                Outcome::Sent(ack) => {
                    report.sent += 1;
                    report.duplicates += usize::from(ack.duplicate);
                    sent.0.push(row.id);
                    sent.1.push(ack.stream);
                    sent.2.push(i64::try_from(ack.sequence).unwrap_or(i64::MAX));
                }
                Outcome::Failed(err) => {
                    let permanent = !err.kind().is_transient();
                    if permanent {
                        report.failed += 1;
                        tracing::warn!(message_id = %row.message_id, subject = %row.subject, error = %chain(&err), "outbox row failed for good");
                    } else {
                        report.retrying += 1;
                        tracing::debug!(message_id = %row.message_id, subject = %row.subject, error = %chain(&err), "outbox row not published; retrying later");
                    }
                    failed.0.push(row.id);
                    failed.1.push(chain(&err));
                    failed.2.push(permanent);
                    failed.3.push(self.backoff(row.attempts).as_secs_f64());
                }
            }
        }
        let table = self.outbox.schema().outbox_table();
        if !sent.0.is_empty() {
            let statement = format!(
                "UPDATE {table} AS o SET status = 'sent', sent_at = now(), attempts = o.attempts + 1, \
                 last_error = NULL, stream = t.stream, stream_sequence = t.seq \
                 FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS t(id, stream, seq) WHERE o.id = t.id"
            );
            sqlx::query(&statement)
                .bind(sent.0)
                .bind(sent.1)
                .bind(sent.2)
                .execute(&mut *tx)
                .await
                .map_err(|err| database("marking outbox rows sent", err))?;
        }
        if !failed.0.is_empty() {
            let statement = format!(
                "UPDATE {table} AS o SET attempts = o.attempts + 1, last_error = t.err, \
                 status = CASE WHEN t.permanent THEN 'failed' ELSE 'pending' END, \
                 available_at = now() + make_interval(secs => t.delay) \
                 FROM unnest($1::bigint[], $2::text[], $3::bool[], $4::float8[]) AS t(id, err, permanent, delay) \
                 WHERE o.id = t.id"
            );
            sqlx::query(&statement)
                .bind(failed.0)
                .bind(failed.1)
                .bind(failed.2)
                .bind(failed.3)
                .execute(&mut *tx)
                .await
                .map_err(|err| database("recording outbox publish failures", err))?;
        }
        tx.commit()
            .await
            .map_err(|err| database("committing a relay round", err))?;
        Ok(report)
    }

    /// Claims ready rows, as chains: one per record (its rows in order),
    /// and one per row without a record.
    async fn claim(
        &self,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<Vec<Vec<Claimed>>, OutboxError> {
        let table = self.outbox.schema().outbox_table();
        let limit = i64::try_from(self.batch_size).unwrap_or(i64::MAX);
        // The head of each record: no earlier row of its record is unsent.
        // A correlated scalar subquery (an index probe per candidate row),
        // which the planner cannot turn into an anti-join over the table.
        let heads = format!(
            "SELECT id, message_id, subject, headers::text AS headers, body, aggregate, attempts, status \
             FROM {table} AS o \
             WHERE status = 'pending' AND available_at <= now() \
               AND (aggregate IS NULL OR id = ( \
                 SELECT min(e.id) FROM {table} AS e \
                 WHERE e.aggregate = o.aggregate AND e.status <> 'sent')) \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
        );
        let rows = sqlx::query(&heads)
            .bind(limit)
            .fetch_all(&mut **tx)
            .await
            .map_err(|err| database("claiming outbox rows", err))?;
        let mut chains: Vec<Vec<Claimed>> = Vec::with_capacity(rows.len());
        let mut by_record: BTreeMap<String, usize> = BTreeMap::new();
        for row in &rows {
            let claimed = read(row)?;
            if let Some(aggregate) = &claimed.aggregate {
                by_record.insert(aggregate.clone(), chains.len());
            }
            chains.push(vec![claimed]);
        }
        let room = self.batch_size.saturating_sub(rows.len());
        if room == 0 || by_record.is_empty() {
            return Ok(chains);
        }
        // The rows behind each claimed head: no other relay claims them
        // while the head is unsent. Stop each record at its first row that
        // is not ready (failed, or waiting for a retry).
        // One index probe per record (`outbox_unsent_by_aggregate`), not a
        // scan in id order over the whole table filtered by record, which
        // the planner would pick for `aggregate = ANY($1) ORDER BY id`.
        let followers = format!(
            "SELECT f.* FROM unnest($1::text[]) AS a(aggregate), LATERAL ( \
               SELECT o.id, o.message_id, o.subject, o.headers::text AS headers, o.body, o.aggregate, o.attempts, \
                      CASE WHEN o.status = 'pending' AND o.available_at <= now() THEN 'ready' ELSE o.status END AS status \
               FROM {table} AS o \
               WHERE o.aggregate = a.aggregate AND o.status <> 'sent' \
               ORDER BY o.id LIMIT $2 FOR UPDATE) AS f \
             ORDER BY f.id"
        );
        let aggregates: Vec<String> = by_record.keys().cloned().collect();
        let rows = sqlx::query(&followers)
            .bind(aggregates)
            .bind(i64::try_from(room + 1).unwrap_or(i64::MAX))
            .fetch_all(&mut **tx)
            .await
            .map_err(|err| database("claiming outbox rows behind their record's head", err))?;
        let mut stopped: BTreeMap<String, ()> = BTreeMap::new();
        let mut added = 0;
        for row in &rows {
            let status: String = read_column(row, "status")?;
            let claimed = read(row)?;
            let Some(aggregate) = claimed.aggregate.clone() else {
                continue;
            };
            let Some(&chain) = by_record.get(&aggregate) else {
                continue;
            };
            let head = chains[chain][0].id;
            if claimed.id <= head || stopped.contains_key(&aggregate) {
                continue;
            }
            if status != "ready" || added == room {
                stopped.insert(aggregate, ());
                continue;
            }
            chains[chain].push(claimed);
            added += 1;
        }
        Ok(chains)
    }

    /// Publishes the chains in waves: the n-th row of every chain, all in
    /// flight at once, then the next; a chain stops at its first failure.
    async fn publish<'c>(&self, chains: &'c [Vec<Claimed>]) -> Vec<(&'c Claimed, Outcome)> {
        let mut outcomes = Vec::with_capacity(chains.iter().map(Vec::len).sum());
        let mut live: Vec<usize> = (0..chains.len()).collect();
        let mut wave = 0;
        while !live.is_empty() {
            let mut pending = Vec::with_capacity(live.len());
            for &chain in &live {
                let row = &chains[chain][wave];
                let sent = match message(row) {
                    Ok(message) => self.transport.publish(message).await,
                    Err(err) => Err(err),
                };
                pending.push((chain, row, sent));
            }
            let timeout = self.publish_timeout;
            let acks = futures_util::future::join_all(pending.into_iter().map(
                |(chain, row, sent)| async move {
                    let outcome = match sent {
                        Ok(ack) => match tokio::time::timeout(timeout, ack).await {
                            Ok(Ok(ack)) => Outcome::Sent(ack),
                            Ok(Err(err)) => Outcome::Failed(err),
                            Err(_) => Outcome::Failed(
                                PublishError::new(PublishErrorKind::TimedOut)
                                    .with_detail(row.subject.clone()),
                            ),
                        },
                        Err(err) => Outcome::Failed(err),
                    };
                    (chain, row, outcome)
                },
            ))
            .await;
            live.clear();
            for (chain, row, outcome) in acks {
                if matches!(outcome, Outcome::Sent(_)) && chains[chain].len() > wave + 1 {
                    live.push(chain);
                }
                outcomes.push((row, outcome));
            }
            wave += 1;
        }
        outcomes
    }

    /// Marks the relays idle (inserts notify) or busy (they need not);
    /// when the update fails, inserts go on as before and the poll covers
    /// a missed wake-up.
    async fn set_idle(&self, idle: bool) {
        let statement = format!(
            "UPDATE {} SET idle = $1 WHERE idle <> $1",
            self.outbox.schema().relay_state_table()
        );
        if let Err(err) = sqlx::query(&statement).bind(idle).execute(&self.pool).await {
            tracing::debug!(error = %err, idle, "outbox relay state not updated");
        }
    }

    /// The delay after `attempts` failed attempts (a row's, or the rounds'
    /// in a row): the retry delay doubled per attempt, sixteen times at
    /// most, never above its maximum.
    fn backoff(&self, attempts: i32) -> Duration {
        retry_backoff(self.retry, attempts)
    }
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("transport", &self.transport.name())
            .field("outbox", &self.outbox)
            .field("batch_size", &self.batch_size)
            .field("workers", &self.workers)
            .field("poll_interval", &self.poll_interval)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// The message a claimed row is published as.
fn message(row: &Claimed) -> Result<OutgoingMessage, PublishError> {
    let stored: Vec<(String, String)> = serde_json::from_str(&row.headers).map_err(|err| {
        PublishError::new(PublishErrorKind::Rejected)
            .with_detail(format!("outbox row {}: unreadable headers", row.id))
            .with_source(err)
    })?;
    let mut headers = Headers::with_capacity(stored.len() + 1);
    headers.append(names::MSG_ID, row.message_id.clone());
    headers.extend(stored.into_iter().filter(|(name, _)| name != names::MSG_ID));
    Ok(OutgoingMessage {
        subject: row.subject.clone(),
        headers,
        payload: Bytes::from(row.body.clone()),
    })
}

fn read(row: &sqlx::postgres::PgRow) -> Result<Claimed, OutboxError> {
    Ok(Claimed {
        id: read_column(row, "id")?,
        message_id: read_column(row, "message_id")?,
        subject: read_column(row, "subject")?,
        headers: read_column(row, "headers")?,
        body: read_column(row, "body")?,
        aggregate: read_column(row, "aggregate")?,
        attempts: read_column(row, "attempts")?,
    })
}

/// Column `name` of `row`, or a corrupt-outbox error naming the column.
pub(crate) fn read_column<'r, T>(
    row: &'r sqlx::postgres::PgRow,
    name: &str,
) -> Result<T, OutboxError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(name).map_err(|err| corrupt(name, err))
}

pub(crate) fn corrupt(column: &str, err: sqlx::Error) -> OutboxError {
    OutboxError::new(OutboxErrorKind::Corrupt)
        .with_detail(format!("column `{column}`"))
        .with_source(err)
}

/// [`Relay::backoff`]'s delay with `retry`: a negative count counts as 0.
fn retry_backoff(retry: Backoff, attempts: i32) -> Duration {
    retry.delay(u64::try_from(attempts).unwrap_or(0).min(16))
}

#[cfg(test)]
mod tests {
    use super::{Backoff, retry_backoff};
    use std::time::Duration;

    /// The relay's delays before `Backoff`: `initial * 2^min(attempts, 16)`,
    /// at most `max`.
    fn before(initial: Duration, max: Duration, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts).unwrap_or(0).min(16);
        initial.saturating_mul(1 << doublings).min(max)
    }

    #[test]
    fn retry_delays_are_unchanged() {
        let ms = Duration::from_millis(1);
        let default = Backoff::new(500 * ms, Duration::from_secs(60));
        let attempts = [i32::MIN, -1, 0, 1, 2, 3, 6, 7, 8, 16, 17, 30, 31, i32::MAX];
        for (initial, max) in [
            (500 * ms, Duration::from_secs(60)),
            (ms, Duration::from_secs(3600)),
            (Duration::ZERO, Duration::from_secs(1)),
            (Duration::from_secs(1), Duration::MAX),
        ] {
            for attempt in attempts {
                assert_eq!(
                    retry_backoff(Backoff::new(initial, max), attempt),
                    before(initial, max, attempt),
                    "{initial:?} {max:?} {attempt}"
                );
            }
        }
        assert_eq!(retry_backoff(default, 0), 500 * ms);
        assert_eq!(retry_backoff(default, 3), Duration::from_secs(4));
        assert_eq!(retry_backoff(default, 7), Duration::from_secs(60));
        assert_eq!(retry_backoff(default, -5), 500 * ms);
        // The doubling stops at 2^16 when the maximum is far.
        let far = Backoff::new(ms, Duration::from_secs(3600));
        assert_eq!(retry_backoff(far, 40), 65_536 * ms);
    }
}
