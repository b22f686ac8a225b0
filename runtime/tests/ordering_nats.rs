//! The ordering guard on a real nats-server, with the sequences in a
//! JetStream key-value bucket and in a journal stream, each shared by two
//! service instances (each on its own connection); both stores'
//! compare-and-set under contention; the journal's snapshots and what it
//! does with a message that is not its own.

mod ordering_support;

use std::sync::Arc;

use ordering_support::*;
use typebus::nats::{ConnectOptions, NatsTransport};
#[cfg(feature = "journal-experimental")]
use typebus::ordering::{JournalSequenceStore, StoreErrorKind};
use typebus::ordering::{KvSequenceStore, RecordKey, SequenceStore, State, Step, Swapped};
use typebus::testing::NatsServer;
use typebus::{Bus, consumer_name};

const BUCKET: &str = "orders-service-sequences";
#[cfg(feature = "journal-experimental")]
const JOURNAL: &str = "orders-service";

async fn connect(server: &NatsServer) -> NatsTransport {
    NatsTransport::connect(ConnectOptions::new(server.url()))
        .await
        .expect("connect")
}

/// Whether both consumers have nothing pending or unsettled.
async fn settled(transport: &NatsTransport) -> bool {
    let Ok(stream) = transport.jetstream().get_stream("EVENTS").await else {
        return false;
    };
    for subject in ["ticket:created", "ticket:updated"] {
        match stream.consumer_info(consumer_name(GROUP, subject)).await {
            Ok(info) if info.num_pending == 0 && info.num_ack_pending == 0 => {}
            _ => return false,
        }
    }
    true
}

/// Which store the instances share.
#[derive(Clone, Copy)]
enum Kind {
    Kv,
    #[cfg(feature = "journal-experimental")]
    Journal,
}

async fn open(kind: Kind, transport: &NatsTransport) -> Arc<dyn SequenceStore> {
    match kind {
        Kind::Kv => Arc::new(
            KvSequenceStore::open(transport.jetstream(), BUCKET)
                .await
                .expect("bucket"),
        ),
        // A small snapshot interval: the 11,000 deliveries' ~22,000 swaps
        // compact the journal at least twice (every 4 x 2,000 records'
        // entries) while both instances write.
        #[cfg(feature = "journal-experimental")]
        Kind::Journal => Arc::new(
            JournalSequenceStore::open(transport.jetstream(), JOURNAL)
                .await
                .expect("journal")
                .snapshot_interval(2_000),
        ),
    }
}

async fn shuffled_with_duplicates_on(kind: Kind) {
    let server = NatsServer::start().expect("nats-server");
    let admin = connect(&server).await;
    let mut instances = Vec::new();
    for _ in 0..2 {
        let transport = connect(&server).await;
        let store = open(kind, &transport).await;
        instances.push((Bus::new(transport), store));
    }
    shuffled_with_duplicates(&Bus::new(admin.clone()), instances, async || {
        settled(&admin).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_events_with_duplicates_are_applied_once_in_order() {
    shuffled_with_duplicates_on(Kind::Kv).await;
}

#[cfg(feature = "journal-experimental")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_events_with_duplicates_are_applied_once_in_order_with_a_journal() {
    shuffled_with_duplicates_on(Kind::Journal).await;
}

async fn gap_on(kind: Kind) {
    let server = NatsServer::start().expect("nats-server");
    let transport = connect(&server).await;
    let store = open(kind, &transport).await;
    let reader = transport.clone();
    gap_is_dead_lettered(&Bus::new(transport), store, async || {
        let Ok(stream) = reader.jetstream().get_stream(Bus::DEAD_LETTER_STREAM).await else {
            return Vec::new();
        };
        let mut letters = Vec::new();
        let mut sequence = 1;
        while let Ok(message) = stream.get_raw_message(sequence).await {
            let headers = typebus_headers(&message.headers);
            letters.push(dead_letter(&headers, &message.payload));
            sequence += 1;
        }
        letters
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_version_is_dead_lettered_with_the_gap_reason() {
    gap_on(Kind::Kv).await;
}

#[cfg(feature = "journal-experimental")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_version_is_dead_lettered_with_the_gap_reason_with_a_journal() {
    gap_on(Kind::Journal).await;
}

fn typebus_headers(map: &async_nats::HeaderMap) -> typebus::Headers {
    let mut headers = typebus::Headers::new();
    for (name, values) in map.iter() {
        for value in values {
            headers.append(
                <async_nats::HeaderName as AsRef<str>>::as_ref(name),
                value.as_str(),
            );
        }
    }
    headers
}

/// Two instances, each on its own connection, race for every step.
async fn never_both_win(kind: Kind) {
    let server = NatsServer::start().expect("nats-server");
    let a = open(kind, &connect(&server).await).await;
    let b = open(kind, &connect(&server).await).await;
    let state = |applied| State {
        applied: Some(applied),
        claim: None,
    };
    let (zero, one, nine) = (state(0), state(1), state(9));
    for i in 0..100 {
        let key = RecordKey::new("ticket", format!("{i:024x}"));
        // Creating the record: one of two creates wins.
        let (x, y) = tokio::join!(a.swap(&key, None, &zero), b.swap(&key, None, &zero));
        let (x, y) = (x.expect("store a"), y.expect("store b"));
        let winner = match (x, y) {
            (Swapped::Done { revision }, Swapped::Conflict)
            | (Swapped::Conflict, Swapped::Done { revision }) => revision,
            other => panic!("create {i}: {other:?}"),
        };
        // The same step from the same revision: one wins.
        let (x, y) = tokio::join!(
            a.swap(&key, Some(winner), &one),
            b.swap(&key, Some(winner), &one)
        );
        let wins = [x.expect("store a"), y.expect("store b")]
            .iter()
            .filter(|s| matches!(s, Swapped::Done { .. }))
            .count();
        assert_eq!(wins, 1, "step 0 -> 1 of record {i}");
        // The step hook: two recorders of step 1 -> 2, one records it.
        let step = Step {
            key: key.clone(),
            previous: Some(1),
            sequence: 2,
        };
        let (x, y) = tokio::join!(a.record(&step), b.record(&step));
        assert!(
            x.expect("store a") ^ y.expect("store b"),
            "record 1 -> 2 of record {i}"
        );
        assert_eq!(a.applied(&key).await.expect("store a"), Some(2));
        assert_eq!(
            b.load(&key)
                .await
                .expect("store b")
                .map(|e| e.state.applied),
            Some(Some(2))
        );
    }
    // A stale revision never wins, even from the cache.
    let key = RecordKey::new("ticket", format!("{:024x}", 0));
    let current = b.load(&key).await.expect("store b").expect("entry");
    assert_eq!(
        a.swap(&key, Some(current.revision - 1), &nine)
            .await
            .expect("store a"),
        Swapped::Conflict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_recorders_of_one_step_never_both_win() {
    never_both_win(Kind::Kv).await;
}

#[cfg(feature = "journal-experimental")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_recorders_of_one_step_never_both_win_with_a_journal() {
    never_both_win(Kind::Journal).await;
}

/// Many records at once through one journal: the swaps go out in a few
/// batches, snapshots replace the journal, and an instance that opens it
/// afterwards (or one that was open all along) sees every record's state
/// at the revision its writer got.
#[cfg(feature = "journal-experimental")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_is_written_in_batches_and_compacted() {
    let server = NatsServer::start().expect("nats-server");
    let writer = JournalSequenceStore::open(connect(&server).await.jetstream(), JOURNAL)
        .await
        .expect("journal")
        .snapshot_interval(500);
    let watcher = JournalSequenceStore::open(connect(&server).await.jetstream(), JOURNAL)
        .await
        .expect("journal");
    let records = 3_000;
    let keys: Vec<RecordKey> = (0..records)
        .map(|i| RecordKey::new("ticket", format!("{i:024x}")))
        .collect();
    // 6 x 3,000 swaps: past the first snapshot's 4 x 3,000 entries.
    let rounds = 6;
    let mut revisions = Vec::new();
    for applied in 0..rounds {
        let state = State {
            applied: Some(applied),
            claim: None,
        };
        let swaps = keys
            .iter()
            .zip(revisions.iter().copied().chain(std::iter::repeat(None)))
            .map(|(key, expected)| writer.swap(key, expected, &state));
        revisions = futures_util::future::join_all(swaps)
            .await
            .into_iter()
            .map(|swapped| match swapped.expect("swap") {
                Swapped::Done { revision } => Some(revision),
                Swapped::Conflict => panic!("no one else writes"),
            })
            .collect();
    }
    let stats = writer.stats();
    assert_eq!(stats.swaps_written, rounds * records);
    assert!(
        stats.messages_written < records,
        "{} messages for {} swaps: not batched",
        stats.messages_written,
        stats.swaps_written
    );
    // Snapshots removed the batches before them.
    let transport = connect(&server).await;
    let stream = transport
        .jetstream()
        .get_stream(writer.stream_name())
        .await
        .expect("stream");
    let held = stream.cached_info().state.messages;
    assert!(
        held < stats.messages_written,
        "{held} messages held: never compacted"
    );

    let reopened = JournalSequenceStore::open(transport.jetstream(), JOURNAL)
        .await
        .expect("journal");
    for store in [&reopened, &watcher] {
        assert_eq!(store.len(), keys.len());
        for (key, revision) in keys.iter().zip(&revisions) {
            let entry = store.load(key).await.expect("load").expect("entry");
            assert_eq!(entry.state.applied, Some(rounds - 1), "{key}");
            assert_eq!(Some(entry.revision), *revision, "{key}");
        }
    }
    // The revisions carry over: the reopened store writes where the
    // writer left off, and the writer sees it.
    let next = State {
        applied: Some(3),
        claim: None,
    };
    assert!(matches!(
        reopened
            .swap(&keys[7], revisions[7], &next)
            .await
            .expect("swap"),
        Swapped::Done { .. }
    ));
    assert_eq!(writer.applied(&keys[7]).await.expect("applied"), Some(3));
    assert_eq!(
        writer
            .swap(&keys[7], revisions[7], &next)
            .await
            .expect("swap"),
        Swapped::Conflict
    );
}

/// A message on the journal's subject that is not a journal message (a
/// stray publish): the store stops answering with a corrupt-store error
/// that says where, instead of folding garbage or panicking.
#[cfg(feature = "journal-experimental")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_with_a_foreign_message_reports_it() {
    let server = NatsServer::start().expect("nats-server");
    let transport = connect(&server).await;
    let store = JournalSequenceStore::open(transport.jetstream(), JOURNAL)
        .await
        .expect("journal");
    let key = RecordKey::new("ticket", "5f1a");
    let zero = State {
        applied: Some(0),
        claim: None,
    };
    assert!(matches!(
        store.swap(&key, None, &zero).await.expect("swap"),
        Swapped::Done { .. }
    ));
    transport
        .jetstream()
        .publish(format!("typebus.sequences.{JOURNAL}"), "not json".into())
        .await
        .expect("publish")
        .await
        .expect("stored");
    let err = store.load(&key).await.expect_err("a corrupt journal");
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    let message = err.to_string();
    assert!(message.contains("sequence 2"), "{message}");
    let err = store
        .swap(&key, None, &zero)
        .await
        .expect_err("no writes after it");
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    // A new instance refuses to open it.
    let err = JournalSequenceStore::open(connect(&server).await.jetstream(), JOURNAL)
        .await
        .expect_err("a corrupt journal");
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
}

/// Long record ids: concurrent swaps that would not fit in one message
/// (half the server's `max_payload`) go out in several, one each when two
/// would not fit, and a state that fits in no message is refused with an
/// error that says why.
#[cfg(feature = "journal-experimental")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_splits_batches_to_fit_the_server_and_refuses_what_never_fits() {
    let server = NatsServer::start().expect("nats-server");
    let transport = connect(&server).await;
    let store = JournalSequenceStore::open(transport.jetstream(), JOURNAL)
        .await
        .expect("journal");
    let max_payload = transport.jetstream().client().server_info().max_payload;
    let zero = State {
        applied: Some(0),
        claim: None,
    };
    // 100 ids of 48 KiB: a batch of 32 swaps would be 1.5 MiB, more than
    // one message may carry (1 MiB by default).
    let keys: Vec<RecordKey> = (0..100)
        .map(|i| RecordKey::new("ticket", format!("{i:04}{}", "x".repeat(48 * 1024))))
        .collect();
    let swaps = keys.iter().map(|key| store.swap(key, None, &zero));
    for swapped in futures_util::future::join_all(swaps).await {
        assert!(matches!(swapped.expect("swap"), Swapped::Done { .. }));
    }
    let stats = store.stats();
    assert!(
        stats.messages_written as usize >= 100 * 48 * 1024 / max_payload,
        "{} messages for {} bytes of ids",
        stats.messages_written,
        100 * 48 * 1024
    );
    // Ids of 300 KiB: two would pass half of `max_payload` (the most a
    // message carries), so each goes out in a message of its own.
    let large: Vec<RecordKey> = (0..10)
        .map(|i| RecordKey::new("ticket", format!("{i:04}{}", "z".repeat(300 * 1024))))
        .collect();
    let swaps = large.iter().map(|key| store.swap(key, None, &zero));
    for swapped in futures_util::future::join_all(swaps).await {
        assert!(matches!(swapped.expect("swap"), Swapped::Done { .. }));
    }
    assert_eq!(
        store.stats().messages_written - stats.messages_written,
        large.len() as u64,
        "one message per large swap"
    );
    let huge = RecordKey::new("ticket", "y".repeat(max_payload));
    let err = store.swap(&huge, None, &zero).await.expect_err("too large");
    assert_eq!(err.kind(), StoreErrorKind::Rejected);
    assert!(err.to_string().contains("messages hold at most"), "{err}");
    // The store still works.
    let reopened = JournalSequenceStore::open(connect(&server).await.jetstream(), JOURNAL)
        .await
        .expect("journal");
    assert_eq!(reopened.len(), keys.len() + large.len());
}
