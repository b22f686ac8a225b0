//! The ordering guard's cost: one in-order workload consumed by a plain
//! listener and by the same listener behind `Ordered`, with the sequences
//! in memory and in a JetStream key-value bucket, all on one nats-server
//! in one run. Prints msgs/s and the guarded/plain ratios.
//!
//! ```text
//! cargo bench -p typebus --features testing --bench ordering
//! TYPEBUS_BENCH_RECORDS=20000 TYPEBUS_BENCH_CONCURRENCY=256 cargo bench -p typebus --features testing --bench ordering
//! ```
//!
//! `TYPEBUS_BENCH_ROUNDS` (default 3) rounds run each mode once, in
//! order; it prints the best rate of each mode and the median of the
//! per-round ratios.
//!
//! Every listener runs with the same options: the defaults (concurrency
//! 64), or `TYPEBUS_BENCH_CONCURRENCY` handlers at once.
//!
//! Targets: KV >= 0.8 of plain, memory >= 0.95 of plain.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::ordering::{KvSequenceStore, MemorySequenceStore, Ordered, SequenceStore};
use typebus::testing::NatsServer;
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenOptions, Listener, StreamConfig, Versioned,
};

const VERSIONS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(subject = "ticket:updated", version = 1)]
struct TicketUpdated {
    id: String,
    version: u64,
    title: String,
    price: f64,
    #[serde(rename = "userId")]
    user_id: String,
}

impl Versioned for TicketUpdated {
    const AGGREGATE: &'static str = "ticket";
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.id)
    }
    fn sequence(&self) -> u64 {
        self.version
    }
}

/// Counts handled events and wakes the bench when all are in.
struct Count {
    group: String,
    seen: Arc<AtomicU64>,
    target: u64,
    done: Arc<Notify>,
}

impl Listener for Count {
    type Event = TicketUpdated;

    fn queue_group(&self) -> &str {
        &self.group
    }

    async fn on_message(&self, event: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
        std::hint::black_box(&event);
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.done.notify_one();
        }
        Ok(())
    }
}

enum Mode {
    Plain,
    Memory,
    Kv(Arc<KvSequenceStore>),
}

/// Consumes the whole stream with a fresh consumer; returns msgs/s.
async fn consume(bus: &Bus, group: &str, mode: &Mode, total: u64) -> f64 {
    let seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    let listener = Count {
        group: group.to_owned(),
        seen: Arc::clone(&seen),
        target: total,
        done: Arc::clone(&done),
    };
    let options = match std::env::var("TYPEBUS_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(concurrency) => {
            let batch = concurrency.max(128);
            ListenOptions::new()
                .concurrency(concurrency)
                .batch(batch)
                .max_ack_pending((concurrency + batch).max(1000))
        }
        None => ListenOptions::new(),
    };
    let start = Instant::now();
    let handle = match mode {
        Mode::Plain => bus.listen_with(listener, options).await,
        Mode::Memory => {
            let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
            bus.listen_with(Ordered::new(listener, store), options)
                .await
        }
        Mode::Kv(store) => {
            let store: Arc<dyn SequenceStore> = Arc::clone(store) as Arc<dyn SequenceStore>;
            bus.listen_with(Ordered::new(listener, store), options)
                .await
        }
    }
    .expect("listen");
    if tokio::time::timeout(Duration::from_secs(600), done.notified())
        .await
        .is_err()
    {
        panic!(
            "{group}: only {} of {total} handled",
            seen.load(Ordering::SeqCst)
        );
    }
    let elapsed = start.elapsed();
    handle.shutdown().await.expect("shutdown");
    total as f64 / elapsed.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let records: u64 = std::env::var("TYPEBUS_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let total = records * VERSIONS;
    let server = NatsServer::start().expect("nats-server");
    let transport = NatsTransport::connect(ConnectOptions::new(server.url()))
        .await
        .expect("connect");
    let js = transport.jetstream().clone();
    let bus = Bus::new(transport);
    bus.provision(&StreamConfig::new([TicketUpdated::SUBJECT]))
        .await
        .expect("provision");

    // In order per record, records interleaved: version v of every record,
    // then version v + 1.
    let publisher = bus.publisher::<TicketUpdated>();
    let mut pending = Vec::new();
    for version in 0..VERSIONS {
        for record in 0..records {
            let event = TicketUpdated {
                id: format!("{:024x}", 0x5f1a_u64 << 32 | record),
                version,
                title: format!("concert #{record}"),
                price: 20.0 + version as f64,
                user_id: "5e9f8f8f8f8f8f8f8f8f8f8f".into(),
            };
            pending.push(publisher.send(&event).await.expect("send"));
            if pending.len() >= 4096 {
                for ack in pending.drain(..) {
                    ack.await.expect("stored");
                }
            }
        }
    }
    for ack in pending {
        ack.await.expect("stored");
    }
    println!(
        "ordering bench: {records} records x {VERSIONS} versions = {total} events, in order, one nats-server"
    );

    let rounds: usize = std::env::var("TYPEBUS_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let mut best = [0.0f64; 3];
    let mut ratios: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let kv = Arc::new(
            KvSequenceStore::open(&js, &format!("bench-sequences-{round}"))
                .await
                .expect("bucket"),
        );
        let modes = [Mode::Plain, Mode::Memory, Mode::Kv(kv)];
        let mut rates = [0.0f64; 3];
        for (i, (mode, name)) in modes
            .iter()
            .zip(["plain", "guarded-memory", "guarded-kv"])
            .enumerate()
        {
            let rate = consume(&bus, &format!("bench-{name}-{round}"), mode, total).await;
            println!("  round {round}  {name:<15} {rate:>10.0} msgs/s");
            best[i] = best[i].max(rate);
            rates[i] = rate;
        }
        // Plain and guarded of one round ran back to back: their ratio is
        // less exposed to what else the machine did than the best rates.
        ratios[0].push(rates[1] / rates[0]);
        ratios[1].push(rates[2] / rates[0]);
    }
    for (ratios, name) in ratios.iter_mut().zip(["memory", "KV"]) {
        ratios.sort_by(f64::total_cmp);
        println!(
            "median of the per-round ratios, {name} store: {:.3}",
            ratios[ratios.len() / 2]
        );
    }
    let [plain, memory, kv] = best;
    println!("best of {rounds}:");
    println!("  plain listener            {plain:>10.0} msgs/s");
    println!(
        "  guarded, memory store     {memory:>10.0} msgs/s   ratio {:.3} (target >= 0.95)",
        memory / plain
    );
    println!(
        "  guarded, KV store         {kv:>10.0} msgs/s   ratio {:.3} (target >= 0.80)",
        kv / plain
    );
}
