use typebus::Event;

// The schema spells it `userId` (camelCase), not `user-id`.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated")]
#[serde(rename_all = "kebab-case")]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    user_id: String,
}

fn main() {}
