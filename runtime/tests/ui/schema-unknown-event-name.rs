use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketCreatd")]
struct TicketCreated {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketRef")]
struct TicketRef {
    id: String,
}

// Declared in the sibling file `shared.yaml`, not in `events.yaml`.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/events.yaml", name = "TicketShared")]
struct TicketShared {
    id: String,
}

fn main() {}
