#[typebus::contract(subject = "ticket.*", version = 1)]
pub struct TicketCreated {
    pub id: String,
}

fn main() {}
