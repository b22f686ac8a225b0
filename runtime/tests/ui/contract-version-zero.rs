#[typebus::contract(subject = "ticket:created", version = 0)]
pub struct TicketCreated {
    pub id: String,
}

fn main() {}
