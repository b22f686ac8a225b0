//! Problem 3 of the old system (REFERENCE.md): the server thinks a dead
//! client is still alive. Its unacknowledged events wait for the ack
//! timeout, then go to another instance; with the ordering guard, what
//! the dead-looking instance does when it comes back applies nothing twice.
//!
//! - An instance in a child process takes a batch and is frozen (SIGSTOP):
//!   its connection stays open, so the server still counts it as a
//!   subscriber, but it sends nothing (no ack, no in-progress ack, no
//!   PONG). The other instance handles those events once ack_wait has
//!   passed; the frozen one, resumed (SIGCONT), acknowledges them late as
//!   duplicates without calling its handler.
//! - A listener cut off by the network (a forwarder that stops every byte,
//!   then resets the connection) for longer than ack_wait: its in-flight
//!   events are delivered again, applied once, and it resumes by itself.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod fault_support;
mod ordering_support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fault_support::{ChildInstance, Forwarder, Observed};
use ordering_support::{GROUP, TicketCreated, TicketEvent, event, publish_all, wait_until};
use typebus::nats::KvSequenceStore;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::ordering::{MemorySequenceStore, SequenceStore, Sequenced};
use typebus::testing::NatsServer;
use typebus::{Bus, Delivery, HandlerError, ListenOptions, Listener, StreamConfig, consumer_name};

const ACK_WAIT: Duration = Duration::from_secs(2);
const BUCKET: &str = "dead-instance-sequences";
const EFFECTS: &str = "EFFECTS";
/// Set in the child process: the server's URL.
const CHILD_URL: &str = "TYPEBUS_DEAD_INSTANCE_URL";
const CHILD_TEST: &str = "frozen_instance_process";

fn options(url: &str) -> ConnectOptions {
    ConnectOptions::new(url)
        .pull_expiry(Duration::from_secs(1))
        .idle_heartbeat(Duration::from_millis(500))
        .max_reconnect_delay(Duration::from_millis(250))
        .request_timeout(Duration::from_secs(3))
        .publish_timeout(Duration::from_secs(3))
}

async fn connect(url: &str) -> NatsTransport {
    NatsTransport::connect(options(url)).await.unwrap()
}

/// The handler: each call is one effect, a message on `effects.<instance>`
/// in the `EFFECTS` stream (not idempotent: two calls, two effects).
struct Apply {
    instance: &'static str,
    js: async_nats::jetstream::Context,
}

impl Listener for Apply {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(GROUP).ack_wait(ACK_WAIT)
    }

    async fn on_message(&self, ticket: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        let body = format!("{} {}", ticket.id, ticket.version);
        self.js
            .publish(format!("effects.{}", self.instance), body.into())
            .await
            .map_err(HandlerError::retry)?
            .await
            .map_err(HandlerError::retry)?;
        Ok(())
    }
}

/// Every effect stored: (instance, record id, version).
async fn effects(js: &async_nats::jetstream::Context) -> Vec<(String, String, u64)> {
    let Ok(mut stream) = js.get_stream(EFFECTS).await else {
        return Vec::new();
    };
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            let body = String::from_utf8(message.payload.to_vec()).unwrap();
            let (id, version) = body.split_once(' ').unwrap();
            let instance = message.subject.as_str().trim_start_matches("effects.");
            out.push((instance.to_owned(), id.to_owned(), version.parse().unwrap()));
        }
    }
    out
}

/// Whether the `ticket:created` consumer has nothing pending or unsettled.
async fn settled(js: &async_nats::jetstream::Context) -> bool {
    let Ok(stream) = js.get_stream("EVENTS").await else {
        return false;
    };
    matches!(
        stream.consumer_info(consumer_name(GROUP, "ticket:created")).await,
        Ok(info) if info.num_pending == 0 && info.num_ack_pending == 0
    )
}

/// The instance the child process runs: guarded over the shared KV store,
/// reporting each batch on stdout and holding it 1.5 s before the guard
/// sees it (the window in which the parent freezes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the frozen instance's process, started by the test below"]
async fn frozen_instance_process() {
    let url = std::env::var(CHILD_URL).expect("run by the parent test");
    let transport = connect(&url).await;
    let js = transport.jetstream().clone();
    let store: Arc<dyn SequenceStore> = Arc::new(KvSequenceStore::open(&js, BUCKET).await.unwrap());
    let mut listener = Observed::new(Sequenced::new(Apply { instance: "a", js }, store));
    listener.hold = Some(Duration::from_millis(1500));
    listener.report = true;
    let _handle = Bus::new(transport)
        .listen_with(listener, |o: ListenOptions| o.concurrency(16).prefetch(16))
        .await
        .unwrap();
    println!("CHILD LISTENING");
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_loses_its_events_to_the_other_after_ack_wait_and_its_late_ack_applies_nothing()
 {
    hand_over(Fault::Freeze).await;
}

/// Killed (SIGKILL) instead: the server sees the connection close at once,
/// and still waits for ack_wait before it hands the events to B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_loses_its_events_to_the_other_after_ack_wait() {
    hand_over(Fault::Kill).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGSTOP while it holds a batch, SIGCONT once B applied everything.
    Freeze,
    /// SIGKILL while it holds a batch.
    Kill,
}

/// Instance A (a child process) takes a batch and is frozen or killed
/// before its guard sees it; instance B applies every event once, A's
/// after ack_wait; a frozen A, resumed, applies nothing.
async fn hand_over(fault: Fault) {
    const RECORDS: usize = 20;
    let started = Instant::now();
    let server = NatsServer::start().unwrap();
    let admin = connect(&server.url()).await;
    let js = admin.jetstream().clone();
    let bus = Bus::new(admin);
    bus.provision(&StreamConfig::new(["ticket:created"]))
        .await
        .unwrap();
    js.create_stream(async_nats::jetstream::stream::Config {
        name: EFFECTS.into(),
        subjects: vec!["effects.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    // The bucket exists before either instance opens it.
    KvSequenceStore::open(&js, BUCKET).await.unwrap();
    let events: Vec<TicketEvent> = (0..RECORDS).map(|i| event(i, 0)).collect();
    publish_all(&bus, &events).await;

    // Instance A, alone, takes a batch; frozen while it holds it.
    let a = ChildInstance::spawn(CHILD_TEST, &[(CHILD_URL, server.url())]);
    a.next_line("LISTENING", Duration::from_secs(30)).await;
    let received = a.next_line("RECEIVED", Duration::from_secs(30)).await;
    let (signal, state) = match fault {
        Fault::Freeze => ("STOP", 'T'),
        Fault::Kill => ("KILL", 'Z'),
    };
    a.signal(signal);
    let frozen_at = Instant::now();
    wait_until(Duration::from_secs(5), "the child to stop", async || {
        a.state() == state
    })
    .await;
    let held: Vec<(String, u64)> = received
        .trim_start_matches("RECEIVED ")
        .split(' ')
        .map(|item| {
            let (id, rest) = item.split_once('@').unwrap();
            let (version, delivered) = rest.split_once('#').unwrap();
            assert_eq!(delivered, "1", "{item}: A's first delivery");
            (id.to_owned(), version.parse().unwrap())
        })
        .collect();
    assert!(!held.is_empty());

    // Instance B, in this process on its own connection, same queue group.
    let b_transport = connect(&server.url()).await;
    let b_js = b_transport.jetstream().clone();
    let store: Arc<dyn SequenceStore> =
        Arc::new(KvSequenceStore::open(&b_js, BUCKET).await.unwrap());
    let b = Observed::new(Sequenced::new(
        Apply {
            instance: "b",
            js: b_js,
        },
        store,
    ));
    let seen = b.seen();
    let b_handle = Bus::new(b_transport)
        .listen_with(b, |o: ListenOptions| o.concurrency(16).prefetch(16))
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(30),
        "every event to be applied while A is frozen",
        async || effects(&js).await.len() >= RECORDS,
    )
    .await;
    let settled_line = match fault {
        Fault::Freeze => {
            // Still frozen: the server never saw it leave.
            assert_eq!(a.state(), 'T');
            // A comes back: it finishes the batch it held, late. It may
            // hold a second batch too (gathered before it stopped), whose
            // timer fires at the same moment: its line may come first.
            a.signal("CONT");
            let mut settled = Vec::new();
            let wanted = format!("SETTLED ok={} failed=0", held.len());
            while settled.len() < 4 && settled.last() != Some(&wanted) {
                settled.push(a.next_line("SETTLED", Duration::from_secs(30)).await);
            }
            for line in &settled {
                assert!(
                    line.ends_with(" failed=0"),
                    "A's resumed batches: {settled:?}"
                );
            }
            settled.pop()
        }
        Fault::Kill => None,
    };
    wait_until(
        Duration::from_secs(30),
        "the consumer to settle",
        async || settled(&js).await,
    )
    .await;
    b_handle.shutdown().await.unwrap();
    drop(a);

    let effects = effects(&js).await;
    let mut per_event: BTreeMap<(String, u64), Vec<String>> = BTreeMap::new();
    for (instance, id, version) in &effects {
        per_event
            .entry((id.clone(), *version))
            .or_default()
            .push(instance.clone());
    }
    let twice: Vec<_> = per_event.iter().filter(|(_, by)| by.len() != 1).collect();
    assert!(twice.is_empty(), "events applied more than once: {twice:?}");
    assert_eq!(per_event.len(), RECORDS, "every event applied");
    // A's late completion acknowledged its batch as duplicates: Ok for
    // each, and no effect of A's.
    if let Some(line) = settled_line {
        assert_eq!(
            line,
            format!("SETTLED ok={} failed=0", held.len()),
            "A's resumed batch"
        );
    }
    assert!(
        effects.iter().all(|(instance, _, _)| instance == "b"),
        "the frozen instance applied something: {effects:?}"
    );
    // B got A's events as redeliveries, after ack_wait, and each once.
    let seen = seen.lock().unwrap().clone();
    let mut first_seen: HashMap<(String, u64), (u64, Instant)> = HashMap::new();
    for s in &seen {
        first_seen
            .entry((s.id.clone(), s.sequence))
            .or_insert((s.delivered, s.at));
    }
    for key in &held {
        let (delivered, at) = first_seen
            .get(key)
            .unwrap_or_else(|| panic!("{key:?}: A's event never reached B"));
        assert!(*delivered >= 2, "{key:?} reached B on delivery {delivered}");
        // Acks from A stopped at the freeze; its last in-progress ack came
        // at most half an ack_wait before it.
        let after = at.duration_since(frozen_at);
        assert!(
            after >= ACK_WAIT / 2,
            "{key:?} reached B {after:?} after A froze, before its ack_wait ran out"
        );
    }
    eprintln!(
        "{fault:?}: A held {} events; B applied them {:?} after; {} deliveries seen by B; {:?} in all",
        held.len(),
        held.iter()
            .filter_map(|k| first_seen.get(k))
            .map(|(_, at)| at.duration_since(frozen_at))
            .min(),
        seen.len(),
        started.elapsed()
    );
}

/// The cut-off listener's handler: one effect per call, in process memory.
struct Record {
    applied: Arc<Mutex<HashMap<(String, u64), u32>>>,
}

impl Listener for Record {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(GROUP).ack_wait(ACK_WAIT)
    }

    async fn on_message(&self, ticket: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        // Slow enough that events are in flight when the network goes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        *self
            .applied
            .lock()
            .unwrap()
            .entry((ticket.id, ticket.version))
            .or_default() += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_cut_off_longer_than_ack_wait_gets_its_events_again_applies_them_once_and_resumes()
 {
    const FIRST: usize = 100;
    const LATER: usize = 20;
    let started = Instant::now();
    let server = NatsServer::start().unwrap();
    let admin = connect(&server.url()).await;
    let js = admin.jetstream().clone();
    let bus = Bus::new(admin);
    bus.provision(&StreamConfig::new(["ticket:created"]))
        .await
        .unwrap();
    let forwarder = Forwarder::start(server.port()).await;
    let applied = Arc::new(Mutex::new(HashMap::new()));
    let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
    let listener = Observed::new(Sequenced::new(
        Record {
            applied: Arc::clone(&applied),
        },
        store,
    ));
    let seen = listener.seen();
    let handle = Bus::new(connect(&forwarder.url()).await)
        .listen_with(listener, |o: ListenOptions| o.concurrency(8).prefetch(16))
        .await
        .unwrap();
    let count = |applied: &Mutex<HashMap<(String, u64), u32>>| applied.lock().unwrap().len();
    let events: Vec<TicketEvent> = (0..FIRST).map(|i| event(i, 0)).collect();
    publish_all(&bus, &events).await;
    wait_until(Duration::from_secs(20), "the first events", async || {
        count(&applied) >= 10
    })
    .await;

    // The network drops everything for three ack_waits, then the
    // connection is reset.
    forwarder.pause();
    let during = count(&applied);
    tokio::time::sleep(ACK_WAIT * 3).await;
    forwarder.cut();
    eprintln!(
        "{during} events applied when the network went, {} when it came back",
        count(&applied)
    );

    wait_until(
        Duration::from_secs(40),
        "every event after the outage",
        async || count(&applied) >= FIRST,
    )
    .await;
    // It resumed by itself: events published now are handled too.
    let later: Vec<TicketEvent> = (FIRST..FIRST + LATER).map(|i| event(i, 0)).collect();
    publish_all(&bus, &later).await;
    wait_until(Duration::from_secs(30), "the later events", async || {
        count(&applied) >= FIRST + LATER
    })
    .await;
    wait_until(
        Duration::from_secs(30),
        "the consumer to settle",
        async || settled(&js).await,
    )
    .await;
    assert!(!handle.is_finished(), "the listener stopped");
    handle.shutdown().await.unwrap();

    let applied = applied.lock().unwrap().clone();
    assert_eq!(applied.len(), FIRST + LATER);
    let twice: Vec<_> = applied.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    let seen = seen.lock().unwrap().clone();
    let redelivered: Vec<_> = seen.iter().filter(|s| s.delivered >= 2).collect();
    assert!(
        !redelivered.is_empty(),
        "no event was delivered again: the outage cut nothing in flight"
    );
    assert!(
        forwarder.accepted() >= 2,
        "the listener never reconnected through the forwarder"
    );
    eprintln!(
        "{} deliveries, {} of them again after the outage; {} connections; {:?} in all",
        seen.len(),
        redelivered.len(),
        forwarder.accepted(),
        started.elapsed()
    );
}

/// The same freeze inside the handler, with the handler's write and the
/// record of its step in one PostgreSQL transaction
/// (`PgSequenceStore::record_in`): the frozen instance has written its
/// effect, uncommitted, when it stops. The other instance takes the claim
/// over (a later delivery of the same message) and commits; the frozen one,
/// resumed, finds the step recorded, rolls its write back and acknowledges.
/// The handler ran twice for those events; their effect is there once.
#[cfg(feature = "postgres")]
mod postgres {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sqlx::PgPool;
    use sqlx::postgres::PgPoolOptions;
    use typebus::ordering::{SequenceStore, Sequenced, Step};
    use typebus::postgres::{PgSequenceStore, Schema};
    use typebus::{Bus, Delivery, HandlerError, ListenOptions, Listener, StreamConfig};

    use super::fault_support::{ChildInstance, Observed};
    use super::ordering_support::{
        GROUP, TicketCreated, TicketEvent, event, publish_all, wait_until,
    };
    use super::{ACK_WAIT, CHILD_URL, connect, settled};

    const CHILD_SCHEMA: &str = "TYPEBUS_DEAD_INSTANCE_SCHEMA";
    const CHILD_TEST: &str = "postgres::frozen_in_handler_process";

    fn database_url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    async fn pool() -> PgPool {
        PgPoolOptions::new()
            .max_connections(8)
            .connect(&database_url())
            .await
            .expect("PostgreSQL reachable at DATABASE_URL (or 127.0.0.1:5432/test)")
    }

    /// Inserts one `effects` row and records the step in one transaction;
    /// `hold` waits between the two (where the parent freezes the child).
    struct PgApply {
        instance: &'static str,
        pool: PgPool,
        store: Arc<PgSequenceStore>,
        effects: String,
        hold: Option<Duration>,
    }

    impl Listener for PgApply {
        type Event = TicketCreated;

        fn options(&self) -> ListenOptions {
            ListenOptions::new(GROUP).ack_wait(ACK_WAIT)
        }

        async fn on_message(
            &self,
            ticket: TicketCreated,
            _: &Delivery,
        ) -> Result<(), HandlerError> {
            let mut tx = self.pool.begin().await.map_err(HandlerError::retry)?;
            sqlx::query(&format!(
                "INSERT INTO {} (instance, id, version) VALUES ($1, $2, $3)",
                self.effects
            ))
            .bind(self.instance)
            .bind(&ticket.id)
            .bind(ticket.version as i64)
            .execute(&mut *tx)
            .await
            .map_err(HandlerError::retry)?;
            if let Some(hold) = self.hold {
                println!("CHILD IN_HANDLER {}", ticket.id);
                tokio::time::sleep(hold).await;
            }
            if !self
                .store
                .record_in(&mut tx, &Step::of(&ticket))
                .await
                .map_err(HandlerError::retry)?
            {
                if self.hold.is_some() {
                    println!("CHILD ROLLED_BACK {}", ticket.id);
                }
                return Ok(()); // applied meanwhile: roll back
            }
            tx.commit().await.map_err(HandlerError::retry)?;
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "the frozen instance's process, started by the test below"]
    async fn frozen_in_handler_process() {
        let url = std::env::var(CHILD_URL).expect("run by the parent test");
        let name = std::env::var(CHILD_SCHEMA).expect("run by the parent test");
        let pool = pool().await;
        let store = Arc::new(PgSequenceStore::new(
            pool.clone(),
            Schema::new(name.clone()).unwrap(),
        ));
        let handler = PgApply {
            instance: "a",
            pool,
            store: Arc::clone(&store),
            effects: format!("\"{name}\".effects"),
            hold: Some(Duration::from_millis(1500)),
        };
        let mut listener = Observed::new(Sequenced::new(handler, store as Arc<dyn SequenceStore>));
        listener.report = true;
        let _handle = Bus::new(connect(&url).await)
            .listen_with(listener, |o: ListenOptions| {
                o.concurrency(16)
                    .prefetch(16)
                    .handler_timeout(Duration::from_secs(60))
            })
            .await
            .unwrap();
        println!("CHILD LISTENING");
        std::future::pending::<()>().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_frozen_inside_its_handler_rolls_its_write_back_when_it_resumes() {
        const RECORDS: usize = 20;
        let started = Instant::now();
        let server = typebus::testing::NatsServer::start().unwrap();
        let bus = Bus::new(connect(&server.url()).await);
        bus.provision(&StreamConfig::new(["ticket:created"]))
            .await
            .unwrap();
        let js = connect(&server.url()).await.jetstream().clone();
        let pool = pool().await;
        let name = format!("t_{}", nuid::next().to_string().to_lowercase());
        let schema = Schema::new(name.clone()).unwrap();
        schema.install(&pool).await.unwrap();
        let effects = format!("\"{name}\".effects");
        sqlx::query(&format!(
            "CREATE TABLE {effects} (instance text NOT NULL, id text NOT NULL, version bigint NOT NULL)"
        ))
        .execute(&pool)
        .await
        .unwrap();
        let events: Vec<TicketEvent> = (0..RECORDS).map(|i| event(i, 0)).collect();
        publish_all(&bus, &events).await;

        let a = ChildInstance::spawn(
            CHILD_TEST,
            &[(CHILD_URL, server.url()), (CHILD_SCHEMA, name.clone())],
        );
        a.next_line("LISTENING", Duration::from_secs(30)).await;
        let first = a.next_line("IN_HANDLER", Duration::from_secs(30)).await;
        a.signal("STOP");
        let frozen_at = Instant::now();
        wait_until(Duration::from_secs(5), "the child to stop", async || {
            a.state() == 'T'
        })
        .await;
        let held = first.trim_start_matches("IN_HANDLER ").to_owned();

        let store = Arc::new(PgSequenceStore::new(pool.clone(), schema));
        let b = PgApply {
            instance: "b",
            pool: pool.clone(),
            store: Arc::clone(&store),
            effects: effects.clone(),
            hold: None,
        };
        let b_handle = Bus::new(connect(&server.url()).await)
            .listen_with(
                Sequenced::new(b, store as Arc<dyn SequenceStore>),
                |o: ListenOptions| o.concurrency(16).prefetch(16),
            )
            .await
            .unwrap();
        let rows = async || -> Vec<(String, String, i64)> {
            sqlx::query_as(&format!("SELECT instance, id, version FROM {effects}"))
                .fetch_all(&pool)
                .await
                .unwrap()
        };
        wait_until(
            Duration::from_secs(30),
            "every event to be applied while A is frozen",
            async || rows().await.len() >= RECORDS,
        )
        .await;
        let applied_after = frozen_at.elapsed();

        a.signal("CONT");
        // Until every event A was handling is rolled back and its batches
        // settled.
        let ids = |lines: &[String], prefix: &str| -> BTreeSet<String> {
            lines
                .iter()
                .filter_map(|line| line.strip_prefix(prefix))
                .map(str::to_owned)
                .chain((prefix == "IN_HANDLER ").then(|| held.clone()))
                .collect()
        };
        let lines = a
            .lines_until(Duration::from_secs(30), |lines| {
                ids(lines, "ROLLED_BACK ").is_superset(&ids(lines, "IN_HANDLER "))
                    && lines.last().is_some_and(|l| l.starts_with("SETTLED"))
            })
            .await;
        wait_until(
            Duration::from_secs(30),
            "the consumer to settle",
            async || settled(&js).await,
        )
        .await;
        b_handle.shutdown().await.unwrap();
        drop(a);

        let rows = rows().await;
        let mut per_event: BTreeMap<(String, i64), Vec<String>> = BTreeMap::new();
        for (instance, id, version) in &rows {
            per_event
                .entry((id.clone(), *version))
                .or_default()
                .push(instance.clone());
        }
        let twice: Vec<_> = per_event.iter().filter(|(_, by)| by.len() != 1).collect();
        assert!(twice.is_empty(), "events applied more than once: {twice:?}");
        assert_eq!(per_event.len(), RECORDS, "every event applied");
        // A ran its handler for the events it held, and rolled each back.
        let in_handler = ids(&lines, "IN_HANDLER ");
        assert_eq!(ids(&lines, "ROLLED_BACK "), in_handler, "{lines:?}");
        assert_eq!(
            per_event.get(&(held.clone(), 0)).map(Vec::as_slice),
            Some(&["b".to_owned()][..]),
            "the held event's effect"
        );
        for line in lines.iter().filter(|l| l.starts_with("SETTLED")) {
            assert!(line.ends_with("failed=0"), "A's resumed batch: {line}");
        }
        eprintln!(
            "A froze inside the handlers of {} events; B applied every event {applied_after:?} after; {:?} in all",
            in_handler.len(),
            started.elapsed()
        );
        let _ = sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
            .execute(&pool)
            .await;
    }
}
