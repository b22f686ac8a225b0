#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:created", version = 1)]
struct TicketCreated<T> {
    id: T,
}

fn main() {}
