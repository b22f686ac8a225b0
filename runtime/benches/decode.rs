//! Decoding cost of `typebus::from_json` (structs read only from JSON
//! objects, paths tracked only on failure) against plain
//! `serde_json::from_slice` of the same types, in one run: a flat event
//! (`ticket:created`) and one with a nested struct and a list of structs.
//!
//! ```text
//! cargo bench -p typebus --bench decode
//! TYPEBUS_BENCH_N=200000 TYPEBUS_BENCH_ROUNDS=5 cargo bench -p typebus --bench decode
//! ```
//!
//! Each round times N decodes of each side, alternating; the best round of
//! each is reported in ns per decode, with the ratio typebus / plain.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    user_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct OrderCreated {
    id: String,
    version: u64,
    status: String,
    user_id: String,
    expires_at: String,
    ticket: Ticket,
    seats: Vec<Seat>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Ticket {
    id: String,
    price: f64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Seat {
    row: u32,
    number: u32,
}

const TICKET: &[u8] = br#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":0,"title":"concert","price":20,"userId":"5ebfd6b8a7bd3a001c6a3a1c"}"#;
const ORDER: &[u8] = br#"{"id":"5ebfd6b8a7bd3a001c6a3a1d","version":0,"status":"created","userId":"5ebfd6b8a7bd3a001c6a3a1e","expiresAt":"2020-05-01T12:00:00.000Z","ticket":{"id":"5ebfd6b8a7bd3a001c6a3a1b","price":9.99},"seats":[{"row":1,"number":2},{"row":1,"number":3},{"row":1,"number":4}]}"#;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Best ns per decode over `rounds` of `n` decodes, plain then typebus.
fn measure<T: DeserializeOwned>(payload: &[u8], n: usize, rounds: usize) -> (f64, f64) {
    let (mut plain, mut typed) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..n {
            black_box(serde_json::from_slice::<T>(black_box(payload)).unwrap());
        }
        plain = plain.min(start.elapsed().as_nanos() as f64 / n as f64);
        let start = Instant::now();
        for _ in 0..n {
            black_box(typebus::from_json::<T>("s", black_box(payload)).unwrap());
        }
        typed = typed.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    (plain, typed)
}

fn main() {
    let n = env("TYPEBUS_BENCH_N", 500_000);
    let rounds = env("TYPEBUS_BENCH_ROUNDS", 5);
    println!("decode: {n} decodes per round, best of {rounds} rounds");
    for (name, (plain, typed)) in [
        (
            "ticket:created (flat)",
            measure::<TicketCreated>(TICKET, n, rounds),
        ),
        (
            "order:created (nested, list)",
            measure::<OrderCreated>(ORDER, n, rounds),
        ),
    ] {
        println!(
            "{name:30} serde_json {plain:7.1} ns   typebus::from_json {typed:7.1} ns   ratio {:.3}",
            typed / plain
        );
    }
}
