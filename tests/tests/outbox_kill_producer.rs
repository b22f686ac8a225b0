//! A service loop that saves a record and enqueues its event in one
//! transaction is killed (its task aborted) at random points 100 times
//! while it produces 5,000 events, with a relay publishing to a real
//! nats-server meanwhile: every committed change's event is in the stream
//! exactly once, in order per record, and no event of a rolled-back
//! transaction is.

mod outbox_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use outbox_support::{RecordChanged, Rng, TestDb, changes, nats, stream_contents, wait_drained};
use sqlx::PgPool;
use typebus::postgres::{Outbox, Relay};

const EVENTS: i64 = 5_000;
const KILLS: usize = 100;
const RECORDS: u64 = 300;

/// One change: lock (or create) the record, bump its version and total,
/// enqueue the event; every 10th transaction is rolled back on purpose.
async fn change(
    pool: &PgPool,
    records: &str,
    outbox: &Outbox,
    rng: &mut Rng,
) -> Result<(), sqlx::Error> {
    let id = format!("rec-{}", rng.below(RECORDS));
    let amount = i64::try_from(rng.below(1_000)).unwrap_or(0) + 1;
    let roll_back = rng.below(10) == 0;
    let mut tx = pool.begin().await?;
    let current: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM {} WHERE id = $1 FOR UPDATE",
        records
    ))
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    let version = match current {
        None => {
            sqlx::query(&format!(
                "INSERT INTO {} (id, version, total) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING",
                records
            ))
            .bind(&id)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
            0
        }
        Some(version) => {
            sqlx::query(&format!(
                "UPDATE {} SET version = version + 1, total = total + $2 WHERE id = $1",
                records
            ))
            .bind(&id)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
            version + 1
        }
    };
    let event = RecordChanged {
        id,
        version: u64::try_from(version).unwrap_or(0),
        amount,
    };
    outbox
        .enqueue_versioned(&mut tx, &event)
        .await
        .map_err(|err| sqlx::Error::Protocol(err.to_string()))?;
    if roll_back {
        tx.rollback().await
    } else {
        tx.commit().await
    }
}

async fn committed(pool: &PgPool, records: &str) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>(&format!("SELECT sum(version + 1)::bigint FROM {records}"))
        .fetch_one(pool)
        .await
        .expect("count")
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_service_loop_publishes_each_committed_event_once() {
    let db = TestDb::new().await;
    let (_server, bus) = nats().await;
    let outbox = Outbox::new(db.schema.clone());
    let relay = Relay::new(db.pool.clone(), &bus, outbox.clone())
        .batch_size(64)
        .spawn();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    println!("seed {seed}");
    let mut rng = Rng::new(seed);
    let mut kills = 0;
    let mut lives = 0;
    let mut errors = 0;
    loop {
        let done = committed(&db.pool, &db.records()).await;
        if kills >= KILLS && lives > kills {
            break;
        }
        lives += 1;
        let life_seed = rng.next();
        let (pool, records) = (db.pool.clone(), db.records());
        let life_outbox = outbox.clone();
        let progress = Arc::new(AtomicU64::new(0));
        let life_progress = Arc::clone(&progress);
        // Lives to be killed run until killed; the last one until done.
        let last = kills >= KILLS;
        let service = tokio::spawn(async move {
            let mut rng = Rng::new(life_seed);
            let mut failures = 0;
            while !last || committed(&pool, &records).await < EVENTS {
                if change(&pool, &records, &life_outbox, &mut rng)
                    .await
                    .is_err()
                {
                    failures += 1;
                }
                life_progress.fetch_add(1, Ordering::SeqCst);
            }
            failures
        });
        if kills < KILLS {
            // Kill after a random share of the remaining changes, at a
            // random point of the transaction in flight.
            let share = u64::try_from((EVENTS - done).max(0)).unwrap_or(0)
                / u64::try_from(KILLS - kills).unwrap_or(1);
            let kill_after = rng.below(share + 1);
            while progress.load(Ordering::SeqCst) < kill_after && !service.is_finished() {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            tokio::time::sleep(Duration::from_micros(rng.below(3_000))).await;
            service.abort();
        }
        match service.await {
            Ok(failures) => errors += failures,
            Err(err) if err.is_cancelled() => kills += 1,
            Err(err) => panic!("service loop panicked: {err}"),
        }
    }
    println!("{lives} lives, {kills} kills, {errors} failed transactions");
    assert_eq!(
        (kills, lives),
        (KILLS, KILLS + 1),
        "every life but the last was killed"
    );

    wait_drained(&db, &outbox, Duration::from_secs(60)).await;
    relay.shutdown().await;

    let records: BTreeMap<String, (i64, i64)> = sqlx::query_as::<_, (String, i64, i64)>(&format!(
        "SELECT id, version, total FROM {}",
        db.records()
    ))
    .fetch_all(&db.pool)
    .await
    .expect("records")
    .into_iter()
    .map(|(id, version, total)| (id, (version, total)))
    .collect();
    let expected: i64 = records.values().map(|(version, _)| version + 1).sum();
    assert!(expected >= EVENTS, "{expected} committed events");

    let stored = stream_contents(&bus, "record:changed", Duration::from_secs(2)).await;
    let ids: BTreeSet<&str> = stored.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(ids.len(), stored.len(), "a message id is stored twice");
    assert_eq!(
        i64::try_from(stored.len()).unwrap_or(-1),
        expected,
        "the stream holds exactly the committed events"
    );
    let mut seen: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for event in changes(&stored) {
        let entry = seen.entry(event.id.clone()).or_insert((-1, 0));
        assert_eq!(
            i64::try_from(event.version).unwrap_or(-1),
            entry.0 + 1,
            "record {} out of order or duplicated in the stream",
            event.id
        );
        *entry = (entry.0 + 1, entry.1 + event.amount);
    }
    // Same versions and the same totals: no event of a rolled-back
    // transaction (its amount would show) and none missing.
    assert_eq!(seen, records);
    let summary = outbox.summary(&db.pool).await.expect("summary");
    assert_eq!((summary.pending, summary.failed), (0, 0));
    assert_eq!(i64::try_from(summary.sent).unwrap_or(-1), expected);
}
