//! Round trips over a real nats-server: every ticketing event is stored as
//! exactly the JSON the old services sent (`"price":20`, as JSON.stringify
//! writes it), with typebus headers, and comes
//! back typed; provisioning is idempotent and reports conflicts.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::time::Duration;

use nats_support::*;
use typebus::{
    Bus, Event, ProvisionErrorKind, ProvisionOutcome, PublishErrorKind, StreamConfig, Timestamp,
};

/// Publishes `event`, checks the stored body is `json` byte for byte and
/// carries the typebus headers, then receives it typed through a listener.
async fn round_trip<E: Event + Clone + PartialEq + std::fmt::Debug>(
    bus: &Bus,
    js: &async_nats::jetstream::Context,
    event: E,
    json: &str,
) {
    assert_eq!(
        typebus::to_json_string(&event).unwrap(),
        json,
        "{}",
        E::SUBJECT
    );
    let ack = bus.publisher::<E>().publish(&event).await.unwrap();
    assert_eq!(ack.stream, "EVENTS");
    assert!(!ack.duplicate);

    let stream = js.get_stream("EVENTS").await.unwrap();
    let raw = stream.get_raw_message(ack.sequence).await.unwrap();
    assert_eq!(raw.subject.as_str(), E::SUBJECT);
    assert_eq!(
        std::str::from_utf8(&raw.payload).unwrap(),
        json,
        "stored body of {}",
        E::SUBJECT
    );
    assert_eq!(
        raw.headers.get("Typebus-Version").map(|v| v.as_str()),
        Some("1")
    );
    assert_eq!(
        raw.headers.get("Typebus-Event").map(|v| v.as_str()),
        Some(E::NAME)
    );
    let msg_id = raw
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.as_str().to_owned())
        .expect("message id");
    assert!(!msg_id.is_empty());

    let probe = Probe::<E>::new("orders-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    eventually(Duration::from_secs(10), "the event to be handled", || {
        !probe.calls().is_empty()
    })
    .await;
    handle.shutdown().await.unwrap();
    let calls = probe.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.event, event);
    assert_eq!(call.delivery.subject(), E::SUBJECT);
    assert_eq!(call.delivery.stream_sequence(), ack.sequence);
    assert_eq!(call.delivery.delivery_count(), 1);
    assert_eq!(call.delivery.message_id(), Some(msg_id.as_str()));
    assert_eq!(call.delivery.info().stream, "EVENTS");
    assert_eq!(
        call.delivery.info().consumer,
        format!("orders-service_{}", E::SUBJECT)
    );
    let age = Timestamp::now().signed_duration_since(*call.delivery.published());
    assert!(
        age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::seconds(60),
        "publish time {age}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ticketing_event_round_trips_byte_for_byte() {
    let (server, bus) = setup().await;
    let js = raw_jetstream(&server).await;
    let id = "5f1a2b3c4d5e6f7a8b9c0d1e";
    let user = "5f000000000000000000abcd";
    let order = "5f999999999999999999aaaa";

    round_trip(
        &bus,
        &js,
        TicketCreated { id: id.into(), version: 0, title: "concert".into(), price: 20.0, user_id: user.into() },
        r#"{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","version":0,"title":"concert","price":20,"userId":"5f000000000000000000abcd"}"#,
    )
    .await;
    round_trip(
        &bus,
        &js,
        TicketUpdated {
            id: id.into(),
            version: 1,
            title: "concert".into(),
            price: 9.99,
            user_id: user.into(),
            order_id: Some(order.into()),
        },
        r#"{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","version":1,"title":"concert","price":9.99,"userId":"5f000000000000000000abcd","orderId":"5f999999999999999999aaaa"}"#,
    )
    .await;
    // An absent orderId is left out, never null.
    round_trip(
        &bus,
        &js,
        TicketUpdated {
            id: id.into(),
            version: 2,
            title: "concert".into(),
            price: 9.99,
            user_id: user.into(),
            order_id: None,
        },
        r#"{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","version":2,"title":"concert","price":9.99,"userId":"5f000000000000000000abcd"}"#,
    )
    .await;
    round_trip(
        &bus,
        &js,
        OrderCreated {
            id: order.into(),
            version: 0,
            status: OrderStatus::AwaitingPayment,
            user_id: user.into(),
            expires_at: "2020-05-01T12:00:00.000Z".parse().unwrap(),
            ticket: TicketRef { id: id.into(), price: 20.0 },
        },
        r#"{"id":"5f999999999999999999aaaa","version":0,"status":"awaiting:payment","userId":"5f000000000000000000abcd","expiresAt":"2020-05-01T12:00:00.000Z","ticket":{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","price":20}}"#,
    )
    .await;
    round_trip(
        &bus,
        &js,
        OrderCancelled { id: order.into(), version: 1, ticket: TicketId { id: id.into() } },
        r#"{"id":"5f999999999999999999aaaa","version":1,"ticket":{"id":"5f1a2b3c4d5e6f7a8b9c0d1e"}}"#,
    )
    .await;
    round_trip(
        &bus,
        &js,
        ExpirationComplete {
            order_id: order.into(),
        },
        r#"{"orderId":"5f999999999999999999aaaa"}"#,
    )
    .await;
    round_trip(
        &bus,
        &js,
        PaymentCreated { id: "5f0000000000000000000001".into(), order_id: order.into(), stripe_id: "ch_3Kx".into() },
        r#"{"id":"5f0000000000000000000001","orderId":"5f999999999999999999aaaa","stripeId":"ch_3Kx"}"#,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_written_by_other_services_are_read() {
    // A Node service wrote `20` (not `20.0`) and no typebus headers.
    let (server, bus) = setup().await;
    let js = raw_jetstream(&server).await;
    let body = r#"{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","version":0,"title":"concert","price":20,"userId":"5f000000000000000000abcd"}"#;
    js.publish("ticket:created", body.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    eventually(Duration::from_secs(10), "the event", || {
        !probe.calls().is_empty()
    })
    .await;
    handle.shutdown().await.unwrap();
    let call = &probe.calls()[0];
    assert_eq!(call.event.price, 20.0);
    assert_eq!(call.delivery.message_id(), None);
    assert_eq!(call.delivery.version_header(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_id_stores_an_event_once() {
    let (_server, bus) = setup().await;
    let publisher = bus.publisher::<TicketCreated>();
    let first = publisher
        .publish_with_id(&ticket(1), "ticket-1-v0")
        .await
        .unwrap();
    let again = publisher
        .publish_with_id(&ticket(1), "ticket-1-v0")
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.sequence, first.sequence);
    let other = publisher.publish(&ticket(1)).await.unwrap();
    assert!(!other.duplicate);
    assert_eq!(other.sequence, first.sequence + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_publishes_are_all_stored_in_order() {
    let (_server, bus) = setup().await;
    let publisher = bus.publisher::<TicketCreated>();
    let mut pending = Vec::new();
    for n in 0..500 {
        pending.push(publisher.send(&ticket(n)).await.unwrap());
    }
    let mut sequences = Vec::new();
    for ack in pending {
        sequences.push(ack.await.unwrap().sequence);
    }
    assert_eq!(sequences, (1..=500).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_without_a_stream_is_a_clear_error() {
    let server = typebus::testing::NatsServer::start().unwrap();
    let bus = connect(&server).await;
    let err = bus
        .publisher::<TicketCreated>()
        .with_retry(typebus::PublishRetry::NONE)
        .publish(&ticket(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::NoStream);
    assert_eq!(
        err.to_string(),
        "no stream stores the subject: ticket:created"
    );
    let err = bus
        .listen(Probe::<TicketCreated>::new("orders-service", |_, _| {
            Act::Ok
        }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), typebus::ListenErrorKind::NoStream, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_is_idempotent_extends_and_reports_conflicts() {
    let (_server, bus) = setup().await;
    assert_eq!(
        bus.provision(&StreamConfig::new(SUBJECTS)).await.unwrap(),
        ProvisionOutcome::Unchanged
    );
    let mut more: Vec<&str> = SUBJECTS.to_vec();
    more.push("refund:created");
    assert_eq!(
        bus.provision(&StreamConfig::new(&more)).await.unwrap(),
        ProvisionOutcome::Extended(vec!["refund:created".to_owned()])
    );
    let err = bus
        .provision(&StreamConfig::new(SUBJECTS).duplicate_window(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "existing stream conflicts: stream `EVENTS` has duplicate window 120s, the configuration asks for 30s"
    );
    let err = bus
        .provision(&StreamConfig::new(SUBJECTS).storage(typebus::Storage::Memory))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Conflict);
    assert!(err.to_string().contains("storage file"), "{err}");
    // Another stream may not take subjects of EVENTS.
    let err = bus
        .provision(&StreamConfig::new(["ticket:created"]).name("OTHER"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ProvisionErrorKind::Rejected, "{err}");
    assert_eq!(
        bus.provision(
            &StreamConfig::new(["audit.x"])
                .name("AUDIT")
                .storage(typebus::Storage::Memory)
        )
        .await
        .unwrap(),
        ProvisionOutcome::Created
    );
}
