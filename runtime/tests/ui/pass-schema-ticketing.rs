//! Hand-written ticketing events checked against the real contracts in the
//! repository's `schemas/` (`../schemas/*.yaml`, as from `runtime/`): shared
//! types from `common.yaml` resolve, subjects and versions come from the
//! schema, and the payloads of REFERENCE.md round-trip.

use typebus::{Event, Timestamp};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum OrderStatus {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "cancelled")]
    Cancelled,
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    #[serde(rename = "complete")]
    Complete,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "../schemas/tickets.yaml", name = "TicketCreated")]
#[serde(rename_all = "camelCase")]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    user_id: String,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "../schemas/tickets.yaml")]
#[serde(rename_all = "camelCase")]
struct TicketUpdated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct OrderCreatedTicket {
    id: String,
    price: f64,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "../schemas/orders.yaml", name = "OrderCreated")]
struct Reserved {
    id: String,
    version: u64,
    status: OrderStatus,
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "expiresAt")]
    expires_at: Timestamp,
    ticket: OrderCreatedTicket,
}

fn main() {
    assert_eq!(TicketCreated::SUBJECT, "ticket:created");
    assert_eq!(TicketCreated::VERSION, 1);
    assert_eq!(TicketUpdated::SUBJECT, "ticket:updated");
    assert_eq!(Reserved::SUBJECT, "order:created");
    assert_eq!(Reserved::VERSION, 1);
    assert_eq!(Reserved::NAME, "OrderCreated");

    let json = r#"{"id":"o1","version":0,"status":"created","userId":"u1","expiresAt":"2020-05-01T12:00:00.000Z","ticket":{"id":"t1","price":20.5}}"#;
    let order: Reserved = serde_json::from_str(json).unwrap();
    assert_eq!(order.status, OrderStatus::Created);
    let back: serde_json::Value = serde_json::to_value(&order).unwrap();
    assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap());

    let updated: TicketUpdated = serde_json::from_str(
        r#"{"id":"t1","version":1,"title":"concert","price":9.99,"userId":"u1"}"#,
    )
    .unwrap();
    assert_eq!(updated.order_id, None);
    assert!(serde_json::to_value(&updated).unwrap().get("orderId").is_none());
    let _ = (OrderStatus::Cancelled, OrderStatus::AwaitingPayment, OrderStatus::Complete);
}
