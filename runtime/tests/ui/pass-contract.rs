//! `#[typebus::contract]` on hand-written contracts: the derives, typebus's
//! serde (this crate has no serde attribute of its own in scope), `Event`
//! with the attribute's arguments, and serde attributes on the item.

use typebus::Event as _;

/// A nested type: no arguments, no `Event`.
#[typebus::contract]
pub struct TicketRef {
    pub id: String,
}

/// Docs before the attribute stay on the struct.
#[typebus::contract(subject = "order:created", version = 2)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub ticket: TicketRef,
}

fn main() {
    assert_eq!(OrderCreated::SUBJECT, "order:created");
    assert_eq!(OrderCreated::VERSION, 2);
    assert_eq!(OrderCreated::NAME, "OrderCreated");
    let event = OrderCreated {
        user_id: "u1".into(),
        note: None,
        ticket: TicketRef { id: "t1".into() },
    };
    let json = typebus::__private::serde_json::to_string(&event.clone()).unwrap();
    assert_eq!(json, r#"{"userId":"u1","ticket":{"id":"t1"}}"#);
    let back: OrderCreated = typebus::__private::serde_json::from_str(&json).unwrap();
    assert_eq!(back, event);
    assert!(format!("{back:?}").contains("TicketRef"));
}
