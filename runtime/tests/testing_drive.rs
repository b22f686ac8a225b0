//! `typebus::testing::drive`: a listener's handler run on one crafted
//! delivery, with the engine's decision as the outcome — what the old
//! system's tests did with a mocked client ("a skipped version is not
//! acknowledged").

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use typebus::headers::names;
use typebus::testing::drive;
use typebus::transport::AckKind;
use typebus::{
    DeadLetterKind, Delivery, Disposition, Event, HandlerError, ListenOptions, Listener,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:updated", version = 2)]
struct TicketUpdated {
    id: String,
    version: u64,
    price: f64,
}

/// The orders service's `ticket:updated` listener: applies version n only
/// when n - 1 was the last applied; an early arrival is retried.
struct TicketUpdatedListener {
    last_applied: Mutex<u64>,
    seen: Mutex<Vec<(String, u64)>>,
}

impl TicketUpdatedListener {
    fn at(version: u64) -> Self {
        Self {
            last_applied: Mutex::new(version),
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Listener for TicketUpdatedListener {
    type Event = TicketUpdated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new("orders-service").max_deliver(Some(5))
    }

    async fn on_message(
        &self,
        event: TicketUpdated,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        self.seen
            .lock()
            .expect("seen lock")
            .push((event.id.clone(), delivery.delivery_count()));
        if event.price < 0.0 {
            return Err(HandlerError::permanent("negative price"));
        }
        if event.price == 13.0 {
            panic!("unlucky price");
        }
        if event.id == "slow-db" {
            return Err(HandlerError::retry_after(
                Duration::from_millis(750),
                "database busy",
            ));
        }
        let mut last = self.last_applied.lock().expect("last_applied lock");
        if event.version != *last + 1 {
            return Err(HandlerError::retry(format!(
                "version {} arrived before {}",
                event.version,
                *last + 1
            )));
        }
        *last = event.version;
        Ok(())
    }
}

fn update(id: &str, version: u64, price: f64) -> TicketUpdated {
    TicketUpdated {
        id: id.into(),
        version,
        price,
    }
}

#[tokio::test]
async fn the_next_version_is_acked_and_an_early_one_is_nakked() {
    let listener = TicketUpdatedListener::at(3);
    let outcome = drive(&listener).event(&update("t", 4, 20.0)).await;
    outcome.assert_acked();
    assert_eq!(outcome.ack(), AckKind::Ack);
    assert_eq!(*listener.last_applied.lock().unwrap(), 4);

    let early = drive(&listener).event(&update("t", 6, 20.0)).await;
    // The listener's default retry delay: 1 s for the first delivery, doubling.
    assert_eq!(early.assert_nakked(), Duration::from_secs(1));
    assert_eq!(early.ack(), AckKind::Nak(Some(Duration::from_secs(1))));
    assert!(!early.is_termed());
    let third = drive(&listener)
        .delivery_count(3)
        .event(&update("t", 6, 20.0))
        .await;
    assert_eq!(third.assert_nakked(), Duration::from_secs(4));
    assert_eq!(
        *listener.last_applied.lock().unwrap(),
        4,
        "the early version was not applied"
    );
}

#[tokio::test]
async fn the_last_allowed_delivery_of_a_failing_event_is_dead_lettered() {
    let listener = TicketUpdatedListener::at(0);
    let outcome = drive(&listener)
        .delivery_count(5)
        .event(&update("t", 9, 20.0))
        .await;
    let reason = outcome.assert_dead_lettered(DeadLetterKind::Exhausted);
    assert_eq!(
        reason,
        "gave up after 5 deliveries: version 9 arrived before 1"
    );
    assert!(outcome.is_termed());
    assert_eq!(outcome.ack(), AckKind::Term);
    // Beyond max_deliver (a crash during the last delivery) the handler is not called.
    let outcome = drive(&listener)
        .delivery_count(6)
        .event(&update("beyond", 1, 20.0))
        .await;
    outcome.assert_dead_lettered(DeadLetterKind::Exhausted);
    assert!(
        !listener
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|(id, _)| id == "beyond")
    );
}

#[tokio::test]
async fn permanent_errors_panics_and_custom_delays() {
    let listener = TicketUpdatedListener::at(0);
    let outcome = drive(&listener).event(&update("t", 1, -5.0)).await;
    assert_eq!(
        outcome.assert_dead_lettered(DeadLetterKind::Rejected),
        "negative price"
    );

    let outcome = drive(&listener)
        .delivery_count(2)
        .event(&update("t", 1, 13.0))
        .await;
    assert_eq!(
        outcome.disposition(),
        &Disposition::Retry {
            delay: Duration::from_secs(2),
            reason: "handler panicked: unlucky price".into()
        }
    );

    let outcome = drive(&listener).event(&update("slow-db", 1, 20.0)).await;
    assert_eq!(outcome.assert_nakked(), Duration::from_millis(750));
    assert_eq!(outcome.delivery().delivery_count(), 1);
    assert_eq!(
        listener.seen.lock().unwrap().last(),
        Some(&("slow-db".to_owned(), 1))
    );
}

#[tokio::test]
async fn raw_payloads_and_headers_reach_the_engine_checks() {
    let listener = TicketUpdatedListener::at(0);
    let outcome = drive(&listener)
        .payload(br#"{"id":"t","version":1,"price":"cheap"}"#)
        .await;
    let reason = outcome.assert_dead_lettered(DeadLetterKind::Decode);
    assert!(reason.contains("$.price"), "{reason}");

    let outcome = drive(&listener).payload(b"not json").await;
    outcome.assert_dead_lettered(DeadLetterKind::Decode);

    // A newer contract version than the listener reads.
    let outcome = drive(&listener)
        .version(3)
        .event(&update("t", 1, 20.0))
        .await;
    let reason = outcome.assert_dead_lettered(DeadLetterKind::Version);
    assert!(reason.contains("contract version 3"), "{reason}");

    // A publisher that sets no version header (another language) is read.
    let outcome = drive(&listener)
        .without_header(names::VERSION)
        .event(&update("t", 1, 20.0))
        .await;
    outcome.assert_acked();
    assert!(
        listener
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|(_, count)| *count == 1)
    );
}

#[tokio::test]
async fn the_crafted_delivery_looks_like_a_publisher_s() {
    let listener = TicketUpdatedListener::at(0);
    let drive = drive(&listener).delivery_count(2).stream_sequence(42);
    let delivery = drive.delivery();
    assert_eq!(delivery.subject(), "ticket:updated");
    assert_eq!(delivery.version_header(), Some("2"));
    assert_eq!(delivery.headers().get(names::EVENT), Some("TicketUpdated"));
    assert!(delivery.message_id().is_some());
    assert_eq!(delivery.stream_sequence(), 42);
    assert_eq!(delivery.delivery_count(), 2);
    assert_eq!(delivery.info().consumer, "orders-service_ticket:updated");
}

#[tokio::test]
async fn a_failed_outcome_assertion_says_what_happened() {
    let listener = TicketUpdatedListener::at(0);
    let outcome = drive(&listener).event(&update("t", 7, 20.0)).await;
    let payload = catch_unwind(AssertUnwindSafe(|| outcome.assert_acked())).expect_err("not acked");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        message,
        "expected the delivery to be acked; it was nakked for a redelivery in 1s: version 7 arrived before 1 (subject `ticket:updated`, delivery 1)"
    );
    let payload = catch_unwind(AssertUnwindSafe(|| {
        outcome.assert_dead_lettered(DeadLetterKind::Decode).len()
    }))
    .expect_err("not dead-lettered");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.starts_with("expected the delivery to be dead-lettered (decode); it was nakked"),
        "{message}"
    );
}
