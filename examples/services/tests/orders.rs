//! The orders service's commands and listeners on the memory transport.

#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use ticketing_events::{
    ExpirationComplete, OrderCancelled, OrderCreated, OrderStatus, PaymentCreated, TicketCreated,
    TicketUpdated,
};
use ticketing_services::ServiceError;
use ticketing_services::orders::OrdersService;
use typebus::DeadLetterKind;
use typebus::testing::drive;

fn ticket_created(ticket: &str) -> TicketCreated {
    TicketCreated {
        id: ticket.to_owned(),
        version: 0,
        title: "concert".into(),
        price: 20.0,
        user_id: id(),
    }
}

fn ticket_updated(ticket: &str, version: u64, price: f64) -> TicketUpdated {
    TicketUpdated {
        id: ticket.to_owned(),
        version,
        title: "concert".into(),
        price,
        user_id: id(),
        order_id: None,
    }
}

fn orders(recorder: &typebus::testing::Recorder) -> OrdersService {
    OrdersService::new(
        &recorder.bus(),
        journal(),
        std::time::Duration::from_secs(60),
    )
}

/// An orders service whose replica holds one ticket at version 0.
async fn with_ticket(recorder: &typebus::testing::Recorder) -> (OrdersService, String) {
    let orders = orders(recorder);
    let ticket = id();
    drive(&orders.ticket_created_listener())
        .event(&ticket_created(&ticket))
        .await
        .assert_acked();
    (orders, ticket)
}

#[tokio::test]
async fn the_replica_applies_ticket_versions_in_order() {
    let recorder = recorder();
    let (orders, ticket) = with_ticket(&recorder).await;
    // Version 2 before version 1: not applied, delivered again later.
    drive(&orders.ticket_updated_listener())
        .event(&ticket_updated(&ticket, 2, 30.0))
        .await
        .assert_nakked();
    assert_eq!(orders.ticket(&ticket).unwrap().version, 0);
    drive(&orders.ticket_updated_listener())
        .event(&ticket_updated(&ticket, 1, 25.0))
        .await
        .assert_acked();
    drive(&orders.ticket_updated_listener())
        .event(&ticket_updated(&ticket, 2, 30.0))
        .await
        .assert_acked();
    // A stale duplicate of version 1 changes nothing.
    drive(&orders.ticket_updated_listener())
        .event(&ticket_updated(&ticket, 1, 25.0))
        .await
        .assert_acked();
    let copy = orders.ticket(&ticket).unwrap();
    assert_eq!((copy.version, copy.price), (2, 30.0));
}

#[tokio::test]
async fn orders_need_a_known_unreserved_ticket() {
    let recorder = recorder();
    let (orders, ticket) = with_ticket(&recorder).await;
    let err = orders.create_order("u2", &id()).await.unwrap_err();
    assert!(matches!(err, ServiceError::UnknownTicket(_)), "{err}");

    let order = orders.create_order("u2", &ticket).await.unwrap();
    let published = recorder.assert_published::<OrderCreated>(|o| o.id == order.id);
    assert_eq!(
        (published.version, published.status),
        (0, OrderStatus::Created)
    );
    assert_eq!(
        (published.ticket.id.as_str(), published.ticket.price),
        (ticket.as_str(), 20.0)
    );
    assert!(*published.expires_at > chrono::Utc::now());
    // toISOString() precision: milliseconds.
    let json =
        String::from_utf8_lossy(&recorder.messages_on("order:created")[0].payload).into_owned();
    assert!(
        json.contains(&format!("\"expiresAt\":\"{}\"", published.expires_at)),
        "{json}"
    );
    assert_eq!(
        published.expires_at.to_string().len(),
        "2020-05-01T12:00:00.000Z".len()
    );

    let err = orders.create_order("u3", &ticket).await.unwrap_err();
    assert!(matches!(err, ServiceError::TicketReserved { .. }), "{err}");

    let cancelled = orders.cancel_order(&order.id).await.unwrap();
    assert_eq!(
        (cancelled.version, cancelled.status),
        (1, OrderStatus::Cancelled)
    );
    let event = recorder.assert_published::<OrderCancelled>(|o| o.id == order.id);
    assert_eq!(
        (event.version, event.ticket.id.as_str()),
        (1, ticket.as_str())
    );
    // Released: the ticket can be ordered again.
    orders.create_order("u3", &ticket).await.unwrap();
}

#[tokio::test]
async fn expiration_cancels_an_unpaid_order_once() {
    let recorder = recorder();
    let (orders, ticket) = with_ticket(&recorder).await;
    let order = orders.create_order("u2", &ticket).await.unwrap();
    let expired = ExpirationComplete {
        order_id: order.id.clone(),
    };
    drive(&orders.expiration_listener())
        .event(&expired)
        .await
        .assert_acked();
    assert_eq!(
        orders.order(&order.id).unwrap().status,
        OrderStatus::Cancelled
    );
    drive(&orders.expiration_listener())
        .event(&expired)
        .await
        .assert_acked();
    let order = orders.order(&order.id).unwrap();
    assert_eq!(order.version, 1, "the second expiration saved nothing");
    // Both calls published the same message id: the stream stored it once.
    recorder.assert_published_count::<OrderCancelled>(1);
}

#[tokio::test]
async fn a_paid_order_is_complete_and_does_not_expire() {
    let recorder = recorder();
    let (orders, ticket) = with_ticket(&recorder).await;
    let order = orders.create_order("u2", &ticket).await.unwrap();
    let payment = PaymentCreated {
        id: id(),
        order_id: order.id.clone(),
        stripe_id: "ch_1".into(),
    };
    drive(&orders.payment_listener())
        .event(&payment)
        .await
        .assert_acked();
    drive(&orders.payment_listener())
        .event(&payment)
        .await
        .assert_acked();
    let complete = orders.order(&order.id).unwrap();
    assert_eq!(
        (complete.status, complete.version),
        (OrderStatus::Complete, 1)
    );
    drive(&orders.expiration_listener())
        .event(&ExpirationComplete {
            order_id: order.id.clone(),
        })
        .await
        .assert_acked();
    assert_eq!(
        orders.order(&order.id).unwrap().status,
        OrderStatus::Complete
    );
    recorder.assert_not_published::<OrderCancelled>();
    let err = orders.cancel_order(&order.id).await.unwrap_err();
    assert!(matches!(err, ServiceError::OrderStatus { .. }), "{err}");
}

#[tokio::test]
async fn a_payment_for_a_cancelled_order_is_dead_lettered() {
    let recorder = recorder();
    let (orders, ticket) = with_ticket(&recorder).await;
    let order = orders.create_order("u2", &ticket).await.unwrap();
    orders.cancel_order(&order.id).await.unwrap();
    drive(&orders.payment_listener())
        .event(&PaymentCreated {
            id: id(),
            order_id: order.id.clone(),
            stripe_id: "ch_1".into(),
        })
        .await
        .assert_dead_lettered(DeadLetterKind::Rejected);
    assert_eq!(
        orders.order(&order.id).unwrap().status,
        OrderStatus::Cancelled
    );
}

#[tokio::test]
async fn started_listeners_replicate_from_the_stream() {
    let recorder = recorder();
    let bus = recorder.bus();
    let orders = orders(&recorder);
    let handles = orders.start(&bus).await.unwrap();
    let ticket = id();
    // Published newest first: the guard holds version 1 back until 0 is in.
    bus.publisher()
        .publish(&ticket_updated(&ticket, 1, 25.0))
        .await
        .unwrap();
    bus.publisher()
        .publish(&ticket_created(&ticket))
        .await
        .unwrap();
    eventually("the replica reaches version 1", || {
        orders
            .ticket(&ticket)
            .is_some_and(|t| t.version == 1 && t.price == 25.0)
    })
    .await;
    for handle in handles {
        handle.shutdown().await.unwrap();
    }
}
