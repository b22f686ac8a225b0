//! Shared support for the outbox tests: a PostgreSQL schema per test
//! (dropped after), a nats-server with a stream, the test events, a
//! reader of everything a stream holds, seeded randomness, and child
//! processes to kill ([`process`]).

#![allow(dead_code, unreachable_pub)]

pub mod process;

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use typebus::postgres::Schema;
use typebus::testing::NatsServer;
use typebus::transport::ConsumerSpec;
use typebus::{Bus, Event, StreamConfig, Versioned};

/// The database the tests use: `DATABASE_URL`, else the local server.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A change to one record: the event the outbox tests enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(subject = "record:changed", version = 1)]
pub struct RecordChanged {
    pub id: String,
    pub version: u64,
    pub amount: i64,
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

/// An event without a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Event)]
#[event(subject = "record:pinged", version = 1)]
pub struct RecordPinged {
    pub n: u64,
}

pub const SUBJECTS: [&str; 2] = ["record:changed", "record:pinged"];

/// A schema of its own in the test database, dropped when this is dropped.
pub struct TestDb {
    pub pool: PgPool,
    pub schema: Schema,
}

impl TestDb {
    /// Creates a fresh schema with the typebus tables and a `records` table.
    pub async fn new() -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect(&database_url())
            .await
            .expect("PostgreSQL reachable at DATABASE_URL (or 127.0.0.1:5432/test)");
        let name = format!("t_{}", nuid::next().to_string().to_lowercase());
        let schema = Schema::new(name).expect("valid schema name");
        schema.install(&pool).await.expect("install");
        sqlx::query(&format!(
            "CREATE TABLE \"{}\".records (id text PRIMARY KEY, version bigint NOT NULL, \
             total bigint NOT NULL DEFAULT 0, applied integer NOT NULL DEFAULT 0)",
            schema.name()
        ))
        .execute(&pool)
        .await
        .expect("records table");
        Self { pool, schema }
    }

    /// `"schema".records`.
    pub fn records(&self) -> String {
        format!("\"{}\".records", self.schema.name())
    }

    /// A second pool on the same database (another "process").
    pub async fn another_pool(&self, connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(connections)
            .connect(&database_url())
            .await
            .expect("second pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.schema.name().to_owned();
        let url = database_url();
        // Dropping runs outside the test's runtime: a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// A nats-server with the test stream, and a bus on it.
pub async fn nats() -> (NatsServer, Bus) {
    let server = NatsServer::start().expect("nats-server starts");
    let bus = typebus::nats::connect(
        typebus::nats::ConnectOptions::new(server.url())
            .publish_timeout(Duration::from_secs(3))
            .request_timeout(Duration::from_secs(3)),
    )
    .await
    .expect("connect");
    bus.provision(&StreamConfig::new(SUBJECTS))
        .await
        .expect("provision");
    (server, bus)
}

/// One message a stream holds.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub stream_sequence: u64,
    pub message_id: String,
    pub payload: Vec<u8>,
}

/// Everything the `EVENTS` stream holds, in stream order, read by a fresh
/// durable consumer until nothing more arrives for `idle`.
pub async fn stream_contents(bus: &Bus, subject: &str, idle: Duration) -> Vec<Stored> {
    let spec = ConsumerSpec {
        stream: Some(StreamConfig::DEFAULT_NAME.to_owned()),
        durable_name: format!("reader_{}", nuid::next()),
        filter_subject: subject.to_owned(),
        ack_wait: Duration::from_secs(30),
        max_deliver: None,
        max_ack_pending: 10_000,
        backoff: Vec::new(),
        batch: 500,
    };
    let mut source = bus.transport().consume(spec).await.expect("consume");
    let mut out = Vec::new();
    while let Ok(next) = tokio::time::timeout(idle, source.next()).await {
        let incoming = next.expect("next message");
        let delivery = incoming.delivery();
        out.push(Stored {
            subject: delivery.subject().to_owned(),
            stream_sequence: delivery.stream_sequence(),
            message_id: delivery.message_id().unwrap_or_default().to_owned(),
            payload: incoming.payload().to_vec(),
        });
        incoming.ack().await.expect("ack");
    }
    source.close().await;
    out.sort_by_key(|stored| stored.stream_sequence);
    out
}

/// Decodes the stored `record:changed` events.
pub fn changes(stored: &[Stored]) -> Vec<RecordChanged> {
    stored
        .iter()
        .map(|s| serde_json::from_slice(&s.payload).expect("stored body decodes"))
        .collect()
}

/// Waits until the outbox has no pending row (or panics after `limit`).
pub async fn wait_drained(db: &TestDb, outbox: &typebus::postgres::Outbox, limit: Duration) {
    let start = std::time::Instant::now();
    loop {
        let summary = outbox.summary(&db.pool).await.expect("summary");
        if summary.pending == 0 {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "outbox not drained after {limit:?}: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The environment variable that replays a kill test's random schedule.
pub const KILL_SEED: &str = "TYPEBUS_KILL_SEED";

/// The seed of a kill test: [`KILL_SEED`] if set, else the clock. Printed
/// with the line that replays it.
pub fn kill_seed() -> u64 {
    let seed = match std::env::var(KILL_SEED) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{KILL_SEED}={text} is not a u64")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |since| since.as_nanos() as u64),
    };
    println!("seed {seed} (replay its schedule with {KILL_SEED}={seed})");
    seed
}

/// A small deterministic generator (xorshift), seeded per test.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
