#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:created", version = 4294967296)]
struct TicketCreated {
    id: String,
}

fn main() {}
