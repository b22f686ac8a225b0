//! Delivery semantics over a real nats-server: redelivery after ack_wait,
//! nak delays, term, panics, abandoned handlers, max_deliver.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::time::Duration;

use nats_support::*;
use typebus::ListenOptions;
use typebus::transport::ConsumerSpec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsettled_delivery_comes_back_after_ack_wait() {
    // The transport contract itself: take a message, never settle it.
    let (_server, bus) = setup().await;
    bus.publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    let spec = ConsumerSpec {
        stream: None,
        durable_name: "raw-reader".into(),
        filter_subject: "ticket:created".into(),
        ack_wait: Duration::from_secs(1),
        max_deliver: None,
        max_ack_pending: 100,
        backoff: Vec::new(),
        batch: 10,
    };
    let mut source = bus.transport().consume(spec).await.unwrap();
    let first = source.next().await.unwrap();
    assert_eq!(first.delivery().delivery_count(), 1);
    let taken = std::time::Instant::now();
    drop(first);
    let second = tokio::time::timeout(Duration::from_secs(10), source.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        taken.elapsed() >= Duration::from_millis(800),
        "redelivered after {:?}",
        taken.elapsed()
    );
    assert_eq!(second.delivery().delivery_count(), 2);
    assert_eq!(second.delivery().stream_sequence(), 1);
    second.ack().await.unwrap();
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_stuck_past_ack_wait_is_redelivered() {
    // A handler blocking its thread cannot send in-progress acks: the
    // server hands the event out again after ack_wait.
    let (_server, bus) = setup().await;
    let probe = Probe::<TicketCreated>::new("orders-service", |_, d| {
        if d.delivery_count() == 1 {
            Act::Block(Duration::from_millis(2500))
        } else {
            Act::Ok
        }
    })
    .ack_wait(Duration::from_secs(1));
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    bus.publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(15), "a second delivery", || {
        probe.calls().len() >= 2
    })
    .await;
    let calls = probe.calls();
    assert_eq!(calls[0].delivery.delivery_count(), 1);
    assert_eq!(calls[1].delivery.delivery_count(), 2);
    assert_eq!(
        calls[1].delivery.stream_sequence(),
        calls[0].delivery.stream_sequence()
    );
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "redelivered after {gap:?}, before ack_wait"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_handler_is_kept_alive_then_abandoned_and_retried() {
    let (_server, bus) = setup().await;
    let probe = Probe::<TicketCreated>::new("orders-service", |_, d| {
        if d.delivery_count() == 1 {
            Act::Hang
        } else {
            Act::Ok
        }
    })
    .ack_wait(Duration::from_secs(1));
    let options = |o: ListenOptions| o.handler_timeout(Duration::from_millis(2500));
    let handle = bus.listen_with(probe.instance(0), options).await.unwrap();
    bus.publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(15), "a second delivery", || {
        probe.calls().len() >= 2
    })
    .await;
    let calls = probe.calls();
    assert_eq!(calls[1].delivery.delivery_count(), 2);
    // In-progress acks kept the first delivery alive past ack_wait (1 s)
    // until the handler timeout (2.5 s).
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= Duration::from_millis(2400),
        "redelivered after {gap:?}, before the handler timeout"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nak_redelivers_after_its_delay() {
    let (_server, bus) = setup().await;
    let probe = Probe::<TicketCreated>::new("orders-service", |e, d| {
        match (e.version, d.delivery_count()) {
            (0, 1) => Act::Retry(Some(Duration::from_millis(1500))),
            (1, 1) => Act::Retry(None),
            _ => Act::Ok,
        }
    });
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    let publisher = bus.publisher::<TicketCreated>();
    publisher.publish(&ticket(1)).await.unwrap();
    publisher
        .publish(&TicketCreated {
            version: 1,
            ..ticket(2)
        })
        .await
        .unwrap();
    eventually(Duration::from_secs(15), "four calls", || {
        probe.calls().len() >= 4
    })
    .await;
    let calls = probe.calls();
    let of = |version: u64| -> Vec<_> {
        calls
            .iter()
            .filter(|c| c.event.version == version)
            .collect()
    };
    let (slow, quick) = (of(0), of(1));
    assert_eq!(slow.len(), 2);
    assert_eq!(quick.len(), 2);
    let slow_gap = slow[1].at - slow[0].at;
    assert!(
        slow_gap >= Duration::from_millis(1400),
        "nak delay not honoured: {slow_gap:?}"
    );
    assert_eq!(slow[1].delivery.delivery_count(), 2);
    // The listener's retry_delay (100 ms) applies when the error names none.
    let quick_gap = quick[1].at - quick[0].at;
    assert!(
        quick_gap >= Duration::from_millis(90) && quick_gap < Duration::from_millis(1400),
        "{quick_gap:?}"
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_terminates_and_dead_letters_once() {
    let (server, bus) = setup().await;
    let js = raw_jetstream(&server).await;
    let probe =
        Probe::<TicketCreated>::new("orders-service", |_, _| Act::Permanent("ticket refused"))
            .ack_wait(Duration::from_secs(1));
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    let ack = bus
        .publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the call", || {
        !probe.calls().is_empty()
    })
    .await;
    // Several ack_waits later it has not come back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(probe.calls().len(), 1);
    handle.shutdown().await.unwrap();
    let letters = dead_letters(&js, "orders-service").await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(header(letter, "Typebus-Dlq-Kind"), Some("rejected"));
    assert_eq!(header(letter, "Typebus-Dlq-Reason"), Some("ticket refused"));
    assert_eq!(header(letter, "Typebus-Dlq-Deliveries"), Some("1"));
    assert_eq!(
        header(letter, "Typebus-Dlq-Subject"),
        Some("ticket:created")
    );
    assert_eq!(
        header(letter, "Typebus-Dlq-Sequence"),
        Some(ack.sequence.to_string().as_str())
    );
    assert_eq!(header(letter, "Typebus-Version"), Some("1"));
    assert_eq!(
        letter.payload.as_ref(),
        serde_json::to_vec(&ticket(1)).unwrap().as_slice()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_retried() {
    let (_server, bus) = setup().await;
    let probe = Probe::<TicketCreated>::new("orders-service", |_, d| {
        if d.delivery_count() == 1 {
            Act::Panic
        } else {
            Act::Ok
        }
    });
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    bus.publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the retry", || {
        probe.calls().len() >= 2
    })
    .await;
    assert_eq!(probe.calls()[1].delivery.delivery_count(), 2);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausting_max_deliver_dead_letters_with_the_count() {
    let (server, bus) = setup().await;
    let js = raw_jetstream(&server).await;
    let probe = Probe::<TicketCreated>::new("payments-service", |_, _| Act::Retry(None))
        .max_deliver(Some(3));
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    bus.publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "three calls", || {
        probe.calls().len() >= 3
    })
    .await;
    let mut letters = Vec::new();
    for _ in 0..100 {
        letters = dead_letters(&js, "payments-service").await;
        if !letters.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(letters.len(), 1);
    assert_eq!(header(&letters[0], "Typebus-Dlq-Kind"), Some("exhausted"));
    assert_eq!(header(&letters[0], "Typebus-Dlq-Deliveries"), Some("3"));
    assert_eq!(
        header(&letters[0], "Typebus-Dlq-Reason"),
        Some("gave up after 3 deliveries: try again")
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(probe.calls().len(), 3);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_handlers_and_acks_them() {
    let (_server, bus) = setup().await;
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| {
        Act::Sleep(Duration::from_millis(700))
    });
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    bus.publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the call", || {
        !probe.calls().is_empty()
    })
    .await;
    handle.shutdown().await.unwrap();
    // A new instance of the service gets nothing: the in-flight event was acked.
    let next = Probe::<TicketCreated>::new("orders-service", |_, _| Act::Ok);
    let handle = bus.listen(next.instance(1)).await.unwrap();
    bus.publisher::<TicketCreated>()
        .publish(&ticket(2))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the second event", || {
        !next.calls().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calls = next.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].event, ticket(2));
    handle.shutdown().await.unwrap();
}
