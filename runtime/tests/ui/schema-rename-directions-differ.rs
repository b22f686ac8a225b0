use typebus::Event;

// Written as `userId` but read as `user`: the schema has one wire name.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated")]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    #[serde(rename(serialize = "userId", deserialize = "user"))]
    user_id: String,
}

fn main() {}
