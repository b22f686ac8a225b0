use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/tickets.yaml", name = "TicketCreated")]
struct TicketCreated {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good", name = "TicketCreated")]
struct TicketUpdated {
    id: String,
}

fn main() {}
