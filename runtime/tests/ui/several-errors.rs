// Every problem of one input is reported in one compile.
#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket.*", version = 0, versoin = 2)]
enum TicketEvent {
    Created { id: String },
}

fn main() {}
