//! Outbox throughput and latency against a real nats-server and the local
//! PostgreSQL (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! In one run, with the same producers (16 tasks, one event per
//! transaction):
//! - direct: insert the record, commit, then publish the event and await
//!   its ack (what the old services did: not crash-safe);
//! - outbox: insert the record and enqueue the event in one transaction,
//!   commit; a relay publishes it;
//! - relay drain: a backlog of pending rows published by one relay alone.
//!
//! - paced: the outbox phase again with producers offering a fixed rate
//!   (`OUTBOX_BENCH_RATES`, default 1000,2500,5000 events/s), half as many
//!   events: the latency the relay adds below saturation.
//!
//! Prints events/s of each, the ratio outbox/direct, and the commit-to-
//! stream-ack latency of the outbox (median, p99).
//!
//! `cargo bench -p typebus --bench outbox --features postgres,nats,testing`
//! (`OUTBOX_BENCH_EVENTS` sets the number of events per phase, default 20000).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use typebus::error::{AckError, ListenError, ProvisionError, PublishError};
use typebus::headers::names;
use typebus::postgres::{Outbox, Relay, Schema};
use typebus::testing::NatsServer;
use typebus::transport::{
    BoxFuture, ConsumerSpec, MessageSource, OutgoingMessage, PendingAck, Transport,
};
use typebus::{Bus, ProvisionOutcome, StreamConfig, Versioned};

const PRODUCERS: usize = 16;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "record:changed", version = 1)]
struct RecordChanged {
    id: String,
    version: u64,
    amount: i64,
}

impl Versioned for RecordChanged {
    const AGGREGATE: &'static str = "record";
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.id)
    }
    fn sequence(&self) -> u64 {
        self.version
    }
}

/// Notes when the stream acked each message id.
struct AckClock {
    inner: Arc<dyn Transport>,
    acked: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Transport for AckClock {
    fn name(&self) -> &'static str {
        "ack-clock"
    }

    fn publish(&self, message: OutgoingMessage) -> BoxFuture<'_, Result<PendingAck, PublishError>> {
        Box::pin(async move {
            let id = message
                .headers
                .get(names::MSG_ID)
                .unwrap_or_default()
                .to_owned();
            let pending = self.inner.publish(message).await?;
            let acked = Arc::clone(&self.acked);
            Ok(PendingAck::new(async move {
                let ack = pending.await?;
                acked.lock().expect("lock").insert(id, Instant::now());
                Ok(ack)
            }))
        })
    }

    fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }

    fn provision<'a>(
        &'a self,
        config: &'a StreamConfig,
    ) -> BoxFuture<'a, Result<ProvisionOutcome, ProvisionError>> {
        self.inner.provision(config)
    }

    fn consume(
        &self,
        spec: ConsumerSpec,
    ) -> BoxFuture<'_, Result<Box<dyn MessageSource>, ListenError>> {
        self.inner.consume(spec)
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), AckError>> {
        self.inner.flush()
    }
}

struct Setup {
    pool: PgPool,
    schema: Schema,
    bus: Bus,
}

impl Setup {
    fn records(&self) -> String {
        format!("\"{}\".records", self.schema.name())
    }
}

async fn insert(
    pool: &PgPool,
    records: &str,
    id: &str,
) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO {records} (id, version, total) VALUES ($1, 0, 1)"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}

/// Runs `per_producer` events on each of the producers; returns the wall time.
/// Runs `make(n)` for every `n < events` on the producers: as fast as they
/// go, or with event `n` due at `n / rate` seconds after the start.
async fn produce<F, Fut>(events: usize, rate: Option<f64>, make: F) -> Duration
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for producer in 0..PRODUCERS {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = producer;
            while n < events {
                if let Some(rate) = rate {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                make(n).await;
                n += PRODUCERS;
            }
        }));
    }
    for task in tasks {
        task.await.expect("producer");
    }
    start.elapsed()
}

async fn direct(setup: &Setup, events: usize) -> f64 {
    let pool = setup.pool.clone();
    let records = setup.records();
    let publisher = setup.bus.publisher::<RecordChanged>();
    let elapsed = produce(events, None, move |n| {
        let (pool, records, publisher) = (pool.clone(), records.clone(), publisher.clone());
        async move {
            let id = format!("direct-{n}");
            let tx = insert(&pool, &records, &id).await.expect("insert");
            tx.commit().await.expect("commit");
            let event = RecordChanged {
                id,
                version: 0,
                amount: 1,
            };
            publisher.publish(&event).await.expect("publish");
        }
    })
    .await;
    events as f64 / elapsed.as_secs_f64()
}

/// The outbox phase: producers as fast as they go (`rate` None) or paced at
/// `rate` events/s in all; ids start with `prefix`.
async fn outbox(
    setup: &Setup,
    events: usize,
    rate: Option<f64>,
    prefix: &str,
) -> (f64, Duration, Duration) {
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let clock = AckClock {
        inner: Arc::clone(setup.bus.transport()),
        acked: Arc::clone(&acked),
    };
    let outbox = Outbox::new(setup.schema.clone());
    let relay = Relay::with_transport(setup.pool.clone(), Arc::new(clock), outbox.clone()).spawn();
    let committed = Arc::new(Mutex::new(HashMap::new()));
    let (pool, records, commits) = (setup.pool.clone(), setup.records(), Arc::clone(&committed));
    let start = Instant::now();
    let prefix = prefix.to_owned();
    produce(events, rate, move |n| {
        let prefix = prefix.clone();
        let (pool, records, outbox, commits) = (
            pool.clone(),
            records.clone(),
            outbox.clone(),
            Arc::clone(&commits),
        );
        async move {
            let id = format!("{prefix}-{n}");
            let mut tx = insert(&pool, &records, &id).await.expect("insert");
            let event = RecordChanged {
                id,
                version: 0,
                amount: 1,
            };
            let message_id = outbox
                .enqueue_versioned(&mut tx, &event)
                .await
                .expect("enqueue");
            tx.commit().await.expect("commit");
            commits
                .lock()
                .expect("lock")
                .insert(message_id, Instant::now());
        }
    })
    .await;
    while acked.lock().expect("lock").len() < events {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = start.elapsed();
    relay.shutdown().await;
    let acked = acked.lock().expect("lock");
    let mut latencies: Vec<Duration> = committed
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|(id, commit)| {
            acked
                .get(id)
                .map(|ack| ack.saturating_duration_since(*commit))
        })
        .collect();
    latencies.sort();
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let p99 = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    (events as f64 / elapsed.as_secs_f64(), median, p99)
}

async fn drain(setup: &Setup, events: usize) -> f64 {
    let outbox = Outbox::new(setup.schema.clone());
    let mut n = 0;
    while n < events {
        let mut tx = setup.pool.begin().await.expect("begin");
        for _ in 0..500.min(events - n) {
            let event = RecordChanged {
                id: format!("drain-{n}"),
                version: 0,
                amount: 1,
            };
            outbox
                .enqueue_versioned(&mut tx, &event)
                .await
                .expect("enqueue");
            n += 1;
        }
        tx.commit().await.expect("commit");
    }
    let relay = Relay::new(setup.pool.clone(), &setup.bus, outbox.clone());
    let start = Instant::now();
    let sent = relay.publish_pending().await.expect("drain");
    let elapsed = start.elapsed();
    assert_eq!(sent, events);
    events as f64 / elapsed.as_secs_f64()
}

/// The offered rates of the paced phases (`OUTBOX_BENCH_RATES`, comma
/// separated; default 1000,2500,5000 events/s).
fn paced_rates() -> Vec<f64> {
    std::env::var("OUTBOX_BENCH_RATES")
        .unwrap_or_else(|_| "1000,2500,5000".to_owned())
        .split(',')
        .filter_map(|rate| rate.trim().parse().ok())
        .filter(|rate: &f64| *rate > 0.0)
        .collect()
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::var("OUTBOX_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let server = NatsServer::start().expect("nats-server");
    let bus = typebus::nats::connect(typebus::nats::ConnectOptions::new(server.url()))
        .await
        .expect("connect");
    bus.provision(&StreamConfig::new(["record:changed"]))
        .await
        .expect("provision");
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(PRODUCERS).unwrap_or(16) + 8)
        .connect(&url)
        .await
        .expect("postgres");
    let schema =
        Schema::new(format!("bench_{}", nuid::next().to_string().to_lowercase())).expect("schema");
    schema.install(&pool).await.expect("install");
    let setup = Setup {
        pool: pool.clone(),
        schema: schema.clone(),
        bus,
    };
    sqlx::query(&format!(
        "CREATE TABLE {} (id text PRIMARY KEY, version bigint NOT NULL, total bigint NOT NULL)",
        setup.records()
    ))
    .execute(&pool)
    .await
    .expect("records table");

    println!(
        "outbox bench: {events} events per phase, {PRODUCERS} producers, one event per transaction"
    );
    let direct_rate = direct(&setup, events).await;
    println!("direct (insert, commit, publish + ack):   {direct_rate:>9.0} events/s");
    let (outbox_rate, median, p99) = outbox(&setup, events, None, "outbox").await;
    println!("outbox (insert + enqueue, commit; relay): {outbox_rate:>9.0} events/s");
    println!(
        "ratio outbox/direct:                      {:>9.2}",
        outbox_rate / direct_rate
    );
    println!(
        "commit-to-stream-ack latency (outbox):    median {:.2} ms, p99 {:.2} ms",
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    let drain_rate = drain(&setup, events).await;
    println!("relay drain of a {events}-row backlog:     {drain_rate:>9.0} events/s");
    for rate in paced_rates() {
        if std::env::var_os("OUTBOX_BENCH_VACUUM").is_some() {
            sqlx::query(&format!("VACUUM \"{}\".outbox", schema.name()))
                .execute(&pool)
                .await
                .expect("vacuum");
        }
        let (achieved, median, p99) =
            outbox(&setup, events / 2, Some(rate), &format!("paced{rate}")).await;
        println!(
            "outbox paced at {rate:>5.0}/s offered: {achieved:>6.0} events/s, commit-to-ack median {:.2} ms, p99 {:.2} ms",
            median.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }

    let _ = sqlx::query(&format!("DROP SCHEMA \"{}\" CASCADE", schema.name()))
        .execute(&pool)
        .await;
    pool.close().await;
    drop(server);
}
