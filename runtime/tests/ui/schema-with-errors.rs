use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/broken/broken.yaml", name = "TicketCreated")]
struct TicketCreated {
    id: String,
    price: f64,
}

fn main() {}
