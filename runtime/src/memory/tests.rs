//! Broker-level tests: provisioning rules, errors, and delivery semantics
//! on tokio's paused clock (redelivery after ack wait, nak delays and
//! `max_ack_pending` across sources, without waiting in real time).

use std::time::Duration;

use bytes::Bytes;

use super::Broker;
use crate::bus::transport::{
    ConsumerSpec, Incoming, MessageSource, OutgoingMessage, ProvisionOutcome, Storage,
    StreamConfig, Transport,
};
use crate::contract::headers::{Headers, names};
use crate::error::{ListenErrorKind, ProvisionErrorKind, PublishErrorKind};

fn message(subject: &str, id: Option<&str>) -> OutgoingMessage {
    let mut headers = Headers::new();
    if let Some(id) = id {
        headers.append(names::MSG_ID, id);
    }
    OutgoingMessage {
        subject: subject.into(),
        headers,
        payload: Bytes::from_static(b"{}"),
    }
}

fn spec(durable: &str, filter: &str) -> ConsumerSpec {
    ConsumerSpec {
        stream: None,
        durable_name: durable.into(),
        filter_subject: filter.into(),
        ack_wait: Duration::from_secs(30),
        max_deliver: None,
        max_ack_pending: 100,
        backoff: Vec::new(),
        batch: 10,
    }
}

async fn publish(broker: &Broker, subject: &str) -> u64 {
    broker
        .publish(message(subject, None))
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

/// The next delivery, if one comes within `within` (of paused time).
async fn next_within(source: &mut Box<dyn MessageSource>, within: Duration) -> Option<Incoming> {
    tokio::time::timeout(within, source.next())
        .await
        .ok()
        .map(|next| next.unwrap())
}

#[test]
fn provisioning_creates_verifies_extends_and_reports_conflicts() {
    let broker = Broker::new();
    let config = StreamConfig::new(["ticket:created"]);
    assert_eq!(
        broker.provision_now(&config).unwrap(),
        ProvisionOutcome::Created
    );
    assert_eq!(
        broker.provision_now(&config).unwrap(),
        ProvisionOutcome::Unchanged
    );
    let wider = StreamConfig::new(["ticket:created", "ticket:updated"]);
    assert_eq!(
        broker.provision_now(&wider).unwrap(),
        ProvisionOutcome::Extended(vec!["ticket:updated".into()])
    );

    let err = broker
        .provision_now(&wider.clone().duplicate_window(Duration::from_secs(5)))
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "existing stream conflicts: stream `EVENTS` has duplicate window 120s, the configuration asks for 5s"
    );
    let err = broker
        .provision_now(&wider.clone().storage(Storage::Memory))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("has storage file, the configuration asks for memory"),
        "{err}"
    );

    let overlapping = StreamConfig::new(["*"]).name("OTHER");
    let err = broker.provision_now(&overlapping).unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Rejected);
    assert!(
        err.to_string()
            .contains("overlaps subject `ticket:created` of stream `EVENTS`"),
        "{err}"
    );

    let err = broker
        .provision_now(&StreamConfig::new(["a"]).name("bad.name"))
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::InvalidConfig);
    let err = broker
        .provision_now(&StreamConfig::new(["a.>.b"]).name("B"))
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::InvalidConfig);
    let err = broker
        .provision_now(&StreamConfig::new(["x"]).name("R").replicas(3))
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Rejected);
    assert_eq!(broker.streams(), ["EVENTS"]);
}

#[tokio::test]
async fn publishing_checks_subject_size_and_stream() {
    let broker = Broker::with_max_payload(8);
    broker.provision_now(&StreamConfig::new(["a"])).unwrap();
    let err = broker.publish(message("a.*", None)).await.unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::InvalidSubject);
    let mut big = message("a", None);
    big.payload = Bytes::from_static(b"0123456789");
    let err = broker.publish(big).await.unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::MaxPayloadExceeded);
    let err = broker
        .publish(message("b", None))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::NoStream);
    assert!(
        broker.messages("EVENTS").is_empty(),
        "nothing stored by failed publishes"
    );
}

#[tokio::test]
async fn binding_checks_stream_name_and_filter() {
    let broker = Broker::new();
    broker
        .provision_now(&StreamConfig::new(["a", "b"]))
        .unwrap();
    let err = broker.consume(spec("x", "c")).await.err().unwrap();
    assert_eq!(err.kind(), ListenErrorKind::NoStream);
    let mut named = spec("x", "a");
    named.stream = Some("MISSING".into());
    assert_eq!(
        broker.consume(named).await.err().unwrap().kind(),
        ListenErrorKind::NoStream
    );
    assert_eq!(
        broker
            .consume(spec("bad.name", "a"))
            .await
            .err()
            .unwrap()
            .kind(),
        ListenErrorKind::InvalidConfig
    );
    broker.consume(spec("x", "a")).await.unwrap();
    let err = broker.consume(spec("x", "b")).await.err().unwrap();
    assert_eq!(err.kind(), ListenErrorKind::Consumer);
    assert!(err.to_string().contains("filters `a`, not `b`"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn redelivery_runs_on_the_paused_clock() {
    let broker = Broker::new();
    broker.provision_now(&StreamConfig::new(["a"])).unwrap();
    publish(&broker, "a").await;
    let mut source = broker.consume(spec("x", "a")).await.unwrap();
    let first = source.next().await.unwrap();
    let started = tokio::time::Instant::now();
    drop(first);
    let again = source.next().await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(30),
        "exactly ack_wait, on the virtual clock"
    );
    assert_eq!(again.delivery().delivery_count(), 2);
    again.nak(Some(Duration::from_secs(7))).await.unwrap();
    let started = tokio::time::Instant::now();
    let third = source.next().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    third.ack().await.unwrap();
    assert!(
        next_within(&mut source, Duration::from_secs(3600))
            .await
            .is_none()
    );
    let state = broker.consumer_state("EVENTS", "x").unwrap();
    assert_eq!(
        (
            state.ack_pending,
            state.redelivery_pending,
            state.unseen,
            state.deliveries
        ),
        (0, 0, 0, 3)
    );
}

#[tokio::test(start_paused = true)]
async fn sources_of_one_consumer_share_its_queue_and_its_max_ack_pending() {
    let broker = Broker::new();
    broker.provision_now(&StreamConfig::new(["a"])).unwrap();
    for _ in 0..3 {
        publish(&broker, "a").await;
    }
    let mut limited = spec("shared", "a");
    limited.max_ack_pending = 2;
    let mut one = broker.consume(limited.clone()).await.unwrap();
    let mut two = broker.consume(limited).await.unwrap();
    let a = one.next().await.unwrap();
    let b = two.next().await.unwrap();
    assert_eq!(
        (
            a.delivery().stream_sequence(),
            b.delivery().stream_sequence()
        ),
        (1, 2)
    );
    assert_eq!(
        b.delivery().info().pending,
        1,
        "one message not yet delivered"
    );
    assert!(
        next_within(&mut one, Duration::from_secs(1))
            .await
            .is_none(),
        "two pending: the limit"
    );
    a.ack().await.unwrap();
    let c = two.next().await.unwrap();
    assert_eq!(c.delivery().stream_sequence(), 3);
    // A second settlement of one delivery is refused.
    assert_eq!(
        a.ack().await.unwrap_err().kind(),
        crate::AckErrorKind::AlreadySettled
    );
    // A closed source delivers nothing more; the consumer lives on.
    one.close().await;
    assert_eq!(
        one.next().await.err().unwrap().kind(),
        ListenErrorKind::Closed
    );
    b.ack().await.unwrap();
    c.ack().await.unwrap();
    assert_eq!(
        broker
            .consumer_state("EVENTS", "shared")
            .unwrap()
            .ack_pending,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn message_ids_are_forgotten_after_the_duplicate_window() {
    let broker = Broker::new();
    broker
        .provision_now(&StreamConfig::new(["a"]).duplicate_window(Duration::from_secs(60)))
        .unwrap();
    let first = broker
        .publish(message("a", Some("m1")))
        .await
        .unwrap()
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(59)).await;
    let duplicate = broker
        .publish(message("a", Some("m1")))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        (duplicate.sequence, duplicate.duplicate),
        (first.sequence, true)
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    let stored_again = broker
        .publish(message("a", Some("m1")))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((stored_again.sequence, stored_again.duplicate), (2, false));
}

#[tokio::test(start_paused = true)]
async fn a_waiting_source_wakes_for_a_new_message() {
    let broker = Broker::new();
    broker.provision_now(&StreamConfig::new(["a"])).unwrap();
    let mut source = broker.consume(spec("x", "a")).await.unwrap();
    let waiting =
        tokio::spawn(async move { source.next().await.map(|m| m.delivery().stream_sequence()) });
    tokio::task::yield_now().await;
    publish(&broker, "a").await;
    assert_eq!(waiting.await.unwrap().unwrap(), 1);
}
