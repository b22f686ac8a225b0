use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "tests/ui/schemas/good/shared.yaml", name = "TicketShared")]
struct TicketShared(String);

fn main() {}
