//! Two relays (separate connection pools, as two processes) drain one
//! outbox while producers keep enqueueing: no row is published twice, the
//! stream (a real nats-server) stores each event once, and every record's
//! events arrive in order.

mod outbox_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use outbox_support::{RecordChanged, TestDb, changes, nats, stream_contents, wait_drained};
use typebus::error::{AckError, ListenError, ProvisionError, PublishError};
use typebus::postgres::{Outbox, Relay};
use typebus::transport::{
    BoxFuture, ConsumerSpec, MessageSource, OutgoingMessage, PendingAck, Transport,
};
use typebus::{ProvisionOutcome, StreamConfig};

/// Counts the publishes of one relay.
struct Counting {
    inner: Arc<dyn Transport>,
    published: Arc<AtomicUsize>,
}

impl Transport for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn publish(&self, message: OutgoingMessage) -> BoxFuture<'_, Result<PendingAck, PublishError>> {
        self.published.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(message)
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

const PRODUCERS: u64 = 4;
const RECORDS_PER_PRODUCER: u64 = 25;
const VERSIONS: u64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_publish_each_row_once_in_record_order() {
    let db = TestDb::new().await;
    let (_server, bus) = nats().await;
    let outbox = Outbox::new(db.schema.clone());

    let mut counters = Vec::new();
    let mut relays = Vec::new();
    for _ in 0..2 {
        let published = Arc::new(AtomicUsize::new(0));
        let transport = Counting {
            inner: Arc::clone(bus.transport()),
            published: Arc::clone(&published),
        };
        let pool = db.another_pool(4).await;
        relays.push(
            Relay::with_transport(pool, Arc::new(transport), outbox.clone())
                .batch_size(16)
                .spawn(),
        );
        counters.push(published);
    }

    // Producers: each owns its records and enqueues their versions in
    // order, one transaction per event, interleaving its records.
    let mut producers = Vec::new();
    for producer in 0..PRODUCERS {
        let pool = db.pool.clone();
        let outbox = outbox.clone();
        producers.push(tokio::spawn(async move {
            for version in 0..VERSIONS {
                for record in 0..RECORDS_PER_PRODUCER {
                    let event = RecordChanged {
                        id: format!("rec-{producer}-{record}"),
                        version,
                        amount: 1,
                    };
                    let mut tx = pool.begin().await.expect("begin");
                    outbox
                        .enqueue_versioned(&mut tx, &event)
                        .await
                        .expect("enqueue");
                    tx.commit().await.expect("commit");
                }
            }
        }));
    }
    for producer in producers {
        producer.await.expect("producer");
    }
    wait_drained(&db, &outbox, Duration::from_secs(60)).await;
    for relay in relays {
        relay.shutdown().await;
    }

    let total = usize::try_from(PRODUCERS * RECORDS_PER_PRODUCER * VERSIONS).unwrap_or(0);
    let published: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    println!("publishes per relay: {published:?}");
    assert!(
        published.iter().all(|&n| n > 0),
        "both relays worked: {published:?}"
    );
    assert_eq!(
        published.iter().sum::<usize>(),
        total,
        "no row was published twice"
    );

    let stored = stream_contents(&bus, "record:changed", Duration::from_secs(2)).await;
    assert_eq!(stored.len(), total);
    let ids: BTreeSet<&str> = stored.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(ids.len(), total);
    let mut next = std::collections::BTreeMap::<String, u64>::new();
    for event in changes(&stored) {
        let expected = next.entry(event.id.clone()).or_insert(0);
        assert_eq!(event.version, *expected, "{} out of order", event.id);
        *expected += 1;
    }
    assert_eq!(
        next.len(),
        usize::try_from(PRODUCERS * RECORDS_PER_PRODUCER).unwrap_or(0)
    );
    assert!(next.values().all(|&n| n == VERSIONS));
}
