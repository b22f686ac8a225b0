#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:created")]
#[event(version = 1)]
struct TicketCreated {
    id: String,
}

fn main() {}
