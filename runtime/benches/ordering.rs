//! The ordering guard's cost: one in-order workload consumed by a plain
//! listener and by the same listener behind `Sequenced`, with the sequences
//! in memory and in a JetStream key-value bucket, all on one nats-server in
//! one run. Prints msgs/s and the guarded/plain ratios.
//!
//! A further mode, `guarded-handoff`, runs the guard over the memory store
//! answering each write on another task at once: no broker, no encoding,
//! only the task hand-offs a shared store's awaited writes (a batch's
//! claims, its records) add. Its ratio is the most any shared store can
//! reach with this guard.
//!
//! ```text
//! cargo bench -p typebus --features testing --bench ordering
//! TYPEBUS_BENCH_RECORDS=20000 TYPEBUS_BENCH_CONCURRENCY=256 cargo bench -p typebus --features testing --bench ordering
//! ```
//!
//! `TYPEBUS_BENCH_ROUNDS` (default 3) rounds run each mode once (odd
//! rounds in reverse order); it prints the best rate of each mode and the
//! median of the per-round ratios. `TYPEBUS_BENCH_CPU=1` adds the CPU time
//! the bench process and nats-server spent per 1,000 events in each mode
//! (Linux), and every round prints the KV store's reads and writes per
//! event. `TYPEBUS_BENCH_ONLY=plain,kv` runs only the modes named (by the
//! end of their names).
//!
//! Before the broker runs, it measures the guard's own cost on one thread:
//! the workload's events handed straight to a plain handler and to the
//! same handler behind `Sequenced` with the memory store.
//!
//! Every listener runs with the same options: the defaults (concurrency
//! 64), or `TYPEBUS_BENCH_CONCURRENCY` handlers at once.
//!
//! Target: memory >= 0.95 of plain (the KV store's writes are JetStream
//! publishes; its ratio is reported, with what one write costs).
//!
//! With feature `postgres`, the `pg-*` modes measure the guard where its
//! writes meet a handler's own: a handler that upserts one row per event
//! in a transaction of its own, `pg-plain` alone, and behind `Sequenced`
//! over a `PgSequenceStore` (on `DATABASE_URL`, see below; a fresh schema
//! per run), recording its step with `record_in` in that transaction:
//! `pg-guarded` with `PgClaims::InTransaction` (no stored claim),
//! `pg-guarded-stored` with `PgClaims::Stored` (a claim written before the
//! handler). `pg-plain-recording` is the plain listener whose handler
//! calls `record_in` too (no guard): what the extra statement in the
//! handler's transaction costs alone. They run after the modes above, in
//! rounds of their own, and print the guarded modes' store operations per
//! event outside the handler. Target >= 0.9 of `pg-plain`.
//!
//! ```text
//! TYPEBUS_BENCH_ONLY=pg-plain,pg-guarded,pg-guarded-stored,pg-plain-recording cargo bench -p typebus --features postgres,testing --bench ordering
//! ```
//!
//! After the rounds, the `redelivery-*` modes measure a mass redelivery of
//! events already applied (what a consumer whose acks were rolled back, e.g.
//! by a crash that empties its state file, delivers): for each store a
//! guarded listener consumes the stream, its durable consumer is deleted
//! and created again (deliver all), and the time until the new consumer's
//! ack floor reaches the end of the stream is printed, with the handler
//! calls of that second pass (0: every event acknowledged as a duplicate).
//! `redelivery-plain` is a plain listener's first pass over the same
//! stream, for scale. With feature `postgres`, `redelivery-pg` uses
//! `PgSequenceStore` on `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, in a schema of its own).
//!
//! ```text
//! TYPEBUS_BENCH_RECORDS=2000 TYPEBUS_BENCH_ONLY=redelivery-plain,redelivery-memory,redelivery-kv,redelivery-pg \
//!   cargo bench -p typebus --features postgres,testing --bench ordering
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use typebus::nats::{ConnectOptions, KvSequenceStore, NatsTransport};
use typebus::ordering::{
    Entry, MemorySequenceStore, RecordKey, SequenceStore, Sequenced, State, StoreError, Swapped,
};
use typebus::testing::NatsServer;
use typebus::transport::BoxFuture;
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenOptions, Listener, StreamConfig, Versioned,
    consumer_name,
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

    fn options(&self) -> ListenOptions {
        ListenOptions::new(&self.group)
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
    Kv(Arc<Counting<KvSequenceStore>>),
    Handoff,
}

/// The memory store answering each write on another task, as a shared
/// store's client does (its answer arrives on the connection's task), but
/// at once and without a broker: what the guard's two awaited writes per
/// event cost in task hand-offs alone, the ceiling of any shared store.
struct Handoff(Arc<MemorySequenceStore>);

impl SequenceStore for Handoff {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        self.0.load(key)
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        let store = Arc::clone(&self.0);
        let (key, state) = (key.clone(), state.clone());
        Box::pin(async move {
            tokio::spawn(async move { store.swap(&key, expected, &state).await })
                .await
                .expect("swap task")
        })
    }

    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        self.0.cached(key)
    }
}

/// A store that counts the reads and writes that reach it.
struct Counting<S> {
    inner: S,
    loads: AtomicU64,
    swaps: AtomicU64,
}

impl<S: SequenceStore> SequenceStore for Counting<S> {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.inner.load(key)
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        self.swaps.fetch_add(1, Ordering::Relaxed);
        self.inner.swap(key, expected, state)
    }

    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        self.inner.cached(key)
    }
}

/// CPU time used so far, in clock ticks (Linux; zero elsewhere): this
/// process's and the nats-server child's.
fn cpu_ticks() -> (u64, u64) {
    fn ticks(stat: &str) -> u64 {
        // Fields after the command's closing parenthesis: utime is the
        // 12th, stime the 13th.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return 0;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        field(11) + field(12)
    }
    let own = std::fs::read_to_string("/proc/self/stat").map_or(0, |s| ticks(&s));
    let mut server = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for pid in children.split_whitespace() {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "nats-server" {
                    server += std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .map_or(0, |s| ticks(&s));
                }
            }
        }
    }
    (own, server)
}

/// One mode's run.
struct Run {
    /// Events per second.
    rate: f64,
    /// CPU ms per 1,000 events: the bench process's and nats-server's.
    cpu: (f64, f64),
}

/// The options every listener of the bench runs with: its own, or
/// `TYPEBUS_BENCH_CONCURRENCY` handlers at once.
fn listen_options(options: ListenOptions) -> ListenOptions {
    match std::env::var("TYPEBUS_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(concurrency) => {
            let prefetch = concurrency.max(128);
            options
                .concurrency(concurrency)
                .prefetch(prefetch)
                .max_ack_pending((concurrency + prefetch).max(1000))
        }
        None => options,
    }
}

/// Starts `listener` with the bench's options: alone, or behind
/// `Sequenced` over `store`.
async fn listen<L>(
    bus: &Bus,
    listener: L,
    store: Option<Arc<dyn SequenceStore>>,
) -> typebus::ListenerHandle
where
    L: Listener<Event = TicketUpdated>,
{
    match store {
        None => bus.listen_with(listener, listen_options).await,
        Some(store) => {
            bus.listen_with(Sequenced::new(listener, store), listen_options)
                .await
        }
    }
    .expect("listen")
}

/// The modes of the rounds, in the order of `Mode`'s use in `main`.
const MODES: [&str; 4] = ["plain", "guarded-memory", "guarded-kv", "guarded-handoff"];

/// Whether `TYPEBUS_BENCH_ONLY` (a comma-separated list of name endings)
/// selects the mode `name`; every mode when it is not set.
fn selected(name: &str) -> bool {
    match std::env::var("TYPEBUS_BENCH_ONLY") {
        Ok(only) => only.split(',').any(|m| name.ends_with(m.trim())),
        Err(_) => true,
    }
}

/// Consumes the whole stream with a fresh consumer.
async fn consume(bus: &Bus, group: &str, mode: &Mode, total: u64) -> Run {
    let seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    let listener = Count {
        group: group.to_owned(),
        seen: Arc::clone(&seen),
        target: total,
        done: Arc::clone(&done),
    };
    let cpu_before = cpu_ticks();
    let start = Instant::now();
    let store: Option<Arc<dyn SequenceStore>> = match mode {
        Mode::Plain => None,
        Mode::Memory => Some(Arc::new(MemorySequenceStore::new())),
        Mode::Kv(store) => Some(Arc::clone(store) as Arc<dyn SequenceStore>),
        Mode::Handoff => Some(Arc::new(Handoff(Arc::new(MemorySequenceStore::new())))),
    };
    let handle = listen(bus, listener, store).await;
    finish(group, &seen, &done, total, start, cpu_before, vec![handle]).await
}

/// Waits until every event was handled, stops the listeners, and measures.
async fn finish(
    group: &str,
    seen: &AtomicU64,
    done: &Notify,
    total: u64,
    start: Instant,
    cpu_before: (u64, u64),
    handles: Vec<typebus::ListenerHandle>,
) -> Run {
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
    let cpu_after = cpu_ticks();
    for handle in handles {
        handle.shutdown().await.expect("shutdown");
    }
    // Clock ticks are 10 ms (USER_HZ 100).
    let per_k = |ticks: u64| ticks as f64 * 10.0 * 1000.0 / total as f64;
    Run {
        rate: total as f64 / elapsed.as_secs_f64(),
        cpu: (
            per_k(cpu_after.0.saturating_sub(cpu_before.0)),
            per_k(cpu_after.1.saturating_sub(cpu_before.1)),
        ),
    }
}

/// The guard's own CPU cost, without a broker: the in-order workload's
/// events handed straight to `on_message`, plain and behind `Sequenced` with
/// the memory store. Returns ns per event for each.
async fn guard_cost(records: u64) -> (f64, f64) {
    let info = typebus::DeliveryInfo {
        stream: "EVENTS".into(),
        consumer: "bench".into(),
        stream_sequence: 1,
        consumer_sequence: 1,
        delivered: 1,
        pending: 0,
        published: typebus::Timestamp::now(),
    };
    let delivery = Delivery::new(TicketUpdated::SUBJECT, typebus::Headers::new(), info);
    let events: Vec<TicketUpdated> = (0..VERSIONS)
        .flat_map(|version| {
            (0..records).map(move |record| TicketUpdated {
                id: format!("{:024x}", 0x5f1a_u64 << 32 | record),
                version,
                title: String::new(),
                price: 0.0,
                user_id: String::new(),
            })
        })
        .collect();
    let count = || Count {
        group: "bench".into(),
        seen: Arc::new(AtomicU64::new(0)),
        target: u64::MAX,
        done: Arc::new(Notify::new()),
    };
    async fn run<L: Listener<Event = TicketUpdated>>(
        listener: &L,
        events: &[TicketUpdated],
        delivery: &Delivery,
    ) -> f64 {
        let start = Instant::now();
        for event in events {
            listener
                .on_message(event.clone(), delivery)
                .await
                .expect("handled");
        }
        start.elapsed().as_nanos() as f64 / events.len() as f64
    }
    let mut plain = f64::MAX;
    let mut guarded = f64::MAX;
    for _ in 0..3 {
        plain = plain.min(run(&count(), &events, &delivery).await);
        let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
        guarded = guarded.min(run(&Sequenced::new(count(), store), &events, &delivery).await);
    }
    (plain, guarded)
}

#[tokio::main]
async fn main() {
    let records: u64 = std::env::var("TYPEBUS_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let total = records * VERSIONS;
    let (plain_ns, guarded_ns) = guard_cost(records).await;
    println!(
        "guard cost without a broker (memory store): plain handler {plain_ns:.0} ns/event, guarded {guarded_ns:.0} ns/event (+{:.0} ns)",
        guarded_ns - plain_ns
    );
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
    if !MODES.iter().any(|name| selected(name)) {
        // Only `pg-*` or `redelivery-*` modes were asked for.
        #[cfg(feature = "postgres")]
        postgres::rounds(&bus, total, rounds).await;
        redelivery(&bus, &js, total).await;
        return;
    }
    let show_cpu = std::env::var_os("TYPEBUS_BENCH_CPU").is_some();
    let mut best = [0.0f64; 4];
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        let kv = Arc::new(Counting {
            inner: KvSequenceStore::open(&js, &format!("bench-sequences-{round}"))
                .await
                .expect("bucket"),
            loads: AtomicU64::new(0),
            swaps: AtomicU64::new(0),
        });
        let modes = [Mode::Plain, Mode::Memory, Mode::Kv(kv), Mode::Handoff];
        let mut rates = [0.0f64; 4];
        let mut cpu = [(0.0f64, 0.0f64); 4];
        // Odd rounds run the modes in reverse: a drift in what else the
        // machine does then favours no mode.
        let mut order = [0, 1, 2, 3];
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (mode, name) = (&modes[i], MODES[i]);
            if !selected(name) {
                continue;
            }
            let run = consume(&bus, &format!("bench-{name}-{round}"), mode, total).await;
            let rate = run.rate;
            println!("  round {round}  {name:<15} {rate:>10.0} msgs/s");
            if show_cpu {
                println!(
                    "    cpu per 1k events: bench {:.1} ms, nats-server {:.1} ms; wall {:.1} ms",
                    run.cpu.0,
                    run.cpu.1,
                    1e6 / rate,
                );
            }
            cpu[i] = run.cpu;
            if let Mode::Kv(store) = mode {
                println!(
                    "    KV ops per event: {:.2} reads, {:.2} writes",
                    store.loads.load(Ordering::Relaxed) as f64 / total as f64,
                    store.swaps.load(Ordering::Relaxed) as f64 / total as f64,
                );
            }
            best[i] = best[i].max(rate);
            rates[i] = rate;
        }
        // Plain and guarded of one round ran close together: their ratio is
        // less exposed to what else the machine did than the best rates.
        ratios[0].push(rates[1] / rates[0]);
        ratios[1].push(rates[2] / rates[0]);
        ratios[2].push(rates[3] / rates[0]);
        if show_cpu && let Mode::Kv(store) = &modes[2] {
            // What one KV write costs in CPU, and the ratio that cost
            // allows if the run is CPU-bound.
            let writes = store.swaps.load(Ordering::Relaxed) as f64 / total as f64;
            let plain = cpu[0].0 + cpu[0].1;
            let guarded = cpu[2].0 + cpu[2].1;
            let write = (guarded - plain) / writes;
            println!(
                "    per KV write: {:.1} us CPU (bench {:.1}, nats-server {:.1}); CPU-bound KV ratio plain/(plain + {writes:.2} writes) = {:.3}, at 1 write per event {:.3}",
                write,
                (cpu[2].0 - cpu[0].0) / writes,
                (cpu[2].1 - cpu[0].1) / writes,
                plain / guarded,
                plain / (plain + write),
            );
        }
    }
    for (ratios, name) in ratios
        .iter_mut()
        .zip(["memory", "KV", "hand-off (no store)"])
    {
        ratios.sort_by(f64::total_cmp);
        println!(
            "median of the per-round ratios, {name} store: {:.3}",
            ratios[ratios.len() / 2]
        );
    }
    let [plain, memory, kv, handoff] = best;
    println!("best of {rounds}:");
    println!("  plain listener            {plain:>10.0} msgs/s");
    println!(
        "  guarded, memory store     {memory:>10.0} msgs/s   ratio {:.3} (target >= 0.95)",
        memory / plain
    );
    println!(
        "  guarded, KV store         {kv:>10.0} msgs/s   ratio {:.3}",
        kv / plain
    );
    println!(
        "  guarded, hand-off only    {handoff:>10.0} msgs/s   ratio {:.3} (the ceiling of a shared store)",
        handoff / plain
    );
    #[cfg(feature = "postgres")]
    postgres::rounds(&bus, total, rounds).await;
    redelivery(&bus, &js, total).await;
}

/// One pass of a listener over the whole stream under `group` (a fresh
/// consumer, or one created again): the time from `listen` until the
/// consumer's ack floor is the stream's last sequence, and the handler
/// calls meanwhile.
async fn pass(
    bus: &Bus,
    stream: &async_nats::jetstream::stream::Stream,
    group: &str,
    store: Option<Arc<dyn SequenceStore>>,
    last: u64,
) -> (Duration, u64) {
    let seen = Arc::new(AtomicU64::new(0));
    let listener = Count {
        group: group.to_owned(),
        seen: Arc::clone(&seen),
        target: u64::MAX,
        done: Arc::new(Notify::new()),
    };
    let consumer = consumer_name(group, TicketUpdated::SUBJECT);
    let start = Instant::now();
    let handle = listen(bus, listener, store).await;
    loop {
        if let Ok(info) = stream.consumer_info(&consumer).await
            && info.ack_floor.stream_sequence >= last
            && info.num_ack_pending == 0
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{group}: not through the stream after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    handle.shutdown().await.expect("shutdown");
    (took, seen.load(Ordering::SeqCst))
}

/// The `redelivery-*` modes: a guarded listener per store applies the
/// stream, its consumer is deleted and created again, and the second pass
/// (every event a duplicate) is timed.
async fn redelivery(bus: &Bus, js: &async_nats::jetstream::Context, total: u64) {
    let stream = js.get_stream("EVENTS").await.expect("stream");
    let last = stream.cached_info().state.last_sequence;
    let rate = |took: Duration| total as f64 / took.as_secs_f64();
    if selected("redelivery-plain") {
        let (took, calls) = pass(bus, &stream, "bench-redelivery-plain", None, last).await;
        println!(
            "redelivery-plain: a plain listener's pass over {total} events: {:.0} ms, {:.0} events/s ({calls} handler calls)",
            took.as_secs_f64() * 1e3,
            rate(took)
        );
    }
    // The KV store opened anew: what a restarted listener has (nothing
    // cached).
    let open = async || -> Arc<dyn SequenceStore> {
        let store = KvSequenceStore::open(js, "bench-redelivery-sequences")
            .await
            .expect("bucket");
        Arc::new(store) as Arc<dyn SequenceStore>
    };
    let mut stores: Vec<(&str, Arc<dyn SequenceStore>)> =
        vec![("memory", Arc::new(MemorySequenceStore::new()))];
    if selected("redelivery-kv") {
        stores.push(("kv", open().await));
    }
    #[cfg(feature = "postgres")]
    let database = if selected("redelivery-pg") {
        let database = postgres::Database::new(&postgres::pool().await).await;
        stores.push(("pg", Arc::new(database.store())));
        Some(database)
    } else {
        None
    };
    for (name, store) in stores {
        let mode = format!("redelivery-{name}");
        if !selected(&mode) {
            continue;
        }
        let group = format!("bench-{mode}");
        let (first, applied) = pass(bus, &stream, &group, Some(Arc::clone(&store)), last).await;
        // The acks rolled back: the consumer starts over (deliver all).
        stream
            .delete_consumer(&consumer_name(&group, TicketUpdated::SUBJECT))
            .await
            .expect("delete the consumer");
        let (again, calls) = pass(bus, &stream, &group, Some(store), last).await;
        println!(
            "{mode}: applying {total} events took {:.0} ms ({:.0} events/s, {applied} handler calls); \
             their redelivery {:.0} ms ({:.0} events/s, {calls} handler calls)",
            first.as_secs_f64() * 1e3,
            rate(first),
            again.as_secs_f64() * 1e3,
            rate(again),
        );
        if name == "kv" {
            stream
                .delete_consumer(&consumer_name(&group, TicketUpdated::SUBJECT))
                .await
                .expect("delete the consumer");
            let started = Instant::now();
            let reopened = open().await;
            let opening = started.elapsed();
            let (cold, calls) = pass(bus, &stream, &group, Some(reopened), last).await;
            let cold = opening + cold;
            println!(
                "{mode}: again with the store opened anew: {:.0} ms, opening included ({:.0} events/s, {calls} handler calls)",
                cold.as_secs_f64() * 1e3,
                rate(cold),
            );
        }
    }
    #[cfg(feature = "postgres")]
    if let Some(database) = database {
        database.drop_schema().await;
    }
}

/// The `pg-*` modes, and the PostgreSQL store of `redelivery-pg`: each
/// run in a schema of its own.
#[cfg(feature = "postgres")]
mod postgres {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    use sqlx::PgPool;
    use sqlx::postgres::PgPoolOptions;
    use tokio::sync::Notify;
    use typebus::ordering::{
        Answers, ClaimRequest, Entry, Finish, Finished, RecordKey, SequenceStore, State, Step,
        StoreError, StoreFuture, Swapped, Verdict,
    };
    use typebus::postgres::{PgClaims, PgSequenceStore, Schema};
    use typebus::transport::BoxFuture;
    use typebus::{Bus, Delivery, HandlerError, ListenOptions, Listener};

    use super::{Count, Counting, Run, TicketUpdated, cpu_ticks, finish, selected};

    /// The modes, in the order of their index in `rounds`.
    const MODES: [&str; 4] = [
        "pg-plain",
        "pg-guarded",
        "pg-guarded-stored",
        "pg-plain-recording",
    ];

    /// A store that counts the guard's batch calls (`claim_all`: one read
    /// in `PgClaims::InTransaction` mode) and forwards them.
    struct Batches {
        inner: Arc<PgSequenceStore>,
        claims: AtomicU64,
    }

    impl SequenceStore for Batches {
        fn load<'a>(
            &'a self,
            key: &'a RecordKey,
        ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
            self.inner.load(key)
        }

        fn swap<'a>(
            &'a self,
            key: &'a RecordKey,
            expected: Option<u64>,
            state: &'a State,
        ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
            self.inner.swap(key, expected, state)
        }

        fn claim_all<'a>(
            &'a self,
            requests: &'a [ClaimRequest<'a>],
        ) -> StoreFuture<'a, Answers<Result<Verdict, StoreError>>> {
            self.claims.fetch_add(1, Ordering::Relaxed);
            self.inner.claim_all(requests)
        }

        fn finish_all<'a>(
            &'a self,
            finishes: &'a [Finish<'a>],
        ) -> StoreFuture<'a, Answers<Result<Finished, StoreError>>> {
            self.inner.finish_all(finishes)
        }
    }

    /// The store of a guarded mode: what the guard sees, counted, and the
    /// store the handler records its step in.
    enum Guarded {
        InTransaction(Arc<Batches>),
        Stored(Arc<Counting<PgSequenceStore>>),
    }

    impl Guarded {
        fn new(database: &Database, claims: PgClaims) -> Self {
            let store = database.store().claims(claims);
            match claims {
                PgClaims::InTransaction => Self::InTransaction(Arc::new(Batches {
                    inner: Arc::new(store),
                    claims: AtomicU64::new(0),
                })),
                PgClaims::Stored => Self::Stored(Arc::new(Counting {
                    inner: store,
                    loads: AtomicU64::new(0),
                    swaps: AtomicU64::new(0),
                })),
            }
        }

        fn guard(&self) -> Arc<dyn SequenceStore> {
            match self {
                Self::InTransaction(batches) => Arc::clone(batches) as Arc<dyn SequenceStore>,
                Self::Stored(counting) => Arc::clone(counting) as Arc<dyn SequenceStore>,
            }
        }

        fn handler(&self) -> PgSequenceStore {
            match self {
                Self::InTransaction(batches) => (*batches.inner).clone(),
                Self::Stored(counting) => counting.inner.clone(),
            }
        }

        /// The store's operations outside the handler, per event.
        fn report(&self, total: u64) -> String {
            let per_event = |count: &AtomicU64| count.load(Ordering::Relaxed) as f64 / total as f64;
            match self {
                Self::InTransaction(batches) => format!(
                    "{:.2} batch reads (claim_all), writes only for steps not recorded in the handler",
                    per_event(&batches.claims)
                ),
                Self::Stored(counting) => format!(
                    "{:.2} reads, {:.2} writes",
                    per_event(&counting.loads),
                    per_event(&counting.swaps)
                ),
            }
        }
    }

    /// The pool every run shares, on `DATABASE_URL`.
    pub(crate) async fn pool() -> PgPool {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        PgPoolOptions::new()
            .max_connections(16)
            .connect(&url)
            .await
            .expect("PostgreSQL at DATABASE_URL (or 127.0.0.1:5432/test)")
    }

    pub(crate) struct Database {
        pool: PgPool,
        schema: Schema,
    }

    impl Database {
        /// A schema of its own: the store's tables and a `tickets` table
        /// for the `pg-*` handler.
        pub(crate) async fn new(pool: &PgPool) -> Self {
            let name = format!("bench_{}", nuid::next().to_string().to_lowercase());
            let schema = Schema::new(name).expect("schema name");
            schema.install(pool).await.expect("install");
            sqlx::query(&format!(
                "CREATE TABLE \"{}\".tickets (id text PRIMARY KEY, version bigint NOT NULL, \
                   title text NOT NULL, price double precision NOT NULL, user_id text NOT NULL)",
                schema.name()
            ))
            .execute(pool)
            .await
            .expect("tickets table");
            Self {
                pool: pool.clone(),
                schema,
            }
        }

        pub(crate) fn store(&self) -> PgSequenceStore {
            PgSequenceStore::new(self.pool.clone(), self.schema.clone())
        }

        pub(crate) async fn drop_schema(self) {
            let _ = sqlx::query(&format!("DROP SCHEMA \"{}\" CASCADE", self.schema.name()))
                .execute(&self.pool)
                .await;
        }
    }

    /// The `pg-*` handler: upserts the ticket's row in a transaction of its
    /// own and, guarded, records the step in that transaction.
    struct Write {
        pool: PgPool,
        upsert: String,
        /// Guarded, or `pg-plain-recording`: the store the step is
        /// recorded in.
        store: Option<PgSequenceStore>,
        /// Whether the handler runs behind the guard: unguarded, a step
        /// `record_in` finds applied is committed and counted all the same.
        guarded: bool,
        count: Count,
    }

    impl Listener for Write {
        type Event = TicketUpdated;

        fn options(&self) -> ListenOptions {
            self.count.options()
        }

        async fn on_message(
            &self,
            event: TicketUpdated,
            delivery: &Delivery,
        ) -> Result<(), HandlerError> {
            let mut tx = self.pool.begin().await.map_err(HandlerError::retry)?;
            sqlx::query(&self.upsert)
                .bind(&event.id)
                .bind(event.version as i64)
                .bind(&event.title)
                .bind(event.price)
                .bind(&event.user_id)
                .execute(&mut *tx)
                .await
                .map_err(HandlerError::retry)?;
            if let Some(store) = &self.store
                && !store
                    .record_in(&mut tx, &Step::of(&event))
                    .await
                    .map_err(HandlerError::retry)?
                && self.guarded
            {
                return Ok(()); // applied meanwhile: roll back
            }
            tx.commit().await.map_err(HandlerError::retry)?;
            self.count.on_message(event, delivery).await
        }
    }

    /// Consumes the whole stream with a fresh consumer: the handler alone,
    /// or behind `Sequenced` over `store`.
    async fn consume(
        bus: &Bus,
        database: &Database,
        group: &str,
        store: Option<&Guarded>,
        recording: Option<PgSequenceStore>,
        total: u64,
    ) -> Run {
        let seen = Arc::new(AtomicU64::new(0));
        let done = Arc::new(Notify::new());
        let write = Write {
            pool: database.pool.clone(),
            upsert: format!(
                "INSERT INTO \"{}\".tickets (id, version, title, price, user_id) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, title = EXCLUDED.title, \
                   price = EXCLUDED.price, user_id = EXCLUDED.user_id",
                database.schema.name()
            ),
            store: store.map(Guarded::handler).or(recording),
            guarded: store.is_some(),
            count: Count {
                group: group.to_owned(),
                seen: Arc::clone(&seen),
                target: total,
                done: Arc::clone(&done),
            },
        };
        let cpu_before = cpu_ticks();
        let start = Instant::now();
        let store = store.map(Guarded::guard);
        let handle = super::listen(bus, write, store).await;
        finish(group, &seen, &done, total, start, cpu_before, vec![handle]).await
    }

    /// The `pg-*` modes in `rounds` rounds, as the other modes: the best
    /// rate of each and the median of the per-round ratios.
    pub(crate) async fn rounds(bus: &Bus, total: u64, rounds: usize) {
        if !MODES.iter().any(|name| selected(name)) {
            return;
        }
        let pool = pool().await;
        let mut best = [0.0f64; 4];
        let mut ratios = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..rounds {
            let mut rates = [0.0f64; 4];
            let mut order = [0, 1, 2, 3];
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let name = MODES[i];
                if !selected(name) {
                    continue;
                }
                let database = Database::new(&pool).await;
                let store = match i {
                    1 => Some(Guarded::new(&database, PgClaims::InTransaction)),
                    2 => Some(Guarded::new(&database, PgClaims::Stored)),
                    _ => None,
                };
                let group = format!("bench-{name}-{round}");
                let recording = (i == 3).then(|| database.store());
                let run = consume(bus, &database, &group, store.as_ref(), recording, total).await;
                let rate = run.rate;
                println!("  round {round}  {name:<17} {rate:>10.0} msgs/s");
                if let Some(store) = store {
                    // Besides the handler's BEGIN, upsert, record_in, COMMIT.
                    println!(
                        "    store ops per event outside the handler: {}",
                        store.report(total)
                    );
                }
                database.drop_schema().await;
                best[i] = best[i].max(rate);
                rates[i] = rate;
            }
            ratios[0].push(rates[1] / rates[0]);
            ratios[1].push(rates[2] / rates[0]);
            ratios[2].push(rates[1] / rates[3]);
        }
        let names = [
            "pg-guarded / pg-plain",
            "pg-guarded-stored / pg-plain",
            "pg-guarded / pg-plain-recording",
        ];
        for (ratios, name) in ratios.iter_mut().zip(names) {
            ratios.sort_by(f64::total_cmp);
            println!(
                "median of the per-round ratios, PostgreSQL handler, {name}: {:.3}",
                ratios[ratios.len() / 2]
            );
        }
        let [plain, guarded, stored, recording] = best;
        println!("best of {rounds}:");
        println!("  pg-plain                  {plain:>10.0} msgs/s");
        println!(
            "  pg-guarded                {guarded:>10.0} msgs/s   ratio {:.3} (target >= 0.90)",
            guarded / plain
        );
        println!(
            "  pg-guarded-stored         {stored:>10.0} msgs/s   ratio {:.3}",
            stored / plain
        );
        println!(
            "  pg-plain-recording        {recording:>10.0} msgs/s   (no guard; the handler's record_in alone: ratio {:.3} of pg-plain)",
            recording / plain
        );
    }
}
