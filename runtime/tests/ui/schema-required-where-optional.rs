use std::collections::BTreeMap;
use typebus::{Event, Timestamp, Uuid};

#[derive(serde::Serialize, serde::Deserialize)]
enum OrderStatus {}

#[derive(serde::Serialize, serde::Deserialize)]
struct TicketRef {}

// `note` is `string?` and `maybe` is `list<u64?>?` in the schema.
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
    note: String,
    maybe: Option<Vec<u64>>,
    status: OrderStatus,
    ticket: TicketRef,
    nested: BTreeMap<String, Vec<TicketRef>>,
    seats: u32,
}

fn main() {}
