#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:created", version = "1")]
struct Quoted {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:updated", version = 1.5)]
struct Fractional {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "order:created", version = -1)]
struct Negative {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "order:cancelled", version = 1u8)]
struct Suffixed {
    id: String,
}

fn main() {}
