use std::collections::{BTreeMap, HashMap};
use typebus::{Event, Timestamp, Uuid};

#[derive(serde::Serialize, serde::Deserialize)]
enum OrderStatus {}

#[derive(serde::Serialize, serde::Deserialize)]
struct TicketRef {}

// `map<T>` has string keys.
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
    scores: BTreeMap<u32, u32>,
    note: Option<String>,
    maybe: Option<Vec<Option<u64>>>,
    status: OrderStatus,
    ticket: TicketRef,
    nested: HashMap<u64, Vec<TicketRef>>,
    seats: u32,
}

fn main() {}
