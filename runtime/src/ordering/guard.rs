//! [`Ordered`]: the ordering guard, a [`Listener`] that wraps another and
//! hands it each record's events once, in sequence.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt as _;

use super::store::{Claim, SequenceStore, State, StoreError, Swapped};
use super::versioned::{RecordKey, Versioned};
use crate::delivery::Delivery;
use crate::error::chain;
use crate::listener::{DeadLetterKind, HandlerError, Listener};

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

    /// Sets how long a claim on a step holds before another delivery may
    /// take it over (when the claiming delivery's process died and its
    /// message is not redelivered). Default: 7 x `ack_wait`, longer than
    /// the engine's default handler timeout.
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

    async fn guard(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        let key = RecordKey::of(&event);
        let sequence = event.sequence();
        let initial = <L::Event as Versioned>::INITIAL_SEQUENCE;
        let info = delivery.info();
        let message = format!("{}/{}", info.stream, info.stream_sequence);
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
            let state = current.as_ref().map(|entry| &entry.state);
            let applied = state.and_then(|state| state.applied);
            if let Some(last) = applied
                && sequence <= last
            {
                tracing::debug!(record = %key, sequence, applied = last, "duplicate or stale event acknowledged without handling");
                return Ok(());
            }
            let next = applied.map_or(initial, |last| last.saturating_add(1));
            if sequence < next {
                return Err(HandlerError::permanent(format!(
                    "{key}@{sequence} is below the record's initial sequence {initial}"
                )));
            }
            if sequence > next {
                if !fresh {
                    current = store.load(&key).await.map_err(retry)?;
                    fresh = true;
                    continue;
                }
                return Err(self.early(&key, sequence, next, delivered));
            }
            let now = now_ms();
            if let Some(claim) = state.and_then(|state| state.claim.as_ref())
                && claim.sequence == sequence
                && !(claim.message == message && delivered >= claim.delivered)
                && now < claim.expires_ms
            {
                if !fresh {
                    current = store.load(&key).await.map_err(retry)?;
                    fresh = true;
                    continue;
                }
                tracing::debug!(record = %key, sequence, claimed_by = %claim.message, "step being applied by another delivery; waiting");
                return Err(HandlerError::retry_after(
                    self.early_delay,
                    format!(
                        "{key}@{sequence} is being applied by message {}",
                        claim.message
                    ),
                ));
            }
            let lease_ms = u64::try_from(self.lease_duration().as_millis()).unwrap_or(u64::MAX);
            let claimed = State {
                applied,
                claim: Some(Claim {
                    sequence,
                    message: message.clone(),
                    delivered,
                    expires_ms: now.saturating_add(lease_ms),
                }),
            };
            let expected = current.as_ref().map(|entry| entry.revision);
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
    fn early_wait(&self, delivered: u64) -> Duration {
        let doublings = u32::try_from(delivered.saturating_sub(1).min(20)).unwrap_or(20);
        self.early_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_early_delay.max(self.early_delay))
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
                moved => {
                    return Err(HandlerError::retry(format!(
                        "{key}@{sequence}: the record moved from {applied:?} to {moved:?} while the handler ran"
                    )));
                }
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

    async fn on_message(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        self.guard(event, delivery).await
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
            .finish_non_exhaustive()
    }
}

/// A store failure: retry the delivery later.
fn retry(err: StoreError) -> HandlerError {
    HandlerError::retry(err)
}

/// Wall-clock milliseconds: claims are compared across processes.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
