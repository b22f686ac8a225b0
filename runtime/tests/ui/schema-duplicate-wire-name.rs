use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreated")]
#[serde(rename_all = "camelCase")]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    user_id: String,
    #[serde(rename = "userId")]
    seller: String,
}

fn main() {}
