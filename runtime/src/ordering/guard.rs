//! [`Ordered`]: the ordering guard, a [`Listener`] that wraps another and
//! hands it each record's events once, in sequence.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::Either;

use super::memory_store::{Begin, MemorySequenceStore};
use super::store::{
    Claim, Entry, Position, SequenceStore, State, StoreError, Swap, Swapped, message_id, now_ms,
};
use super::versioned::{RecordKey, Versioned};
use crate::delivery::Delivery;
use crate::error::chain;
use crate::listener::{DeadLetterKind, HandlerError, Listener, caught};

/// How many compare-and-set rounds one delivery tries before it gives up
/// (retryable) on a record that keeps changing under it.
const MAX_ROUNDS: usize = 16;

/// The default delay before an event that arrived early is delivered again.
const DEFAULT_EARLY_DELAY: Duration = Duration::from_secs(1);

/// The default longest delay between deliveries of an early event.
const DEFAULT_MAX_EARLY_DELAY: Duration = Duration::from_secs(30);

/// The default number of deliveries an early event waits for the gap before it.
const DEFAULT_PATIENCE: u32 = 10;

/// A listener whose events are applied per record in sequence, each once.
///
/// For an event with sequence `s` of record `k` whose last applied sequence
/// (in the [`SequenceStore`]) is `a`:
///
/// - `s <= a`: a duplicate or a stale event. Acknowledged without calling
///   the handler (logged at debug).
/// - `s = a + 1`, or the record's first event at
///   [`Versioned::INITIAL_SEQUENCE`]: the delivery claims the step in the
///   store (compare-and-set), calls the handler, records `s` and
///   acknowledges. Another delivery of the same step meanwhile (a
///   duplicate on another instance) waits: it is delivered again after
///   [`early_delay`](Self::early_delay) and then acknowledged as a duplicate.
/// - `s > a + 1`: it arrived early. It is delivered again after
///   [`early_delay`](Self::early_delay), doubling with every delivery up to
///   [`max_early_delay`](Self::max_early_delay); on its
///   [`patience`](Self::patience)-th delivery, still early, it is
///   dead-lettered ([`DeadLetterKind::Gap`]) with the reason
///   `gap: waiting for <k>@<a+1>`. Other records keep flowing.
///
/// Early events wait as unsettled deliveries, and a consumer hands out at
/// most [`ListenOptions::max_ack_pending`](crate::ListenOptions::max_ack_pending)
/// of those at a time: when more events than that wait for gaps, the
/// events that would fill the gaps are not delivered until the patience
/// dead-letters some. Keep `max_ack_pending` above the reordering the
/// publishers can cause (it is small when each record is saved and
/// published by one writer in order; a replay of a shuffled backlog needs
/// a window as large as the backlog).
///
/// Over a shared store the guard takes the messages the engine has at hand
/// as one batch ([`batches`](Self::batches)): it claims their steps in one
/// write, runs their handlers together, and records the steps in one write
/// before any is acknowledged. A record's later events in the same batch
/// are applied after its earlier ones, in rounds.
///
/// The handler's own errors keep their meaning (retryable: delivered again;
/// permanent: dead-lettered); its claim is released so the retry can claim
/// the step again. The wrapped listener's `max_deliver` is raised by the
/// patience, so waiting for a gap does not eat the handler's retries.
///
/// ```no_run
/// # use typebus::{Delivery, HandlerError, Listener};
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
/// # #[event(subject = "ticket:updated", version = 1)]
/// # struct TicketUpdated { id: String, version: u64 }
/// # impl typebus::Versioned for TicketUpdated {
/// #     const AGGREGATE: &'static str = "ticket";
/// #     fn id(&self) -> std::borrow::Cow<'_, str> { std::borrow::Cow::Borrowed(&self.id) }
/// #     fn sequence(&self) -> u64 { self.version }
/// # }
/// # struct UpdateReplica;
/// # impl Listener for UpdateReplica {
/// #     type Event = TicketUpdated;
/// #     fn queue_group(&self) -> &str { "orders-service" }
/// #     async fn on_message(&self, _: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// # async fn demo(bus: typebus::Bus) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use typebus::ordering::{MemorySequenceStore, Ordered};
///
/// let store = Arc::new(MemorySequenceStore::new());
/// let handle = bus
///     .listen(Ordered::new(UpdateReplica, store).early_delay(Duration::from_millis(500)).patience(60))
///     .await?;
/// # drop(handle); Ok(()) }
/// ```
pub struct Ordered<L> {
    listener: L,
    store: Arc<dyn SequenceStore>,
    early_delay: Duration,
    max_early_delay: Duration,
    patience: u32,
    lease: Option<Duration>,
    batch: bool,
}

impl<L> Ordered<L>
where
    L: Listener,
    L::Event: Versioned,
{
    /// Guards `listener` with the sequences in `store` (share one store
    /// between the listeners of one record's key space).
    pub fn new(listener: L, store: Arc<dyn SequenceStore>) -> Self {
        Self {
            listener,
            store,
            early_delay: DEFAULT_EARLY_DELAY,
            max_early_delay: DEFAULT_MAX_EARLY_DELAY,
            patience: DEFAULT_PATIENCE,
            lease: None,
            batch: true,
        }
    }

    /// Sets the delay before an early event (or one whose step another
    /// delivery is applying) is delivered again the first time; it doubles
    /// with each delivery. Default 1 s.
    pub fn early_delay(mut self, delay: Duration) -> Self {
        self.early_delay = delay;
        self
    }

    /// Sets the longest delay between deliveries of an early event.
    /// Default 30 s.
    pub fn max_early_delay(mut self, delay: Duration) -> Self {
        self.max_early_delay = delay;
        self
    }

    /// Sets on which delivery an event still early is dead-lettered as a
    /// gap (at least 1). Default 10: with the default delays, a gap is
    /// waited for at least 1 + 2 + 4 + 8 + 16 + 30 x 4 = 151 seconds.
    pub fn patience(mut self, deliveries: u32) -> Self {
        self.patience = deliveries.max(1);
        self
    }

    /// Sets whether, over a shared store, the guard takes the engine's
    /// messages in batches (see [`Listener::batched`]): one write claims the
    /// steps of a batch, its handlers are polled together on one task, and
    /// one write records the steps, where one event at a time costs two
    /// writes and two task hand-offs per event (the ordering bench measures
    /// both). Default `true`; turn it off for handlers that compute rather
    /// than wait, which would hold up the rest of their batch. A
    /// [`MemorySequenceStore`] is never batched: it has no writes to share.
    pub fn batches(mut self, batch: bool) -> Self {
        self.batch = batch;
        self
    }

    /// Sets how long a claim on a step holds before another delivery may
    /// take it over (when the claiming delivery's process died and its
    /// message is not redelivered). Default: 7 x `ack_wait`, longer than
    /// the engine's default handler timeout. Claims in a
    /// [`MemorySequenceStore`] have no lease: they end with their delivery.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The wrapped listener.
    pub fn inner(&self) -> &L {
        &self.listener
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SequenceStore> {
        &self.store
    }

    fn lease_duration(&self) -> Duration {
        self.lease
            .unwrap_or_else(|| self.listener.ack_wait().saturating_mul(7))
    }

    /// The guard over a shared store: claim by compare-and-set, handle,
    /// record by compare-and-set.
    async fn guard_shared(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        let key = RecordKey::of(&event);
        let sequence = event.sequence();
        let initial = <L::Event as Versioned>::INITIAL_SEQUENCE;
        let message = message_id(delivery);
        let delivered = delivery.delivery_count();
        let store = &*self.store;

        // What we know: the cache, or (for a record's first event) nothing
        // yet: try to create it, and read only if that conflicts.
        let mut current = store.cached(&key);
        let mut fresh = false;
        if current.is_none() && sequence != initial {
            current = store.load(&key).await.map_err(retry)?;
            fresh = true;
        }
        let mut rounds = 0;
        let (applied, revision) = loop {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(HandlerError::retry(format!(
                    "{key}@{sequence}: the record kept changing during {MAX_ROUNDS} attempts to claim it"
                )));
            }
            let (applied, expected, claimed) =
                match self.next_move(sequence, current.as_ref(), message.clone(), delivered) {
                    Move::Applied(last) => {
                        self.duplicate(&key, sequence, last);
                        return Ok(());
                    }
                    Move::BelowInitial => return Err(below_initial(&key, sequence, initial)),
                    // What is known may be stale: read the store, then decide.
                    Move::Early { .. } | Move::Busy(_) if !fresh => {
                        current = store.load(&key).await.map_err(retry)?;
                        fresh = true;
                        continue;
                    }
                    Move::Early { next } => return Err(self.early(&key, sequence, next, delivered)),
                    Move::Busy(by) => return Err(self.busy(&key, sequence, Some(&by))),
                    Move::Claim {
                        applied,
                        expected,
                        state,
                    } => (applied, expected, state),
                };
            match store.swap(&key, expected, &claimed).await.map_err(retry)? {
                Swapped::Done { revision } => break (applied, revision),
                Swapped::Conflict => {
                    current = store.load(&key).await.map_err(retry)?;
                    fresh = true;
                }
            }
        };

        let outcome = AssertUnwindSafe(self.listener.on_message(event, delivery))
            .catch_unwind()
            .await;
        match outcome {
            Ok(Ok(())) => self.finish(&key, sequence, applied, revision).await,
            Ok(Err(err)) => {
                self.release(&key, applied, revision).await;
                Err(err)
            }
            Err(panic) => {
                self.release(&key, applied, revision).await;
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// What a delivery (`message`, its `delivered` count) of step
    /// `sequence` does, given the record's entry as far as it is known:
    /// the rules both shared-store paths follow.
    fn next_move(
        &self,
        sequence: u64,
        current: Option<&Entry>,
        message: String,
        delivered: u64,
    ) -> Move {
        let initial = <L::Event as Versioned>::INITIAL_SEQUENCE;
        let state = current.map(|entry| &entry.state);
        let applied = state.and_then(|state| state.applied);
        match Position::of(applied, sequence, initial) {
            Position::Applied(last) => return Move::Applied(last),
            Position::BelowInitial => return Move::BelowInitial,
            Position::Early { next } => return Move::Early { next },
            Position::Next => {}
        }
        let now = now_ms();
        if let Some(claim) = state.and_then(|state| state.claim.as_ref())
            && claim.sequence == sequence
            && !claim.taken_over_by(&message, delivered, now)
        {
            return Move::Busy(claim.message.clone());
        }
        let lease_ms = u64::try_from(self.lease_duration().as_millis()).unwrap_or(u64::MAX);
        Move::Claim {
            applied,
            expected: current.map(|entry| entry.revision),
            state: State {
                applied,
                claim: Some(Claim {
                    sequence,
                    message,
                    delivered,
                    expires_ms: now.saturating_add(lease_ms),
                }),
            },
        }
    }

    /// The guard over a shared store for a batch of deliveries: the steps
    /// of [`guard_shared`](Self::guard_shared), with the batch's claims
    /// written together, its handlers polled together, and its steps
    /// recorded together ([`SequenceStore::swap_all`]). Each round takes at
    /// most one event per record (the lowest sequence), so a record's next
    /// event in the batch finds its step recorded. Whatever the cache
    /// cannot decide (a record not seen yet, an early event, a claim held
    /// elsewhere, a conflict) takes the one-event path.
    async fn guard_batch(
        &self,
        events: Vec<(L::Event, &Delivery)>,
    ) -> Vec<Result<(), HandlerError>> {
        let mut outcomes: Vec<Option<Result<(), HandlerError>>> =
            std::iter::repeat_with(|| None).take(events.len()).collect();
        let mut waiting: Vec<Pending<'_, L::Event>> = events
            .into_iter()
            .enumerate()
            .map(|(index, (event, delivery))| Pending {
                index,
                key: RecordKey::of(&event),
                event,
                delivery,
            })
            .collect();
        while !waiting.is_empty() {
            // Each record's lowest sequence first; its later events wait.
            waiting.sort_by(|a, b| (&a.key, a.event.sequence()).cmp(&(&b.key, b.event.sequence())));
            let mut round: Vec<Pending<'_, L::Event>> = Vec::with_capacity(waiting.len());
            let mut later = Vec::new();
            for pending in waiting {
                if round.last().is_some_and(|last| last.key == pending.key) {
                    later.push(pending);
                } else {
                    round.push(pending);
                }
            }
            self.guard_round(round, &mut outcomes).await;
            waiting = later;
        }
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    Err(HandlerError::retry(
                        "the ordering guard gave no outcome for this event",
                    ))
                })
            })
            .collect()
    }

    /// One round of [`guard_batch`](Self::guard_batch): claim, handle, record.
    async fn guard_round<'d>(
        &self,
        round: Vec<Pending<'d, L::Event>>,
        outcomes: &mut [Option<Result<(), HandlerError>>],
    ) {
        let store = &*self.store;
        let initial = <L::Event as Versioned>::INITIAL_SEQUENCE;
        let mut alone: Vec<(usize, L::Event, &'d Delivery)> = Vec::new();
        let mut claims = Vec::with_capacity(round.len());
        let mut claiming = Vec::with_capacity(round.len());
        for Pending {
            index,
            key,
            event,
            delivery,
        } in round
        {
            let sequence = event.sequence();
            let current = store.cached(&key);
            // A record this instance has not seen: only its store knows.
            if current.is_none() && sequence != initial {
                alone.push((index, event, delivery));
                continue;
            }
            let message = message_id(delivery);
            match self.next_move(
                sequence,
                current.as_ref(),
                message,
                delivery.delivery_count(),
            ) {
                Move::Applied(last) => {
                    self.duplicate(&key, sequence, last);
                    outcomes[index] = Some(Ok(()));
                }
                Move::BelowInitial => {
                    outcomes[index] = Some(Err(below_initial(&key, sequence, initial)));
                }
                // The cache may be stale: the one-event path reads the store.
                Move::Early { .. } | Move::Busy(_) => alone.push((index, event, delivery)),
                Move::Claim {
                    applied,
                    expected,
                    state,
                } => {
                    claims.push(Swap {
                        key,
                        expected,
                        state,
                    });
                    claiming.push((index, sequence, applied, event, delivery));
                }
            }
        }

        // Claim together.
        let answers = if claims.is_empty() {
            Vec::new()
        } else {
            store.swap_all(&claims).await
        };
        let mut steps = Vec::with_capacity(claiming.len());
        let mut calls = Vec::with_capacity(claiming.len());
        for ((claim, (index, sequence, applied, event, delivery)), answer) in
            claims.into_iter().zip(claiming).zip(answers)
        {
            match answer {
                Ok(Swapped::Done { revision }) => {
                    steps.push((index, claim.key, sequence, applied, revision));
                    calls.push((event, delivery));
                }
                Ok(Swapped::Conflict) => alone.push((index, event, delivery)),
                Err(err) => outcomes[index] = Some(Err(retry(err))),
            }
        }

        // Handle together, with the events that go alone.
        let handled = futures_util::future::join_all(
            calls
                .into_iter()
                .map(|(event, delivery)| caught(self.listener.on_message(event, delivery))),
        );
        let lone = futures_util::future::join_all(alone.into_iter().map(
            |(index, event, delivery)| async move {
                (index, caught(self.guard_shared(event, delivery)).await)
            },
        ));
        let (handled, lone) = futures_util::future::join(handled, lone).await;
        for (index, outcome) in lone {
            outcomes[index] = Some(outcome);
        }

        // Record (or release) together.
        let mut records = Vec::with_capacity(steps.len());
        let mut recording = Vec::with_capacity(steps.len());
        for ((index, key, sequence, applied, revision), outcome) in steps.into_iter().zip(handled) {
            let applied_now = if outcome.is_ok() {
                Some(sequence)
            } else {
                applied
            };
            records.push(Swap {
                key,
                expected: Some(revision),
                state: State {
                    applied: applied_now,
                    claim: None,
                },
            });
            recording.push((index, sequence, applied, revision, outcome));
        }
        let answers = if records.is_empty() {
            Vec::new()
        } else {
            store.swap_all(&records).await
        };
        let mut moved = Vec::new();
        for ((record, (index, sequence, applied, revision, outcome)), answer) in
            records.into_iter().zip(recording).zip(answers)
        {
            match (outcome, answer) {
                (Ok(()), Ok(Swapped::Done { .. })) => outcomes[index] = Some(Ok(())),
                (Ok(()), Ok(Swapped::Conflict)) => {
                    moved.push((index, record.key, sequence, applied, revision));
                }
                (Ok(()), Err(err)) => outcomes[index] = Some(Err(retry(err))),
                (Err(err), released) => {
                    if let Err(why) = released {
                        tracing::debug!(record = %record.key, error = %chain(&why), "claim not released");
                    }
                    outcomes[index] = Some(Err(err));
                }
            }
        }
        // Records that changed while their handlers ran: one at a time.
        let finished = futures_util::future::join_all(moved.into_iter().map(
            |(index, key, sequence, applied, revision)| async move {
                (index, self.finish(&key, sequence, applied, revision).await)
            },
        ))
        .await;
        for (index, outcome) in finished {
            outcomes[index] = Some(outcome);
        }
    }

    /// The guard over a [`MemorySequenceStore`]: the same steps, with the
    /// claim taken and the step recorded in memory under the record's own
    /// lock (no compare-and-set rounds, no stored claim to allocate).
    async fn guard_in_memory(
        &self,
        memory: &MemorySequenceStore,
        event: L::Event,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        let key = RecordKey::of(&event);
        let sequence = event.sequence();
        let initial = <L::Event as Versioned>::INITIAL_SEQUENCE;
        let claim = match memory.begin(&key, sequence, initial, delivery) {
            Begin::Applied(last) => {
                self.duplicate(&key, sequence, last);
                return Ok(());
            }
            Begin::BelowInitial => return Err(below_initial(&key, sequence, initial)),
            Begin::Early { next } => {
                return Err(self.early(&key, sequence, next, delivery.delivery_count()));
            }
            Begin::Busy(by) => return Err(self.busy(&key, sequence, by.as_deref())),
            Begin::Claimed(claim) => claim,
        };
        let outcome = AssertUnwindSafe(self.listener.on_message(event, delivery))
            .catch_unwind()
            .await;
        match outcome {
            Ok(Ok(())) => {
                let applied = claim.applied();
                claim
                    .finish()
                    .map_err(|moved| moved_while_handling(&key, sequence, applied, moved))
            }
            // Dropping the claim unfinished releases it.
            Ok(Err(err)) => Err(err),
            Err(panic) => {
                drop(claim);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// A duplicate or stale event: acknowledged without handling.
    fn duplicate(&self, key: &RecordKey, sequence: u64, applied: u64) {
        tracing::debug!(record = %key, sequence, applied, "duplicate or stale event acknowledged without handling");
    }

    /// The error for a step another delivery is applying (`by`: the message
    /// its stored claim names; `None`: a delivery in this process): wait.
    fn busy(&self, key: &RecordKey, sequence: u64, by: Option<&str>) -> HandlerError {
        let by = by.map_or_else(
            || "another delivery in this process".to_owned(),
            |message| format!("message {message}"),
        );
        tracing::debug!(record = %key, sequence, claimed_by = %by, "step being applied by another delivery; waiting");
        HandlerError::retry_after(
            self.early_delay,
            format!("{key}@{sequence} is being applied by {by}"),
        )
    }

    /// The error for an early event: wait, or dead-letter once out of patience.
    fn early(&self, key: &RecordKey, sequence: u64, next: u64, delivered: u64) -> HandlerError {
        if delivered >= u64::from(self.patience) {
            tracing::warn!(record = %key, sequence, waiting_for = next, delivered, "gap not filled in time; dead-lettering");
            HandlerError::dead_letter(
                DeadLetterKind::Gap,
                format!("gap: waiting for {key}@{next}"),
            )
        } else {
            tracing::debug!(record = %key, sequence, waiting_for = next, delivered, "event arrived early; delivering it again later");
            HandlerError::retry_after(
                self.early_wait(delivered),
                format!("early: {key}@{sequence} waits for {key}@{next}"),
            )
        }
    }

    /// The delay after early delivery number `delivered`: doubling from
    /// `early_delay`, at most `max_early_delay`.
    pub(crate) fn early_wait(&self, delivered: u64) -> Duration {
        let max = self.max_early_delay.max(self.early_delay);
        crate::Backoff::new(self.early_delay, max).delay(delivered.saturating_sub(1).min(20))
    }

    /// Records the handled step. If the entry changed meanwhile (the
    /// handler recorded the step itself, or a takeover claimed it), the
    /// step is recorded over whatever claim is there as long as the record
    /// still stands where this step started.
    async fn finish(
        &self,
        key: &RecordKey,
        sequence: u64,
        applied: Option<u64>,
        revision: u64,
    ) -> Result<(), HandlerError> {
        let done = State {
            applied: Some(sequence),
            claim: None,
        };
        let mut expected = Some(revision);
        for _ in 0..MAX_ROUNDS {
            if let Swapped::Done { .. } =
                self.store.swap(key, expected, &done).await.map_err(retry)?
            {
                return Ok(());
            }
            let Some(current) = self.store.load(key).await.map_err(retry)? else {
                return Err(HandlerError::retry(format!(
                    "{key}@{sequence}: the record's entry vanished while the handler ran"
                )));
            };
            match current.state.applied {
                Some(last) if last >= sequence => return Ok(()),
                last if last == applied => expected = Some(current.revision),
                moved => return Err(moved_while_handling(key, sequence, applied, moved)),
            }
        }
        Err(HandlerError::retry(format!(
            "{key}@{sequence}: the record kept changing while recording the step"
        )))
    }

    /// Gives up a claim after the handler failed, so that its retry (or a
    /// duplicate) can claim the step at once. A claim that cannot be
    /// released is taken over by the message's next delivery.
    async fn release(&self, key: &RecordKey, applied: Option<u64>, revision: u64) {
        let released = State {
            applied,
            claim: None,
        };
        match self.store.swap(key, Some(revision), &released).await {
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(record = %key, error = %chain(&err), "claim not released");
            }
        }
    }
}

impl<L> Listener for Ordered<L>
where
    L: Listener,
    L::Event: Versioned,
{
    type Event = L::Event;

    fn queue_group(&self) -> &str {
        self.listener.queue_group()
    }

    fn ack_wait(&self) -> Duration {
        self.listener.ack_wait()
    }

    fn max_deliver(&self) -> Option<u32> {
        self.listener
            .max_deliver()
            .map(|max| max.saturating_add(self.patience))
    }

    fn retry_delay(&self, delivery_count: u64) -> Duration {
        self.listener.retry_delay(delivery_count)
    }

    fn reads_version(&self, version: u32) -> bool {
        self.listener.reads_version(version)
    }

    /// Batched over a shared store, unless [turned off](Self::batches): a
    /// batch's claims and records are one write each.
    fn batched(&self) -> bool {
        self.batch && self.store.as_memory().is_none()
    }

    fn on_batch<'a>(
        &'a self,
        events: Vec<(L::Event, &'a Delivery)>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send + 'a {
        match self.store.as_memory() {
            Some(_) => Either::Left(futures_util::future::join_all(
                events
                    .into_iter()
                    .map(|(event, delivery)| caught(self.on_message(event, delivery))),
            )),
            None => Either::Right(Box::pin(self.guard_batch(events))),
        }
    }

    fn on_message(
        &self,
        event: L::Event,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        match self.store.as_memory() {
            Some(memory) => Either::Left(self.guard_in_memory(memory, event, delivery)),
            // Boxed: its state (a few store round trips) would otherwise
            // make every delivery's future, the in-memory path's too,
            // several times larger.
            None => Either::Right(Box::pin(self.guard_shared(event, delivery))),
        }
    }
}

impl<L> std::fmt::Debug for Ordered<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered")
            .field("listener", &std::any::type_name::<L>())
            .field("early_delay", &self.early_delay)
            .field("max_early_delay", &self.max_early_delay)
            .field("patience", &self.patience)
            .field("lease", &self.lease)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// What a delivery of a record's step does ([`Ordered::next_move`]).
enum Move {
    /// A duplicate or stale event, at or below `.0`: acknowledge.
    Applied(u64),
    /// Below the record's initial sequence: refuse.
    BelowInitial,
    /// Beyond the record's next step, `next`: wait.
    Early { next: u64 },
    /// Another delivery (of the message named) is applying the step: wait.
    Busy(String),
    /// Claim the step: swap in `state` if the revision is `expected`.
    Claim {
        applied: Option<u64>,
        expected: Option<u64>,
        state: State,
    },
}

/// An event of a batch waiting for its round.
struct Pending<'d, E> {
    /// Its place in the batch.
    index: usize,
    key: RecordKey,
    event: E,
    delivery: &'d Delivery,
}

/// A store failure: retry the delivery later.
fn retry(err: StoreError) -> HandlerError {
    HandlerError::retry(err)
}

/// The error for an event below its record's initial sequence.
fn below_initial(key: &RecordKey, sequence: u64, initial: u64) -> HandlerError {
    HandlerError::permanent(format!(
        "{key}@{sequence} is below the record's initial sequence {initial}"
    ))
}

/// The error when a handled step cannot be recorded: the record moved
/// from `applied` to `moved` while the handler ran.
fn moved_while_handling(
    key: &RecordKey,
    sequence: u64,
    applied: Option<u64>,
    moved: Option<u64>,
) -> HandlerError {
    HandlerError::retry(format!(
        "{key}@{sequence}: the record moved from {applied:?} to {moved:?} while the handler ran"
    ))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::Mutex;
    use std::task::{Context, Waker};

    use tokio::sync::Notify;

    use super::*;
    use crate::delivery::DeliveryInfo;
    use crate::headers::Headers;
    use crate::listener::{Disposition, dispose};
    use crate::ordering::{MemorySequenceStore, Step};

    #[derive(Debug, serde::Serialize, serde::Deserialize, crate::Event)]
    #[event(subject = "ticket:updated", version = 1)]
    struct TicketUpdated {
        id: String,
        version: u64,
        /// What the handler does: `ok`, `fail`, `panic`, `wait` (until
        /// released), `self` (records its own step), `reset` (empties the
        /// record's entry while it runs).
        mode: String,
    }

    impl Versioned for TicketUpdated {
        const AGGREGATE: &'static str = "ticket";
        fn id(&self) -> Cow<'_, str> {
            Cow::Borrowed(&self.id)
        }
        fn sequence(&self) -> u64 {
            self.version
        }
    }

    #[derive(Default)]
    struct Replica {
        calls: Mutex<HashMap<(String, u64), u32>>,
        store: Arc<MemorySequenceStore>,
        entered: Notify,
        release: Notify,
    }

    impl Replica {
        fn calls(&self, id: &str, version: u64) -> u32 {
            let calls = self.calls.lock().unwrap();
            calls.get(&(id.to_owned(), version)).copied().unwrap_or(0)
        }
    }

    struct Handler(Arc<Replica>);

    impl Listener for Handler {
        type Event = TicketUpdated;

        fn queue_group(&self) -> &str {
            "orders-service"
        }

        async fn on_message(&self, event: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
            *self
                .0
                .calls
                .lock()
                .unwrap()
                .entry((event.id.clone(), event.version))
                .or_default() += 1;
            match event.mode.as_str() {
                "ok" => Ok(()),
                "fail" => Err(HandlerError::retry("database down")),
                "wait" => {
                    self.0.entered.notify_one();
                    self.0.release.notified().await;
                    Ok(())
                }
                "self" => {
                    assert!(self.0.store.record(&Step::of(&event)).await.unwrap());
                    Ok(())
                }
                "reset" => {
                    let key = RecordKey::of(&event);
                    let entry = self.0.store.load(&key).await.unwrap().unwrap();
                    let moved = State::default();
                    let swapped = self.0.store.swap(&key, Some(entry.revision), &moved);
                    assert!(matches!(swapped.await.unwrap(), Swapped::Done { .. }));
                    Ok(())
                }
                _ => panic!("boom"),
            }
        }
    }

    fn guarded() -> (Arc<Replica>, Ordered<Handler>) {
        let replica = Arc::new(Replica::default());
        let store = Arc::clone(&replica.store) as Arc<dyn SequenceStore>;
        let guard = Ordered::new(Handler(Arc::clone(&replica)), store)
            .early_delay(Duration::from_millis(300))
            .patience(3);
        (replica, guard)
    }

    fn delivery(stream_sequence: u64, delivered: u64) -> Delivery {
        let info = DeliveryInfo {
            stream: "EVENTS".into(),
            consumer: "orders-service".into(),
            stream_sequence,
            consumer_sequence: stream_sequence,
            delivered,
            pending: 0,
            published: crate::Timestamp::now(),
        };
        Delivery::new("ticket:updated", Headers::new(), info)
    }

    fn body(id: &str, version: u64, mode: &str) -> Vec<u8> {
        format!(r#"{{"id":"{id}","version":{version},"mode":"{mode}"}}"#).into_bytes()
    }

    async fn deliver(
        guard: &Ordered<Handler>,
        (id, version, mode): (&str, u64, &str),
        (stream_sequence, delivered): (u64, u64),
    ) -> Disposition {
        dispose(
            guard,
            &delivery(stream_sequence, delivered),
            &body(id, version, mode),
        )
        .await
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn key(id: &str) -> RecordKey {
        RecordKey::new("ticket", id)
    }

    fn assert_retry(disposition: &Disposition, delay: Duration, reason: &str) {
        match disposition {
            Disposition::Retry {
                delay: d,
                reason: r,
            } => {
                assert_eq!(*d, delay, "{r}");
                assert!(r.contains(reason), "{r:?} lacks {reason:?}");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn in_memory_steps_apply_once_in_order_and_gaps_are_dead_lettered() {
        block_on(async {
            let (replica, guard) = guarded();
            let ms = Duration::from_millis;
            assert_eq!(
                deliver(&guard, ("a", 0, "ok"), (1, 1)).await,
                Disposition::Ack
            );
            // A duplicate: acknowledged without a call.
            assert_eq!(
                deliver(&guard, ("a", 0, "ok"), (2, 1)).await,
                Disposition::Ack
            );
            // Early: retried with a doubling delay, then dead-lettered.
            let early = deliver(&guard, ("a", 2, "ok"), (3, 1)).await;
            assert_retry(&early, ms(300), "early: ticket/a@2 waits for ticket/a@1");
            let early = deliver(&guard, ("a", 2, "ok"), (3, 2)).await;
            assert_retry(&early, ms(600), "waits for ticket/a@1");
            match deliver(&guard, ("a", 2, "ok"), (3, 3)).await {
                Disposition::DeadLetter { kind, reason } => {
                    assert_eq!(kind, DeadLetterKind::Gap);
                    assert_eq!(reason, "gap: waiting for ticket/a@1");
                }
                other => panic!("expected a gap dead letter, got {other:?}"),
            }
            assert_eq!(
                deliver(&guard, ("a", 1, "ok"), (4, 1)).await,
                Disposition::Ack
            );
            assert_eq!(
                deliver(&guard, ("a", 2, "ok"), (5, 1)).await,
                Disposition::Ack
            );
            for version in 0..3 {
                assert_eq!(replica.calls("a", version), 1, "version {version}");
            }
            assert_eq!(replica.store.snapshot(), vec![(key("a"), Some(2))]);
            let entry = replica.store.load(&key("a")).await.unwrap().unwrap();
            assert_eq!(entry.state.claim, None);
        });
    }

    #[test]
    fn a_failed_or_panicking_handler_releases_its_claim() {
        block_on(async {
            let (replica, guard) = guarded();
            let failed = deliver(&guard, ("b", 0, "fail"), (1, 1)).await;
            assert_retry(&failed, Duration::from_secs(1), "database down");
            // Released: the entry the claim made stays, without a claim.
            let state = || replica.store.cached(&key("b")).map(|entry| entry.state);
            assert_eq!(state(), Some(State::default()));
            let panicked = deliver(&guard, ("b", 0, "panic"), (1, 2)).await;
            assert_retry(&panicked, Duration::from_secs(2), "handler panicked: boom");
            assert_eq!(state(), Some(State::default()));
            // Another message of the step claims it at once.
            assert_eq!(
                deliver(&guard, ("b", 0, "ok"), (2, 1)).await,
                Disposition::Ack
            );
            assert_eq!(replica.store.snapshot(), vec![(key("b"), Some(0))]);
            assert_eq!(replica.calls("b", 0), 3);
        });
    }

    #[test]
    fn a_second_delivery_of_a_step_being_applied_waits() {
        block_on(async {
            let (replica, guard) = guarded();
            assert_eq!(
                deliver(&guard, ("c", 0, "ok"), (1, 1)).await,
                Disposition::Ack
            );
            let first = deliver(&guard, ("c", 1, "wait"), (2, 1));
            let second = async {
                replica.entered.notified().await;
                // The claim shows in the store: an empty message, no expiry.
                let entry = replica.store.load(&key("c")).await.unwrap().unwrap();
                let claim = entry.state.claim.expect("claimed");
                assert_eq!((claim.sequence, claim.message.as_str()), (1, ""));
                assert_eq!(claim.expires_ms, u64::MAX);
                let waiting = deliver(&guard, ("c", 1, "ok"), (3, 1)).await;
                assert_retry(
                    &waiting,
                    Duration::from_millis(300),
                    "ticket/c@1 is being applied by another delivery in this process",
                );
                replica.release.notify_one();
            };
            let (first, ()) = tokio::join!(first, second);
            assert_eq!(first, Disposition::Ack);
            // Delivered again later, the duplicate is acknowledged.
            assert_eq!(
                deliver(&guard, ("c", 1, "ok"), (3, 2)).await,
                Disposition::Ack
            );
            assert_eq!(replica.calls("c", 1), 1);
            assert_eq!(replica.store.snapshot(), vec![(key("c"), Some(1))]);
        });
    }

    #[test]
    fn an_abandoned_handler_releases_its_claim() {
        block_on(async {
            let (replica, guard) = guarded();
            {
                let delivery = delivery(1, 1);
                let body = body("d", 0, "wait");
                let mut handling = Box::pin(dispose(&guard, &delivery, &body));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(handling.as_mut().poll(&mut cx).is_pending());
                let entry = replica.store.load(&key("d")).await.unwrap().unwrap();
                assert!(entry.state.claim.is_some());
                // The engine drops a handler that ran out of time.
            }
            let entry = replica.store.load(&key("d")).await.unwrap().unwrap();
            assert_eq!(entry.state, State::default());
            assert_eq!(
                deliver(&guard, ("d", 0, "ok"), (1, 2)).await,
                Disposition::Ack
            );
            assert_eq!(replica.store.snapshot(), vec![(key("d"), Some(0))]);
        });
    }

    #[test]
    fn a_stored_claim_is_respected_until_its_message_returns_or_it_expires() {
        block_on(async {
            let (replica, guard) = guarded();
            let store = &replica.store;
            let claimed = |expires_ms| State {
                applied: None,
                claim: Some(Claim {
                    sequence: 0,
                    message: "EVENTS/5".into(),
                    delivered: 1,
                    expires_ms,
                }),
            };
            let Swapped::Done { revision } = store
                .swap(&key("e"), None, &claimed(u64::MAX))
                .await
                .unwrap()
            else {
                panic!("create failed")
            };
            let waiting = deliver(&guard, ("e", 0, "ok"), (7, 1)).await;
            assert_retry(&waiting, Duration::from_millis(300), "by message EVENTS/5");
            // A later delivery of the claiming message takes it over.
            assert_eq!(
                deliver(&guard, ("e", 0, "ok"), (5, 2)).await,
                Disposition::Ack
            );
            // An expired claim is taken over by anyone.
            let entry = store.load(&key("e")).await.unwrap().unwrap();
            assert_eq!(entry.revision, revision + 2);
            let mut expired = claimed(1);
            expired.applied = Some(0);
            if let Some(claim) = &mut expired.claim {
                claim.sequence = 1;
            }
            let swapped = store.swap(&key("e"), Some(entry.revision), &expired).await;
            assert!(matches!(swapped.unwrap(), Swapped::Done { .. }));
            assert_eq!(
                deliver(&guard, ("e", 1, "ok"), (8, 1)).await,
                Disposition::Ack
            );
            assert_eq!(store.snapshot(), vec![(key("e"), Some(1))]);
        });
    }

    #[test]
    fn a_step_recorded_by_its_handler_or_moved_away_meanwhile() {
        block_on(async {
            let (replica, guard) = guarded();
            assert_eq!(
                deliver(&guard, ("f", 0, "self"), (1, 1)).await,
                Disposition::Ack
            );
            assert_eq!(replica.store.snapshot(), vec![(key("f"), Some(0))]);
            let moved = deliver(&guard, ("f", 1, "reset"), (2, 1)).await;
            assert_retry(
                &moved,
                Duration::from_secs(1),
                "ticket/f@1: the record moved from Some(0) to None while the handler ran",
            );
        });
    }

    /// The memory store seen as a shared one: the guard goes through
    /// `load`, `swap` and `swap_all`, and batches.
    struct Shared(Arc<MemorySequenceStore>);

    impl SequenceStore for Shared {
        fn load<'a>(
            &'a self,
            key: &'a RecordKey,
        ) -> crate::transport::BoxFuture<'a, Result<Option<super::super::Entry>, StoreError>>
        {
            self.0.load(key)
        }

        fn swap<'a>(
            &'a self,
            key: &'a RecordKey,
            expected: Option<u64>,
            state: &'a State,
        ) -> crate::transport::BoxFuture<'a, Result<Swapped, StoreError>> {
            self.0.swap(key, expected, state)
        }

        fn cached(&self, key: &RecordKey) -> Option<super::super::Entry> {
            self.0.cached(key)
        }
    }

    fn guarded_shared() -> (Arc<Replica>, Ordered<Handler>) {
        let replica = Arc::new(Replica::default());
        let store = Arc::new(Shared(Arc::clone(&replica.store))) as Arc<dyn SequenceStore>;
        let guard = Ordered::new(Handler(Arc::clone(&replica)), store)
            .early_delay(Duration::from_millis(300))
            .patience(3);
        (replica, guard)
    }

    /// Disposes one batch: `(id, version, mode)` per message, stream
    /// sequences from `first`, first deliveries.
    async fn deliver_batch(
        guard: &Ordered<Handler>,
        events: &[(&str, u64, &str)],
        first: u64,
    ) -> Vec<Disposition> {
        let messages: Vec<(Delivery, Vec<u8>)> = events
            .iter()
            .zip(first..)
            .map(|(&(id, version, mode), sequence)| {
                (delivery(sequence, 1), body(id, version, mode))
            })
            .collect();
        crate::listener::dispose_batch(guard, &messages).await
    }

    #[test]
    fn a_batch_over_a_shared_store_applies_each_step_once_in_order() {
        block_on(async {
            assert!(!guarded_shared().1.batches(false).batched());
            let (replica, guard) = guarded_shared();
            assert!(guard.batched());
            let batch = [
                ("a", 2, "ok"),
                ("a", 0, "ok"),
                ("b", 0, "ok"),
                ("a", 1, "ok"),
                ("a", 1, "ok"),
                ("c", 3, "ok"),
                ("d", 0, "fail"),
                ("e", 0, "panic"),
                ("a", 4, "ok"),
            ];
            let dispositions = deliver_batch(&guard, &batch, 1).await;
            let ms = Duration::from_millis;
            // a@0, a@1, a@2 in that order (three rounds), the second a@1 a
            // duplicate; b@0 alongside.
            for i in [0, 1, 2, 3, 4] {
                assert_eq!(dispositions[i], Disposition::Ack, "message {i}");
            }
            for version in 0..3 {
                assert_eq!(replica.calls("a", version), 1, "a@{version}");
            }
            assert_eq!(replica.calls("b", 0), 1);
            // c has no entry: early, waiting for its first event.
            assert_retry(
                &dispositions[5],
                ms(300),
                "early: ticket/c@3 waits for ticket/c@0",
            );
            assert_eq!(replica.calls("c", 3), 0);
            // A failing or panicking handler: retried, its claim released.
            assert_retry(&dispositions[6], Duration::from_secs(1), "database down");
            assert_retry(
                &dispositions[7],
                Duration::from_secs(1),
                "handler panicked: boom",
            );
            // a@4 still early once a@2 is recorded.
            assert_retry(
                &dispositions[8],
                ms(300),
                "early: ticket/a@4 waits for ticket/a@3",
            );
            assert_eq!(
                replica.store.snapshot(),
                vec![
                    (key("a"), Some(2)),
                    (key("b"), Some(0)),
                    (key("d"), None),
                    (key("e"), None)
                ]
            );
            for id in ["d", "e"] {
                let entry = replica.store.load(&key(id)).await.unwrap().unwrap();
                assert_eq!(entry.state.claim, None, "{id}'s claim released");
            }
            // The retries claim at once and apply.
            let again = deliver_batch(
                &guard,
                &[("d", 0, "ok"), ("e", 0, "ok"), ("a", 3, "ok")],
                20,
            )
            .await;
            assert_eq!(again, vec![Disposition::Ack; 3]);
            assert_eq!(replica.calls("d", 0), 2);
            assert_eq!(replica.calls("a", 3), 1);
        });
    }

    #[test]
    fn a_batch_respects_claims_held_elsewhere_and_steps_recorded_meanwhile() {
        block_on(async {
            let (replica, guard) = guarded_shared();
            let store = &replica.store;
            let held = State {
                applied: None,
                claim: Some(Claim {
                    sequence: 0,
                    message: "EVENTS/5".into(),
                    delivered: 1,
                    expires_ms: u64::MAX,
                }),
            };
            let swapped = store.swap(&key("h"), None, &held).await.unwrap();
            assert!(matches!(swapped, Swapped::Done { .. }));
            let dispositions = deliver_batch(
                &guard,
                &[("h", 0, "ok"), ("f", 0, "self"), ("g", 0, "ok")],
                7,
            )
            .await;
            assert_retry(
                &dispositions[0],
                Duration::from_millis(300),
                "by message EVENTS/5",
            );
            assert_eq!(replica.calls("h", 0), 0);
            // f's handler recorded its own step: the batch's record
            // conflicts, finds it recorded, and acknowledges.
            assert_eq!(dispositions[1], Disposition::Ack);
            assert_eq!(dispositions[2], Disposition::Ack);
            assert_eq!(
                store.snapshot(),
                vec![(key("f"), Some(0)), (key("g"), Some(0)), (key("h"), None)]
            );
            // g's record emptied while its next step's handler ran: the
            // step is not recorded over it.
            let moved = deliver_batch(&guard, &[("g", 1, "reset")], 10).await;
            assert_retry(
                &moved[0],
                Duration::from_secs(1),
                "ticket/g@1: the record moved from Some(0) to None while the handler ran",
            );
        });
    }

    #[test]
    fn over_the_memory_store_a_guard_is_not_batched_but_can_be() {
        block_on(async {
            let (replica, guard) = guarded();
            assert!(!guard.batched());
            let dispositions =
                deliver_batch(&guard, &[("a", 0, "ok"), ("a", 0, "ok"), ("b", 1, "ok")], 1).await;
            assert_eq!(dispositions[..2], [Disposition::Ack, Disposition::Ack]);
            assert_retry(
                &dispositions[2],
                Duration::from_millis(300),
                "early: ticket/b@1",
            );
            assert_eq!(replica.calls("a", 0), 1);
        });
    }
}
