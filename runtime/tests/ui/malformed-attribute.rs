#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event]
struct Bare {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject "ticket:created", version = 1)]
struct MissingEquals {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = ticket, version = 1)]
struct NotALiteral {
    id: String,
}

fn main() {}
