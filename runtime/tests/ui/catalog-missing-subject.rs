#[typebus::contract(subject = "ticket:created", version = 1)]
pub struct TicketCreated {
    pub id: String,
}

#[typebus::contract(subject = "ticket:updated", version = 1)]
pub struct TicketUpdated {
    pub id: String,
}

#[typebus::__private::catalog]
pub enum AnyEvent {
    #[subject("ticket:created", TicketCreated)]
    TicketCreated(TicketCreated),
    TicketUpdated(TicketUpdated),
    #[subject("ticket:updated")]
    Other(TicketUpdated),
}

fn main() {}
