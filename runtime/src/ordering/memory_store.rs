//! [`MemorySequenceStore`]: the sequences of one process, in memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;

use super::answers::{Answers, StoreFuture};
use super::decide::decide;
use super::store::{
    Claim, ClaimRequest, Entry, Finish, Finished, Holder, SequenceStore, State, StoreError,
    Swapped, Ticket, Verdict,
};
use super::versioned::RecordKey;
use crate::bus::transport::BoxFuture;

/// A [`SequenceStore`] in this process's memory: for a service that runs
/// one instance, for tests, and with the `memory` transport. Lost when the
/// process ends (a restarted listener then sees every stored event as new:
/// use [`KvSequenceStore`](crate::nats::KvSequenceStore) or a database when that
/// matters).
///
/// Share one store between the listeners of one record's key space (e.g.
/// `ticket:created` and `ticket:updated`) by cloning its `Arc`.
///
/// Every delivery that applies its steps runs in this process, so it
/// answers the [`Sequenced`](super::Sequenced) guard's claims and records
/// in memory, a batch under one lock: a claim is [`Holder::Local`],
/// with no lease, and ends with the delivery that holds it (a handler that
/// fails, panics or is abandoned releases it at once).
#[derive(Debug, Default)]
pub struct MemorySequenceStore {
    records: Mutex<Records>,
}

/// The records by key. Hashed with foldhash, seeded per process: a guarded
/// event hashes its key twice (claim and finish), and with the standard
/// SipHash that was about a quarter of the guard's cost in memory.
type Records = HashMap<RecordKey, Stored, RandomState>;

/// One record's entry.
#[derive(Debug, Default)]
struct Stored {
    state: State,
    /// The entry's revision; 0 while the record has no entry.
    revision: u64,
}

impl Stored {
    fn entry(&self) -> Option<Entry> {
        (self.revision != 0).then(|| Entry {
            state: self.state.clone(),
            revision: self.revision,
        })
    }

    /// Claims `request`'s step.
    fn claim(&mut self, request: &ClaimRequest<'_>) -> Verdict {
        let applied = self.state.applied;
        let current = (self.revision != 0).then_some(&self.state);
        // A claim stored by another user of the store (through `swap`) is
        // respected as in any store; `now` is read only then.
        let now = if current.is_some_and(|state| state.claim.is_some()) {
            super::store::now_ms()
        } else {
            0
        };
        decide(current, request, now).map(|()| {
            self.state.claim = Some(Claim {
                sequence: request.sequence,
                holder: Holder::Local,
            });
            self.revision += 1;
            Ticket {
                applied,
                revision: self.revision,
            }
        })
    }

    /// Records (handled) or releases a claimed step. If the entry changed
    /// meanwhile (the handler recorded the step itself, or a takeover
    /// replaced the claim), the step is recorded over whatever claim is
    /// there as long as the record still stands where the step started,
    /// and a release leaves it alone.
    fn finish(&mut self, finish: &Finish<'_>) -> Finished {
        if self.revision != finish.ticket.revision {
            if !finish.handled {
                return Finished::Done;
            }
            match self.state.applied {
                Some(last) if last >= finish.sequence => return Finished::Done,
                last if last == finish.ticket.applied => {}
                moved => return Finished::Moved(moved),
            }
        }
        if finish.handled {
            self.state.applied = Some(finish.sequence);
        }
        self.state.claim = None;
        self.revision += 1;
        Finished::Done
    }
}

impl MemorySequenceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.lock()
            .values()
            .filter(|stored| stored.revision != 0)
            .count()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record's last applied sequence, sorted by key.
    pub fn snapshot(&self) -> Vec<(RecordKey, Option<u64>)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .filter(|(_, stored)| stored.revision != 0)
            .map(|(key, stored)| (key.clone(), stored.state.applied))
            .collect();
        all.sort();
        all
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // Every change is a few plain assignments: a panic elsewhere while
        // the lock was held cannot have left an entry half-changed.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `change` applied to the entry of `key`, made empty (no entry) when it
/// has none; the key is copied only then.
fn with_entry<T>(
    records: &mut Records,
    key: &RecordKey,
    change: impl FnOnce(&mut Stored) -> T,
) -> T {
    if let Some(stored) = records.get_mut(key) {
        return change(stored);
    }
    let mut stored = Stored::default();
    let changed = change(&mut stored);
    records.insert(key.clone(), stored);
    changed
}

impl SequenceStore for MemorySequenceStore {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        let entry = self.cached(key);
        Box::pin(std::future::ready(Ok(entry)))
    }

    /// The entry itself: in memory the store's copy is the cache, never
    /// stale when read.
    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        self.lock().get(key)?.entry()
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        // Revision 0 is no entry: only `None` expects that.
        let swap = |stored: &mut Stored| {
            if stored.revision != expected.unwrap_or(0) {
                return Swapped::Conflict;
            }
            // `clone_from` reuses the claim's string buffer.
            stored.state.clone_from(state);
            stored.revision += 1;
            Swapped::Done {
                revision: stored.revision,
            }
        };
        let mut records = self.lock();
        let swapped = match expected {
            None => with_entry(&mut records, key, swap),
            Some(0) => Swapped::Conflict,
            Some(_) => records.get_mut(key).map_or(Swapped::Conflict, swap),
        };
        Box::pin(std::future::ready(Ok(swapped)))
    }

    /// Under one lock for the whole batch.
    fn claim_all<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> StoreFuture<'a, Answers<Result<Verdict, StoreError>>> {
        let mut records = self.lock();
        let verdicts = requests
            .iter()
            .map(|request| {
                Ok(with_entry(&mut records, request.key, |stored| {
                    stored.claim(request)
                }))
            })
            .collect();
        StoreFuture::ready(verdicts)
    }

    /// Under one lock for the whole batch.
    fn finish_all<'a>(
        &'a self,
        finishes: &'a [Finish<'a>],
    ) -> StoreFuture<'a, Answers<Result<Finished, StoreError>>> {
        let mut records = self.lock();
        let finished = finishes
            .iter()
            .map(|finish| {
                Ok(match records.get_mut(finish.key) {
                    Some(stored) => stored.finish(finish),
                    None => Finished::Moved(None),
                })
            })
            .collect();
        StoreFuture::ready(finished)
    }

    /// No: there are no writes to share.
    fn batches(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ordering::Step;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn swaps_compare_the_revision() {
        block_on(async {
            let store = MemorySequenceStore::new();
            let key = RecordKey::new("ticket", "a");
            let zero = State {
                applied: Some(0),
                claim: None,
            };
            let Swapped::Done { revision } = store.swap(&key, None, &zero).await.unwrap() else {
                panic!("create failed")
            };
            assert_eq!(
                store.swap(&key, None, &zero).await.unwrap(),
                Swapped::Conflict
            );
            let one = State {
                applied: Some(1),
                claim: None,
            };
            assert_eq!(
                store.swap(&key, Some(revision + 7), &one).await.unwrap(),
                Swapped::Conflict
            );
            assert!(matches!(
                store.swap(&key, Some(revision), &one).await.unwrap(),
                Swapped::Done { .. }
            ));
            assert_eq!(store.applied(&key).await.unwrap(), Some(1));
        });
    }

    #[test]
    fn record_moves_only_from_the_previous_sequence() {
        block_on(async {
            let store = MemorySequenceStore::new();
            let key = RecordKey::new("ticket", "a");
            let step = |previous, sequence| Step {
                key: key.clone(),
                previous,
                sequence,
            };
            assert!(!store.record(&step(Some(0), 1)).await.unwrap());
            assert!(store.record(&step(None, 0)).await.unwrap());
            assert!(!store.record(&step(None, 0)).await.unwrap());
            assert!(store.record(&step(Some(0), 1)).await.unwrap());
            assert_eq!(store.snapshot(), vec![(key.clone(), Some(1))]);
        });
    }
}
