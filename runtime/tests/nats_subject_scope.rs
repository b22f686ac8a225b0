//! Subject scope over a real nats-server: a publisher or listener never
//! reaches beyond its own literal subject.
//!
//! Schemas cannot declare wildcard subjects in the first place: the codegen
//! error corpus covers that (`codegen/tests/errors/wildcard-subject.yaml`,
//! `full-wildcard-subject.yaml`, `empty-subject-token.yaml`), and so does the
//! derive (`runtime/tests/ui/subject-with-wildcard.rs`). These tests cover
//! what is left: a listener's consumer only sees its subject even when the
//! stream holds neighbours, and a wildcard that reaches the public API by
//! hand (an `Event` implemented by hand, the `Transport` used directly) is
//! refused with a typed error before anything is sent.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::time::Duration;

use nats_support::*;
use serde::{Deserialize, Serialize};
use typebus::transport::{ConsumerSpec, OutgoingMessage};
use typebus::{Headers, ListenErrorKind, PublishErrorKind, PublishRetry, StreamConfig};

/// Subjects that the stream holds next to `ticket:created`.
const NEIGHBOURS: [&str; 3] = ["ticket:created.x", "ticket:createdx", "x.ticket:created"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_never_receives_a_neighbouring_subject() {
    let server = typebus::testing::NatsServer::start().unwrap();
    let bus = connect(&server).await;
    let mut subjects: Vec<&str> = SUBJECTS.to_vec();
    subjects.extend(NEIGHBOURS);
    bus.provision(&StreamConfig::new(&subjects)).await.unwrap();

    // Interleave: the stream holds every neighbour around each ticket:created.
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let created = bus.publisher::<TicketCreated>();
    let updated = bus.publisher::<TicketUpdated>();
    for n in 0..5 {
        let ticket = ticket(n);
        created.publish(&ticket).await.unwrap();
        updated
            .publish(&TicketUpdated {
                id: ticket.id.clone(),
                version: 1,
                title: ticket.title.clone(),
                price: ticket.price,
                user_id: ticket.user_id.clone(),
                order_id: None,
            })
            .await
            .unwrap();
        for neighbour in NEIGHBOURS {
            let body = serde_json::to_vec(&ticket).unwrap();
            js.publish(neighbour, body.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }
    let stream = js.get_stream("EVENTS").await.unwrap();
    assert_eq!(stream.cached_info().state.messages, 25);

    let probe = Probe::<TicketCreated>::new("scope-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    eventually(
        Duration::from_secs(10),
        "five ticket:created events",
        || probe.calls().len() >= 5,
    )
    .await;
    // Time for anything wrongly matched to arrive after them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.shutdown().await.unwrap();

    let calls = probe.calls();
    assert_eq!(calls.len(), 5, "{calls:?}");
    for (n, call) in calls.iter().enumerate() {
        assert_eq!(call.delivery.subject(), "ticket:created");
        assert_eq!(call.event.id, object_id(n as u64));
    }
    let consumer = js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            "scope-service_ticket:created",
            "EVENTS",
        )
        .await
        .unwrap();
    let info = consumer.cached_info();
    assert_eq!(info.config.filter_subject, "ticket:created");
    assert_eq!(info.num_pending, 0);
    assert_eq!(
        info.delivered.consumer_sequence, 5,
        "deliveries of the consumer"
    );
}

/// An event implemented by hand with a wildcard subject: what a schema and
/// the derive refuse to produce.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AnyTicket {
    id: String,
}

impl typebus::Event for AnyTicket {
    const SUBJECT: &'static str = "ticket.*";
    const VERSION: u32 = 1;
    const NAME: &'static str = "AnyTicket";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Everything {
    id: String,
}

impl typebus::Event for Everything {
    const SUBJECT: &'static str = ">";
    const VERSION: u32 = 1;
    const NAME: &'static str = "Everything";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_subjects_are_refused_by_the_public_api() {
    let (server, bus) = setup().await;
    let js = raw_jetstream(&server).await;
    // The stream would take `ticket.x`: a wildcard publish could land there.
    bus.provision(&StreamConfig::new(["ticket.x"]).name("TICKETS"))
        .await
        .unwrap();

    // Publisher of a hand-written event.
    let err = bus
        .publisher::<AnyTicket>()
        .with_retry(PublishRetry::NONE)
        .publish(&AnyTicket { id: "1".into() })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::InvalidSubject);
    assert_eq!(
        err.to_string(),
        "invalid subject: `ticket.*`: the subject contains a wildcard"
    );
    let err = bus
        .publisher::<Everything>()
        .publish(&Everything { id: "1".into() })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::InvalidSubject, "{err}");

    // The transport used directly.
    let transport = bus.transport();
    for subject in ["ticket.*", "ticket.>", ">", "ticket..x", "", "ticket.x "] {
        let message = OutgoingMessage {
            subject: subject.to_owned(),
            headers: Headers::new(),
            payload: bytes::Bytes::from_static(b"{}"),
        };
        let err = transport.publish(message).await.unwrap_err();
        assert_eq!(
            err.kind(),
            PublishErrorKind::InvalidSubject,
            "{subject:?}: {err}"
        );
    }

    // Nothing reached either stream.
    for name in ["EVENTS", "TICKETS"] {
        let stream = js.get_stream(name).await.unwrap();
        assert_eq!(stream.cached_info().state.messages, 0, "{name}");
    }

    // Listeners of hand-written events, and consumers made directly.
    let err = bus
        .listen(Probe::<AnyTicket>::new("scope-service", |_, _| Act::Ok))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ListenErrorKind::InvalidSubject);
    assert_eq!(
        err.to_string(),
        "invalid subject: subject `ticket.*`: the subject contains a wildcard"
    );
    let err = bus
        .listen(Probe::<Everything>::new("scope-service", |_, _| Act::Ok))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ListenErrorKind::InvalidSubject, "{err}");
    for (stream, filter) in [
        (Some("TICKETS"), "ticket.*"),
        (Some("TICKETS"), "ticket.>"),
        (None, ">"),
        (Some("EVENTS"), "ticket:created."),
    ] {
        let spec = ConsumerSpec {
            stream: stream.map(str::to_owned),
            durable_name: "scope-service".into(),
            filter_subject: filter.into(),
            ack_wait: Duration::from_secs(5),
            max_deliver: Some(5),
            max_ack_pending: 100,
            backoff: Vec::new(),
            batch: 10,
        };
        let err = transport.consume(spec).await.err().unwrap();
        assert_eq!(
            err.kind(),
            ListenErrorKind::InvalidSubject,
            "{filter:?}: {err}"
        );
    }
    // No consumer was created on either stream.
    for name in ["EVENTS", "TICKETS"] {
        let mut stream = js.get_stream(name).await.unwrap();
        assert_eq!(
            stream.info().await.unwrap().state.consumer_count,
            0,
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_memory_transport_refuses_wildcards_too() {
    let bus = typebus::memory::bus();
    bus.provision(&StreamConfig::new(["ticket.x"]))
        .await
        .unwrap();
    let err = bus
        .publisher::<AnyTicket>()
        .publish(&AnyTicket { id: "1".into() })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::InvalidSubject);
    let spec = ConsumerSpec {
        stream: None,
        durable_name: "scope-service".into(),
        filter_subject: "ticket.*".into(),
        ack_wait: Duration::from_secs(5),
        max_deliver: Some(5),
        max_ack_pending: 100,
        backoff: Vec::new(),
        batch: 10,
    };
    let err = bus.transport().consume(spec).await.err().unwrap();
    assert_eq!(err.kind(), ListenErrorKind::InvalidSubject, "{err}");
}
