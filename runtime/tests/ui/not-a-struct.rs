#[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "order:status", version = 1)]
enum OrderStatus {
    Created,
    Cancelled,
}

#[derive(typebus::Event)]
#[event(subject = "ticket:price", version = 1)]
union Price {
    cents: u64,
    euros: f64,
}

fn main() {}
