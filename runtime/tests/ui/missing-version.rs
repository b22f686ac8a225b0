#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:created")]
struct TicketCreated {
    id: String,
}

fn main() {}
