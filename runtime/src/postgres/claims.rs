//! [`PgClaims`]: how a [`PgSequenceStore`](super::PgSequenceStore) keeps a
//! delivery's claim on a step, and the notes its in-transaction mode keeps
//! of steps recorded by handlers.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::ordering::RecordKey;

/// How a [`PgSequenceStore`](super::PgSequenceStore) claims a step before
/// the guard calls its handler
/// ([`PgSequenceStore::claims`](super::PgSequenceStore::claims)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgClaims {
    /// The claim is written to the record's row before the handler runs
    /// (one `UPDATE`), and the step recorded after it (found recorded when
    /// the handler called [`record_in`](super::PgSequenceStore::record_in)):
    /// two deliveries of one step never run the handler at the same time.
    /// For handlers that do not record their step in their own transaction
    /// (idempotent writes, or no database writes at all). The default.
    #[default]
    Stored,
    /// No claim is written: the guard reads the batch's rows in one
    /// `SELECT` and calls the handler of each record's next step, and the
    /// handler's own transaction serialises deliveries of one step.
    /// [`record_in`](super::PgSequenceStore::record_in) locks the record's
    /// row until the transaction ends, so of two deliveries of one step
    /// running at once (a duplicate publish, on two instances) both may run
    /// the handler, but the second's `record_in` waits for the first's
    /// transaction and returns `false`: it rolls back, and the effect
    /// happens once. After a handler that recorded its step this way
    /// nothing more is written.
    ///
    /// **Requires** every handler behind the guard to record its step with
    /// `record_in` in the same transaction as its effects, commit before it
    /// returns `Ok`, and roll back when `record_in` returns `false`. A
    /// handler that does not gets at-least-once effects (its step is still
    /// recorded after it, outside its transaction); use [`Stored`](Self::Stored)
    /// for such handlers.
    ///
    /// Claims stored by instances in [`Stored`](Self::Stored) mode on the
    /// same table are respected: a step whose row holds another delivery's
    /// unexpired claim waits, as it would in that mode. A claim stored
    /// after this mode's read does not stop the handler here, so instances
    /// of both modes on one table keep exactly-once effects only when all
    /// their handlers record their step with `record_in`.
    InTransaction,
}

/// Past this many notes the set is emptied: a note lost only costs one
/// extra write for its step.
const MAX_NOTES: usize = 65_536;

/// The steps `record_in` recorded in this process whose guard has not
/// finished them yet, shared by the clones of one store.
#[derive(Debug, Default)]
pub(crate) struct Notes(Mutex<HashSet<(RecordKey, u64)>>);

impl Notes {
    /// Notes that step `sequence` of `key` was recorded in a handler's
    /// transaction.
    pub(crate) fn note(&self, key: &RecordKey, sequence: u64) {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if notes.len() >= MAX_NOTES {
            notes.clear();
        }
        notes.insert((key.clone(), sequence));
    }

    /// Removes the note of step `sequence` of `key`; whether there was one.
    pub(crate) fn take(&self, key: &RecordKey, sequence: u64) -> bool {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        notes.remove(&(key.clone(), sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_taken_once_and_the_set_stays_bounded() {
        let notes = Notes::default();
        let key = RecordKey::new("ticket", "a");
        notes.note(&key, 1);
        assert!(notes.take(&key, 1));
        assert!(!notes.take(&key, 1));
        for sequence in 0..=MAX_NOTES as u64 {
            notes.note(&key, sequence);
        }
        let kept = notes.0.lock().map(|set| set.len()).unwrap_or(0);
        assert_eq!(kept, 1, "emptied when full, then the newest noted");
    }
}
