//! Helpers shared by the services' tests.

#![allow(dead_code)]

use std::time::Duration;

use ticketing_events::{
    OrderCancelled, OrderCancelledTicket, OrderCreated, OrderCreatedTicket, OrderStatus, SUBJECTS,
};
use ticketing_services::{Journal, ObjectId};
use typebus::Timestamp;
use typebus::testing::Recorder;

/// A recorder over every ticketing subject.
pub(crate) fn recorder() -> Recorder {
    Recorder::new(SUBJECTS.iter().copied())
}

/// A journal that records without printing.
pub(crate) fn journal() -> Journal {
    Journal::new()
}

/// A fresh 24-hex id.
pub(crate) fn id() -> String {
    ObjectId::new().to_string()
}

/// `order:created` v0 for `ticket`, expiring `in_ms` from now (negative: in the past).
pub(crate) fn order_created(order: &str, ticket: &str, price: f64, in_ms: i64) -> OrderCreated {
    let expires_at = Timestamp::from(*Timestamp::now() + chrono::TimeDelta::milliseconds(in_ms));
    OrderCreated {
        id: order.to_owned(),
        version: 0,
        status: OrderStatus::Created,
        user_id: id(),
        expires_at,
        ticket: OrderCreatedTicket {
            id: ticket.to_owned(),
            price,
        },
    }
}

/// `order:cancelled` at `version` for `ticket`.
pub(crate) fn order_cancelled(order: &str, ticket: &str, version: u64) -> OrderCancelled {
    OrderCancelled {
        id: order.to_owned(),
        version,
        ticket: OrderCancelledTicket {
            id: ticket.to_owned(),
        },
    }
}

/// Polls `done` every 10 ms for up to 10 s.
pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
