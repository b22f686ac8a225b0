use typebus::Event;

// Every mismatch is reported in one compile.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated")]
struct TicketCreated {
    id: u64,
    version: Option<u64>,
    price: String,
    user_id: String,
    seller: String,
}

fn main() {}
