//! A relay killed between publishing and marking its rows: the rows stay
//! pending, the next relay publishes them again with the same message ids,
//! and the stream (a real nats-server) still holds each event once.

mod outbox_support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outbox_support::{RecordChanged, RecordPinged, TestDb, changes, nats, stream_contents};
use typebus::error::{AckError, ListenError, ProvisionError, PublishError};
use typebus::headers::names;
use typebus::postgres::{Outbox, Relay};
use typebus::transport::{
    BoxFuture, ConsumerSpec, MessageSource, OutgoingMessage, PendingAck, Transport,
};
use typebus::{ProvisionOutcome, StreamConfig};

/// A transport whose publishes reach the stream but whose acks never come
/// back to the caller: a relay using it dies (is aborted) after its
/// messages are stored and before it can mark its rows.
struct AckSwallower {
    inner: Arc<dyn Transport>,
    stored: Arc<Mutex<BTreeSet<String>>>,
}

impl Transport for AckSwallower {
    fn name(&self) -> &'static str {
        "ack-swallower"
    }

    fn publish(&self, message: OutgoingMessage) -> BoxFuture<'_, Result<PendingAck, PublishError>> {
        Box::pin(async move {
            let id = message
                .headers
                .get(names::MSG_ID)
                .unwrap_or_default()
                .to_owned();
            let ack = self.inner.publish(message).await?;
            let stored = Arc::clone(&self.stored);
            Ok(PendingAck::new(async move {
                if ack.await.is_ok() {
                    stored.lock().expect("lock").insert(id);
                }
                std::future::pending().await
            }))
        })
    }

    fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }

    fn provision<'a>(
        &'a self,
        config: &'a StreamConfig,
    ) -> BoxFuture<'a, Result<ProvisionOutcome, ProvisionError>> {
        self.inner.provision(config)
    }

    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn MessageSource>, ListenError>> {
        self.inner.consume(spec)
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), AckError>> {
        self.inner.flush()
    }
}

const RECORDS: u64 = 40;
const VERSIONS: u64 = 10;
const PINGS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_before_marking_does_not_store_twice() {
    let db = TestDb::new().await;
    let (_server, bus) = nats().await;
    let outbox = Outbox::new(db.schema.clone());

    // Versions enqueued in order, records interleaved, pings in between.
    for version in 0..VERSIONS {
        let mut tx = db.pool.begin().await.expect("begin");
        for record in 0..RECORDS {
            let event = RecordChanged {
                id: format!("rec-{record}"),
                version,
                amount: i64::try_from(record * 100 + version).unwrap_or(0),
            };
            outbox
                .enqueue_versioned(&mut tx, &event)
                .await
                .expect("enqueue");
        }
        for n in 0..PINGS / VERSIONS {
            let ping = RecordPinged {
                n: version * 100 + n,
            };
            outbox.enqueue(&mut tx, &ping).await.expect("enqueue ping");
        }
        tx.commit().await.expect("commit");
    }
    let total = RECORDS * VERSIONS + PINGS;

    // Two crashes in a row, each after its messages were stored.
    let mut stored_before_crash = BTreeSet::new();
    for crash in 0..2 {
        let stored = Arc::new(Mutex::new(BTreeSet::new()));
        let swallower = AckSwallower {
            inner: Arc::clone(bus.transport()),
            stored: Arc::clone(&stored),
        };
        let relay = Relay::with_transport(db.pool.clone(), Arc::new(swallower), outbox.clone())
            .batch_size(150)
            .spawn();
        // Wait until the stream has stored the first wave, then kill it.
        let start = std::time::Instant::now();
        loop {
            let count = stored.lock().expect("lock").len();
            if count > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "crash {crash}: nothing stored"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        relay.abort().await;
        let summary = outbox.summary(&db.pool).await.expect("summary");
        assert_eq!(summary.pending, total, "crash {crash}: a row was marked");
        stored_before_crash.extend(stored.lock().expect("lock").iter().cloned());
    }
    assert!(!stored_before_crash.is_empty());

    // A healthy relay republishes them: the stream reports duplicates.
    let relay = Relay::new(db.pool.clone(), &bus, outbox.clone()).batch_size(150);
    let mut duplicates = 0;
    let mut sent = 0;
    let start = std::time::Instant::now();
    loop {
        let report = relay.publish_batch().await.expect("round");
        if report.claimed == 0 {
            // Done, unless rows are still locked by an aborted round whose
            // connection has not rolled back yet (a dead process's would be
            // closed by the server).
            let summary = outbox.summary(&db.pool).await.expect("summary");
            if summary.pending == 0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{} rows stayed pending",
                summary.pending
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert_eq!((report.failed, report.retrying), (0, 0), "{report:?}");
        duplicates += report.duplicates;
        sent += report.sent;
    }
    assert_eq!(u64::try_from(sent).unwrap_or(0), total);
    assert_eq!(
        duplicates,
        stored_before_crash.len(),
        "every stored row came back as a duplicate"
    );

    let changed = stream_contents(&bus, "record:changed", Duration::from_secs(2)).await;
    let pinged = stream_contents(&bus, "record:pinged", Duration::from_secs(1)).await;
    let ids: BTreeSet<&str> = changed
        .iter()
        .chain(&pinged)
        .map(|s| s.message_id.as_str())
        .collect();
    assert_eq!(u64::try_from(ids.len()).unwrap_or(0), total);
    assert_eq!(
        u64::try_from(changed.len() + pinged.len()).unwrap_or(0),
        total,
        "the stream stores each event once"
    );
    let last = changed
        .iter()
        .chain(&pinged)
        .map(|s| s.stream_sequence)
        .max();
    assert_eq!(last, Some(total), "no sequence was used by a second copy");
    // Per-record order held through the crashes.
    let mut next = vec![0; usize::try_from(RECORDS).unwrap_or(0)];
    for event in changes(&changed) {
        let record: usize = event.id.trim_start_matches("rec-").parse().expect("id");
        assert_eq!(event.version, next[record], "{} out of order", event.id);
        next[record] += 1;
    }
    assert!(next.iter().all(|&n| n == VERSIONS));
    let summary = outbox.summary(&db.pool).await.expect("summary");
    assert_eq!((summary.pending, summary.sent), (0, total));
}
