//! The journal sequence store through server crashes: two instances (each
//! on its own connection) advance the same records by compare-and-set
//! while nats-server is killed with SIGKILL and restarted twice. No step
//! is won twice, every record reaches its last step, and the instances
//! and a store opened afterwards agree on every record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::ordering::{JournalSequenceStore, RecordKey, SequenceStore, State, Swapped};
use typebus::testing::NatsServer;

const JOURNAL: &str = "orders-service";
const RECORDS: usize = 50;
const STEPS: u64 = 500;
/// Between two steps of one record: the run spans the crashes.
const PACE: Duration = Duration::from_millis(10);

fn options(server: &NatsServer) -> ConnectOptions {
    ConnectOptions::new(server.url())
        .publish_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(3))
        .max_reconnect_delay(Duration::from_millis(250))
}

async fn open(server: &NatsServer) -> Arc<JournalSequenceStore> {
    let transport = NatsTransport::connect(options(server))
        .await
        .expect("connect");
    Arc::new(
        JournalSequenceStore::open(transport.jetstream(), JOURNAL)
            .await
            .expect("journal")
            .snapshot_interval(1_000),
    )
}

/// Who won each step `(record, sequence)`: the number of `Done` answers.
type Wins = Arc<Mutex<HashMap<(usize, u64), u32>>>;

/// How many swaps and loads failed (the server was down; requests that
/// wait out the outage in the client's buffer do not fail).
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Advances `record` one step at a time up to `STEPS`, retrying through
/// conflicts (the other instance won) and errors (the server is down).
async fn advance(store: Arc<JournalSequenceStore>, record: usize, wins: Wins, deadline: Instant) {
    let key = RecordKey::new("ticket", format!("{record:024x}"));
    let mut known = store.cached(&key);
    loop {
        assert!(
            Instant::now() < deadline,
            "record {record} stuck at {known:?}"
        );
        let applied = known.as_ref().and_then(|entry| entry.state.applied);
        let next = applied.map_or(0, |last| last + 1);
        if next > STEPS {
            return;
        }
        let state = State {
            applied: Some(next),
            claim: None,
        };
        let expected = known.as_ref().map(|entry| entry.revision);
        match store.swap(&key, expected, &state).await {
            Ok(Swapped::Done { revision }) => {
                *wins
                    .lock()
                    .expect("wins")
                    .entry((record, next))
                    .or_default() += 1;
                known = Some(typebus::ordering::Entry { state, revision });
                tokio::time::sleep(PACE).await;
            }
            Ok(Swapped::Conflict) => match store.load(&key).await {
                Ok(entry) => known = entry,
                Err(_) => {
                    FAILED.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Err(_) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                // The write may have been stored: read before trying again.
                tokio::time::sleep(Duration::from_millis(100)).await;
                match store.load(&key).await {
                    Ok(entry) => known = entry,
                    Err(_) => {
                        FAILED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_through_two_server_crashes_never_win_a_step_twice() {
    let mut server = NatsServer::start().expect("nats-server");
    let a = open(&server).await;
    let b = open(&server).await;
    let wins: Wins = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut workers = Vec::new();
    for store in [&a, &b] {
        for record in 0..RECORDS {
            workers.push(tokio::spawn(advance(
                Arc::clone(store),
                record,
                Arc::clone(&wins),
                deadline,
            )));
        }
    }
    let steps = RECORDS as u64 * (STEPS + 1);
    for crash in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let won = wins.lock().expect("wins").len() as u64;
        // The crash comes while the records are being advanced.
        assert!(won < steps, "every step was won before crash {crash}");
        tokio::task::block_in_place(|| server.kill());
        // Longer than the publish timeout: writes in flight fail.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        tokio::task::block_in_place(|| server.restart()).expect("restart");
    }
    for worker in workers {
        worker.await.expect("worker");
    }

    {
        let wins = wins.lock().expect("wins");
        let failed = FAILED.load(Ordering::Relaxed);
        eprintln!(
            "{} steps won, {failed} requests failed during the crashes",
            wins.len()
        );
        let twice: Vec<_> = wins.iter().filter(|&(_, &n)| n > 1).collect();
        assert!(twice.is_empty(), "steps won twice: {twice:?}");
        // A step no one won was written by a request whose answer was lost
        // in a crash (it failed, and its retry found the step stored). The
        // client may also ride a short outage out without a failure.
        assert!(
            wins.len() as u64 + failed >= steps,
            "{} of {steps} steps won with {failed} failures",
            wins.len()
        );
    }

    let reopened = open(&server).await;
    for record in 0..RECORDS {
        let key = RecordKey::new("ticket", format!("{record:024x}"));
        let entry = reopened.load(&key).await.expect("load").expect("entry");
        assert_eq!(entry.state.applied, Some(STEPS), "record {record}");
        for store in [&a, &b] {
            let seen = store.load(&key).await.expect("load").expect("entry");
            assert_eq!(seen, entry, "record {record}");
        }
    }
}
