use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated", subject = "ticket:created", version = 1)]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    #[serde(rename = "userId")]
    user_id: String,
}

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(subject = "ticket:updated", version = 1, name = "TicketUpdated")]
struct TicketUpdated {
    id: String,
}

fn main() {}
