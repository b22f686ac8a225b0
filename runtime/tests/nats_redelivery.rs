//! A restart that rolls a consumer's acks back (issue #17, item 5).
//!
//! nats-server 2.9.10 keeps a consumer's acks in memory and rewrites its
//! state file (`obs/<consumer>/o.dat`) at most every 100 ms, in place:
//! `os.WriteFile` truncates the file, then writes it. A kill -9 between
//! the two leaves an empty (or short) file, and the restarted server
//! recovers the consumer with no state at all: it delivers the whole
//! stream again. These tests make that crash happen deterministically (kill
//! -9, the consumers' `o.dat` emptied, restart) after 10,000 events were
//! handled, with the listeners running through it, and check that the
//! ordering guard turns the mass redelivery into no second effect: with the
//! in-memory store, the KV store, and (feature `postgres`) the PostgreSQL
//! store with each handler recording its step in its own transaction.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod fault_support;
mod ordering_support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fault_support::{Observed, Seen};
use ordering_support::*;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::ordering::{KvSequenceStore, MemorySequenceStore, Ordered, SequenceStore};
use typebus::testing::NatsServer;
use typebus::{Bus, ListenOptions, ListenerHandle, consumer_name};

const SUBJECTS: [&str; 2] = ["ticket:created", "ticket:updated"];

fn options(url: &str) -> ConnectOptions {
    ConnectOptions::new(url)
        .pull_expiry(Duration::from_secs(2))
        .idle_heartbeat(Duration::from_millis(500))
        .max_reconnect_delay(Duration::from_millis(250))
        .request_timeout(Duration::from_secs(3))
        .publish_timeout(Duration::from_secs(3))
}

async fn connect(url: &str) -> NatsTransport {
    NatsTransport::connect(options(url)).await.unwrap()
}

fn listen_options() -> ListenOptions {
    ListenOptions::new().concurrency(64).batch(128)
}

/// The consumers' ack floors (stream sequence), or `None` while the server
/// cannot say.
async fn ack_floors(js: &async_nats::jetstream::Context) -> Option<Vec<u64>> {
    let stream = js.get_stream("EVENTS").await.ok()?;
    let mut floors = Vec::new();
    for subject in SUBJECTS {
        let info = stream
            .consumer_info(consumer_name(GROUP, subject))
            .await
            .ok()?;
        if info.num_pending != 0 || info.num_ack_pending != 0 {
            return None;
        }
        floors.push(info.ack_floor.stream_sequence);
    }
    Some(floors)
}

/// The state file of each consumer of `EVENTS` in the server's store.
fn consumer_state_files(server: &NatsServer) -> Vec<PathBuf> {
    SUBJECTS
        .iter()
        .map(|subject| {
            server
                .store_dir()
                .join("jetstream/$G/streams/EVENTS/obs")
                .join(consumer_name(GROUP, subject))
                .join("o.dat")
        })
        .collect()
}

/// 2,000 records x 5 versions, in order, handled by `instance`'s
/// listeners; then nats-server is killed (-9), the consumers' state files
/// are emptied as an interrupted rewrite leaves them, and it is
/// restarted. The listeners, running throughout, get all 10,000 events
/// again; `applied` must still show each version applied once. Returns how
/// long the redelivery took to work through.
async fn rolled_back(
    kind: &str,
    start: impl AsyncFnOnce(&str, &Arc<Mutex<Vec<Seen>>>) -> Vec<ListenerHandle>,
    applied: impl AsyncFn() -> u64,
) -> Duration {
    let total = (RECORDS * VERSIONS as usize) as u64;
    let mut server = NatsServer::start().unwrap();
    let admin = connect(&server.url()).await;
    let js = admin.jetstream().clone();
    let bus = Bus::new(admin);
    bus.provision(&stream()).await.unwrap();
    let events: Vec<TicketEvent> = (0..VERSIONS)
        .flat_map(|v| (0..RECORDS).map(move |i| event(i, v)))
        .collect();
    publish_all(&bus, &events).await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let handles = start(&server.url(), &seen).await;
    wait_until(Duration::from_secs(120), "the first pass", async || {
        applied().await >= total
    })
    .await;
    wait_until(Duration::from_secs(30), "every ack to land", async || {
        ack_floors(&js).await == Some(vec![total, total])
    })
    .await;
    let first_pass = seen.lock().unwrap().len();
    // Let the server write the acked state (it does within ~100 ms).
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The crash: kill -9 while rewriting the consumers' state.
    tokio::task::block_in_place(|| server.kill());
    for file in consumer_state_files(&server) {
        let written = std::fs::metadata(&file).unwrap().len();
        assert!(written > 0, "{}: no state written", file.display());
        std::fs::write(&file, b"").unwrap();
    }
    tokio::task::block_in_place(|| server.restart()).unwrap();
    let restarted = Instant::now();
    wait_until(
        Duration::from_secs(30),
        "the rolled-back state",
        async || {
            let js = connect(&server.url()).await.jetstream().clone();
            let Ok(stream) = js.get_stream("EVENTS").await else {
                return false;
            };
            matches!(
                stream.consumer_info(consumer_name(GROUP, "ticket:created")).await,
                Ok(info) if info.delivered.stream_sequence < total
            ) || seen.lock().unwrap().len() > first_pass
        },
    )
    .await;

    // Every event comes again; the listeners work through them.
    wait_until(
        Duration::from_secs(120),
        "the whole stream to be delivered again",
        async || {
            let calls = applied().await;
            assert_eq!(calls, total, "handler calls during the redelivery");
            seen.lock().unwrap().len() >= first_pass + total as usize
        },
    )
    .await;
    assert_eq!(applied().await, total, "handler calls after the redelivery");
    let js = connect(&server.url()).await.jetstream().clone();
    wait_until(
        Duration::from_secs(60),
        "every redelivery settled",
        async || ack_floors(&js).await == Some(vec![total, total]),
    )
    .await;
    let took = restarted.elapsed();
    for handle in handles {
        handle.shutdown().await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let again = seen.len() - first_pass;
    assert!(
        again >= total as usize,
        "{again} deliveries after the restart: the acks were not rolled back"
    );
    eprintln!(
        "{kind}: {first_pass} deliveries before the crash, {again} after it, worked through in {took:?}"
    );
    took
}

/// Memory or KV: the replica listeners of the ordering tests behind the
/// guard, wrapped to count deliveries.
async fn replica_instance(
    transport: NatsTransport,
    seen: &Arc<Mutex<Vec<Seen>>>,
    replica: &Arc<Replica>,
    store: Arc<dyn SequenceStore>,
) -> Vec<ListenerHandle> {
    let mut created = Observed::new(Ordered::new(
        CreateReplica(Arc::clone(replica), 0),
        Arc::clone(&store),
    ));
    created.seen = Arc::clone(seen);
    let mut updated = Observed::new(Ordered::new(UpdateReplica(Arc::clone(replica), 0), store));
    updated.seen = Arc::clone(seen);
    let bus = Bus::new(transport);
    vec![
        bus.listen_with(created, listen_options()).await.unwrap(),
        bus.listen_with(updated, listen_options()).await.unwrap(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_rolled_back_by_a_crash_apply_nothing_twice_with_the_memory_store() {
    let replica = Arc::new(Replica::default());
    let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
    rolled_back(
        "memory store",
        async |url, seen| replica_instance(connect(url).await, seen, &replica, store).await,
        async || replica.total_calls(),
    )
    .await;
    assert_replicated_exactly_once(&replica, RECORDS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_rolled_back_by_a_crash_apply_nothing_twice_with_the_kv_store() {
    let replica = Arc::new(Replica::default());
    rolled_back(
        "KV store",
        async |url, seen| {
            let transport = connect(url).await;
            let store: Arc<dyn SequenceStore> = Arc::new(
                KvSequenceStore::open(transport.jetstream(), "orders-service-sequences")
                    .await
                    .unwrap(),
            );
            replica_instance(transport, seen, &replica, store).await
        },
        async || replica.total_calls(),
    )
    .await;
    assert_replicated_exactly_once(&replica, RECORDS);
}
