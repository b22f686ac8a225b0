//! A table in memory: what a service's database is in these examples.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Rows by id, behind a mutex (a poisoned lock is still read: every write
/// is a single insert, so a panic cannot leave a row half written).
#[derive(Debug)]
pub(crate) struct Table<T> {
    rows: Mutex<BTreeMap<String, T>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<T: Clone> Table<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, T>> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, id: &str) -> Option<T> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn all(&self) -> Vec<T> {
        self.lock().values().cloned().collect()
    }
}
