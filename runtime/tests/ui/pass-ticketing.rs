use typebus::Event;

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, Event)]
#[event(subject = "ticket:created", version = 1)]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    #[serde(rename = "userId")]
    user_id: String,
}

/// Dotted subjects, a raw-string subject, a `u32` suffix and a version at
/// the top of the range are all accepted.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(version = 4294967295u32, subject = r"orders.v2.awaiting:payment")]
struct AwaitingPayment(String);

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(subject = "expiration:complete", version = 2)]
struct r#Unit;

// A `where` clause without parameters is kept.
#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(subject = "payment:created", version = 1)]
struct PaymentCreated
where
    String: Clone,
{
    id: String,
}

// Invoked from a `macro_rules!` macro, where literals arrive wrapped.
macro_rules! event {
    ($name:ident, $subject:literal, $version:literal) => {
        #[derive(serde::Serialize, serde::Deserialize, Event)]
        #[event(subject = $subject, version = $version)]
        struct $name {
            id: String,
        }
    };
}
event!(OrderCreated, "order:created", 7);

fn subject_of<E: Event>() -> &'static str {
    E::SUBJECT
}

fn main() {
    assert_eq!(TicketCreated::SUBJECT, "ticket:created");
    assert_eq!(TicketCreated::VERSION, 1);
    assert_eq!(TicketCreated::NAME, "TicketCreated");
    assert_eq!(subject_of::<TicketCreated>(), "ticket:created");

    assert_eq!(AwaitingPayment::SUBJECT, "orders.v2.awaiting:payment");
    assert_eq!(AwaitingPayment::VERSION, u32::MAX);
    assert_eq!(AwaitingPayment::NAME, "AwaitingPayment");

    assert_eq!(Unit::NAME, "Unit");
    assert_eq!(Unit::VERSION, 2);
    assert_eq!(PaymentCreated::SUBJECT, "payment:created");

    assert_eq!(OrderCreated::SUBJECT, "order:created");
    assert_eq!(OrderCreated::VERSION, 7);
    assert_eq!(OrderCreated::NAME, "OrderCreated");
}
