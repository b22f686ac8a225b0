//! [`SequenceStore`]: where the ordering guard keeps each record's last
//! applied sequence, changed only by compare-and-set.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::versioned::{RecordKey, Step};
use crate::transport::BoxFuture;

/// What a store knows about one record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct State {
    /// The last applied sequence; `None` before the record's first event.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<u64>,
    /// The next step, while a delivery is applying it.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
}

/// A delivery's claim on a record's next step: while it holds, no other
/// delivery calls the handler for that step.
///
/// A claim is superseded, and may be taken over, by a later delivery of
/// the same message (the earlier one was abandoned: its process died or
/// its handler timed out) or once it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The sequence being applied (always `applied + 1`, or the initial one).
    #[serde(rename = "s")]
    pub sequence: u64,
    /// The claiming message: `<stream>/<stream sequence>`.
    #[serde(rename = "m")]
    pub message: String,
    /// The claiming delivery's count.
    #[serde(rename = "d")]
    pub delivered: u64,
    /// When the claim expires, in milliseconds since the Unix epoch.
    #[serde(rename = "x")]
    pub expires_ms: u64,
}

impl Claim {
    /// Whether a delivery (`message`, its `delivered` count, at `now_ms`)
    /// may take this claim over: it is a later delivery of the claiming
    /// message (the earlier one was abandoned), or the claim expired.
    pub(crate) fn taken_over_by(&self, message: &str, delivered: u64, now_ms: u64) -> bool {
        (self.message == message && delivered >= self.delivered) || now_ms >= self.expires_ms
    }
}

/// Where an event stands in its record's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// At or below the last applied sequence: a duplicate or stale event.
    Applied(u64),
    /// Below the record's initial sequence (and the record has none applied).
    BelowInitial,
    /// The record's next step.
    Next,
    /// Beyond the next step, `next`.
    Early {
        /// The record's next sequence.
        next: u64,
    },
}

impl Position {
    /// Where `sequence` stands when the record's last applied sequence is
    /// `applied` and its first is `initial`.
    pub(crate) fn of(applied: Option<u64>, sequence: u64, initial: u64) -> Self {
        if let Some(last) = applied
            && sequence <= last
        {
            return Self::Applied(last);
        }
        let next = applied.map_or(initial, |last| last.saturating_add(1));
        match sequence.cmp(&next) {
            std::cmp::Ordering::Less => Self::BelowInitial,
            std::cmp::Ordering::Equal => Self::Next,
            std::cmp::Ordering::Greater => Self::Early { next },
        }
    }
}

/// The message a claim names: `<stream>/<stream sequence>`.
pub(crate) fn message_id(delivery: &crate::Delivery) -> String {
    let info = delivery.info();
    format!("{}/{}", info.stream, info.stream_sequence)
}

/// Wall-clock milliseconds: claims are compared across processes.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A record's state and its revision: the value compare-and-set compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The state.
    pub state: State,
    /// The revision, changed by every successful swap.
    pub revision: u64,
}

/// One compare-and-set of [`SequenceStore::swap_all`]: replace `key`'s
/// state with `state` if its revision is `expected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// The record.
    pub key: RecordKey,
    /// The revision it must have (`None`: it must have no entry).
    pub expected: Option<u64>,
    /// The new state.
    pub state: State,
}

/// What a compare-and-set did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swapped {
    /// The state was replaced; this is its new revision.
    Done {
        /// The new revision.
        revision: u64,
    },
    /// The record's revision was not the expected one (someone else changed
    /// it, or it exists where absence was expected): nothing was written.
    Conflict,
}

/// The per-record sequences of one service's ordered listeners.
///
/// A store holds one state per [`RecordKey`] and changes it only by
/// compare-and-set on the entry's revision ([`swap`](Self::swap)), so two
/// instances of a service can never both claim, or both record, the same
/// step. One store (one bucket, one table) per service: the records are
/// that service's view of what it has applied.
///
/// Object safe; implementations:
///
/// - [`MemorySequenceStore`](super::MemorySequenceStore): one process;
/// - [`KvSequenceStore`](super::KvSequenceStore) (feature `nats`): a
///   JetStream key-value bucket, shared by every instance;
/// - `PgSequenceStore` (feature `postgres`, in `typebus::postgres`): a
///   PostgreSQL table, which a handler can write in its own transaction;
/// - `JournalSequenceStore` (feature `journal-experimental`, experimental):
///   a JetStream stream written in batches, every record in each
///   instance's memory.
pub trait SequenceStore: Send + Sync + 'static {
    /// The record's current entry; `None` when it has none.
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>>;

    /// Replaces the record's state with `state` if its revision is
    /// `expected` (`None`: only if the record has no entry).
    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>>;

    /// Several compare-and-sets, each as [`swap`](Self::swap) does it (each
    /// may succeed or conflict on its own), answered in order. A store that
    /// writes in batches sends them together. Default: every `swap` at once,
    /// polled together.
    fn swap_all<'a>(
        &'a self,
        swaps: &'a [Swap],
    ) -> BoxFuture<'a, Vec<Result<Swapped, StoreError>>> {
        Box::pin(futures_util::future::join_all(
            swaps
                .iter()
                .map(|swap| self.swap(&swap.key, swap.expected, &swap.state)),
        ))
    }

    /// An entry this process saw recently, without asking the store; it may
    /// be older than the store's but never newer. The guard trusts it only
    /// to recognise duplicates and to try a compare-and-set (which fails on
    /// a stale revision). Default: none.
    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        let _ = key;
        None
    }

    /// This store as a [`MemorySequenceStore`](super::MemorySequenceStore),
    /// when it is one. Every delivery that applies such a store's steps
    /// runs in this process, so the guard claims and records them in it
    /// directly, without compare-and-set rounds: its claims need not be
    /// stored, only seen by this process. A wrapper that forwards this
    /// hands the guard the memory store itself (bypassing the wrapper's
    /// `load` and `swap`). Default: `None`.
    fn as_memory(&self) -> Option<&super::MemorySequenceStore> {
        None
    }

    /// The record's last applied sequence.
    fn applied<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move { Ok(self.load(key).await?.and_then(|entry| entry.state.applied)) })
    }

    /// Records `step` as applied if the record's last applied sequence is
    /// still `step.previous`, whoever holds a claim on it. Returns whether
    /// it did; `false` means the record has moved elsewhere (another
    /// instance recorded the step, or the store is behind).
    ///
    /// The hook for handlers that record their own step (see the module
    /// docs): the guard then finds the step recorded and acknowledges
    /// without recording it again. A store backed by a database offers the
    /// same inside the handler's own transaction.
    fn record<'a>(&'a self, step: &'a Step) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = State {
                applied: Some(step.sequence),
                claim: None,
            };
            loop {
                let current = self.load(&step.key).await?;
                let applied = current.as_ref().and_then(|entry| entry.state.applied);
                if applied != step.previous {
                    return Ok(false);
                }
                let expected = current.map(|entry| entry.revision);
                if let Swapped::Done { .. } = self.swap(&step.key, expected, &done).await? {
                    return Ok(true);
                }
            }
        })
    }
}

impl<S: SequenceStore + ?Sized> SequenceStore for std::sync::Arc<S> {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        (**self).load(key)
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        (**self).swap(key, expected, state)
    }

    fn swap_all<'a>(
        &'a self,
        swaps: &'a [Swap],
    ) -> BoxFuture<'a, Vec<Result<Swapped, StoreError>>> {
        (**self).swap_all(swaps)
    }

    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        (**self).cached(key)
    }

    fn as_memory(&self) -> Option<&super::MemorySequenceStore> {
        (**self).as_memory()
    }
}

/// Why a sequence store could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be reached or did not answer in time.
    Unavailable,
    /// A stored value is not a sequence state (written by something else).
    Corrupt,
    /// The store refused the request (a bad bucket name, a bad key).
    Rejected,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unavailable => "sequence store unavailable",
            Self::Corrupt => "sequence store holds an unreadable value",
            Self::Rejected => "sequence store rejected the request",
        })
    }
}

/// A sequence store that could not answer; see [`StoreErrorKind`].
pub type StoreError = crate::error::Error<StoreErrorKind>;
