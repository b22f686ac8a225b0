//! Faults over a real nats-server: kill -9 and restart it three times
//! while 10,000 events are published and consumed. Every event whose
//! publish returned Ok is handled, and the stream stores none twice.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use nats_support::*;
use typebus::{ListenOptions, PublishRetry};

const EVENTS: u64 = 10_000;
const WINDOW: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_and_restart_three_times_under_load_loses_and_duplicates_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_test_writer()
        .try_init();
    let started = std::time::Instant::now();
    let (mut server, bus) = setup().await;
    let listener_bus = connect(&server).await;
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| Act::Ok)
        .ack_wait(Duration::from_secs(2));
    let options = ListenOptions::new().concurrency(32).batch(64);
    let handle = listener_bus
        .listen_with(probe.instance(0), options)
        .await
        .unwrap();

    let publisher = bus.publisher::<TicketCreated>().with_retry(PublishRetry {
        attempts: 60,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    });
    let publishing = tokio::spawn(async move {
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        let all: Vec<u64> = (0..EVENTS).collect();
        for window in all.chunks(WINDOW) {
            let mut pending = Vec::new();
            for &n in window {
                let event = TicketCreated {
                    version: n,
                    ..ticket(n)
                };
                match publisher.send(&event).await {
                    Ok(ack) => pending.push((n, ack)),
                    Err(err) => failed.push((n, err.to_string())),
                }
            }
            for (n, ack) in pending {
                match ack.await {
                    Ok(_) => ok.push(n),
                    Err(err) => failed.push((n, err.to_string())),
                }
            }
            // Spread the load over the outages.
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        (ok, failed)
    });

    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tokio::task::block_in_place(|| server.kill());
        // Longer than the pull expiry (2 s): the listener's pull is lost.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        tokio::task::block_in_place(|| server.restart()).unwrap();
    }

    let (ok, failed) = publishing.await.unwrap();
    assert!(
        failed.is_empty(),
        "publishes failed despite retries: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert_eq!(ok.len() as u64, EVENTS);

    let calls = probe.calls_handle();
    let handled = || -> HashSet<u64> {
        calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.event.version)
            .collect()
    };
    let expected: HashSet<u64> = ok.iter().copied().collect();
    eventually(
        Duration::from_secs(120),
        "every acknowledged event to be handled",
        || expected.is_subset(&handled()),
    )
    .await;
    handle.shutdown().await.unwrap();

    // The stream stores each event once, whatever the publisher retried.
    let js = raw_jetstream(&server).await;
    let stored = stored(&js, "EVENTS", "ticket:created").await;
    let mut copies: HashMap<u64, usize> = HashMap::new();
    for message in &stored {
        let event: TicketCreated = serde_json::from_slice(&message.payload).unwrap();
        *copies.entry(event.version).or_default() += 1;
    }
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(copies.len() as u64, EVENTS);
    let redelivered = calls.lock().unwrap().len() as u64 - EVENTS;
    eprintln!(
        "handled {EVENTS} events in {:?}; {redelivered} redeliveries after the outages",
        started.elapsed()
    );
}
