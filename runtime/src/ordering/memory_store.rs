//! [`MemorySequenceStore`]: the sequences of one process, in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
/// in memory, under each record's own lock: a claim is [`Holder::Local`],
/// with no lease, and ends with the delivery that holds it (a handler that
/// fails, panics or is abandoned releases it at once).
#[derive(Debug, Default)]
pub struct MemorySequenceStore {
    records: Mutex<HashMap<RecordKey, Arc<Slot>>>,
}

/// One record's entry, locked on its own: a guard holding a claim reaches
/// it again without the map.
#[derive(Debug, Default)]
pub(crate) struct Slot(Mutex<Stored>);

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
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Stored> {
        // Every change is a few plain assignments: a panic elsewhere while
        // the lock was held cannot have left it half-changed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
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
            .filter(|slot| slot.lock().revision != 0)
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
            .filter_map(|(key, slot)| {
                let stored = slot.lock();
                (stored.revision != 0).then(|| (key.clone(), stored.state.applied))
            })
            .collect();
        all.sort();
        all
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<RecordKey, Arc<Slot>>> {
        // Single inserts: a panic elsewhere while the lock was held cannot
        // have left the map half-changed.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record's slot, if it has one.
    fn existing(&self, key: &RecordKey) -> Option<Arc<Slot>> {
        self.lock().get(key).cloned()
    }

    /// The record's slot, made empty (no entry) when it has none.
    fn slot(&self, key: &RecordKey) -> Arc<Slot> {
        let mut records = self.lock();
        if let Some(slot) = records.get(key) {
            return Arc::clone(slot);
        }
        let slot = Arc::new(Slot::default());
        records.insert(key.clone(), Arc::clone(&slot));
        slot
    }

    /// Claims `request`'s step under its record's lock.
    fn claim(&self, request: &ClaimRequest<'_>) -> Verdict {
        let slot = self.slot(request.key);
        let mut stored = slot.lock();
        let applied = stored.state.applied;
        let current = (stored.revision != 0).then_some(&stored.state);
        // A claim stored by another user of the store (through `swap`) is
        // respected as in any store; `now` is read only then.
        let now = if current.is_some_and(|state| state.claim.is_some()) {
            super::store::now_ms()
        } else {
            0
        };
        match decide(current, request, now) {
            Verdict::Applied(last) => Verdict::Applied(last),
            Verdict::BelowInitial => Verdict::BelowInitial,
            Verdict::Early { next } => Verdict::Early { next },
            Verdict::Busy(holder) => Verdict::Busy(holder),
            Verdict::Claimed(()) => {
                stored.state.claim = Some(Claim {
                    sequence: request.sequence,
                    holder: Holder::Local,
                });
                stored.revision += 1;
                Verdict::Claimed(Ticket {
                    applied,
                    revision: stored.revision,
                })
            }
        }
    }

    /// Records (handled) or releases a claimed step under its record's
    /// lock. If the entry changed meanwhile (the handler recorded the step
    /// itself, or a takeover replaced the claim), the step is recorded over
    /// whatever claim is there as long as the record still stands where
    /// the step started, and a release leaves it alone.
    fn finish(&self, finish: &Finish<'_>) -> Finished {
        let Some(slot) = self.existing(finish.key) else {
            return Finished::Moved(None);
        };
        let mut stored = slot.lock();
        if stored.revision != finish.ticket.revision {
            if !finish.handled {
                return Finished::Done;
            }
            match stored.state.applied {
                Some(last) if last >= finish.sequence => return Finished::Done,
                last if last == finish.ticket.applied => {}
                moved => return Finished::Moved(moved),
            }
        }
        if finish.handled {
            stored.state.applied = Some(finish.sequence);
        }
        stored.state.claim = None;
        stored.revision += 1;
        Finished::Done
    }
}

impl SequenceStore for MemorySequenceStore {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        let entry = self.cached(key);
        Box::pin(std::future::ready(Ok(entry)))
    }

    /// The entry itself: in memory the store's copy is the cache, never
    /// stale when read.
    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        self.existing(key)?.lock().entry()
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        let slot = match expected {
            None => Some(self.slot(key)),
            Some(_) => self.existing(key),
        };
        let swapped = match slot {
            Some(slot) => {
                let mut stored = slot.lock();
                // Revision 0 is no entry: only `None` expects that.
                let matches = match expected {
                    None => stored.revision == 0,
                    Some(revision) => revision != 0 && stored.revision == revision,
                };
                if matches {
                    // `clone_from` reuses the claim's string buffer.
                    stored.state.clone_from(state);
                    stored.revision += 1;
                    Swapped::Done {
                        revision: stored.revision,
                    }
                } else {
                    Swapped::Conflict
                }
            }
            None => Swapped::Conflict,
        };
        Box::pin(std::future::ready(Ok(swapped)))
    }

    fn claim_all<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Verdict, StoreError>>> {
        let verdicts = requests.iter().map(|request| Ok(self.claim(request)));
        Box::pin(std::future::ready(verdicts.collect()))
    }

    fn finish_all<'a>(
        &'a self,
        finishes: &'a [Finish<'a>],
    ) -> BoxFuture<'a, Vec<Result<Finished, StoreError>>> {
        let finished = finishes.iter().map(|finish| Ok(self.finish(finish)));
        Box::pin(std::future::ready(finished.collect()))
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
