#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
struct TicketCreated {
    id: String,
}

fn main() {}
