//! Limits over a real nats-server: an event larger than the server's
//! `max_payload` is a clear publish error, returned before anything is sent.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use nats_support::*;
use typebus::testing::NatsServer;
use typebus::{PublishErrorKind, PublishRetry, StreamConfig};

/// A ticket whose JSON is about `title_len` bytes long.
fn big_ticket(n: u64, title_len: usize) -> TicketCreated {
    TicketCreated {
        title: "x".repeat(title_len),
        ..ticket(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_servers_max_payload_is_refused_before_sending() {
    let server = NatsServer::builder()
        .config("max_payload: 4096\n")
        .start()
        .unwrap();
    let bus = connect(&server).await;
    bus.provision(&StreamConfig::new(SUBJECTS)).await.unwrap();
    let js = raw_jetstream(&server).await;
    let publisher = bus
        .publisher::<TicketCreated>()
        .with_retry(PublishRetry::NONE);

    // Under the limit: stored.
    publisher.publish(&big_ticket(1, 3000)).await.unwrap();

    let event = big_ticket(2, 5000);
    let size = typebus::to_json(&event).unwrap().len();
    let err = publisher.publish(&event).await.unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::MaxPayloadExceeded, "{err}");
    assert!(!err.kind().is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "message exceeds the server's max payload: `ticket:created`: {size} bytes, the server accepts 4096"
        )
    );
    // The same through send (pipelined publishing): refused at send time.
    let err = publisher.send(&event).await.err().unwrap();
    assert_eq!(err.kind(), PublishErrorKind::MaxPayloadExceeded, "{err}");

    // A body just under the limit whose headers push it over: async-nats
    // counts them, and it is refused as well, still before sending.
    let body_len = typebus::to_json(&big_ticket(3, 0)).unwrap().len();
    let near = big_ticket(3, 4096 - body_len - 10);
    assert!(typebus::to_json(&near).unwrap().len() <= 4096);
    let err = publisher.publish(&near).await.unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::MaxPayloadExceeded, "{err}");

    // Nothing but the first event reached the stream, and the connection
    // is still good.
    let mut stream = js.get_stream("EVENTS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
    publisher.publish(&ticket(4)).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 2);
    let titles: Vec<usize> = stored(&js, "EVENTS", "ticket:created")
        .await
        .iter()
        .map(|m| {
            serde_json::from_slice::<TicketCreated>(&m.payload)
                .unwrap()
                .title
                .len()
        })
        .collect();
    assert_eq!(titles, vec![3000, ticket(4).title.len()]);
}
