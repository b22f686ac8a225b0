//! [`Sequenced`]: the ordering guard, a [`Listener`] that wraps another and
//! hands it each record's events once, in sequence.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use smallvec::{SmallVec, smallvec};

use super::answers::Answers;
use super::store::{
    ClaimRequest, Finish, Finished, SequenceStore, StoreError, StoreErrorKind, Ticket, Verdict,
};
use super::versioned::{RecordKey, Versioned};
use crate::bus::delivery::Delivery;
use crate::bus::listener::{DeadLetterKind, HandlerError, Listener, caught};
use crate::bus::options::{Dispatch, ListenOptions};

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
///   store, calls the handler, records `s` and acknowledges. Another
///   delivery of the same step meanwhile (a duplicate on another instance)
///   waits: it is delivered again after [`early_delay`](Self::early_delay)
///   and then acknowledged as a duplicate.
/// - `s > a + 1`: it arrived early. It is delivered again after
///   [`early_delay`](Self::early_delay), doubling with every delivery up to
///   [`max_early_delay`](Self::max_early_delay); on its
///   [`patience`](Self::patience)-th delivery, still early, it is
///   dead-lettered ([`DeadLetterKind::Gap`]) with the reason
///   `gap: waiting for <k>@<a+1>`. Other records keep flowing.
///
/// Early events wait as unsettled deliveries, and a consumer hands out at
/// most [`ListenOptions::max_ack_pending`] of those at a time: when more
/// events than that wait for gaps, the events that would fill the gaps are
/// not delivered until the patience dead-letters some. Keep
/// `max_ack_pending` above the reordering the publishers can cause (it is
/// small when each record is saved and published by one writer in order; a
/// replay of a shuffled backlog needs a window as large as the backlog).
///
/// The guard handles a batch of events in rounds, each round taking at
/// most one event per record (its lowest sequence): one
/// [`claim_all`](SequenceStore::claim_all) claims the round's steps, their
/// handlers run together, and one [`finish_all`](SequenceStore::finish_all)
/// records them before any is acknowledged. A single event is a batch of
/// one: the same two calls, each over a slice of one. Over a store that
/// [batches](SequenceStore::batches) (a shared one), the guard asks the
/// engine for [`Dispatch::Batches`].
///
/// The handler's own errors keep their meaning (retryable: delivered again;
/// permanent: dead-lettered); its claim is released so the retry can claim
/// the step again. The wrapped listener's `max_deliver` is raised by the
/// patience, so waiting for a gap does not eat the handler's retries.
///
/// ```no_run
/// # use typebus::{Delivery, HandlerError, ListenOptions, Listener};
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
/// #     fn options(&self) -> ListenOptions { ListenOptions::new("orders-service") }
/// #     async fn on_message(&self, _: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// # async fn demo(bus: typebus::Bus) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use typebus::ordering::{MemorySequenceStore, Sequenced};
///
/// let store = Arc::new(MemorySequenceStore::new());
/// let handle = bus
///     .listen(Sequenced::new(UpdateReplica, store).early_delay(Duration::from_millis(500)).patience(60))
///     .await?;
/// # drop(handle); Ok(()) }
/// ```
pub struct Sequenced<L> {
    listener: L,
    store: Arc<dyn SequenceStore>,
    early_delay: Duration,
    max_early_delay: Duration,
    patience: u32,
    lease: Duration,
}

impl<L> Sequenced<L>
where
    L: Listener,
    L::Event: Versioned,
{
    /// Guards `listener` with the sequences in `store` (share one store
    /// between the listeners of one record's key space).
    pub fn new(listener: L, store: Arc<dyn SequenceStore>) -> Self {
        let lease = listener.options().ack_wait.saturating_mul(7);
        Self {
            listener,
            store,
            early_delay: DEFAULT_EARLY_DELAY,
            max_early_delay: DEFAULT_MAX_EARLY_DELAY,
            patience: DEFAULT_PATIENCE,
            lease,
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

    /// Sets how long a claim in a shared store holds before another
    /// delivery may take it over (when the claiming delivery's process died
    /// and its message is not redelivered). Default: 7 x the wrapped
    /// listener's `ack_wait`, longer than the engine's default handler
    /// timeout. Claims in a [`MemorySequenceStore`](super::MemorySequenceStore)
    /// have no lease: they end with their delivery.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
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

    /// Guards a batch: in rounds of at most one event per record (its
    /// lowest sequence first), so a record's later event finds its earlier
    /// one recorded. The outcomes are in the events' order.
    async fn guard(&self, events: Vec<(L::Event, &Delivery)>) -> Vec<Result<(), HandlerError>> {
        let mut outcomes: Vec<Option<Result<(), HandlerError>>> =
            std::iter::repeat_with(|| None).take(events.len()).collect();
        let mut waiting: Vec<Pending<'_, L::Event>> = events
            .into_iter()
            .enumerate()
            .map(|(index, (event, delivery))| Pending::new(index, event, delivery))
            .collect();
        while !waiting.is_empty() {
            waiting.sort_by(|a, b| (&a.key, a.sequence).cmp(&(&b.key, b.sequence)));
            let mut round: Vec<Pending<'_, L::Event>> = Vec::with_capacity(waiting.len());
            let mut later = Vec::new();
            for pending in waiting {
                if round.last().is_some_and(|last| last.key == pending.key) {
                    later.push(pending);
                } else {
                    round.push(pending);
                }
            }
            waiting = later;
            for (index, outcome) in self.round(round).await {
                outcomes[index] = Some(outcome);
            }
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

    /// One round: claim together, handle together, record together.
    async fn round(
        &self,
        round: Vec<Pending<'_, L::Event>>,
    ) -> Vec<(usize, Result<(), HandlerError>)> {
        let initial = <L::Event as Versioned>::INITIAL_SEQUENCE;
        let requests: Vec<ClaimRequest<'_>> = round
            .iter()
            .map(|pending| {
                ClaimRequest::of(
                    &pending.key,
                    pending.sequence,
                    initial,
                    pending.delivery,
                    self.lease,
                )
            })
            .collect();
        let verdicts = self.store.claim_all(&requests).await;
        let mut outcomes = Vec::with_capacity(round.len());
        let mut claimed = Unsettled {
            store: &self.store,
            finishes: SmallVec::with_capacity(round.len()),
        };
        let mut calls = Vec::with_capacity(round.len());
        for ((request, pending), verdict) in requests.iter().zip(&round).zip(verdicts) {
            let outcome = match verdict {
                Ok(Verdict::Claimed(ticket)) => match pending.event.take() {
                    Some(event) => {
                        claimed.finishes.push(Finish {
                            key: request.key,
                            sequence: request.sequence,
                            ticket,
                            handled: false,
                        });
                        let handling = self.listener.on_message(event, pending.delivery);
                        calls.push((pending.index, handling));
                        continue;
                    }
                    None => Err(HandlerError::retry(
                        "the ordering guard handed an event out twice",
                    )),
                },
                unclaimed => self.unclaimed(request, unclaimed),
            };
            outcomes.push((pending.index, outcome));
        }
        if calls.is_empty() {
            return outcomes;
        }
        let mut handled: Vec<(usize, Result<(), HandlerError>)> = if calls.len() == 1 {
            let mut one = calls;
            match one.pop() {
                Some((index, handling)) => vec![(index, caught(handling).await)],
                None => Vec::new(),
            }
        } else {
            join_all(
                calls
                    .into_iter()
                    .map(|(index, handling)| async move { (index, caught(handling).await) }),
            )
            .await
        };
        for (finish, (_, outcome)) in claimed.finishes.iter_mut().zip(&handled) {
            finish.handled = outcome.is_ok();
        }
        let finished = self.store.finish_all(&claimed.finishes).await;
        let finishes = std::mem::take(&mut claimed.finishes);
        for ((finish, (index, outcome)), finished) in
            finishes.into_iter().zip(handled.drain(..)).zip(finished)
        {
            outcomes.push((index, settled(&finish, outcome, finished)));
        }
        outcomes
    }

    /// The outcome of a step the store did not let this delivery claim.
    fn unclaimed(
        &self,
        request: &ClaimRequest<'_>,
        verdict: Result<Verdict, StoreError>,
    ) -> Result<(), HandlerError> {
        let (key, sequence) = (request.key, request.sequence);
        match verdict {
            Ok(Verdict::Claimed(_)) => Err(HandlerError::retry(
                "the ordering guard handed an event out twice",
            )),
            Ok(Verdict::Applied(last)) => {
                tracing::debug!(record = %key, sequence, applied = last, "duplicate or stale event acknowledged without handling");
                Ok(())
            }
            Ok(Verdict::BelowInitial) => Err(HandlerError::permanent(format!(
                "{key}@{sequence} is below the record's initial sequence {}",
                request.initial
            ))),
            Ok(Verdict::Early { next }) => Err(self.early(key, sequence, next, request.delivered)),
            Ok(Verdict::Busy(holder)) => {
                tracing::debug!(record = %key, sequence, claimed_by = %holder, "step being applied by another delivery; waiting");
                Err(HandlerError::retry_after(
                    self.early_delay,
                    format!("{key}@{sequence} is being applied by {holder}"),
                ))
            }
            Err(err) => Err(retry(err)),
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
    pub(crate) fn early_wait(&self, delivered: u64) -> Duration {
        let max = self.max_early_delay.max(self.early_delay);
        crate::Backoff::new(self.early_delay, max).delay(delivered.saturating_sub(1).min(20))
    }
}

impl<L> Listener for Sequenced<L>
where
    L: Listener,
    L::Event: Versioned,
{
    type Event = L::Event;

    /// The wrapped listener's, with `max_deliver` raised by the patience
    /// and, over a store that [batches](SequenceStore::batches),
    /// [`Dispatch::Batches`].
    fn options(&self) -> ListenOptions {
        let mut options = self.listener.options();
        options.max_deliver = options
            .max_deliver
            .map(|max| max.saturating_add(self.patience));
        if self.store.batches() {
            options.dispatch = Dispatch::Batches;
        }
        options
    }

    /// A round of one, without the round's collections: the same claim,
    /// handler call and finish (and the same rules, `unclaimed` and
    /// `settled`) as a batch's, each over a slice of one. Through
    /// `round` (a batch's path) a single event cost +390-440 ns over a plain
    /// handler, this way +237-291 ns (the guard before the store interface
    /// was batched: +214-228), in the first line of
    /// `TYPEBUS_BENCH_ONLY=nothing cargo bench -p typebus --features
    /// postgres,testing --bench ordering`.
    async fn on_message(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        let key = RecordKey::of(&event);
        let sequence = event.sequence();
        // The request is scoped to the claim: the engine boxes each
        // delivery's future, and this one is 600 bytes with the request
        // dropped before the handler's await, 664 with it kept.
        let ticket = {
            let request = ClaimRequest::of(
                &key,
                sequence,
                <L::Event as Versioned>::INITIAL_SEQUENCE,
                delivery,
                self.lease,
            );
            let verdict = self.store.claim_all(std::slice::from_ref(&request)).await;
            match first(verdict) {
                Ok(Verdict::Claimed(ticket)) => ticket,
                unclaimed => return self.unclaimed(&request, unclaimed),
            }
        };
        let mut claimed = Unsettled {
            store: &self.store,
            finishes: smallvec![Finish {
                key: &key,
                sequence,
                ticket,
                handled: false,
            }],
        };
        let outcome = caught(self.listener.on_message(event, delivery)).await;
        for finish in &mut claimed.finishes {
            finish.handled = outcome.is_ok();
        }
        let finished = first(self.store.finish_all(&claimed.finishes).await);
        // Finished: nothing left to release.
        claimed.finishes.clear();
        let finish = Finish {
            key: &key,
            sequence,
            ticket,
            handled: outcome.is_ok(),
        };
        settled(&finish, outcome, finished)
    }

    fn on_batch<'a>(
        &'a self,
        events: Vec<(L::Event, &'a Delivery)>,
    ) -> impl Future<Output = Vec<Result<(), HandlerError>>> + Send + 'a {
        self.guard(events)
    }
}

impl<L> std::fmt::Debug for Sequenced<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequenced")
            .field("listener", &std::any::type_name::<L>())
            .field("early_delay", &self.early_delay)
            .field("max_early_delay", &self.max_early_delay)
            .field("patience", &self.patience)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// An event of a batch waiting for its round.
struct Pending<'d, E> {
    /// Its place in the batch.
    index: usize,
    key: RecordKey,
    sequence: u64,
    /// Taken when its handler is called (the round's claim requests borrow
    /// the key meanwhile).
    event: std::cell::Cell<Option<E>>,
    delivery: &'d Delivery,
}

impl<'d, E: Versioned> Pending<'d, E> {
    fn new(index: usize, event: E, delivery: &'d Delivery) -> Self {
        Self {
            index,
            key: RecordKey::of(&event),
            sequence: event.sequence(),
            event: std::cell::Cell::new(Some(event)),
            delivery,
        }
    }
}

/// The claims of a round not finished yet. Dropped unfinished (the engine
/// abandoned a handler that ran out of time), it releases them without
/// waiting: at once in memory, on a task of its own in a shared store.
struct Unsettled<'s> {
    store: &'s Arc<dyn SequenceStore>,
    /// Inline for one: a single event's claim allocates nothing here.
    finishes: SmallVec<[Finish<'s>; 1]>,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if self.finishes.is_empty() {
            return;
        }
        let store = Arc::clone(self.store);
        let releases: Vec<(RecordKey, u64, Ticket)> = self
            .finishes
            .iter()
            .map(|finish| (finish.key.clone(), finish.sequence, finish.ticket))
            .collect();
        crate::bus::engine::run_or_spawn(async move {
            let finishes: Vec<Finish<'_>> = releases
                .iter()
                .map(|(key, sequence, ticket)| Finish {
                    key,
                    sequence: *sequence,
                    ticket: *ticket,
                    handled: false,
                })
                .collect();
            store.finish_all(&finishes).await;
        });
    }
}

/// The outcome of a claimed step: the handler's, unless its step could not
/// be recorded.
fn settled(
    finish: &Finish<'_>,
    outcome: Result<(), HandlerError>,
    finished: Result<Finished, StoreError>,
) -> Result<(), HandlerError> {
    match (outcome, finished) {
        (Err(err), _) => Err(err),
        (Ok(()), Ok(Finished::Done)) => Ok(()),
        (Ok(()), Ok(Finished::Moved(moved))) => Err(HandlerError::retry(format!(
            "{}@{}: the record moved from {:?} to {moved:?} while the handler ran",
            finish.key, finish.sequence, finish.ticket.applied
        ))),
        (Ok(()), Err(err)) => Err(retry(err)),
    }
}

/// The one answer to a batch of one.
fn first<T>(answers: Answers<Result<T, StoreError>>) -> Result<T, StoreError> {
    answers.into_iter().next().unwrap_or_else(|| {
        Err(StoreError::new(StoreErrorKind::Contended).with_detail("the store gave no answer"))
    })
}

/// A store failure: retry the delivery later.
fn retry(err: StoreError) -> HandlerError {
    HandlerError::retry(err)
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
    use crate::bus::delivery::DeliveryInfo;
    use crate::bus::dispose::{Disposition, dispose};
    use crate::contract::headers::Headers;
    use crate::ordering::{Claim, Entry, Holder, MemorySequenceStore, State, Step, Swapped};

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

        fn options(&self) -> ListenOptions {
            ListenOptions::new("orders-service")
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

    fn guarded() -> (Arc<Replica>, Sequenced<Handler>) {
        let replica = Arc::new(Replica::default());
        let store = Arc::clone(&replica.store) as Arc<dyn SequenceStore>;
        let guard = Sequenced::new(Handler(Arc::clone(&replica)), store)
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
        guard: &Sequenced<Handler>,
        (id, version, mode): (&str, u64, &str),
        (stream_sequence, delivered): (u64, u64),
    ) -> Disposition {
        dispose(
            guard,
            &guard.options(),
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
                // The claim shows in the store: held in this process.
                let entry = replica.store.load(&key("c")).await.unwrap().unwrap();
                let claim = entry.state.claim.expect("claimed");
                assert_eq!((claim.sequence, claim.holder), (1, Holder::Local));
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
                let options = guard.options();
                let mut handling = Box::pin(dispose(&guard, &options, &delivery, &body));
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
                    holder: Holder::Delivery {
                        message: "EVENTS/5".into(),
                        delivered: 1,
                        expires_ms,
                    },
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
        ) -> crate::bus::transport::BoxFuture<'a, Result<Option<Entry>, StoreError>> {
            self.0.load(key)
        }

        fn swap<'a>(
            &'a self,
            key: &'a RecordKey,
            expected: Option<u64>,
            state: &'a State,
        ) -> crate::bus::transport::BoxFuture<'a, Result<Swapped, StoreError>> {
            self.0.swap(key, expected, state)
        }

        fn cached(&self, key: &RecordKey) -> Option<Entry> {
            self.0.cached(key)
        }
    }

    fn guarded_shared() -> (Arc<Replica>, Sequenced<Handler>) {
        let replica = Arc::new(Replica::default());
        let store = Arc::new(Shared(Arc::clone(&replica.store))) as Arc<dyn SequenceStore>;
        let guard = Sequenced::new(Handler(Arc::clone(&replica)), store)
            .early_delay(Duration::from_millis(300))
            .patience(3);
        (replica, guard)
    }

    /// Disposes one batch: `(id, version, mode)` per message, stream
    /// sequences from `first`, first deliveries.
    async fn deliver_batch(
        guard: &Sequenced<Handler>,
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
        crate::bus::dispose::dispose_batch(guard, &guard.options(), &messages).await
    }

    #[test]
    fn a_batch_over_a_shared_store_applies_each_step_once_in_order() {
        block_on(async {
            let (replica, guard) = guarded_shared();
            assert_eq!(guard.options().dispatch, Dispatch::Batches);
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
                    holder: Holder::Delivery {
                        message: "EVENTS/5".into(),
                        delivered: 1,
                        expires_ms: u64::MAX,
                    },
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
            assert_eq!(guard.options().dispatch, Dispatch::OneByOne);
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
