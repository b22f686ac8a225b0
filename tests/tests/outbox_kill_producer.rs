//! A service loop that saves a record and enqueues its event in one
//! transaction is killed at random points while it produces events, with a
//! relay publishing to a real nats-server meanwhile: every committed
//! change's event is in the stream exactly once, in order per record, and
//! no event of a rolled-back transaction is.
//!
//! Two variants:
//! - in this process: the service loop's task is aborted 100 times while
//!   it produces 5,000 events (sqlx rolls the transaction back);
//! - in child processes: a service process and a relay process (this test
//!   binary run again, see [`child_process`]) are killed with SIGKILL at
//!   random points, 30 and 15 times, while at least 2,000 events are
//!   produced, so PostgreSQL sees their connections drop mid-transaction
//!   and nats-server sees the relay vanish mid-round. Each kill is checked
//!   to land mid-work: the child was running and had done work in that
//!   life, died of the signal, and PostgreSQL dropped its connections;
//!   most kills must land inside a transaction (service) or a round
//!   (relay), as the children's progress lines show.
//!
//! Both print their seed; `TYPEBUS_KILL_SEED=<seed>` replays its schedule
//! (the kill points; how far a process got by then is up to timing).

mod outbox_support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use outbox_support::process::{ChildProcess, Report, say, stdin_closed};
use outbox_support::{
    RecordChanged, Rng, TestDb, changes, database_url, kill_seed, nats, stream_contents,
    wait_drained,
};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use typebus::Bus;
use typebus::postgres::{Outbox, Relay, Schema};

const EVENTS: i64 = 5_000;
const KILLS: usize = 100;
const RECORDS: u64 = 300;

/// One change: lock (or create) the record, bump its version and total,
/// enqueue the event; every 10th transaction is rolled back on purpose.
/// Returns whether it committed.
async fn change(
    pool: &PgPool,
    records: &str,
    outbox: &Outbox,
    rng: &mut Rng,
) -> Result<bool, sqlx::Error> {
    let id = format!("rec-{}", rng.below(RECORDS));
    let amount = i64::try_from(rng.below(1_000)).unwrap_or(0) + 1;
    let roll_back = rng.below(10) == 0;
    let mut tx = pool.begin().await?;
    let current: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM {} WHERE id = $1 FOR UPDATE",
        records
    ))
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    let version = match current {
        None => {
            let inserted = sqlx::query(&format!(
                "INSERT INTO {} (id, version, total) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING",
                records
            ))
            .bind(&id)
            .bind(amount)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                // Created since the SELECT (a killed loop's commit landing
                // late): this would be a second version 0. Give up.
                tx.rollback().await?;
                return Err(sqlx::Error::Protocol(format!("{id} created meanwhile")));
            }
            0
        }
        Some(version) => {
            sqlx::query(&format!(
                "UPDATE {} SET version = version + 1, total = total + $2 WHERE id = $1",
                records
            ))
            .bind(&id)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
            version + 1
        }
    };
    let event = RecordChanged {
        id,
        version: u64::try_from(version).unwrap_or(0),
        amount,
    };
    outbox
        .enqueue_versioned(&mut tx, &event)
        .await
        .map_err(|err| sqlx::Error::Protocol(err.to_string()))?;
    if roll_back {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(!roll_back)
}

async fn committed(pool: &PgPool, records: &str) -> i64 {
    sqlx::query_scalar::<_, Option<i64>>(&format!("SELECT sum(version + 1)::bigint FROM {records}"))
        .fetch_one(pool)
        .await
        .expect("count")
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_service_loop_publishes_each_committed_event_once() {
    let db = TestDb::new().await;
    let (_server, bus) = nats().await;
    let outbox = Outbox::new(db.schema.clone());
    let relay = Relay::new(db.pool.clone(), &bus, outbox.clone())
        .batch_size(64)
        .spawn();

    let mut rng = Rng::new(kill_seed());
    let mut kills = 0;
    let mut lives = 0;
    let mut errors = 0;
    loop {
        let done = committed(&db.pool, &db.records()).await;
        if kills >= KILLS && lives > kills {
            break;
        }
        lives += 1;
        let life_seed = rng.next();
        let (pool, records) = (db.pool.clone(), db.records());
        let life_outbox = outbox.clone();
        let progress = Arc::new(AtomicU64::new(0));
        let life_progress = Arc::clone(&progress);
        // Lives to be killed run until killed; the last one until done.
        let last = kills >= KILLS;
        let service = tokio::spawn(async move {
            let mut rng = Rng::new(life_seed);
            let mut failures = 0;
            while !last || committed(&pool, &records).await < EVENTS {
                if change(&pool, &records, &life_outbox, &mut rng)
                    .await
                    .is_err()
                {
                    failures += 1;
                }
                life_progress.fetch_add(1, Ordering::SeqCst);
            }
            failures
        });
        if kills < KILLS {
            // Kill after a random share of the remaining changes, at a
            // random point of the transaction in flight.
            let share = u64::try_from((EVENTS - done).max(0)).unwrap_or(0)
                / u64::try_from(KILLS - kills).unwrap_or(1);
            let kill_after = rng.below(share + 1);
            while progress.load(Ordering::SeqCst) < kill_after && !service.is_finished() {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            tokio::time::sleep(Duration::from_micros(rng.below(3_000))).await;
            service.abort();
        }
        match service.await {
            Ok(failures) => errors += failures,
            Err(err) if err.is_cancelled() => kills += 1,
            Err(err) => panic!("service loop panicked: {err}"),
        }
    }
    println!("{lives} lives, {kills} kills, {errors} failed transactions");
    assert_eq!(
        (kills, lives),
        (KILLS, KILLS + 1),
        "every life but the last was killed"
    );

    wait_drained(&db, &outbox, Duration::from_secs(60)).await;
    relay.shutdown().await;

    assert_stream_matches_records(&db, &bus, &outbox, EVENTS).await;
}

/// The invariants of both variants, once the outbox is drained: the stream
/// holds exactly one event per committed change (at least `at_least`), no
/// message id twice, each record's versions in order, and the amounts add
/// up to the records' totals (an event of a rolled-back transaction would
/// show in them); the outbox has every row sent.
async fn assert_stream_matches_records(db: &TestDb, bus: &Bus, outbox: &Outbox, at_least: i64) {
    let records: BTreeMap<String, (i64, i64)> = sqlx::query_as::<_, (String, i64, i64)>(&format!(
        "SELECT id, version, total FROM {}",
        db.records()
    ))
    .fetch_all(&db.pool)
    .await
    .expect("records")
    .into_iter()
    .map(|(id, version, total)| (id, (version, total)))
    .collect();
    let expected: i64 = records.values().map(|(version, _)| version + 1).sum();
    assert!(expected >= at_least, "{expected} committed events");

    let stored = stream_contents(bus, "record:changed", Duration::from_secs(2)).await;
    let ids: BTreeSet<&str> = stored.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(ids.len(), stored.len(), "a message id is stored twice");
    assert_eq!(
        i64::try_from(stored.len()).unwrap_or(-1),
        expected,
        "the stream holds exactly the committed events"
    );
    let mut seen: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for event in changes(&stored) {
        let entry = seen.entry(event.id.clone()).or_insert((-1, 0));
        assert_eq!(
            i64::try_from(event.version).unwrap_or(-1),
            entry.0 + 1,
            "record {} out of order or duplicated in the stream",
            event.id
        );
        *entry = (entry.0 + 1, entry.1 + event.amount);
    }
    // Same versions and the same totals: no event of a rolled-back
    // transaction (its amount would show) and none missing.
    assert_eq!(seen, records);
    let summary = outbox.summary(&db.pool).await.expect("summary");
    assert_eq!((summary.pending, summary.failed), (0, 0));
    assert_eq!(i64::try_from(summary.sent).unwrap_or(-1), expected);
}

/// Changes the process variant commits at least (about half by killed
/// service lives, the rest by the last one).
const PROCESS_EVENTS: i64 = 2_000;
/// SIGKILLs of the service process, then of the relay process.
const SERVICE_KILLS: usize = 30;
const RELAY_KILLS: usize = 15;
/// The signal a killed child must have died of.
const SIGKILL: i32 = 9;

/// The child entry point ([`child_process`]) and its environment.
const CHILD_TEST: &str = "child_process";
const ROLE: &str = "TYPEBUS_KILL_CHILD";
const SCHEMA: &str = "TYPEBUS_KILL_SCHEMA";
const NATS_URL: &str = "TYPEBUS_KILL_NATS_URL";
const LIFE_SEED: &str = "TYPEBUS_KILL_LIFE_SEED";
const LAST: &str = "TYPEBUS_KILL_LAST";
const APP: &str = "TYPEBUS_KILL_APP";

/// How many connections PostgreSQL has from `application_name`.
async fn backends(pool: &PgPool, application: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(application)
        .fetch_one(pool)
        .await
        .expect("pg_stat_activity")
}

/// Starts a child of `role` named `name` (its `application_name`).
fn start(
    role: &str,
    name: &str,
    common: &[(&str, String)],
    more: &[(&str, String)],
) -> ChildProcess {
    let mut env = vec![(ROLE, role.to_owned()), (APP, name.to_owned())];
    env.extend(common.iter().cloned());
    env.extend(more.iter().cloned());
    ChildProcess::spawn(CHILD_TEST, name, &env)
}

/// Waits until `child`'s report satisfies `ready`; fails if the child
/// exits first or `limit` passes.
async fn wait_for(child: &mut ChildProcess, limit: Duration, ready: impl Fn(&Report) -> bool) {
    let started = Instant::now();
    loop {
        let report = child.report();
        if ready(&report) {
            return;
        }
        if let Some(status) = child.exited() {
            panic!(
                "{} exited ({status}) before its kill: {report:?}",
                child.name
            );
        }
        assert!(
            started.elapsed() < limit,
            "{} not ready for its kill after {limit:?}: {report:?}",
            child.name
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Kills `child` with SIGKILL after `delay`, at whatever point of its work
/// that is, and checks that the kill landed mid-work and that PostgreSQL
/// saw the connection drop: the child was running, had a connection and
/// had finished some work before; it died of the SIGKILL; its backends
/// are gone afterwards. Returns its whole report.
async fn kill(pool: &PgPool, child: &mut ChildProcess, delay: Duration) -> Report {
    let name = child.name.clone();
    assert!(
        backends(pool, &name).await >= 1,
        "{name} has no PostgreSQL connection before its kill"
    );
    tokio::time::sleep(delay).await;
    if let Some(status) = child.exited() {
        panic!("{name} exited ({status}) before its kill");
    }
    let (status, report) = tokio::task::block_in_place(|| child.kill());
    assert_eq!(
        status.signal(),
        Some(SIGKILL),
        "{name} did not die of the SIGKILL ({status}): {report:?}"
    );
    assert!(
        report.ready && report.ended >= 1,
        "{name} had done no work: {report:?}"
    );
    assert!(report.garbled.is_empty(), "{name}: {:?}", report.garbled);
    let started = Instant::now();
    while backends(pool, &name).await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "PostgreSQL still serves {name} 10 s after its SIGKILL"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report
}

/// The service's lives: each killed after a random number of its changes
/// plus a random delay (up to 3 ms, a transaction's length), the kills
/// spread so that about half of `PROCESS_EVENTS` is committed by killed
/// lives. Returns the killed lives' reports and the last life, running
/// until its stdin is closed.
async fn service_lives(
    db: &TestDb,
    common: &[(&str, String)],
    mut rng: Rng,
) -> (Vec<Report>, ChildProcess) {
    let mut killed = Vec::new();
    for life in 0..SERVICE_KILLS {
        let done = committed(&db.pool, &db.records()).await;
        let share = u64::try_from((PROCESS_EVENTS - done).max(0)).unwrap_or(0)
            / u64::try_from(SERVICE_KILLS - life).unwrap_or(1);
        let kill_after = 1 + rng.below(share);
        let delay = Duration::from_micros(rng.below(3_000));
        let name = format!("kill-{}-service-{life}", db.schema.name());
        let mut child = start(
            "service",
            &name,
            common,
            &[(LIFE_SEED, rng.next().to_string())],
        );
        wait_for(&mut child, Duration::from_secs(60), |report| {
            report.ended >= kill_after
        })
        .await;
        killed.push(kill(&db.pool, &mut child, delay).await);
    }
    let name = format!("kill-{}-service-last", db.schema.name());
    let more = [(LIFE_SEED, rng.next().to_string()), (LAST, "1".to_owned())];
    (killed, start("service", &name, common, &more))
}

/// Lets the service's last life run until `PROCESS_EVENTS` changes are
/// committed, then closes its stdin and waits for it to exit by itself.
async fn finish(db: &TestDb, mut last: ChildProcess) -> Report {
    let started = Instant::now();
    while committed(&db.pool, &db.records()).await < PROCESS_EVENTS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{PROCESS_EVENTS} changes not committed in 60 s: {:?}",
            last.report()
        );
        if let Some(status) = last.exited() {
            panic!(
                "the last service life exited early ({status}): {:?}",
                last.report()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last.close_stdin();
    while last.exited().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the last service life did not exit: {:?}",
            last.report()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, report) = tokio::task::block_in_place(|| last.wait());
    assert!(
        status.success(),
        "the last service life failed ({status}): {report:?}"
    );
    report
}

/// The relay's lives, while the service runs: the j-th is killed once
/// j/(RELAY_KILLS + 1) of `PROCESS_EVENTS` is committed and the relay is
/// busy (it has sent rows, its last round claimed some, and a round is in
/// flight), after a random delay up to 2 ms, once it is busy again.
/// Returns their reports.
async fn relay_lives(db: &TestDb, common: &[(&str, String)], mut rng: Rng) -> Vec<Report> {
    let mut killed = Vec::new();
    for life in 0..RELAY_KILLS {
        let delay = Duration::from_micros(rng.below(2_000));
        let name = format!("kill-{}-relay-{life}", db.schema.name());
        let mut child = start("relay", &name, common, &[]);
        let threshold = PROCESS_EVENTS * i64::try_from(life + 1).unwrap_or(0)
            / i64::try_from(RELAY_KILLS + 1).unwrap_or(1);
        let started = Instant::now();
        while committed(&db.pool, &db.records()).await < threshold {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the service did not commit {threshold} changes in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let busy = |report: &Report| report.last_claimed > 0 && report.in_flight() > 0;
        wait_for(&mut child, Duration::from_secs(30), |report| {
            report.sent > 0 && busy(report)
        })
        .await;
        // A random point of the round in flight after the delay (rounds
        // of a few rows take about as long).
        tokio::time::sleep(delay).await;
        wait_for(&mut child, Duration::from_secs(30), busy).await;
        let report = kill(&db.pool, &mut child, Duration::ZERO).await;
        assert!(report.sent > 0, "{name} had sent nothing: {report:?}");
        killed.push(report);
    }
    killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_service_and_relay_processes_publish_each_committed_event_once() {
    let started = Instant::now();
    let db = TestDb::new().await;
    let (server, bus) = nats().await;
    let outbox = Outbox::new(db.schema.clone());
    let mut rng = Rng::new(kill_seed());
    let (service_rng, relay_rng) = (Rng::new(rng.next()), Rng::new(rng.next()));
    let common = vec![
        (SCHEMA, db.schema.name().to_owned()),
        (NATS_URL, server.url()),
        ("DATABASE_URL", database_url()),
    ];

    let (service, relay) = tokio::join!(
        service_lives(&db, &common, service_rng),
        relay_lives(&db, &common, relay_rng),
    );
    // The service runs on until the relay's kills are done.
    let (service_killed, last_service) = service;
    let service_last = finish(&db, last_service).await;

    // A last relay drains the outbox; it is killed too, once idle.
    let name = format!("kill-{}-relay-last", db.schema.name());
    let mut last_relay = start("relay", &name, &common, &[]);
    wait_drained(&db, &outbox, Duration::from_secs(60)).await;
    let (_, last_relay_report) = tokio::task::block_in_place(|| last_relay.kill());

    let mid_transaction = service_killed.iter().filter(|r| r.in_flight() > 0).count();
    let mid_round = relay.iter().filter(|r| r.in_flight() > 0).count();
    let sum = |reports: &[Report], outcome: &str| -> u64 {
        reports.iter().map(|r| r.count(outcome)).sum::<u64>()
    };
    let service_all: Vec<Report> = service_killed
        .iter()
        .cloned()
        .chain([service_last])
        .collect();
    let relay_all: Vec<Report> = relay.iter().cloned().chain([last_relay_report]).collect();
    println!(
        "service: {} kills, {mid_transaction} inside a transaction; {} committed, {} rolled back, \
         {} failed. relay: {} kills, {mid_round} inside a round; {} rows sent, {} of them again. \
         {:?} in all",
        service_killed.len(),
        sum(&service_all, "committed"),
        sum(&service_all, "rolled-back"),
        sum(&service_all, "failed"),
        relay.len(),
        relay_all.iter().map(|r| r.sent).sum::<u64>(),
        relay_all.iter().map(|r| r.duplicates).sum::<u64>(),
        started.elapsed()
    );
    assert_eq!(
        (service_killed.len(), relay.len()),
        (SERVICE_KILLS, RELAY_KILLS)
    );
    // The service spends its life in transactions, the relay busy in
    // rounds (a kill between two is possible, not common).
    assert!(
        mid_transaction * 4 >= SERVICE_KILLS * 3,
        "only {mid_transaction} of {SERVICE_KILLS} service kills landed inside a transaction"
    );
    assert!(
        mid_round * 3 >= RELAY_KILLS * 2,
        "only {mid_round} of {RELAY_KILLS} relay kills landed inside a round"
    );
    // Rolled-back transactions there were, for the check to find none.
    assert!(sum(&service_all, "rolled-back") > 0);

    assert_stream_matches_records(&db, &bus, &outbox, PROCESS_EVENTS).await;
}

/// The child processes of
/// [`killed_service_and_relay_processes_publish_each_committed_event_once`]:
/// this test binary run again with this test selected and `ROLE` set. Not
/// a test of its own (ignored; without `ROLE` it returns at once).
///
/// - `service`: changes records in a loop ([`change`]) on a pool of its
///   own, reporting each transaction (`begin`, `end committed`, ...), until
///   killed, or with `LAST` set until its stdin is closed.
/// - `relay`: two loops of relay rounds ([`Relay::publish_batch`], what a
///   spawned relay's two workers run), reporting each round, until killed.
#[ignore = "a child process of the process kill test, run by it"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        eprintln!("{CHILD_TEST} runs only as a child of the process kill test");
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let schema = Schema::new(var(SCHEMA)).expect("a schema name");
    let options: PgConnectOptions = database_url().parse().expect("DATABASE_URL");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.application_name(&var(APP)))
        .await
        .expect("PostgreSQL");
    let outbox = Outbox::new(schema.clone());
    match role.as_str() {
        "service" => {
            let records = format!("\"{}\".records", schema.name());
            let mut rng = Rng::new(var(LIFE_SEED).parse().expect("a seed"));
            let stop = std::env::var_os(LAST).map(|_| stdin_closed());
            say("ready");
            loop {
                if stop
                    .as_ref()
                    .is_some_and(|stop| stop.load(Ordering::SeqCst))
                {
                    return;
                }
                say("begin");
                let outcome = match change(&pool, &records, &outbox, &mut rng).await {
                    Ok(true) => "committed",
                    Ok(false) => "rolled-back",
                    Err(_) => "failed",
                };
                say(&format!("end {outcome}"));
            }
        }
        "relay" => {
            let bus = typebus::nats::connect(
                typebus::nats::ConnectOptions::new(var(NATS_URL))
                    .publish_timeout(Duration::from_secs(3))
                    .request_timeout(Duration::from_secs(3)),
            )
            .await
            .expect("nats-server");
            let relay = Relay::new(pool, &bus, outbox).batch_size(64);
            say("ready");
            tokio::join!(relay_rounds(relay.clone()), relay_rounds(relay));
        }
        other => panic!("no child role {other}"),
    }
}

/// A relay child's loop of rounds, each reported, until the child is killed.
async fn relay_rounds(relay: Relay) {
    loop {
        say("begin");
        match relay.publish_batch().await {
            Ok(round) => {
                say(&format!(
                    "end round {} {} {}",
                    round.claimed, round.sent, round.duplicates
                ));
                if round.claimed == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Err(_) => {
                say("end failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
