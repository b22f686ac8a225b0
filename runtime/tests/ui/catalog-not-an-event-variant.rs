#[typebus::__private::catalog(extra)]
pub enum AnyEvent {
    #[subject("ticket:created", TicketCreated)]
    TicketCreated { id: String },
}

fn main() {}
