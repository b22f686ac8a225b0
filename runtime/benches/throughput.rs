//! Throughput of typebus against raw async-nats on the same nats-server, in
//! one process and one run: (a) pipelined JetStream publish of N
//! `ticket:created` events, (b) consume + ack of N events.
//!
//! ```text
//! cargo bench -p typebus --bench throughput
//! TYPEBUS_BENCH_N=20000 TYPEBUS_BENCH_ROUNDS=1 cargo bench -p typebus --bench throughput
//! ```
//!
//! Raw publishing sends the same messages as typebus: the same JSON body and
//! the same headers (`Nats-Msg-Id`, `Typebus-Version`, `Typebus-Event`), so
//! the ratio measures the library, not the wire format. With
//! `TYPEBUS_BENCH_RAW_HEADERS=msgid` the raw side sends only `Nats-Msg-Id`
//! (what a minimal hand-written publisher sends), which also shows what the
//! two extra headers cost. Raw consuming decodes the JSON and acks each
//! message from a pull consumer's message stream, in one task. Each round
//! uses fresh streams; the best round of each side is reported, with the
//! client process's CPU time per message (the server is another process).
//!
//! For profiling one side alone (e.g. under `perf record`),
//! `TYPEBUS_BENCH_PUBLISH_ONLY=typebus` (or `raw`) runs only that side's
//! publish, and `TYPEBUS_BENCH_CONSUME_ONLY=typebus` (or `raw`) publishes
//! and then measures only that side's consume.

#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::testing::NatsServer;
use typebus::{Bus, Delivery, Event, HandlerError, ListenOptions, Listener, StreamConfig};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(subject = "ticket:created", version = 1)]
struct TicketCreated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    #[serde(rename = "userId")]
    user_id: String,
}

fn ticket(n: u64) -> TicketCreated {
    TicketCreated {
        id: format!("5f{n:022x}"),
        version: 0,
        title: "concert".to_owned(),
        price: 20.5,
        user_id: "5f000000000000000000abcd".to_owned(),
    }
}

const RAW_SUBJECT: &str = "raw.ticket-created";
/// Acks in flight while publishing, for both sides.
const WINDOW: usize = 1024;
/// Messages per pull request, for both sides.
const BATCH: usize = 256;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// CPU time (user + system) this process has used so far, from
/// `/proc/self/stat` (clock ticks of 10 ms); the server is another process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// What one run of a phase cost: wall time and client CPU time.
type Run = (Duration, Duration);

/// Runs `phase`, returning its wall time and the client's CPU time.
async fn measure(phase: impl std::future::Future<Output = Duration>) -> Run {
    let cpu = cpu_time();
    let wall = phase.await;
    (wall, cpu_time().saturating_sub(cpu))
}

async fn raw_publish(js: &jetstream::Context, n: u64) -> Duration {
    let same_headers = std::env::var("TYPEBUS_BENCH_RAW_HEADERS").as_deref() != Ok("msgid");
    let started = Instant::now();
    let mut pending = VecDeque::with_capacity(WINDOW);
    for i in 0..n {
        let body = serde_json::to_vec(&ticket(i)).unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", nuid::next().as_str());
        if same_headers {
            headers.insert("Typebus-Version", "1");
            headers.insert("Typebus-Event", "TicketCreated");
        }
        let ack = js
            .publish_with_headers(RAW_SUBJECT, headers, body.into())
            .await
            .unwrap();
        pending.push_back(ack);
        if pending.len() >= WINDOW {
            pending.pop_front().unwrap().await.unwrap();
        }
    }
    for ack in pending {
        ack.await.unwrap();
    }
    started.elapsed()
}

async fn typebus_publish(bus: &Bus, n: u64) -> Duration {
    let publisher = bus.publisher::<TicketCreated>();
    let started = Instant::now();
    let mut pending = VecDeque::with_capacity(WINDOW);
    for i in 0..n {
        pending.push_back(publisher.send(&ticket(i)).await.unwrap());
        if pending.len() >= WINDOW {
            pending.pop_front().unwrap().await.unwrap();
        }
    }
    for ack in pending {
        ack.await.unwrap();
    }
    started.elapsed()
}

async fn raw_consume(js: &jetstream::Context, stream_name: &str, n: u64) -> Duration {
    let started = Instant::now();
    let consumer: jetstream::consumer::PullConsumer = js
        .create_consumer_on_stream(
            pull::Config {
                durable_name: Some("raw-bench".to_owned()),
                filter_subject: RAW_SUBJECT.to_owned(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                max_ack_pending: 1000,
                ..Default::default()
            },
            stream_name,
        )
        .await
        .unwrap();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .messages()
        .await
        .unwrap();
    let mut seen = 0;
    while seen < n {
        let message = messages.next().await.unwrap().unwrap();
        let event: TicketCreated = serde_json::from_slice(&message.payload).unwrap();
        std::hint::black_box(event);
        message.ack().await.unwrap();
        seen += 1;
    }
    started.elapsed()
}

struct Counter {
    seen: Arc<AtomicU64>,
    target: u64,
    done: Arc<Notify>,
}

impl Listener for Counter {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new("bench")
            .concurrency(64)
            .prefetch(BATCH)
            .max_ack_pending(1000)
    }

    async fn on_message(&self, event: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        std::hint::black_box(event);
        if self.seen.fetch_add(1, Ordering::Relaxed) + 1 == self.target {
            self.done.notify_one();
        }
        Ok(())
    }
}

async fn typebus_consume(bus: &Bus, n: u64) -> Duration {
    let seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    let counter = Counter {
        seen: Arc::clone(&seen),
        target: n,
        done: Arc::clone(&done),
    };
    let started = Instant::now();
    let handle = bus.listen(counter).await.unwrap();
    done.notified().await;
    let elapsed = started.elapsed();
    handle.shutdown().await.unwrap();
    elapsed
}

async fn fresh_streams(js: &jetstream::Context, bus: &Bus) {
    for name in ["RAW", "EVENTS"] {
        let _ = js.delete_stream(name).await;
    }
    js.create_stream(stream::Config {
        name: "RAW".to_owned(),
        subjects: vec![RAW_SUBJECT.to_owned()],
        ..Default::default()
    })
    .await
    .unwrap();
    bus.provision(&StreamConfig::new([TicketCreated::SUBJECT]))
        .await
        .unwrap();
}

/// The best run (by wall time) of each side.
struct Best {
    raw: Run,
    typebus: Run,
}

impl Best {
    fn new() -> Self {
        Self {
            raw: (Duration::MAX, Duration::ZERO),
            typebus: (Duration::MAX, Duration::ZERO),
        }
    }

    fn raw(&mut self, run: Run) {
        if run.0 < self.raw.0 {
            self.raw = run;
        }
    }

    fn typebus(&mut self, run: Run) {
        if run.0 < self.typebus.0 {
            self.typebus = run;
        }
    }

    fn print(&self, what: &str, n: u64) {
        let raw = rate(n, self.raw.0);
        let typebus = rate(n, self.typebus.0);
        let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / n as f64;
        println!(
            "{what:<24} raw {raw:>9.0} msgs/s   typebus {typebus:>9.0} msgs/s   ratio {:.3}",
            typebus / raw,
        );
        println!(
            "{:<24} client cpu/msg: raw {:.2} us, typebus {:.2} us",
            "",
            per(self.raw.1),
            per(self.typebus.1),
        );
    }
}

fn main() {
    let n = env("TYPEBUS_BENCH_N", 200_000);
    let rounds = env("TYPEBUS_BENCH_ROUNDS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = NatsServer::start().unwrap();
        let client = async_nats::connect(server.url()).await.unwrap();
        let js = jetstream::new(client);
        let bus = Bus::new(
            NatsTransport::connect(ConnectOptions::new(server.url()))
                .await
                .unwrap(),
        );
        let mut publish = Best::new();
        let mut consume = Best::new();
        for round in 1..=rounds {
            fresh_streams(&js, &bus).await;
            // For profiling one publishing side alone.
            match std::env::var("TYPEBUS_BENCH_PUBLISH_ONLY").as_deref() {
                Ok("typebus") => {
                    let run = measure(typebus_publish(&bus, n)).await;
                    eprintln!("typebus publish: {:.0} msgs/s, cpu {:?}", rate(n, run.0), run.1);
                    continue;
                }
                Ok("raw") => {
                    let run = measure(raw_publish(&js, n)).await;
                    eprintln!("raw publish: {:.0} msgs/s, cpu {:?}", rate(n, run.0), run.1);
                    continue;
                }
                _ => {}
            }
            // For profiling one consuming side alone.
            match std::env::var("TYPEBUS_BENCH_CONSUME_ONLY").as_deref() {
                Ok("typebus") => {
                    typebus_publish(&bus, n).await;
                    eprintln!("published");
                    let run = measure(typebus_consume(&bus, n)).await;
                    eprintln!(
                        "typebus consume: {:.0} msgs/s, cpu {:?}",
                        rate(n, run.0),
                        run.1
                    );
                    continue;
                }
                Ok("raw") => {
                    raw_publish(&js, n).await;
                    eprintln!("published");
                    let run = measure(raw_consume(&js, "RAW", n)).await;
                    eprintln!("raw consume: {:.0} msgs/s, cpu {:?}", rate(n, run.0), run.1);
                    continue;
                }
                _ => {}
            }
            // Alternate which side goes first, so neither always gets the
            // warmer (or the busier) half of the round.
            if round % 2 == 1 {
                publish.raw(measure(raw_publish(&js, n)).await);
                publish.typebus(measure(typebus_publish(&bus, n)).await);
                consume.raw(measure(raw_consume(&js, "RAW", n)).await);
                consume.typebus(measure(typebus_consume(&bus, n)).await);
            } else {
                publish.typebus(measure(typebus_publish(&bus, n)).await);
                publish.raw(measure(raw_publish(&js, n)).await);
                consume.typebus(measure(typebus_consume(&bus, n)).await);
                consume.raw(measure(raw_consume(&js, "RAW", n)).await);
            }
            eprintln!("round {round}/{rounds} done");
        }
        let baseline = match std::env::var("TYPEBUS_BENCH_RAW_HEADERS").as_deref() {
            Ok("msgid") => "raw sends Nats-Msg-Id only",
            _ => "raw sends the same headers",
        };
        println!(
            "throughput, N = {n}, best of {rounds} round(s), window {WINDOW}, batch {BATCH}, {baseline}"
        );
        publish.print("(a) pipelined publish", n);
        consume.print("(b) consume + ack", n);
    });
}
