use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated")]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: String,
    #[serde(rename = "userId")]
    user_id: String,
}

fn main() {}
