//! Retention and inspection of the outbox: [`Outbox::prune`],
//! [`Outbox::summary`], [`Outbox::rows`], [`Outbox::retry_failed`].

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::error::{OutboxError, database};
use super::outbox::Outbox;
use super::relay::read_column;

/// How many rows one prune statement deletes, so that pruning a large
/// backlog does not hold one long transaction.
const PRUNE_CHUNK: i64 = 5_000;

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowStatus {
    /// Waiting to be published (possibly after a failed attempt).
    Pending,
    /// Published and acknowledged by the stream.
    Sent,
    /// Refused by the broker for good; waits for [`Outbox::retry_failed`].
    Failed,
}

impl RowStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts of the outbox's rows, for dashboards and health checks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboxSummary {
    /// Rows waiting to be published.
    pub pending: u64,
    /// Of those, rows whose publish failed at least once (waiting for a retry).
    pub retrying: u64,
    /// Rows refused for good.
    pub failed: u64,
    /// Rows sent and not yet pruned.
    pub sent: u64,
    /// When the oldest pending row was enqueued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

impl fmt::Display for OutboxSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pending ({} retrying), {} failed, {} sent",
            self.pending, self.retrying, self.failed, self.sent
        )?;
        if let Some(oldest) = self.oldest_pending {
            write!(f, "; oldest pending enqueued {}", oldest.to_rfc3339())?;
        }
        Ok(())
    }
}

/// One outbox row, as [`Outbox::rows`] lists it (without its body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// The row's id (its place in the outbox order).
    pub id: i64,
    /// The message id it is published with.
    pub message_id: String,
    /// The subject.
    pub subject: String,
    /// The event's name.
    pub event: String,
    /// The record (`aggregate/id`) it belongs to, if any.
    pub aggregate: Option<String>,
    /// The record's sequence after the event, if any.
    pub sequence: Option<i64>,
    /// Its status.
    pub status: RowStatus,
    /// How many publishes were tried.
    pub attempts: i32,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// When it was enqueued (the transaction's start).
    pub created_at: DateTime<Utc>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// The stream sequence it was stored at, once sent.
    pub stream_sequence: Option<i64>,
}

impl Outbox {
    /// Deletes sent rows sent more than `age` ago; returns how many.
    pub async fn prune(&self, pool: &PgPool, age: Duration) -> Result<u64, OutboxError> {
        let table = self.schema().outbox_table();
        let statement = format!(
            "DELETE FROM {table} WHERE id IN ( \
               SELECT id FROM {table} WHERE status = 'sent' \
                 AND sent_at < now() - make_interval(secs => $1) \
               LIMIT $2)"
        );
        let mut deleted = 0;
        loop {
            let done = sqlx::query(&statement)
                .bind(age.as_secs_f64())
                .bind(PRUNE_CHUNK)
                .execute(pool)
                .await
                .map_err(|err| database("pruning sent outbox rows", err))?
                .rows_affected();
            deleted += done;
            if done < PRUNE_CHUNK.unsigned_abs() {
                return Ok(deleted);
            }
        }
    }

    /// Counts rows by status.
    pub async fn summary(&self, pool: &PgPool) -> Result<OutboxSummary, OutboxError> {
        let statement = format!(
            "SELECT \
               count(*) FILTER (WHERE status = 'pending') AS pending, \
               count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS retrying, \
               count(*) FILTER (WHERE status = 'failed') AS failed, \
               count(*) FILTER (WHERE status = 'sent') AS sent, \
               min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending \
             FROM {}",
            self.schema().outbox_table()
        );
        let row = sqlx::query(&statement)
            .fetch_one(pool)
            .await
            .map_err(|err| database("summarising the outbox", err))?;
        let count = |column: &str| -> Result<u64, OutboxError> {
            let value: i64 = read_column(&row, column)?;
            Ok(value.unsigned_abs())
        };
        Ok(OutboxSummary {
            pending: count("pending")?,
            retrying: count("retrying")?,
            failed: count("failed")?,
            sent: count("sent")?,
            oldest_pending: read_column(&row, "oldest_pending")?,
        })
    }

    /// Up to `limit` rows with `status`, oldest first.
    pub async fn rows(
        &self,
        pool: &PgPool,
        status: RowStatus,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, OutboxError> {
        let statement = format!(
            "SELECT id, message_id, subject, event, aggregate, sequence, attempts, last_error, \
                    created_at, sent_at, stream_sequence \
             FROM {} WHERE status = $1 ORDER BY id LIMIT $2",
            self.schema().outbox_table()
        );
        let rows = sqlx::query(&statement)
            .bind(status.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(|err| database(&format!("listing {status} outbox rows"), err))?;
        rows.iter()
            .map(|row| {
                Ok(OutboxRow {
                    id: read_column(row, "id")?,
                    message_id: read_column(row, "message_id")?,
                    subject: read_column(row, "subject")?,
                    event: read_column(row, "event")?,
                    aggregate: read_column(row, "aggregate")?,
                    sequence: read_column(row, "sequence")?,
                    status,
                    attempts: read_column(row, "attempts")?,
                    last_error: read_column(row, "last_error")?,
                    created_at: read_column(row, "created_at")?,
                    sent_at: read_column(row, "sent_at")?,
                    stream_sequence: read_column(row, "stream_sequence")?,
                })
            })
            .collect()
    }

    /// Puts every failed row back in the queue (pending, ready now);
    /// returns how many. For after the cause was fixed (a stream created,
    /// a limit raised).
    pub async fn retry_failed(&self, pool: &PgPool) -> Result<u64, OutboxError> {
        let statement = format!(
            "UPDATE {} SET status = 'pending', available_at = now() WHERE status = 'failed'",
            self.schema().outbox_table()
        );
        let requeued = sqlx::query(&statement)
            .execute(pool)
            .await
            .map_err(|err| database("re-queueing failed outbox rows", err))?
            .rows_affected();
        if requeued > 0 {
            // Wake the relays now rather than at their next poll.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(self.schema().channel())
                .execute(pool)
                .await
                .map_err(|err| database("notifying the relays", err))?;
        }
        Ok(requeued)
    }
}
