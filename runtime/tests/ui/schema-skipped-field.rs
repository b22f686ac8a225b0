use typebus::Event;

// A skipped field is not part of the JSON, so the schema's `price` is missing.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated")]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    #[serde(skip_serializing)]
    price: f64,
    #[serde(rename = "userId")]
    user_id: String,
}

fn main() {}
