use std::collections::BTreeMap;
use typebus::{Event, Timestamp, Uuid};

#[derive(serde::Serialize, serde::Deserialize)]
struct TicketRef {}

#[derive(serde::Serialize, serde::Deserialize)]
struct Ticket {}

// `status` is the shared enum `OrderStatus`, `ticket` the struct
// `TicketRef`, both from the sibling file `shared.yaml`.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "EveryType")]
struct EveryType {
    text: String,
    flag: bool,
    small: i32,
    large: i64,
    count: u32,
    total: u64,
    ratio: f32,
    amount: f64,
    at: Timestamp,
    key: Uuid,
    extra: serde_json::Value,
    tags: Vec<String>,
    scores: BTreeMap<String, u32>,
    note: Option<String>,
    maybe: Option<Vec<Option<u64>>>,
    status: String,
    ticket: Ticket,
    nested: BTreeMap<String, Vec<TicketRef>>,
    seats: u32,
}

fn main() {}
