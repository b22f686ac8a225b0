//! [`SequenceStore::claim_all`] and [`SequenceStore::finish_all`] over
//! compare-and-set: how a shared store (KV, PostgreSQL) answers
//! the guard from its [`load`](SequenceStore::load),
//! [`swap`](SequenceStore::swap), [`swap_all`](SequenceStore::swap_all)
//! and [`cached`](SequenceStore::cached).

use futures_util::future::join_all;

use super::answers::Answers;
use super::decide::decide;
use super::store::{
    ClaimRequest, Entry, Finish, Finished, SequenceStore, State, StoreError, StoreErrorKind, Swap,
    Swapped, Ticket, Verdict, now_ms,
};
use crate::error::chain;

/// How many compare-and-set rounds one step tries before it gives up
/// ([`StoreErrorKind::Contended`]) on a record that keeps changing.
const MAX_ROUNDS: usize = 16;

/// Claims in one `swap_all` what the cache can decide; the rest (a record
/// not cached, an early or busy verdict from a possibly stale entry, a
/// conflict) one by one from the store.
pub(crate) async fn claim_all<S: SequenceStore + ?Sized>(
    store: &S,
    requests: &[ClaimRequest<'_>],
) -> Answers<Result<Verdict, StoreError>> {
    let mut answers: Vec<Option<Result<Verdict, StoreError>>> = std::iter::repeat_with(|| None)
        .take(requests.len())
        .collect();
    let mut swaps = Vec::new();
    let mut swapping = Vec::new();
    let now = now_ms();
    for (index, request) in requests.iter().enumerate() {
        let cached = store.cached(request.key);
        // A record this process has not seen: only its store knows, unless
        // this is its first step (then try to create it).
        if cached.is_none() && request.sequence != request.initial {
            continue;
        }
        match decide(cached.as_ref().map(|entry| &entry.state), request, now) {
            Verdict::Applied(last) => answers[index] = Some(Ok(Verdict::Applied(last))),
            Verdict::BelowInitial => answers[index] = Some(Ok(Verdict::BelowInitial)),
            // The cache may be stale: read the store.
            Verdict::Early { .. } | Verdict::Busy(_) => {}
            Verdict::Claimed(()) => {
                swaps.push(claim_swap(request, cached.as_ref(), now));
                swapping.push((index, cached.and_then(|entry| entry.state.applied)));
            }
        }
    }
    if !swaps.is_empty() {
        let swapped = store.swap_all(&swaps).await;
        for ((index, applied), swapped) in swapping.into_iter().zip(swapped) {
            match swapped {
                Ok(Swapped::Done { revision }) => {
                    answers[index] = Some(Ok(Verdict::Claimed(Ticket { applied, revision })));
                }
                Ok(Swapped::Conflict) => {}
                Err(err) => answers[index] = Some(Err(err)),
            }
        }
    }
    answer_the_rest(answers, |index| claim_one(store, &requests[index])).await
}

/// One request, from the store: read, decide, swap, until the swap holds.
async fn claim_one<S: SequenceStore + ?Sized>(
    store: &S,
    request: &ClaimRequest<'_>,
) -> Result<Verdict, StoreError> {
    for _ in 0..MAX_ROUNDS {
        let current = store.load(request.key).await?;
        let now = now_ms();
        match decide(current.as_ref().map(|entry| &entry.state), request, now) {
            Verdict::Claimed(()) => {
                let swap = claim_swap(request, current.as_ref(), now);
                if let Swapped::Done { revision } =
                    store.swap(&swap.key, swap.expected, &swap.state).await?
                {
                    let applied = current.and_then(|entry| entry.state.applied);
                    return Ok(Verdict::Claimed(Ticket { applied, revision }));
                }
            }
            Verdict::Applied(last) => return Ok(Verdict::Applied(last)),
            Verdict::BelowInitial => return Ok(Verdict::BelowInitial),
            Verdict::Early { next } => return Ok(Verdict::Early { next }),
            Verdict::Busy(holder) => return Ok(Verdict::Busy(holder)),
        }
    }
    Err(contended(&format!(
        "{}@{}: {MAX_ROUNDS} attempts to claim it",
        request.key, request.sequence
    )))
}

/// Records or releases in one `swap_all`; a handled step whose record
/// changed meanwhile is read and retried on its own.
pub(crate) async fn finish_all<S: SequenceStore + ?Sized>(
    store: &S,
    finishes: &[Finish<'_>],
) -> Answers<Result<Finished, StoreError>> {
    let swaps: Vec<Swap> = finishes
        .iter()
        .map(|finish| Swap {
            key: finish.key.clone(),
            expected: Some(finish.ticket.revision),
            state: State {
                applied: if finish.handled {
                    Some(finish.sequence)
                } else {
                    finish.ticket.applied
                },
                claim: None,
            },
        })
        .collect();
    let swapped = store.swap_all(&swaps).await;
    let mut answers: Vec<Option<Result<Finished, StoreError>>> = Vec::with_capacity(swaps.len());
    for (finish, swapped) in finishes.iter().zip(swapped) {
        answers.push(match (finish.handled, swapped) {
            (_, Ok(Swapped::Done { .. })) => Some(Ok(Finished::Done)),
            (true, Ok(Swapped::Conflict)) => None,
            (true, Err(err)) => Some(Err(err)),
            // A claim not released is taken over by the message's next
            // delivery, or once it expires.
            (false, Ok(Swapped::Conflict)) => Some(Ok(Finished::Done)),
            (false, Err(err)) => {
                tracing::debug!(record = %finish.key, error = %chain(&err), "claim not released");
                Some(Ok(Finished::Done))
            }
        });
    }
    answer_the_rest(answers, |index| record_one(store, &finishes[index])).await
}

/// Answers each step the batch left unanswered with `one(its index)`, all
/// polled together.
async fn answer_the_rest<T, F>(
    mut answers: Vec<Option<Result<T, StoreError>>>,
    one: impl Fn(usize) -> F,
) -> Answers<Result<T, StoreError>>
where
    F: Future<Output = Result<T, StoreError>>,
{
    let unanswered = answers
        .iter()
        .enumerate()
        .filter(|(_, answer)| answer.is_none());
    let rest = join_all(unanswered.map(|(index, _)| {
        let answering = one(index);
        async move { (index, answering.await) }
    }))
    .await;
    for (index, answer) in rest {
        answers[index] = Some(answer);
    }
    answers
        .into_iter()
        .map(|answer| answer.unwrap_or_else(|| Err(contended("no answer for the step"))))
        .collect()
}

/// Records a handled step whose entry changed while its handler ran (the
/// handler recorded the step itself, or a takeover claimed it): over
/// whatever claim is there, as long as the record still stands where the
/// step started.
async fn record_one<S: SequenceStore + ?Sized>(
    store: &S,
    finish: &Finish<'_>,
) -> Result<Finished, StoreError> {
    let done = State {
        applied: Some(finish.sequence),
        claim: None,
    };
    for _ in 0..MAX_ROUNDS {
        let Some(current) = store.load(finish.key).await? else {
            return Ok(Finished::Moved(None));
        };
        match current.state.applied {
            Some(last) if last >= finish.sequence => return Ok(Finished::Done),
            last if last == finish.ticket.applied => {}
            moved => return Ok(Finished::Moved(moved)),
        }
        let expected = Some(current.revision);
        if let Swapped::Done { .. } = store.swap(finish.key, expected, &done).await? {
            return Ok(Finished::Done);
        }
    }
    Err(contended(&format!(
        "{}@{}: {MAX_ROUNDS} attempts to record it",
        finish.key, finish.sequence
    )))
}

/// The compare-and-set that claims `request`'s step over `current`.
fn claim_swap(request: &ClaimRequest<'_>, current: Option<&Entry>, now_ms: u64) -> Swap {
    Swap {
        key: request.key.clone(),
        expected: current.map(|entry| entry.revision),
        state: State {
            applied: current.and_then(|entry| entry.state.applied),
            claim: Some(request.stored_claim(now_ms)),
        },
    }
}

/// The error of a step whose record kept changing.
fn contended(detail: &str) -> StoreError {
    StoreError::new(StoreErrorKind::Contended).with_detail(detail.to_owned())
}
