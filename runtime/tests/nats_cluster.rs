//! A 3-node JetStream cluster on loopback, a stream with 3 replicas, and a
//! crash: while 20,000 events flow from two publishers to two instances of
//! one service, the stream leader is killed with SIGKILL and restarted
//! later; the test checks that publishing was under way at the kill and
//! still at the restart, and fails if the cluster names no leader. Every
//! event whose publish returned `Ok` is handled (at least once), and the
//! stream stores none twice.
//!
//! Clients are given all three URLs. A publish that returns an error is
//! retried with the same message id (the duplicate window makes that safe),
//! as a service's outbox relay would.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_support::*;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::testing::NatsCluster;
use typebus::{Bus, PendingPublish, PublishError, StreamConfig};

const EVENTS: usize = 20_000;
const PUBLISHERS: usize = 2;
const WINDOW: usize = 200;

fn cluster_options(cluster: &NatsCluster, name: &str) -> ConnectOptions {
    ConnectOptions::servers(cluster.urls())
        .name(name)
        .pull_expiry(Duration::from_secs(2))
        .idle_heartbeat(Duration::from_millis(500))
        .publish_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(3))
        .max_reconnect_delay(Duration::from_millis(250))
}

async fn cluster_bus(cluster: &NatsCluster, name: &str) -> Bus {
    Bus::new(
        NatsTransport::connect(cluster_options(cluster, name))
            .await
            .unwrap(),
    )
}

fn message_id(n: usize) -> String {
    format!("ticket-{n:05}")
}

/// Publishes events `ids` in pipelined windows; an id whose publish fails is
/// published again with the same id until it is acked. Records every acked id.
async fn publish_all(
    bus: Bus,
    ids: Vec<usize>,
    acked: Arc<Mutex<Vec<String>>>,
    failures: Arc<AtomicUsize>,
) {
    let publisher = bus.publisher::<TicketCreated>();
    for window in ids.chunks(WINDOW) {
        let mut pending: Vec<(String, Result<PendingPublish, PublishError>)> = Vec::new();
        for &n in window {
            let id = message_id(n);
            let sent = publisher.send_with_id(&ticket(n as u64), id.clone()).await;
            pending.push((id, sent));
        }
        let mut retry = Vec::new();
        for (id, sent) in pending {
            let result = match sent {
                Ok(pending) => pending.await.map(drop),
                Err(err) => Err(err),
            };
            match result {
                Ok(()) => acked.lock().unwrap().push(id),
                Err(_) => retry.push(id),
            }
        }
        for id in retry {
            let n: usize = id["ticket-".len()..].parse().unwrap();
            let started = Instant::now();
            loop {
                failures.fetch_add(1, Ordering::Relaxed);
                match publisher
                    .publish_with_id(&ticket(n as u64), id.clone())
                    .await
                {
                    Ok(_) => {
                        acked.lock().unwrap().push(id);
                        break;
                    }
                    Err(err) => {
                        assert!(
                            started.elapsed() < Duration::from_secs(60),
                            "{id} not acked within 60 s: {err}"
                        );
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }
}

/// The node that leads `stream`: asked until the cluster names a leader
/// that is one of its nodes and is running. Fails the test after 30 s
/// rather than guess a node.
async fn stream_leader(
    cluster: &mut NatsCluster,
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> usize {
    let started = Instant::now();
    loop {
        let answer = match js.get_stream(stream).await {
            Ok(mut handle) => match handle.info().await {
                Ok(info) => match info.cluster.as_ref().and_then(|c| c.leader.clone()) {
                    Some(name) => match cluster.index_of(&name) {
                        Some(i) if cluster.is_running(i) => return i,
                        Some(_) => format!("leader {name} is not running"),
                        None => format!("leader {name} is not a node of the cluster"),
                    },
                    None => "no leader in the stream info".to_owned(),
                },
                Err(err) => format!("stream info: {err}"),
            },
            Err(err) => format!("get stream: {err}"),
        };
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no leader of {stream} found in 30 s: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acked_event_is_lost_or_stored_twice_when_the_stream_leader_crashes() {
    let test_started = Instant::now();
    let mut cluster = NatsCluster::start(3).unwrap();
    let bus = cluster_bus(&cluster, "publisher").await;

    // The metadata leader may still be settling: retry the first request.
    let config = StreamConfig::new(["ticket:created"]).replicas(3);
    let started = Instant::now();
    while let Err(err) = bus.provision(&config).await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "stream not provisioned: {err}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let raw = NatsTransport::connect(cluster_options(&cluster, "inspector"))
        .await
        .unwrap();
    let js = raw.jetstream().clone();
    let info = js.get_stream("EVENTS").await.unwrap().cached_info().clone();
    assert_eq!(info.config.num_replicas, 3);

    // Two instances of one service, each on its own connection.
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| Act::Ok);
    let mut handles = Vec::new();
    for instance in 0..2 {
        let listener_bus = cluster_bus(&cluster, &format!("orders-service-{instance}")).await;
        handles.push(listener_bus.listen(probe.instance(instance)).await.unwrap());
    }

    // Two publishers, interleaved ids.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let ids: Vec<usize> = (0..EVENTS).filter(|n| n % PUBLISHERS == p).collect();
        let publisher_bus = cluster_bus(&cluster, &format!("publisher-{p}")).await;
        publishers.push(tokio::spawn(publish_all(
            publisher_bus,
            ids,
            Arc::clone(&acked),
            Arc::clone(&failures),
        )));
    }

    // Mid-way: kill the stream leader, keep it down for longer than a pull
    // expiry, then restart it. Publishing must still be under way at the
    // kill (some acked, not all, the publishers running), and it must go
    // on through the outage: the restarted node has to catch up under load.
    let count = || acked.lock().unwrap().len();
    let running = |publishers: &[tokio::task::JoinHandle<()>]| {
        publishers.iter().filter(|p| !p.is_finished()).count()
    };
    eventually(
        Duration::from_secs(90),
        "two fifths of the events acked",
        || count() >= EVENTS * 2 / 5,
    )
    .await;
    let victim = stream_leader(&mut cluster, &js, "EVENTS").await;
    let (at_kill, publishing) = (count(), running(&publishers));
    assert!(
        at_kill < EVENTS && publishing == PUBLISHERS,
        "the kill would not land mid-publishing: {at_kill} of {EVENTS} acked, \
         {publishing} of {PUBLISHERS} publishers running"
    );
    eprintln!(
        "killing {}, the stream leader, after {at_kill} acks",
        cluster.name(victim)
    );
    cluster.kill(victim);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (at_restart, publishing) = (count(), running(&publishers));
    eprintln!(
        "restarting {} after {at_restart} acks, {publishing} publishers running",
        cluster.name(victim)
    );
    assert!(
        at_restart < EVENTS && publishing > 0,
        "publishing ended while {} was down: {at_restart} of {EVENTS} acked",
        cluster.name(victim)
    );
    cluster.restart(victim).unwrap();

    for publisher in publishers {
        publisher.await.unwrap();
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    eprintln!(
        "{} ids acked, {} publish retries, after {:?}",
        acked.len(),
        failures.load(Ordering::Relaxed),
        test_started.elapsed()
    );
    assert_eq!(acked.len(), EVENTS, "every id is acked in the end");

    // Every acked event is handled.
    let handled = || -> HashSet<String> {
        probe
            .calls()
            .iter()
            .filter_map(|call| call.delivery.message_id().map(str::to_owned))
            .collect()
    };
    eventually(Duration::from_secs(60), "every acked event handled", || {
        let handled = handled();
        acked.iter().all(|id| handled.contains(id))
    })
    .await;
    for handle in handles {
        handle.shutdown().await.unwrap();
    }
    let calls = probe.calls();
    let instances: BTreeSet<usize> = calls.iter().map(|call| call.instance).collect();
    eprintln!(
        "{} handler calls for {} events, instances {instances:?}, after {:?}",
        calls.len(),
        acked.len(),
        test_started.elapsed()
    );

    // The stream stores each acked id exactly once, and nothing else. Read
    // back by sequence from the stream's leader (a consumer created right
    // after the crash may wait on a replica still catching up).
    let mut stream = js.get_stream("EVENTS").await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    assert_eq!(state.messages, acked.len() as u64);
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        let mut attempts = 0;
        let message = loop {
            attempts += 1;
            match stream.get_raw_message(sequence).await {
                Ok(message) => break message,
                Err(err) if attempts < 10 => {
                    eprintln!("reading sequence {sequence} again: {err}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => panic!("sequence {sequence} not read back: {err}"),
            }
        };
        let id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|value| value.as_str().to_owned())
            .expect("a message id");
        if !seen.insert(id.clone()) {
            duplicates.push(id);
        }
    }
    assert!(duplicates.is_empty(), "stored twice: {duplicates:?}");
    let seen: BTreeSet<String> = seen.into_iter().collect();
    assert_eq!(seen, acked);
}
