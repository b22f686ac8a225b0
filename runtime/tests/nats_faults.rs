//! Faults over a real nats-server: kill -9 and restart it three times
//! while 10,000 events are published and consumed. Each kill comes once a
//! quarter more of the events is acked, and the test checks that
//! publishing was still under way (it had acked more since the last
//! restart, and not everything). Every event whose publish returned Ok is
//! handled, and the stream holds exactly the events published, none twice.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nats_support::*;
use typebus::{ListenOptions, PublishRetry};

const EVENTS: u64 = 10_000;
const WINDOW: usize = 100;
const KILLS: u64 = 3;

/// The publisher's counts: the kills are paced by them.
#[derive(Default)]
struct Progress {
    /// Publishes sent so far.
    sent: AtomicU64,
    /// Publishes whose ack (or failure) has been awaited: every one sent
    /// before the last window ended.
    settled: AtomicU64,
    /// Publishes acked so far.
    acked: AtomicU64,
}

impl Progress {
    /// Publishes sent and not yet settled: a window awaits its acks.
    fn in_flight(&self) -> u64 {
        let settled = self.settled.load(Ordering::SeqCst);
        self.sent.load(Ordering::SeqCst).saturating_sub(settled)
    }
}

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
    let options = |o: ListenOptions| o.concurrency(32).prefetch(64);
    let handle = listener_bus
        .listen_with(probe.instance(0), options)
        .await
        .unwrap();

    let publisher = bus.publisher::<TicketCreated>().with_retry(PublishRetry {
        attempts: 60,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    });
    let progress = Arc::new(Progress::default());
    let counts = Arc::clone(&progress);
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
                counts.sent.fetch_add(1, Ordering::SeqCst);
                match publisher.send(&event).await {
                    Ok(ack) => pending.push((n, ack)),
                    Err(err) => failed.push((n, err.to_string())),
                }
            }
            for (n, ack) in pending {
                match ack.await {
                    Ok(_) => {
                        ok.push(n);
                        counts.acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(err) => failed.push((n, err.to_string())),
                }
            }
            counts
                .settled
                .store(counts.sent.load(Ordering::SeqCst), Ordering::SeqCst);
            // Leave the listener some room; the kills wait for a window
            // in flight, not for this pause.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (ok, failed)
    });

    let acked = || progress.acked.load(Ordering::SeqCst);
    let mut restarted_at = 0;
    for kill in 1..=KILLS {
        // The kill comes once another quarter of the events is acked, while
        // a window of publishes awaits its acks: the publisher is at work,
        // whatever the machine's speed.
        let at = EVENTS * kill / (KILLS + 1);
        eventually(
            Duration::from_secs(60),
            &format!("{at} events acked and a window in flight before kill {kill}"),
            || (acked() >= at && progress.in_flight() > 0) || publishing.is_finished(),
        )
        .await;
        let before = acked();
        let in_flight = progress.in_flight();
        assert!(
            before > restarted_at && before < EVENTS && in_flight > 0,
            "kill {kill} would not land mid-publishing: {before} of {EVENTS} acked \
             ({restarted_at} when the server was last restarted), {in_flight} in flight"
        );
        tokio::task::block_in_place(|| server.kill());
        // Longer than the pull expiry (2 s): the listener's pull is lost.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        restarted_at = acked();
        eprintln!(
            "kill {kill} after {before} acks with {in_flight} in flight; \
             restarting after {restarted_at} acks"
        );
        assert!(
            restarted_at < EVENTS,
            "publishing ended while the server was down after kill {kill}"
        );
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

    // The stream holds the events published, each once, whatever the
    // publisher retried; `stored` fails on a sequence it cannot read.
    let js = raw_jetstream(&server).await;
    let mut stream = js.get_stream("EVENTS").await.unwrap();
    let messages = stream.info().await.unwrap().state.messages;
    assert_eq!(messages, EVENTS, "the stream holds one message per event");
    let stored = stored(&js, "EVENTS", "ticket:created").await;
    assert_eq!(stored.len() as u64, EVENTS);
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
