#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket..created", version = 1)]
struct Doubled {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = ".ticket", version = 1)]
struct Leading {
    id: String,
}

#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket.", version = 1)]
struct Trailing {
    id: String,
}

fn main() {}
