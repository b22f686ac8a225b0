//! The payments service's listeners and command on the memory transport,
//! and its build-script contracts against the `ticketing-events` crate on
//! the wire.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ticketing_events::{
    OrderCancelled, OrderCancelledTicket, OrderCreated, OrderCreatedTicket, OrderStatus,
    PaymentCreated, SUBJECTS,
};
use ticketing_payments::{PaymentsService, events};
use ticketing_services::{Journal, ObjectId, ServiceError};
use typebus::Timestamp;
use typebus::testing::{Recorder, drive};

fn id() -> String {
    ObjectId::new().to_string()
}

fn recorder() -> Recorder {
    Recorder::new(SUBJECTS.iter().copied())
}

fn order_created(order: &str, price: f64) -> OrderCreated {
    OrderCreated {
        id: order.to_owned(),
        version: 0,
        status: OrderStatus::Created,
        user_id: "5e9f8f8f8f8f8f8f8f8f8f8f".into(),
        expires_at: "2020-05-01T12:00:00.000Z".parse::<Timestamp>().unwrap(),
        ticket: OrderCreatedTicket { id: id(), price },
    }
}

fn order_cancelled(order: &str, version: u64) -> OrderCancelled {
    OrderCancelled {
        id: order.to_owned(),
        version,
        ticket: OrderCancelledTicket { id: id() },
    }
}

#[test]
fn build_script_contracts_match_the_shared_crate_on_the_wire() {
    assert_eq!(events::SUBJECTS, SUBJECTS);
    let created = order_created(&id(), 9.99);
    let json = serde_json::to_vec(&created).unwrap();
    let decoded = events::AnyEvent::decode("order:created", &json).unwrap();
    assert!(matches!(&decoded, events::AnyEvent::OrderCreated(o) if o.ticket.price == 9.99));
    assert_eq!(decoded.encode().unwrap(), json);
    let payment = events::PaymentCreated {
        id: id(),
        order_id: id(),
        stripe_id: "ch_1".into(),
    };
    let json = serde_json::to_vec(&payment).unwrap();
    let shared: PaymentCreated = serde_json::from_slice(&json).unwrap();
    assert_eq!(serde_json::to_vec(&shared).unwrap(), json);
    assert_eq!(shared.order_id, payment.order_id);
}

#[tokio::test]
async fn orders_are_recorded_and_paid_once() {
    let recorder = recorder();
    let payments = PaymentsService::new(&recorder.bus(), Journal::new());
    let order = id();
    // The shared crate's JSON, read by the payments crate's own types.
    drive(&payments.order_created_listener())
        .payload(serde_json::to_vec(&order_created(&order, 20.0)).unwrap())
        .await
        .assert_acked();
    let known = payments.order(&order).unwrap();
    assert_eq!(
        (known.version, known.price, known.status),
        (0, 20.0, events::OrderStatus::Created)
    );

    let payment = payments.pay(&order).await.unwrap();
    let published = recorder.assert_published::<PaymentCreated>(|p| p.order_id == order);
    assert_eq!(
        (published.id, published.stripe_id),
        (payment.id.clone(), payment.stripe_id)
    );
    let err = payments.pay(&order).await.unwrap_err();
    assert!(matches!(err, ServiceError::OrderStatus { .. }), "{err}");
    recorder.assert_published_count::<PaymentCreated>(1);
    assert_eq!(payments.payments().len(), 1);

    let err = payments.pay(&id()).await.unwrap_err();
    assert!(matches!(err, ServiceError::UnknownOrder(_)), "{err}");
}

#[tokio::test]
async fn a_cancellation_waits_for_its_order_and_blocks_payment() {
    let recorder = recorder();
    let payments = PaymentsService::new(&recorder.bus(), Journal::new());
    let order = id();
    let cancelled = serde_json::to_vec(&order_cancelled(&order, 1)).unwrap();
    // Before order:created (version 0) was applied: delivered again later.
    drive(&payments.order_cancelled_listener())
        .payload(&cancelled)
        .await
        .assert_nakked();
    drive(&payments.order_created_listener())
        .payload(serde_json::to_vec(&order_created(&order, 20.0)).unwrap())
        .await
        .assert_acked();
    drive(&payments.order_cancelled_listener())
        .payload(&cancelled)
        .await
        .assert_acked();
    let known = payments.order(&order).unwrap();
    assert_eq!(
        (known.version, known.status),
        (1, events::OrderStatus::Cancelled)
    );
    let err = payments.pay(&order).await.unwrap_err();
    assert!(matches!(err, ServiceError::OrderStatus { .. }), "{err}");
    recorder.assert_not_published::<PaymentCreated>();
}

#[tokio::test]
async fn started_listeners_follow_the_stream() {
    let recorder = recorder();
    let bus = recorder.bus();
    let payments = PaymentsService::new(&bus, Journal::new());
    let handles = payments.start(&bus).await.unwrap();
    let order = id();
    // Published by the shared crate's types, cancellation first.
    bus.publisher()
        .publish(&order_cancelled(&order, 1))
        .await
        .unwrap();
    bus.publisher()
        .publish(&order_created(&order, 20.0))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while payments
        .order(&order)
        .is_none_or(|o| o.status != events::OrderStatus::Cancelled)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "payments did not see the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for handle in handles {
        handle.shutdown().await.unwrap();
    }
}
