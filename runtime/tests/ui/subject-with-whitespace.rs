#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket created", version = 1)]
struct TicketCreated {
    id: String,
}

fn main() {}
