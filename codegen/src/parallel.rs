//! An order-preserving parallel map on scoped threads, for the stages that
//! work on independent pieces (parsing files, rendering chunks of items).
//!
//! The results come back in input order whatever the scheduling, so output
//! bytes never depend on it. Small inputs, one-core machines and a failure
//! to spawn threads all fall back to the caller's thread alone.

use std::sync::{Mutex, PoisonError};

/// The most threads a map uses, the caller's included.
const MAX_WORKERS: usize = 8;

/// `items.into_iter().map(f).collect()`, on up to [`MAX_WORKERS`] threads
/// (never more than there are items or cores). Each thread takes the next
/// item when it is done with one, so uneven items balance. A panic in `f`
/// is resumed on the caller's thread.
pub(crate) fn map<T, R, F>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_WORKERS)
        .min(items.len());
    if workers <= 1 {
        return items.into_iter().map(f).collect();
    }
    let len = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let work = || {
        let mut done = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i, item)) = next else {
                break;
            };
            done.push((i, f(item)));
        }
        done
    };
    let mut slots: Vec<Option<R>> = (0..len).map(|_| None).collect();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut finished = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => finished.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        for (i, result) in finished {
            slots[i] = Some(result);
        }
    });
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u64> = (0..1000).collect();
        let out = map(items, |n| {
            // Uneven work, so threads finish out of order.
            for _ in 0..(n % 7) * 1000 {
                std::hint::black_box(n);
            }
            n * 2
        });
        assert_eq!(out, (0..1000).map(|n| n * 2).collect::<Vec<u64>>());
    }

    #[test]
    fn empty_and_single_inputs() {
        assert!(map(Vec::<u8>::new(), |x| x).is_empty());
        assert_eq!(map(vec![String::from("a")], |s| s + "b"), ["ab"]);
    }

    #[test]
    fn a_panic_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            map((0..64).collect::<Vec<u32>>(), |n| {
                assert!(n != 40, "item 40");
                n
            })
        });
        assert!(caught.is_err());
    }
}
