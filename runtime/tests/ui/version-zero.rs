#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:created", version = 0)]
struct TicketCreated {
    id: String,
}

fn main() {}
