//! A hand-written struct for every schema type, checked against
//! `tests/ui/schemas/good/events.yaml`; the shared types come from the
//! sibling file `shared.yaml`. Paths are written in every accepted form.

extern crate alloc;

use std::collections::{BTreeMap, HashMap};

use typebus::Event;

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
enum OrderStatus {
    Created,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct TicketRef {
    id: String,
    price: f64,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "EveryType")]
struct EveryType {
    text: ::std::string::String,
    flag: bool,
    small: i32,
    large: ::core::primitive::i64,
    count: u32,
    total: u64,
    ratio: f32,
    amount: f64,
    at: typebus::Timestamp,
    key: ::typebus::Uuid,
    extra: serde_json::Value,
    tags: alloc::vec::Vec<alloc::string::String>,
    scores: HashMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: std::option::Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    maybe: Option<Vec<Option<u64>>>,
    status: OrderStatus,
    ticket: Box<TicketRef>,
    nested: BTreeMap<String, Vec<crate::TicketRef>>,
    #[serde(default = "one")]
    seats: u32,
    // Not part of the JSON, so not part of the contract.
    #[serde(skip)]
    cache: Vec<u8>,
}

fn one() -> u32 {
    1
}

// The event is named by the struct when `name` is left out; its shared
// type `TicketRef` is not, but the event `TicketShared` is.
#[derive(Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/shared.yaml")]
struct TicketShared {
    id: String,
}

fn main() {
    assert_eq!(EveryType::SUBJECT, "fixture:every-type");
    assert_eq!(EveryType::VERSION, 3);
    assert_eq!(EveryType::NAME, "EveryType");
    assert_eq!(TicketShared::SUBJECT, "ticket:shared");
    assert_eq!(TicketShared::VERSION, 1);

    let json = serde_json::json!({
        "text": "a", "flag": true, "small": -1, "large": 2, "count": 3,
        "total": 4, "ratio": 0.5, "amount": 9.99,
        "at": "2020-05-01T12:00:00.000Z",
        "key": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "extra": {"any": [1, null]}, "tags": ["x"], "scores": {"k": 1},
        "status": "created", "ticket": {"id": "t", "price": 20.0},
        "nested": {"n": [{"id": "u", "price": 1.5}]}
    });
    let event: EveryType = serde_json::from_value(json).unwrap();
    assert_eq!(event.seats, 1);
    assert_eq!(event.note, None);
    let back = serde_json::to_value(&event).unwrap();
    assert_eq!(back["at"], "2020-05-01T12:00:00.000Z");
    assert!(back.get("note").is_none());
    assert!(back.get("cache").is_none());
}
