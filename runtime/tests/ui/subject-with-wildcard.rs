#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket.*", version = 1)]
struct AnyTicket {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket.>", version = 1)]
struct AllTickets {
    id: String,
}

fn main() {}
