//! The inbox side: a handler guarded by `Sequenced` with the PostgreSQL
//! sequence store writes its change and records its step in one
//! transaction. Made to fail after its write but before the commit (an
//! error, a panic), and after the commit but before the ack (an error, a
//! panic), with events published shuffled and duplicated to a real
//! nats-server and two instances sharing the work: the final table equals
//! applying each event exactly once.

mod outbox_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outbox_support::{RecordChanged, Rng, TestDb, nats};
use sqlx::PgPool;
use typebus::ordering::{SequenceStore, Sequenced, Step};
use typebus::postgres::PgSequenceStore;
use typebus::{Delivery, HandlerError, ListenOptions, Listener};

const RECORDS: u64 = 200;
const VERSIONS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    ErrorBeforeCommit,
    PanicBeforeCommit,
    ErrorAfterCommit,
    PanicAfterCommit,
}

fn fault_of(event: &RecordChanged) -> Fault {
    let record: u64 = event.id.trim_start_matches("rec-").parse().unwrap_or(0);
    match (record * VERSIONS + event.version) % 6 {
        1 => Fault::ErrorBeforeCommit,
        2 => Fault::PanicBeforeCommit,
        3 => Fault::ErrorAfterCommit,
        4 => Fault::PanicAfterCommit,
        _ => Fault::None,
    }
}

#[derive(Default)]
struct Counts {
    /// Faults already injected (once per event).
    injected: Mutex<BTreeSet<(String, u64)>>,
    /// Transactions that committed a change.
    committed: AtomicUsize,
    /// Faults injected, by kind: before commit, after commit.
    before_commit: AtomicUsize,
    after_commit: AtomicUsize,
}

struct Replica {
    pool: PgPool,
    records: String,
    store: Arc<PgSequenceStore>,
    counts: Arc<Counts>,
}

impl Listener for Replica {
    type Event = RecordChanged;

    fn options(&self) -> ListenOptions {
        ListenOptions::new("replica-service")
            .retry(typebus::Backoff::new(
                Duration::from_millis(50),
                Duration::from_millis(50),
            ))
            .max_deliver(None)
    }

    async fn on_message(&self, event: RecordChanged, _: &Delivery) -> Result<(), HandlerError> {
        let fault = fault_of(&event);
        let first = fault != Fault::None
            && self
                .counts
                .injected
                .lock()
                .expect("lock")
                .insert((event.id.clone(), event.version));
        let version = i64::try_from(event.version).map_err(HandlerError::permanent)?;
        let mut tx = self.pool.begin().await.map_err(HandlerError::retry)?;
        if event.version == 0 {
            sqlx::query(&format!(
                "INSERT INTO {} (id, version, total, applied) VALUES ($1, 0, $2, 1)",
                self.records
            ))
            .bind(&event.id)
            .bind(event.amount)
            .execute(&mut *tx)
            .await
            .map_err(HandlerError::retry)?;
        } else {
            sqlx::query(&format!(
                "UPDATE {} SET version = $2, total = total + $3, applied = applied + 1 WHERE id = $1",
                self.records
            ))
            .bind(&event.id)
            .bind(version)
            .bind(event.amount)
            .execute(&mut *tx)
            .await
            .map_err(HandlerError::retry)?;
        }
        let recorded = self
            .store
            .record_in(&mut tx, &Step::of(&event))
            .await
            .map_err(HandlerError::retry)?;
        if !recorded {
            // Applied meanwhile by another delivery: roll our write back.
            return Ok(());
        }
        if first && fault == Fault::ErrorBeforeCommit {
            self.counts.before_commit.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::retry(
                "injected: failed after the write, before commit",
            ));
        }
        if first && fault == Fault::PanicBeforeCommit {
            self.counts.before_commit.fetch_add(1, Ordering::SeqCst);
            panic!("injected: panicked after the write, before commit");
        }
        tx.commit().await.map_err(HandlerError::retry)?;
        self.counts.committed.fetch_add(1, Ordering::SeqCst);
        if first && fault == Fault::ErrorAfterCommit {
            self.counts.after_commit.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::retry(
                "injected: failed after commit, before the ack",
            ));
        }
        if first && fault == Fault::PanicAfterCommit {
            self.counts.after_commit.fetch_add(1, Ordering::SeqCst);
            panic!("injected: panicked after commit, before the ack");
        }
        Ok(())
    }
}

fn amount(record: u64, version: u64) -> i64 {
    i64::try_from(record * 10 + version + 1).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handler_faults_around_the_commit_apply_each_event_once() {
    // The injected panics are expected: keep their reports out of the output.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|message| message.starts_with("injected"));
        if !injected {
            report(info);
        }
    }));
    let db = TestDb::new().await;
    let (_server, bus) = nats().await;
    let store = Arc::new(PgSequenceStore::new(db.pool.clone(), db.schema.clone()));
    let counts = Arc::new(Counts::default());

    let mut handles = Vec::new();
    for _ in 0..2 {
        let replica = Replica {
            pool: db.pool.clone(),
            records: db.records(),
            store: Arc::clone(&store),
            counts: Arc::clone(&counts),
        };
        let guarded = Sequenced::new(replica, Arc::clone(&store) as Arc<dyn SequenceStore>)
            .early_delay(Duration::from_millis(100))
            .patience(10_000);
        handles.push(bus.listen(guarded).await.expect("listen"));
    }

    // Every version of every record, shuffled, 10% published twice.
    let mut events = Vec::new();
    for record in 0..RECORDS {
        for version in 0..VERSIONS {
            events.push(RecordChanged {
                id: format!("rec-{record}"),
                version,
                amount: amount(record, version),
            });
        }
    }
    let mut rng = Rng::new(0x5eed);
    for i in (1..events.len()).rev() {
        let j = usize::try_from(rng.below(u64::try_from(i + 1).unwrap_or(1))).unwrap_or(0);
        events.swap(i, j);
    }
    let duplicates: Vec<RecordChanged> = events.iter().step_by(10).cloned().collect();
    events.extend(duplicates);
    let publisher = bus.publisher::<RecordChanged>();
    for event in &events {
        publisher.publish(event).await.expect("publish");
    }

    let start = Instant::now();
    let sequences = format!("\"{}\".sequences", db.schema.name());
    loop {
        let done: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {sequences} WHERE applied = $1"
        ))
        .bind(i64::try_from(VERSIONS - 1).unwrap_or(0))
        .fetch_one(&db.pool)
        .await
        .expect("count");
        if done == i64::try_from(RECORDS).unwrap_or(0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {done} records fully applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let redeliveries of the faulted events settle (they must change nothing).
    tokio::time::sleep(Duration::from_secs(1)).await;
    for handle in handles {
        handle
            .shutdown()
            .await
            .expect("listener shuts down cleanly");
    }

    let rows: Vec<(String, i64, i64, i32)> = sqlx::query_as(&format!(
        "SELECT id, version, total, applied FROM {} ORDER BY id",
        db.records()
    ))
    .fetch_all(&db.pool)
    .await
    .expect("records");
    assert_eq!(rows.len(), usize::try_from(RECORDS).unwrap_or(0));
    for (id, version, total, applied) in rows {
        let record: u64 = id.trim_start_matches("rec-").parse().expect("id");
        let expected_total: i64 = (0..VERSIONS).map(|v| amount(record, v)).sum();
        assert_eq!(
            (version, total, applied),
            (
                i64::try_from(VERSIONS - 1).unwrap_or(0),
                expected_total,
                i32::try_from(VERSIONS).unwrap_or(0)
            ),
            "{id}: not each event applied exactly once"
        );
    }
    let committed = counts.committed.load(Ordering::SeqCst);
    assert_eq!(committed, usize::try_from(RECORDS * VERSIONS).unwrap_or(0));
    let before = counts.before_commit.load(Ordering::SeqCst);
    let after = counts.after_commit.load(Ordering::SeqCst);
    println!("faults: {before} before commit, {after} after commit");
    assert!(
        before > 100 && after > 100,
        "faults were injected: {before}, {after}"
    );
    for record in 0..RECORDS {
        let key = typebus::ordering::RecordKey::new("record", format!("rec-{record}"));
        assert_eq!(
            store.applied(&key).await.expect("applied"),
            Some(VERSIONS - 1)
        );
    }
}
