//! Poison messages over a real nats-server: each lands on the dead-letter
//! subject with its reason; the good events around them keep flowing.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::time::Duration;

use async_nats::HeaderMap;
use nats_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_and_good_ones_flow() {
    let (server, bus) = setup().await;
    let js = raw_jetstream(&server).await;
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    let publisher = bus.publisher::<TicketCreated>();

    let raw = |body: &'static str, version: Option<&'static str>, id: &'static str| {
        let js = js.clone();
        async move {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", id);
            if let Some(version) = version {
                headers.insert("Typebus-Version", version);
            }
            headers.insert("X-Trace", "abc");
            js.publish_with_headers("ticket:created", headers, body.into())
                .await
                .unwrap()
                .await
                .unwrap()
                .sequence
        }
    };
    publisher.publish(&ticket(1)).await.unwrap();
    let invalid = raw("{not json", None, "poison-1").await;
    publisher.publish(&ticket(2)).await.unwrap();
    let shape = raw(
        r#"{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","version":0,"title":"x","price":"free","userId":"u"}"#,
        Some("1"),
        "poison-2",
    )
    .await;
    publisher.publish(&ticket(3)).await.unwrap();
    let newer = raw(r#"{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","version":0,"title":"x","price":1,"userId":"u","seats":2}"#, Some("2"), "poison-3").await;
    let garbled = raw(
        r#"{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","version":0,"title":"x","price":1,"userId":"u"}"#,
        Some("one"),
        "poison-4",
    )
    .await;
    publisher.publish(&ticket(4)).await.unwrap();

    eventually(Duration::from_secs(10), "the 4 good events", || {
        probe.calls().len() >= 4
    })
    .await;
    let mut letters = Vec::new();
    for _ in 0..200 {
        letters = dead_letters(&js, "orders-service").await;
        if letters.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.shutdown().await.unwrap();

    let good: Vec<_> = probe.calls().iter().map(|c| c.event.clone()).collect();
    assert_eq!(good, vec![ticket(1), ticket(2), ticket(3), ticket(4)]);
    assert_eq!(letters.len(), 4, "dead letters: {letters:?}");
    let letter = |seq: u64| {
        letters
            .iter()
            .find(|l| header(l, "Typebus-Dlq-Sequence") == Some(seq.to_string().as_str()))
            .unwrap_or_else(|| panic!("no dead letter for #{seq}"))
    };

    let l = letter(invalid);
    assert_eq!(header(l, "Typebus-Dlq-Kind"), Some("decode"));
    assert!(
        header(l, "Typebus-Dlq-Reason")
            .unwrap()
            .starts_with("invalid `ticket:created` payload at $"),
        "{l:?}"
    );
    assert_eq!(l.payload.as_ref(), b"{not json");
    assert_eq!(header(l, "Typebus-Dlq-Msg-Id"), Some("poison-1"));
    assert_eq!(header(l, "X-Trace"), Some("abc"));
    assert_eq!(header(l, "Typebus-Dlq-Deliveries"), Some("1"));
    assert_eq!(header(l, "Typebus-Dlq-Group"), Some("orders-service"));
    assert_eq!(header(l, "Typebus-Dlq-Stream"), Some("EVENTS"));

    let l = letter(shape);
    assert_eq!(header(l, "Typebus-Dlq-Kind"), Some("decode"));
    let reason = header(l, "Typebus-Dlq-Reason").unwrap();
    assert!(
        reason.starts_with(
            "invalid `ticket:created` payload at $.price: invalid type: string \"free\""
        ),
        "{reason}"
    );

    let l = letter(newer);
    assert_eq!(header(l, "Typebus-Dlq-Kind"), Some("version"));
    assert_eq!(
        header(l, "Typebus-Dlq-Reason"),
        Some(
            "contract version 2 of `ticket:created` is not readable by this listener (it reads version 1)"
        )
    );
    assert_eq!(header(l, "Typebus-Version"), Some("2"));

    let l = letter(garbled);
    assert_eq!(header(l, "Typebus-Dlq-Kind"), Some("version"));
    assert_eq!(
        header(l, "Typebus-Dlq-Reason"),
        Some("unreadable contract version header `one`")
    );

    // Nothing is delivered again: the poison was terminated.
    let again = Probe::<TicketCreated>::new("orders-service", |_, _| Act::Ok);
    let handle = bus.listen(again.instance(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    handle.shutdown().await.unwrap();
    assert!(again.calls().is_empty());
    assert_eq!(dead_letters(&js, "orders-service").await.len(), 4);
}
