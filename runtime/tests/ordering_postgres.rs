//! The ordering guard over `PgSequenceStore` in `PgClaims::InTransaction`
//! mode, driven without a broker: no claim is written, the handler's
//! transaction (with `record_in`) serialises deliveries of one step.
//!
//! Needs PostgreSQL at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test works in a schema
//! of its own, dropped at its end.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use typebus::ordering::{Claim, Holder, RecordKey, SequenceStore, Sequenced, State, Step};
use typebus::postgres::{PgClaims, PgSequenceStore, Schema};
use typebus::testing::drive;
use typebus::{Delivery, HandlerError, ListenOptions, Listener, Versioned};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:updated", version = 1)]
struct TicketUpdated {
    id: String,
    version: u64,
    /// What the handler does (see [`Apply`]).
    mode: Mode,
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

/// How [`Apply`] handles an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Mode {
    /// Writes its effect, records the step with `record_in`, commits.
    Record,
    /// As `Record`, sleeping inside the transaction after the write.
    SlowRecord,
    /// Writes its effect, records the step, then fails before committing:
    /// the transaction rolls back.
    FailAfterRecord,
    /// Writes its effect and commits without recording the step.
    NoRecord,
}

fn event(id: &str, version: u64, mode: Mode) -> TicketUpdated {
    TicketUpdated {
        id: id.to_owned(),
        version,
        mode,
    }
}

/// The handler: one row in `effects` per applied event, in a transaction
/// of its own.
struct Apply {
    pool: PgPool,
    store: Arc<PgSequenceStore>,
    effects: String,
    calls: Mutex<HashMap<(String, u64), u32>>,
}

impl Apply {
    fn calls(&self, id: &str, version: u64) -> u32 {
        let calls = self.calls.lock().unwrap();
        calls.get(&(id.to_owned(), version)).copied().unwrap_or(0)
    }
}

impl Listener for Apply {
    type Event = TicketUpdated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new("orders-service")
    }

    async fn on_message(&self, event: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry((event.id.clone(), event.version))
            .or_default() += 1;
        let mut tx = self.pool.begin().await.map_err(HandlerError::retry)?;
        sqlx::query(&format!(
            "INSERT INTO {} (id, version) VALUES ($1, $2)",
            self.effects
        ))
        .bind(&event.id)
        .bind(event.version as i64)
        .execute(&mut *tx)
        .await
        .map_err(HandlerError::retry)?;
        if event.mode == Mode::SlowRecord {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if event.mode != Mode::NoRecord
            && !self
                .store
                .record_in(&mut tx, &Step::of(&event))
                .await
                .map_err(HandlerError::retry)?
        {
            return Ok(()); // applied meanwhile by another delivery: roll back
        }
        if event.mode == Mode::FailAfterRecord {
            return Err(HandlerError::retry("failed before commit"));
        }
        tx.commit().await.map_err(HandlerError::retry)?;
        Ok(())
    }
}

/// A schema of the test's own with an `effects` table, and the guard over
/// an in-transaction store in it.
struct Database {
    pool: PgPool,
    schema: Schema,
    guard: Sequenced<Apply>,
}

impl Database {
    async fn new() -> Self {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .expect("PostgreSQL reachable at DATABASE_URL (or 127.0.0.1:5432/test)");
        let name = format!("t_{}", nuid::next().to_string().to_lowercase());
        let schema = Schema::new(name.clone()).unwrap();
        schema.install(&pool).await.unwrap();
        let effects = format!("\"{name}\".effects");
        sqlx::query(&format!(
            "CREATE TABLE {effects} (seq bigserial PRIMARY KEY, id text NOT NULL, version bigint NOT NULL)"
        ))
        .execute(&pool)
        .await
        .unwrap();
        let store = Arc::new(
            PgSequenceStore::new(pool.clone(), schema.clone()).claims(PgClaims::InTransaction),
        );
        let apply = Apply {
            pool: pool.clone(),
            store: Arc::clone(&store),
            effects,
            calls: Mutex::default(),
        };
        let guard = Sequenced::new(apply, store as Arc<dyn SequenceStore>)
            .early_delay(Duration::from_millis(300))
            .patience(5);
        Self {
            pool,
            schema,
            guard,
        }
    }

    fn apply(&self) -> &Apply {
        self.guard.inner()
    }

    /// The versions of `id` in `effects`, in the order they were written.
    async fn effects(&self, id: &str) -> Vec<u64> {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
            "SELECT version FROM {} WHERE id = $1 ORDER BY seq",
            self.apply().effects
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .unwrap();
        rows.into_iter().map(|(v,)| v as u64).collect()
    }

    /// `id`'s row in the sequences table: applied, whether a claim is
    /// there, revision.
    async fn row(&self, id: &str) -> Option<(Option<u64>, bool, u64)> {
        let row: Option<(Option<i64>, bool, i64)> = sqlx::query_as(&format!(
            "SELECT applied, claim_sequence IS NOT NULL OR claim_message IS NOT NULL, revision \
             FROM \"{}\".sequences WHERE aggregate = 'ticket' AND id = $1",
            self.schema.name()
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .unwrap();
        row.map(|(applied, claimed, revision)| {
            (applied.map(|a| a as u64), claimed, revision as u64)
        })
    }

    async fn drop_schema(self) {
        sqlx::query(&format!("DROP SCHEMA \"{}\" CASCADE", self.schema.name()))
            .execute(&self.pool)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_order_events_are_applied_once_in_order_without_a_stored_claim() {
    let db = Database::new().await;
    let ids = ["a", "b", "c"];
    // One batch, versions interleaved across records: the guard's rounds
    // apply each record's versions in order.
    let events: Vec<TicketUpdated> = (0..4)
        .rev()
        .flat_map(|version| ids.map(|id| event(id, version, Mode::Record)))
        .collect();
    let deliveries: Vec<Delivery> = (1..=events.len() as u64)
        .map(|sequence| drive(&db.guard).stream_sequence(sequence).delivery())
        .collect();
    let batch = events.into_iter().zip(&deliveries).collect();
    let outcomes = db.guard.on_batch(batch).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    // One by one too.
    for version in 0..4 {
        drive(&db.guard)
            .stream_sequence(100 + version)
            .event(&event("d", version, Mode::Record))
            .await
            .assert_acked();
    }
    for id in ["a", "b", "c", "d"] {
        assert_eq!(db.effects(id).await, vec![0, 1, 2, 3], "{id}");
        for version in 0..4 {
            assert_eq!(db.apply().calls(id, version), 1, "{id}@{version}");
        }
        // Four steps, four revisions: record_in's writes only (a stored
        // claim would have been a write of its own per step).
        assert_eq!(db.row(id).await, Some((Some(3), false, 4)), "{id}");
    }
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_of_a_step_apply_its_effect_once() {
    let db = Database::new().await;
    // Step 0 (the INSERT path of record_in), then step 1 (the UPDATE path):
    // two messages of each at once, both handled, one effect committed.
    for (version, first) in [(0, 1), (1, 3)] {
        let slow = event("a", version, Mode::SlowRecord);
        let (one, two) = tokio::join!(
            drive(&db.guard).stream_sequence(first).event(&slow),
            drive(&db.guard).stream_sequence(first + 1).event(&slow),
        );
        // The loser's record_in waited for the winner's transaction, found
        // the step applied, rolled back, and was acknowledged.
        one.assert_acked();
        two.assert_acked();
        assert_eq!(db.apply().calls("a", version), 2, "both ran the handler");
    }
    assert_eq!(db.effects("a").await, vec![0, 1]);
    assert_eq!(db.row("a").await, Some((Some(1), false, 2)));
    // Delivered again later, a duplicate is acknowledged unhandled.
    drive(&db.guard)
        .stream_sequence(9)
        .event(&event("a", 1, Mode::Record))
        .await
        .assert_acked();
    assert_eq!(db.apply().calls("a", 1), 2);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_recorded_in_a_rolled_back_transaction_is_applied_by_the_retry() {
    let db = Database::new().await;
    for version in [0, 1] {
        let failed = drive(&db.guard)
            .stream_sequence(version + 1)
            .event(&event("a", version, Mode::FailAfterRecord))
            .await;
        assert!(
            failed.describe().contains("failed before commit"),
            "{}",
            failed.describe()
        );
        failed.assert_nakked();
        let applied = version.checked_sub(1);
        assert_eq!(db.row("a").await.and_then(|row| row.0), applied);
        assert_eq!(db.effects("a").await.len() as u64, version);
        // The retry's handler does not record the step: that the guard
        // records it after it shows the failed delivery's note is gone.
        drive(&db.guard)
            .stream_sequence(version + 1)
            .delivery_count(2)
            .event(&event("a", version, Mode::NoRecord))
            .await
            .assert_acked();
        assert_eq!(db.row("a").await.and_then(|row| row.0), Some(version));
    }
    assert_eq!(db.effects("a").await, vec![0, 1]);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_event_waits_and_a_duplicate_is_acked_unhandled() {
    let db = Database::new().await;
    let early = drive(&db.guard)
        .stream_sequence(1)
        .event(&event("a", 2, Mode::Record))
        .await;
    assert_eq!(early.assert_nakked(), Duration::from_millis(300));
    assert!(
        early
            .describe()
            .contains("early: ticket/a@2 waits for ticket/a@0"),
        "{}",
        early.describe()
    );
    assert_eq!(db.apply().calls("a", 2), 0);
    drive(&db.guard)
        .stream_sequence(2)
        .event(&event("a", 0, Mode::Record))
        .await
        .assert_acked();
    let still_early = drive(&db.guard)
        .stream_sequence(1)
        .delivery_count(2)
        .event(&event("a", 2, Mode::Record))
        .await;
    assert!(
        still_early
            .describe()
            .contains("early: ticket/a@2 waits for ticket/a@1"),
        "{}",
        still_early.describe()
    );
    // A duplicate of the applied step: acked, the handler not called.
    drive(&db.guard)
        .stream_sequence(3)
        .event(&event("a", 0, Mode::Record))
        .await
        .assert_acked();
    assert_eq!(db.apply().calls("a", 0), 1);
    assert_eq!(db.effects("a").await, vec![0]);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_its_handler_did_not_record_is_recorded_after_it() {
    let db = Database::new().await;
    for version in 0..3 {
        drive(&db.guard)
            .stream_sequence(version + 1)
            .event(&event("a", version, Mode::NoRecord))
            .await
            .assert_acked();
        assert_eq!(db.row("a").await, Some((Some(version), false, version + 1)));
    }
    assert_eq!(db.effects("a").await, vec![0, 1, 2]);
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_stored_by_another_delivery_is_respected_until_it_expires() {
    let db = Database::new().await;
    drive(&db.guard)
        .stream_sequence(1)
        .event(&event("a", 0, Mode::Record))
        .await
        .assert_acked();
    // An instance in Stored mode on the same table claims step 1.
    let stored = PgSequenceStore::new(db.pool.clone(), db.schema.clone());
    let key = RecordKey::new("ticket", "a");
    let claim = |expires_ms| State {
        applied: Some(0),
        claim: Some(Claim {
            sequence: 1,
            holder: Holder::Delivery {
                message: "EVENTS/99".into(),
                delivered: 1,
                expires_ms,
            },
        }),
    };
    let now_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let entry = stored.load(&key).await.unwrap().unwrap();
    stored
        .swap(&key, Some(entry.revision), &claim(now_ms + 60_000))
        .await
        .unwrap();
    let busy = drive(&db.guard)
        .stream_sequence(2)
        .event(&event("a", 1, Mode::Record))
        .await;
    assert_eq!(busy.assert_nakked(), Duration::from_millis(300));
    assert!(
        busy.describe()
            .contains("ticket/a@1 is being applied by message EVENTS/99"),
        "{}",
        busy.describe()
    );
    assert_eq!(db.apply().calls("a", 1), 0);
    // Once expired, the claim is taken over.
    let entry = stored.load(&key).await.unwrap().unwrap();
    stored
        .swap(&key, Some(entry.revision), &claim(1))
        .await
        .unwrap();
    drive(&db.guard)
        .stream_sequence(2)
        .delivery_count(2)
        .event(&event("a", 1, Mode::Record))
        .await
        .assert_acked();
    assert_eq!(db.apply().calls("a", 1), 1);
    assert_eq!(db.effects("a").await, vec![0, 1]);
    let (applied, claimed, _) = db.row("a").await.unwrap();
    assert_eq!((applied, claimed), (Some(1), false));
    db.drop_schema().await;
}
