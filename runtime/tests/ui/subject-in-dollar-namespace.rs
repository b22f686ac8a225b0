#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "$JS.tickets", version = 1)]
struct TicketCreated {
    id: String,
}

fn main() {}
