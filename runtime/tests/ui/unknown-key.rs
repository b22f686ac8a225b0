#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subjet = "ticket:created", version = 1)]
struct Misspelled {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:updated", version = 1, topic = "tickets")]
struct Unknown {
    id: String,
}

fn main() {}
