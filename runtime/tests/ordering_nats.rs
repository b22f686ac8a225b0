//! The ordering guard on a real nats-server, with the sequences in a
//! JetStream key-value bucket shared by two service instances (each on its
//! own connection); the bucket's compare-and-set under contention.

mod ordering_support;

use std::sync::Arc;

use ordering_support::*;
use typebus::nats::KvSequenceStore;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::ordering::{RecordKey, SequenceStore, State, Step, Swapped};
use typebus::testing::NatsServer;
use typebus::{Bus, consumer_name};

const BUCKET: &str = "orders-service-sequences";

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

/// The store the instances share.
async fn open(transport: &NatsTransport) -> Arc<dyn SequenceStore> {
    Arc::new(
        KvSequenceStore::open(transport.jetstream(), BUCKET)
            .await
            .expect("bucket"),
    )
}

async fn shuffled_with_duplicates_on() {
    let server = NatsServer::start().expect("nats-server");
    let admin = connect(&server).await;
    let mut instances = Vec::new();
    for _ in 0..2 {
        let transport = connect(&server).await;
        let store = open(&transport).await;
        instances.push((Bus::new(transport), store));
    }
    shuffled_with_duplicates(&Bus::new(admin.clone()), instances, async || {
        settled(&admin).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_events_with_duplicates_are_applied_once_in_order() {
    shuffled_with_duplicates_on().await;
}

async fn gap_on() {
    let server = NatsServer::start().expect("nats-server");
    let transport = connect(&server).await;
    let store = open(&transport).await;
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
    gap_on().await;
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
async fn never_both_win() {
    let server = NatsServer::start().expect("nats-server");
    let a = open(&connect(&server).await).await;
    let b = open(&connect(&server).await).await;
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
    never_both_win().await;
}
