//! The tickets service's commands and listeners on the memory transport.

#![allow(clippy::unwrap_used)]

mod support;

use support::*;
use ticketing_events::{TicketCreated, TicketUpdated};
use ticketing_services::ServiceError;
use ticketing_services::tickets::TicketsService;
use typebus::DeadLetterKind;
use typebus::testing::drive;

#[tokio::test]
async fn create_ticket_saves_version_0_and_publishes_ticket_created() {
    let recorder = recorder();
    let tickets = TicketsService::new(&recorder.bus(), journal());
    let ticket = tickets.create_ticket("concert", 9.99, "u1").await.unwrap();
    assert_eq!(ticket.version, 0);
    assert_eq!(ticket.id.len(), 24);
    recorder.assert_published_eq(&TicketCreated {
        id: ticket.id.clone(),
        version: 0,
        title: "concert".into(),
        price: 9.99,
        user_id: "u1".into(),
    });
    assert_eq!(tickets.ticket(&ticket.id), Some(ticket));
}

#[tokio::test]
async fn order_created_reserves_once_and_order_cancelled_releases() {
    let recorder = recorder();
    let tickets = TicketsService::new(&recorder.bus(), journal());
    let ticket = tickets.create_ticket("concert", 20.0, "u1").await.unwrap();
    let order = id();
    let created = order_created(&order, &ticket.id, 20.0, 60_000);

    drive(&tickets.reserve_listener())
        .event(&created)
        .await
        .assert_acked();
    let reserved = tickets.ticket(&ticket.id).unwrap();
    assert_eq!(
        (reserved.version, reserved.order_id.as_deref()),
        (1, Some(order.as_str()))
    );
    recorder.assert_published_eq(&TicketUpdated {
        id: ticket.id.clone(),
        version: 1,
        title: "concert".into(),
        price: 20.0,
        user_id: "u1".into(),
        order_id: Some(order.clone()),
    });

    // The same order:created again: acked, not applied again.
    drive(&tickets.reserve_listener())
        .event(&created)
        .await
        .assert_acked();
    assert_eq!(tickets.ticket(&ticket.id).unwrap().version, 1);
    recorder.assert_published_count::<TicketUpdated>(1);

    drive(&tickets.release_listener())
        .event(&order_cancelled(&order, &ticket.id, 1))
        .await
        .assert_acked();
    let released = tickets.ticket(&ticket.id).unwrap();
    assert_eq!((released.version, released.order_id), (2, None));
    let updates = recorder.published::<TicketUpdated>();
    assert_eq!(updates.len(), 2);
    assert_eq!(
        (updates[1].version, updates[1].order_id.as_deref()),
        (2, None)
    );
    // An absent orderId is left out of the JSON, never `null`.
    let last = recorder.messages_on("ticket:updated").pop().unwrap();
    assert!(!String::from_utf8_lossy(&last.payload).contains("orderId"));
}

#[tokio::test]
async fn order_cancelled_before_its_order_created_waits() {
    let recorder = recorder();
    let tickets = TicketsService::new(&recorder.bus(), journal());
    let ticket = tickets.create_ticket("concert", 20.0, "u1").await.unwrap();
    let order = id();
    drive(&tickets.release_listener())
        .event(&order_cancelled(&order, &ticket.id, 1))
        .await
        .assert_nakked();
    assert_eq!(tickets.ticket(&ticket.id).unwrap().version, 0);
    recorder.assert_not_published::<TicketUpdated>();
}

#[tokio::test]
async fn a_second_order_for_a_reserved_ticket_is_dead_lettered() {
    let recorder = recorder();
    let tickets = TicketsService::new(&recorder.bus(), journal());
    let ticket = tickets.create_ticket("concert", 20.0, "u1").await.unwrap();
    let first = id();
    drive(&tickets.reserve_listener())
        .event(&order_created(&first, &ticket.id, 20.0, 60_000))
        .await
        .assert_acked();
    let reason = drive(&tickets.reserve_listener())
        .event(&order_created(&id(), &ticket.id, 20.0, 60_000))
        .await
        .assert_dead_lettered(DeadLetterKind::Rejected)
        .to_owned();
    assert!(reason.contains(&first), "{reason}");
    assert_eq!(tickets.ticket(&ticket.id).unwrap().order_id, Some(first));
}

#[tokio::test]
async fn a_reserved_ticket_cannot_be_updated() {
    let recorder = recorder();
    let tickets = TicketsService::new(&recorder.bus(), journal());
    let ticket = tickets.create_ticket("concert", 20.0, "u1").await.unwrap();
    let updated = tickets
        .update_ticket(&ticket.id, "concert", 25.0)
        .await
        .unwrap();
    assert_eq!((updated.version, updated.price), (1, 25.0));
    drive(&tickets.reserve_listener())
        .event(&order_created(&id(), &ticket.id, 25.0, 60_000))
        .await
        .assert_acked();
    let err = tickets
        .update_ticket(&ticket.id, "concert", 30.0)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::TicketReserved { .. }), "{err}");
}

#[tokio::test]
async fn started_listeners_reserve_from_the_stream() {
    let recorder = recorder();
    let bus = recorder.bus();
    let tickets = TicketsService::new(&bus, journal());
    let handles = tickets.start(&bus).await.unwrap();
    let ticket = tickets.create_ticket("concert", 20.0, "u1").await.unwrap();
    let order = id();
    bus.publisher()
        .publish(&order_created(&order, &ticket.id, 20.0, 60_000))
        .await
        .unwrap();
    eventually("the ticket is reserved", || {
        tickets.ticket(&ticket.id).unwrap().order_id.as_deref() == Some(order.as_str())
    })
    .await;
    for handle in handles {
        handle.shutdown().await.unwrap();
    }
}
