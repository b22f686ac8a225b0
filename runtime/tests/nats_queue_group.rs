//! Queue-group semantics over a real nats-server: instances of one service
//! share the work; a slow handler keeps its event with in-progress acks.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::collections::HashMap;
use std::time::Duration;

use nats_support::*;
use typebus::ListenOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_work_and_handle_each_event_once() {
    let (server, bus_a) = setup().await;
    let bus_b = connect(&server).await;
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| {
        Act::Sleep(Duration::from_millis(2))
    });
    let options = |o: ListenOptions| o.concurrency(8).prefetch(16);
    let a = bus_a.listen_with(probe.instance(1), options).await.unwrap();
    let b = bus_b.listen_with(probe.instance(2), options).await.unwrap();
    // Another service sees every event too.
    let payments = Probe::<TicketCreated>::new("payments-service", |_, _| Act::Ok);
    let p = bus_a.listen(payments.instance(0)).await.unwrap();

    let publisher = bus_a.publisher::<TicketCreated>();
    let mut pending = Vec::new();
    for n in 0..1000 {
        pending.push(publisher.send(&ticket(n)).await.unwrap());
    }
    for ack in pending {
        ack.await.unwrap();
    }
    eventually(Duration::from_secs(30), "1000 calls", || {
        probe.calls().len() >= 1000
    })
    .await;
    eventually(Duration::from_secs(30), "1000 payments calls", || {
        payments.calls().len() >= 1000
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    p.shutdown().await.unwrap();

    let calls = probe.calls();
    assert_eq!(calls.len(), 1000, "some event was handled twice");
    let mut per_event: HashMap<String, usize> = HashMap::new();
    let mut per_instance: HashMap<usize, usize> = HashMap::new();
    for call in &calls {
        *per_event.entry(call.event.id.clone()).or_default() += 1;
        *per_instance.entry(call.instance).or_default() += 1;
        assert_eq!(call.delivery.delivery_count(), 1);
    }
    assert_eq!(per_event.len(), 1000);
    assert!(per_event.values().all(|&n| n == 1));
    assert!(
        per_instance.get(&1).copied().unwrap_or(0) > 0,
        "instance 1 got nothing: {per_instance:?}"
    );
    assert!(
        per_instance.get(&2).copied().unwrap_or(0) > 0,
        "instance 2 got nothing: {per_instance:?}"
    );
    assert_eq!(payments.calls().len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_keeps_its_event_while_in_progress_acks_flow() {
    let (server, bus_a) = setup().await;
    let bus_b = connect(&server).await;
    // Each handler call takes 3.5 ack_waits.
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| {
        Act::Sleep(Duration::from_millis(3500))
    })
    .ack_wait(Duration::from_secs(1));
    // Room for every event in either instance's handlers: what is tested
    // is the in-progress acks of a running handler. A message fetched while
    // all handlers are busy waits without them (see `ListenOptions::prefetch`).
    // With 4 handlers per instance a loaded CI run once handed an event out
    // again: an instance can fetch more than it has handlers (its next pull
    // request goes out once half of the first has arrived).
    let options = |o: ListenOptions| {
        o.concurrency(8)
            .prefetch(8)
            .handler_timeout(Duration::from_secs(20))
    };
    let a = bus_a.listen_with(probe.instance(1), options).await.unwrap();
    let b = bus_b.listen_with(probe.instance(2), options).await.unwrap();
    let publisher = bus_a.publisher::<TicketCreated>();
    for n in 0..6 {
        publisher.publish(&ticket(n)).await.unwrap();
    }
    eventually(Duration::from_secs(30), "6 calls", || {
        probe.calls().len() >= 6
    })
    .await;
    // Long enough for any redelivery to show.
    tokio::time::sleep(Duration::from_secs(5)).await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let calls = probe.calls();
    assert_eq!(
        calls.len(),
        6,
        "an event was handed out again while its handler ran: {calls:#?}"
    );
    assert!(calls.iter().all(|c| c.delivery.delivery_count() == 1));
}
