//! [`MemorySequenceStore`]: the sequences of one process, in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::store::{
    Claim, Entry, Position, SequenceStore, State, StoreError, Swapped, message_id, now_ms,
};
use super::versioned::RecordKey;
use crate::transport::BoxFuture;

/// A [`SequenceStore`] in this process's memory: for a service that runs
/// one instance, for tests, and with the `memory` transport. Lost when the
/// process ends (a restarted listener then sees every stored event as new:
/// use [`KvSequenceStore`](super::KvSequenceStore) or a database when that
/// matters).
///
/// Share one store between the listeners of one record's key space (e.g.
/// `ticket:created` and `ticket:updated`) by cloning its `Arc`.
///
/// Every delivery that applies its steps runs in this process, so the
/// [`Ordered`](super::Ordered) guard claims and records steps in it
/// directly (see [`SequenceStore::as_memory`]): one map lookup per event,
/// and the claim is dropped with the delivery that holds it (a handler that
/// fails, panics or is abandoned releases it at once). While a delivery
/// holds it, [`load`](SequenceStore::load) shows it as a claim with an
/// empty message that never expires.
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

/// What [`MemorySequenceStore::begin`] found for a delivery of a record's
/// step.
pub(crate) enum Begin {
    /// The step is applied already: a duplicate or a stale event.
    Applied(u64),
    /// The sequence is below the record's initial sequence.
    BelowInitial,
    /// The step arrived early: `next` is the record's next step.
    Early {
        /// The record's next sequence.
        next: u64,
    },
    /// Another delivery is applying the step: one in this process
    /// (`None`), or the message a stored claim names.
    Busy(Option<String>),
    /// This delivery claimed the step.
    Claimed(LocalClaim),
}

/// A delivery's claim on a record's next step in a [`MemorySequenceStore`]:
/// [`finish`](Self::finish) records the step; dropping it unfinished
/// releases the claim.
pub(crate) struct LocalClaim {
    slot: Arc<Slot>,
    /// The record's last applied sequence when the claim was taken.
    applied: Option<u64>,
    sequence: u64,
    /// The entry's revision with this claim in it.
    revision: u64,
    finished: bool,
}

impl LocalClaim {
    /// The record's last applied sequence when the step was claimed.
    pub(crate) fn applied(&self) -> Option<u64> {
        self.applied
    }

    /// Records the claimed step. If the entry changed meanwhile (the
    /// handler recorded the step itself, or a takeover replaced the claim),
    /// the step is recorded over whatever claim is there as long as the
    /// record still stands where this step started. `Err` carries where the
    /// record has moved to instead.
    pub(crate) fn finish(mut self) -> Result<(), Option<u64>> {
        self.finished = true;
        let mut stored = self.slot.lock();
        if stored.revision != self.revision {
            match stored.state.applied {
                Some(last) if last >= self.sequence => return Ok(()),
                last if last == self.applied => {}
                moved => return Err(moved),
            }
        }
        stored.state.applied = Some(self.sequence);
        stored.state.claim = None;
        stored.revision += 1;
        Ok(())
    }
}

impl Drop for LocalClaim {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut stored = self.slot.lock();
        if stored.revision == self.revision {
            stored.state.claim = None;
            stored.revision += 1;
        }
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

    /// Tries to claim step `sequence` of record `key` for `delivery` (the
    /// guard's whole check, under the record's lock): see [`Begin`]. A
    /// claim stored by another user of the store (through
    /// [`swap`](SequenceStore::swap)) is respected as the guard respects it
    /// in any store: taken over by a later delivery of its message or once
    /// it expired.
    pub(crate) fn begin(
        &self,
        key: &RecordKey,
        sequence: u64,
        initial: u64,
        delivery: &crate::Delivery,
    ) -> Begin {
        let slot = self.slot(key);
        let mut stored = slot.lock();
        let applied = stored.state.applied;
        match Position::of(applied, sequence, initial) {
            Position::Applied(last) => return Begin::Applied(last),
            Position::BelowInitial => return Begin::BelowInitial,
            Position::Early { next } => return Begin::Early { next },
            Position::Next => {}
        }
        if let Some(claim) = &stored.state.claim
            && claim.sequence == sequence
        {
            if claim.message.is_empty() {
                return Begin::Busy(None);
            }
            if !claim.taken_over_by(&message_id(delivery), delivery.delivery_count(), now_ms()) {
                return Begin::Busy(Some(claim.message.clone()));
            }
        }
        stored.state.claim = Some(Claim {
            sequence,
            message: String::new(),
            delivered: 0,
            expires_ms: u64::MAX,
        });
        stored.revision += 1;
        let revision = stored.revision;
        drop(stored);
        Begin::Claimed(LocalClaim {
            slot,
            applied,
            sequence,
            revision,
            finished: false,
        })
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

    fn as_memory(&self) -> Option<&MemorySequenceStore> {
        Some(self)
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
