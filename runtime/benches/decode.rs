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
//!
//! Then older versions (the `versions` golden fixture, whose older types
//! come from its `typebus.lock`): `Event::decode_version` of each recorded
//! version against decoding the newest version as the newest type, in the
//! same rounds. `ticket:updated` v1 is decoded as its own type and upcast
//! twice (by hand, then generated); v2 and `order:created` v1 are read as
//! the newest type directly (their steps are mechanical). The first line
//! is the newest version through `decode_version` against `from_json`:
//! what a listener pays for upcasting on events already at the newest
//! version.

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

mod versions {
    #![allow(dead_code, unreachable_pub)]
    include!("../../codegen/tests/golden/versions/expected.rs");

    impl ::typebus::Upcast<ticket_updated_v2::TicketUpdated> for TicketUpdatedV1 {
        fn upcast(self) -> ticket_updated_v2::TicketUpdated {
            ticket_updated_v2::TicketUpdated {
                id: self.id,
                labels: self
                    .labels
                    .map(|labels| labels.iter().map(|l| Label::from(l.as_str())).collect()),
                order_id: self.order_id,
                price_cents: (self.price * 100.0).round() as i64,
                seats: 1,
                title: self.title,
                version: self.version,
            }
        }
    }
}

const TICKET_V1: &[u8] = br#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":3,"title":"concert","price":20.5,"labels":["vip"],"orderId":"5ebfd6b8a7bd3a001c6a3a1d"}"#;
const TICKET_V2: &[u8] = br#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":3,"title":"concert","priceCents":2050,"seats":2,"labels":["vip"],"orderId":"5ebfd6b8a7bd3a001c6a3a1d"}"#;
const TICKET_V3: &[u8] = br#"{"id":"5ebfd6b8a7bd3a001c6a3a1b","version":3,"title":"concert","priceCents":2050,"seats":2,"currency":"USD","labels":["vip"],"orderId":"5ebfd6b8a7bd3a001c6a3a1d"}"#;
const ORDER_V1: &[u8] = br#"{"id":"5ebfd6b8a7bd3a001c6a3a1d","status":"created","ticket":{"id":"5ebfd6b8a7bd3a001c6a3a1b","price":9.99},"count":3,"user":{"id":"5ebfd6b8a7bd3a001c6a3a1e"}}"#;
const ORDER_V2: &[u8] = br#"{"id":"5ebfd6b8a7bd3a001c6a3a1d","status":"created","ticket":{"id":"5ebfd6b8a7bd3a001c6a3a1b","price":9.99},"count":3,"user":{"id":"5ebfd6b8a7bd3a001c6a3a1e"},"note":"x"}"#;

/// Best ns per decode over `rounds` of `n` decodes of each case,
/// alternating.
fn measure_cases(cases: &[(&str, &dyn Fn())], n: usize, rounds: usize) -> Vec<f64> {
    let mut best = vec![f64::MAX; cases.len()];
    for _ in 0..rounds {
        for (i, (_, case)) in cases.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..n {
                case();
            }
            best[i] = best[i].min(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    best
}

fn older_versions(n: usize, rounds: usize) {
    use typebus::Event as _;
    use versions::{OrderCreated, TicketUpdated};
    let decode = |version: u32, body: &'static [u8]| {
        move || {
            black_box(
                TicketUpdated::decode_version(version, "ticket:updated", black_box(body)).unwrap(),
            );
        }
    };
    let order = |version: u32, body: &'static [u8]| {
        move || {
            black_box(
                OrderCreated::decode_version(version, "order:created", black_box(body)).unwrap(),
            );
        }
    };
    let newest_from_json = || {
        black_box(
            typebus::from_json::<TicketUpdated>("ticket:updated", black_box(TICKET_V3)).unwrap(),
        );
    };
    let (v3, v2, v1) = (
        decode(3, TICKET_V3),
        decode(2, TICKET_V2),
        decode(1, TICKET_V1),
    );
    let (o2, o1) = (order(2, ORDER_V2), order(1, ORDER_V1));
    let cases: [(&str, &dyn Fn()); 6] = [
        ("ticket:updated v3 from_json", &newest_from_json),
        ("ticket:updated v3", &v3),
        ("ticket:updated v2 (direct)", &v2),
        ("ticket:updated v1 (2 upcasts)", &v1),
        ("order:created v2", &o2),
        ("order:created v1 (direct)", &o1),
    ];
    let best = measure_cases(&cases, n, rounds);
    println!("older versions: Event::decode_version, ratio against the newest version");
    for (i, (name, _)) in cases.iter().enumerate() {
        let baseline = match i {
            0 => best[0],
            1..=3 => best[if i == 1 { 0 } else { 1 }],
            _ => best[4],
        };
        println!(
            "{name:32} {:7.1} ns   ratio {:.3}",
            best[i],
            best[i] / baseline
        );
    }
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
    older_versions(n, rounds);
}
