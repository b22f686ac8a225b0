//! The outbox, relay and sequence store API on PostgreSQL, relayed to the
//! embedded `memory` broker: install, enqueue in the caller's transaction,
//! NOTIFY wake-up, failed and retrying rows, prune, compare-and-set.

mod outbox_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use outbox_support::{RecordChanged, RecordPinged, TestDb};
use typebus::error::{AckError, ListenError, ProvisionError, PublishError, PublishErrorKind};
use typebus::headers::names;
use typebus::memory::Broker;
use typebus::ordering::{RecordKey, SequenceStore, State, Step, Swapped};
use typebus::postgres::{Outbox, PgSequenceStore, Relay, RowStatus};
use typebus::transport::{
    BoxFuture, ConsumerSpec, MessageSource, OutgoingMessage, PendingAck, Transport,
};
use typebus::{ProvisionOutcome, StreamConfig};

async fn broker() -> Broker {
    let broker = Broker::new();
    broker
        .bus()
        .provision(&StreamConfig::new(["record:changed"]))
        .await
        .expect("provision");
    broker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueued_events_are_published_after_commit_woken_by_notify() {
    let db = TestDb::new().await;
    // Installing again changes nothing.
    db.schema.install(&db.pool).await.expect("second install");
    let broker = broker().await;
    let outbox = Outbox::new(db.schema.clone());
    // A poll interval of an hour: only a notification can wake it.
    let relay = Relay::new(db.pool.clone(), &broker.bus(), outbox.clone())
        .poll_interval(Duration::from_secs(3600))
        .spawn();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rolled_back = RecordChanged {
        id: "a".into(),
        version: 0,
        amount: 99,
    };
    let mut tx = db.pool.begin().await.expect("begin");
    outbox
        .enqueue_versioned(&mut tx, &rolled_back)
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");

    let event = RecordChanged {
        id: "a".into(),
        version: 0,
        amount: 7,
    };
    let mut tx = db.pool.begin().await.expect("begin");
    let message_id = outbox
        .enqueue_versioned(&mut tx, &event)
        .await
        .expect("enqueue");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        broker.messages("EVENTS").is_empty(),
        "published before commit"
    );
    tx.commit().await.expect("commit");

    let start = Instant::now();
    while broker.messages("EVENTS").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the relay did not wake on NOTIFY"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.shutdown().await;
    let stored = broker.messages("EVENTS");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subject, "record:changed");
    assert_eq!(
        stored[0].payload.as_ref(),
        br#"{"id":"a","version":0,"amount":7}"#
    );
    assert_eq!(
        stored[0].headers.get(names::MSG_ID),
        Some(message_id.as_str())
    );
    assert_eq!(stored[0].headers.get(names::VERSION), Some("1"));
    assert_eq!(stored[0].headers.get(names::EVENT), Some("RecordChanged"));
    let sent = outbox
        .rows(&db.pool, RowStatus::Sent, 10)
        .await
        .expect("rows");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id, message_id);
    assert_eq!(sent[0].aggregate.as_deref(), Some("record/a"));
    assert_eq!(
        (sent[0].sequence, sent[0].stream_sequence),
        (Some(0), Some(1))
    );
}

/// The memory broker, refusing for good every message of record `bad`
/// while `refuse` is set.
struct Refusing {
    inner: Arc<dyn Transport>,
    refuse: Arc<AtomicBool>,
}

impl Transport for Refusing {
    fn name(&self) -> &'static str {
        "refusing"
    }

    fn publish(&self, message: OutgoingMessage) -> BoxFuture<'_, Result<PendingAck, PublishError>> {
        if self.refuse.load(Ordering::SeqCst) && message.payload.starts_with(br#"{"id":"bad""#) {
            return Box::pin(async {
                Err(PublishError::new(PublishErrorKind::Rejected)
                    .with_detail("refused by the test"))
            });
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_hold_back_their_record_and_can_be_retried() {
    let db = TestDb::new().await;
    let broker = broker().await;
    let refuse = Arc::new(AtomicBool::new(true));
    let transport = Refusing {
        inner: Arc::clone(broker.bus().transport()),
        refuse: Arc::clone(&refuse),
    };
    let outbox = Outbox::new(db.schema.clone());
    let relay = Relay::with_transport(db.pool.clone(), Arc::new(transport), outbox.clone())
        .retry_delay(Duration::from_secs(3600), Duration::from_secs(3600));

    let mut tx = db.pool.begin().await.expect("begin");
    for (id, version) in [("bad", 0), ("good", 0), ("bad", 1), ("good", 1)] {
        let event = RecordChanged {
            id: id.into(),
            version,
            amount: 1,
        };
        outbox
            .enqueue_versioned(&mut tx, &event)
            .await
            .expect("enqueue");
    }
    // No stream stores `record:pinged`: a transient failure.
    outbox
        .enqueue(&mut tx, &RecordPinged { n: 1 })
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    let sent = relay.publish_pending().await.expect("relay");
    assert_eq!(sent, 2, "both of `good`'s events");
    let summary = outbox.summary(&db.pool).await.expect("summary");
    assert_eq!(
        (
            summary.pending,
            summary.retrying,
            summary.failed,
            summary.sent
        ),
        (2, 1, 1, 2),
        "{summary}"
    );
    assert!(summary.oldest_pending.is_some());
    let failed = outbox
        .rows(&db.pool, RowStatus::Failed, 10)
        .await
        .expect("rows");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].aggregate.as_deref(), failed[0].sequence),
        (Some("record/bad"), Some(0))
    );
    assert_eq!(failed[0].attempts, 1);
    let reason = failed[0].last_error.as_deref().unwrap_or_default();
    assert!(reason.contains("refused by the test"), "{reason}");
    let pending = outbox
        .rows(&db.pool, RowStatus::Pending, 10)
        .await
        .expect("rows");
    let pending: Vec<_> = pending
        .iter()
        .map(|row| (row.subject.as_str(), row.sequence, row.attempts))
        .collect();
    assert_eq!(
        pending,
        [("record:changed", Some(1), 0), ("record:pinged", None, 1)]
    );

    // Fixed: the failed row goes first, then the one it held back.
    refuse.store(false, Ordering::SeqCst);
    assert_eq!(outbox.retry_failed(&db.pool).await.expect("retry"), 1);
    assert_eq!(relay.publish_pending().await.expect("relay"), 2);
    let order: Vec<String> = broker
        .messages("EVENTS")
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(
        order,
        [
            r#"{"id":"good","version":0,"amount":1}"#,
            r#"{"id":"good","version":1,"amount":1}"#,
            r#"{"id":"bad","version":0,"amount":1}"#,
            r#"{"id":"bad","version":1,"amount":1}"#,
        ]
    );

    // Retention: only sent rows older than the age go.
    assert_eq!(
        outbox
            .prune(&db.pool, Duration::from_secs(3600))
            .await
            .expect("prune"),
        0
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        outbox
            .prune(&db.pool, Duration::from_millis(10))
            .await
            .expect("prune"),
        4
    );
    let summary = outbox.summary(&db.pool).await.expect("summary");
    assert_eq!((summary.pending, summary.sent), (1, 0), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_store_swaps_by_revision_and_records_inside_transactions() {
    let db = TestDb::new().await;
    let store = PgSequenceStore::new(db.pool.clone(), db.schema.clone());
    let key = RecordKey::new("record", "r1");
    let claimed = State {
        applied: None,
        claim: None,
    };
    assert_eq!(store.load(&key).await.expect("load"), None);
    let Swapped::Done { revision } = store.swap(&key, None, &claimed).await.expect("swap") else {
        panic!("creating an absent entry conflicts");
    };
    assert_eq!(
        store.swap(&key, None, &claimed).await.expect("swap"),
        Swapped::Conflict
    );
    assert_eq!(
        store
            .swap(&key, Some(revision + 1), &claimed)
            .await
            .expect("swap"),
        Swapped::Conflict
    );

    // Recorded in a transaction that rolls back: nothing changes.
    let first = Step {
        key: key.clone(),
        previous: None,
        sequence: 0,
    };
    let mut tx = db.pool.begin().await.expect("begin");
    assert!(store.record_in(&mut tx, &first).await.expect("record"));
    assert_eq!(
        store.applied_in(&mut tx, &key).await.expect("applied"),
        Some(0)
    );
    tx.rollback().await.expect("rollback");
    assert_eq!(store.applied(&key).await.expect("applied"), None);

    // Committed: applied, revision moved, the claim cleared.
    let mut tx = db.pool.begin().await.expect("begin");
    assert!(store.record_in(&mut tx, &first).await.expect("record"));
    tx.commit().await.expect("commit");
    let entry = store.load(&key).await.expect("load").expect("entry");
    assert_eq!(
        entry.state,
        State {
            applied: Some(0),
            claim: None
        }
    );
    assert!(entry.revision > revision);

    // A step that does not follow the applied one is refused.
    let mut tx = db.pool.begin().await.expect("begin");
    let skip = Step {
        key: key.clone(),
        previous: Some(4),
        sequence: 5,
    };
    assert!(!store.record_in(&mut tx, &skip).await.expect("record"));
    assert!(
        !store
            .record_in(&mut tx, &first)
            .await
            .expect("record again")
    );
    let next = Step {
        key: key.clone(),
        previous: Some(0),
        sequence: 1,
    };
    assert!(store.record_in(&mut tx, &next).await.expect("record"));
    tx.commit().await.expect("commit");
    assert_eq!(store.applied(&key).await.expect("applied"), Some(1));
    // An old revision no longer swaps.
    assert_eq!(
        store
            .swap(&key, Some(entry.revision), &claimed)
            .await
            .expect("swap"),
        Swapped::Conflict
    );
}

/// The relay's idle flag (inserts notify only while it is set): a relay that
/// starts with a backlog clears the default `idle`, so its producers do not
/// notify while it works; once every worker has found nothing for a while
/// the last one sets it again, and an insert then wakes the relay by NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_flag_is_cleared_while_workers_are_busy_and_set_when_all_sleep() {
    let db = TestDb::new().await;
    let broker = broker().await;
    let outbox = Outbox::new(db.schema.clone());
    let flag = format!("SELECT idle FROM \"{}\".outbox_relay", db.schema.name());
    let idle = |pool: sqlx::PgPool, flag: String| async move {
        sqlx::query_scalar::<_, bool>(&flag)
            .fetch_one(&pool)
            .await
            .expect("read the idle flag")
    };
    assert!(
        idle(db.pool.clone(), flag.clone()).await,
        "a new outbox starts idle"
    );
    let mut tx = db.pool.begin().await.expect("begin");
    for n in 0..200 {
        let event = RecordChanged {
            id: format!("r{n}"),
            version: 0,
            amount: n,
        };
        outbox
            .enqueue_versioned(&mut tx, &event)
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");

    // An hour's poll interval: after it sleeps, only NOTIFY wakes it.
    let relay = Relay::new(db.pool.clone(), &broker.bus(), outbox.clone())
        .workers(3)
        .batch_size(10)
        .poll_interval(Duration::from_secs(3600))
        .spawn();
    let start = Instant::now();
    let mut seen_busy = false;
    while broker.messages("EVENTS").len() < 200 {
        seen_busy |= !idle(db.pool.clone(), flag.clone()).await;
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "backlog not drained"
        );
    }
    seen_busy |= !idle(db.pool.clone(), flag.clone()).await;
    assert!(seen_busy, "the flag stayed idle while the relay worked");

    let start = Instant::now();
    while !idle(db.pool.clone(), flag.clone()).await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the relay never went idle"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tx = db.pool.begin().await.expect("begin");
    let late = RecordChanged {
        id: "late".into(),
        version: 0,
        amount: 1,
    };
    outbox
        .enqueue_versioned(&mut tx, &late)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    let start = Instant::now();
    while broker.messages("EVENTS").len() < 201 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not woken by NOTIFY"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.shutdown().await;
    let ids: Vec<String> = broker
        .messages("EVENTS")
        .iter()
        .filter_map(|m| m.headers.get(names::MSG_ID).map(str::to_owned))
        .collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 201, "a row was published twice");
}
