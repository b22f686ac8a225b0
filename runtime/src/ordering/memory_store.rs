//! [`MemorySequenceStore`]: the sequences of one process, in memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::store::{Entry, SequenceStore, State, StoreError, Swapped};
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
#[derive(Debug, Default)]
pub struct MemorySequenceStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<RecordKey, Entry>,
    last_revision: u64,
}

impl MemorySequenceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record's last applied sequence, sorted by key.
    pub fn snapshot(&self) -> Vec<(RecordKey, Option<u64>)> {
        let mut all: Vec<_> = self
            .lock()
            .entries
            .iter()
            .map(|(key, entry)| (key.clone(), entry.state.applied))
            .collect();
        all.sort();
        all
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map is consistent between statements: a panic elsewhere
        // while the lock was held cannot have left it half-changed.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SequenceStore for MemorySequenceStore {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        let entry = self.lock().entries.get(key).cloned();
        Box::pin(std::future::ready(Ok(entry)))
    }

    /// The entry itself: in memory the store's copy is the cache, never
    /// stale when read (saves the guard a boxed `load` per event).
    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        self.lock().entries.get(key).cloned()
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        let mut inner = self.lock();
        let Inner {
            entries,
            last_revision,
        } = &mut *inner;
        let swapped = match (entries.get_mut(key), expected) {
            // An update in place: no key clone, and `clone_from` reuses the
            // claim's string buffer (the guard swaps twice per event).
            (Some(entry), Some(expected)) if entry.revision == expected => {
                *last_revision += 1;
                entry.state.clone_from(state);
                entry.revision = *last_revision;
                Swapped::Done {
                    revision: *last_revision,
                }
            }
            (None, None) => {
                *last_revision += 1;
                entries.insert(
                    key.clone(),
                    Entry {
                        state: state.clone(),
                        revision: *last_revision,
                    },
                );
                Swapped::Done {
                    revision: *last_revision,
                }
            }
            _ => Swapped::Conflict,
        };
        Box::pin(std::future::ready(Ok(swapped)))
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
