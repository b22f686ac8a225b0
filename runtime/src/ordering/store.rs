//! [`SequenceStore`]: where the ordering guard keeps each record's last
//! applied sequence, changed only by compare-and-set.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::answers::{Answers, StoreFuture};
use super::versioned::{RecordKey, Step};
use crate::bus::transport::BoxFuture;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The sequence being applied (always `applied + 1`, or the initial one).
    pub sequence: u64,
    /// Who holds it.
    pub holder: Holder,
}

/// Who holds a [`Claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A delivery in this process, in a
    /// [`MemorySequenceStore`](super::MemorySequenceStore): the claim ends
    /// with the delivery holding it (a handler that fails, panics or is
    /// abandoned releases it at once), so it has no lease. Never stored
    /// elsewhere.
    Local,
    /// A delivery of any instance, in a shared store. It is superseded, and
    /// may be taken over, by a later delivery of the same message (the
    /// earlier one was abandoned: its process died or its handler timed
    /// out) or once it expires.
    Delivery {
        /// The claiming message: `<stream>/<stream sequence>`.
        message: String,
        /// The claiming delivery's count.
        delivered: u64,
        /// When the claim expires, in milliseconds since the Unix epoch.
        expires_ms: u64,
    },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("another delivery in this process"),
            Self::Delivery { message, .. } => write!(f, "message {message}"),
        }
    }
}

/// A [`Claim`] as shared stores keep it: `{"s", "m", "d", "x"}`.
#[derive(Serialize, Deserialize)]
struct StoredClaim<'a> {
    s: u64,
    #[serde(borrow)]
    m: std::borrow::Cow<'a, str>,
    d: u64,
    x: u64,
}

impl Serialize for Claim {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Holder::Delivery {
            message,
            delivered,
            expires_ms,
        } = &self.holder
        else {
            return Err(serde::ser::Error::custom(
                "a claim held in this process's memory is never stored",
            ));
        };
        StoredClaim {
            s: self.sequence,
            m: std::borrow::Cow::Borrowed(message),
            d: *delivered,
            x: *expires_ms,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Claim {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredClaim::deserialize(deserializer)?;
        Ok(Self {
            sequence: stored.s,
            holder: Holder::Delivery {
                message: stored.m.into_owned(),
                delivered: stored.d,
                expires_ms: stored.x,
            },
        })
    }
}

/// A delivery's request to apply a record's step
/// ([`SequenceStore::claim_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest<'a> {
    /// The record.
    pub key: &'a RecordKey,
    /// The step's sequence.
    pub sequence: u64,
    /// The record's first sequence ([`Versioned::INITIAL_SEQUENCE`](super::Versioned::INITIAL_SEQUENCE)).
    pub initial: u64,
    /// The delivering message's stream.
    pub stream: &'a str,
    /// The delivering message's sequence in its stream.
    pub stream_sequence: u64,
    /// The delivery's count.
    pub delivered: u64,
    /// How long a claim stored for it holds.
    pub lease: Duration,
}

impl<'a> ClaimRequest<'a> {
    /// The request of `delivery` to apply step `sequence` of `key`.
    pub(crate) fn of(
        key: &'a RecordKey,
        sequence: u64,
        initial: u64,
        delivery: &'a crate::Delivery,
        lease: Duration,
    ) -> Self {
        let info = delivery.info();
        Self {
            key,
            sequence,
            initial,
            stream: &info.stream,
            stream_sequence: info.stream_sequence,
            delivered: info.delivered,
            lease,
        }
    }

    /// The delivering message as a claim names it: `<stream>/<stream sequence>`.
    pub fn message(&self) -> String {
        format!("{}/{}", self.stream, self.stream_sequence)
    }

    /// Whether a claim's `message` names this request's message.
    pub(crate) fn is_message(&self, message: &str) -> bool {
        message.rsplit_once('/').is_some_and(|(stream, sequence)| {
            stream == self.stream && sequence.parse() == Ok(self.stream_sequence)
        })
    }

    /// The claim a shared store keeps for this request at `now_ms`.
    pub fn stored_claim(&self, now_ms: u64) -> Claim {
        let lease_ms = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        Claim {
            sequence: self.sequence,
            holder: Holder::Delivery {
                message: self.message(),
                delivered: self.delivered,
                expires_ms: now_ms.saturating_add(lease_ms),
            },
        }
    }
}

/// A store's answer to a [`ClaimRequest`] (the guard's `decide`
/// rule): `T` is what a won claim carries, a [`Ticket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<T = Ticket> {
    /// The step is applied already (the record's last applied sequence is
    /// this): a duplicate or a stale event.
    Applied(u64),
    /// The sequence is below the record's initial sequence.
    BelowInitial,
    /// The step arrived early: `next` is the record's next step.
    Early {
        /// The record's next sequence.
        next: u64,
    },
    /// Another delivery holds the step's claim.
    Busy(Holder),
    /// This delivery claimed the step.
    Claimed(T),
}

impl<T> Verdict<T> {
    /// The same verdict, a won claim's `T` made a `U` by `claimed`
    /// (the guard's `decide` says `Claimed(())`; a store answers with
    /// its [`Ticket`]).
    pub fn map<U>(self, claimed: impl FnOnce(T) -> U) -> Verdict<U> {
        match self {
            Self::Applied(last) => Verdict::Applied(last),
            Self::BelowInitial => Verdict::BelowInitial,
            Self::Early { next } => Verdict::Early { next },
            Self::Busy(holder) => Verdict::Busy(holder),
            Self::Claimed(claim) => Verdict::Claimed(claimed(claim)),
        }
    }
}

/// A won claim, as [`SequenceStore::finish_all`] needs it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// The record's last applied sequence when the step was claimed.
    pub applied: Option<u64>,
    /// The record's revision with the claim in it.
    pub revision: u64,
}

/// The end of a claimed step ([`SequenceStore::finish_all`]): recorded as
/// applied when its handler succeeded, released when it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish<'a> {
    /// The record.
    pub key: &'a RecordKey,
    /// The claimed step.
    pub sequence: u64,
    /// The claim.
    pub ticket: Ticket,
    /// Whether the handler succeeded (record) or not (release).
    pub handled: bool,
}

/// What [`SequenceStore::finish_all`] did with a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Recorded as applied (or found recorded: the handler recorded its own
    /// step), or released.
    Done,
    /// Not recorded: the record moved elsewhere while the handler ran (from
    /// the ticket's `applied` to this).
    Moved(Option<u64>),
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
/// The guard uses two operations, [`claim_all`](Self::claim_all) and
/// [`finish_all`](Self::finish_all), each over a batch of steps. A shared
/// store implements the compare-and-set primitives ([`load`](Self::load),
/// [`swap`](Self::swap), optionally [`swap_all`](Self::swap_all) and
/// [`cached`](Self::cached)) and gets both from them;
/// [`MemorySequenceStore`](super::MemorySequenceStore) answers them in
/// memory, a batch under one lock.
///
/// Object safe; implementations:
///
/// - [`MemorySequenceStore`](super::MemorySequenceStore): one process;
/// - [`KvSequenceStore`](crate::nats::KvSequenceStore) (feature `nats`): a
///   JetStream key-value bucket, shared by every instance;
/// - `PgSequenceStore` (feature `postgres`, in `typebus::postgres`): a
///   PostgreSQL table, which a handler can write in its own transaction.
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

    /// Claims each request's step for its delivery, or says why not
    /// (the guard's `decide` rule), answered in order. A won claim
    /// is stored with the request's lease; its [`Ticket`] goes back to
    /// [`finish_all`](Self::finish_all). Default: what the cache decides,
    /// claimed in one [`swap_all`](Self::swap_all); what it cannot
    /// (a record not cached, a stale entry, a conflict) read from the
    /// store and claimed one by one.
    fn claim_all<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> StoreFuture<'a, Answers<Result<Verdict, StoreError>>> {
        StoreFuture::new(super::cas::claim_all(self, requests))
    }

    /// Records each handled step as applied and releases each failed one's
    /// claim, answered in order. A step is recorded over whatever claim is
    /// there as long as the record still stands where the step started;
    /// a release that fails is only logged (the claim is taken over later).
    /// Default: one [`swap_all`](Self::swap_all); a conflict read and
    /// retried one by one.
    fn finish_all<'a>(
        &'a self,
        finishes: &'a [Finish<'a>],
    ) -> StoreFuture<'a, Answers<Result<Finished, StoreError>>> {
        StoreFuture::new(super::cas::finish_all(self, finishes))
    }

    /// Whether the guard takes the engine's messages in batches over this
    /// store ([`Dispatch::Batches`](crate::Dispatch::Batches)), so that a
    /// batch's claims and records are one write each. Default `true`; a
    /// store with no writes to share (in memory) says `false`, sparing
    /// handlers the wait for their batch.
    fn batches(&self) -> bool {
        true
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

    fn claim_all<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> StoreFuture<'a, Answers<Result<Verdict, StoreError>>> {
        (**self).claim_all(requests)
    }

    fn finish_all<'a>(
        &'a self,
        finishes: &'a [Finish<'a>],
    ) -> StoreFuture<'a, Answers<Result<Finished, StoreError>>> {
        (**self).finish_all(finishes)
    }

    fn batches(&self) -> bool {
        (**self).batches()
    }

    fn applied<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        (**self).applied(key)
    }

    fn record<'a>(&'a self, step: &'a Step) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).record(step)
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
    /// The record kept changing under compare-and-set: every attempt found
    /// another revision.
    Contended,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unavailable => "sequence store unavailable",
            Self::Corrupt => "sequence store holds an unreadable value",
            Self::Rejected => "sequence store rejected the request",
            Self::Contended => "the record kept changing under compare-and-set",
        })
    }
}

/// A sequence store that could not answer; see [`StoreErrorKind`].
pub type StoreError = crate::error::Error<StoreErrorKind>;
