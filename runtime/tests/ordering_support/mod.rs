//! Shared scenarios of the ordering tests, run on both transports: the
//! orders service's replica of tickets (REFERENCE.md) behind the ordering
//! guard, fed shuffled events with duplicates, and a record with a gap.

#![allow(dead_code, unreachable_pub)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use typebus::ordering::{SequenceStore, Sequenced};
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenOptions, Listener, ListenerHandle, StreamConfig,
    Versioned,
};

pub const GROUP: &str = "orders-service";
pub const VERSIONS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:created", version = 1)]
pub struct TicketCreated {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub price: f64,
    #[serde(rename = "userId")]
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:updated", version = 1)]
pub struct TicketUpdated {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub price: f64,
    #[serde(rename = "userId")]
    pub user_id: String,
}

impl Versioned for TicketCreated {
    const AGGREGATE: &'static str = "ticket";
    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.id)
    }
    fn sequence(&self) -> u64 {
        self.version
    }
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

/// One event of the workload.
#[derive(Debug, Clone)]
pub enum TicketEvent {
    Created(TicketCreated),
    Updated(TicketUpdated),
}

/// The local copy the orders service keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub title: String,
    pub price: f64,
    pub version: u64,
}

fn title(id: &str, version: u64) -> String {
    format!("{id} v{version}")
}

fn price(record: usize, version: u64) -> f64 {
    (record as f64) + (version as f64) / 4.0
}

/// Record `i`'s id: a 24-character hex object id, as the old services had.
pub fn record_id(i: usize) -> String {
    format!("{:024x}", 0x5f1a_0000_0000_0000_u64 + i as u64)
}

/// The event of record `i` at `version` (0: created).
pub fn event(i: usize, version: u64) -> TicketEvent {
    let id = record_id(i);
    let title = title(&id, version);
    let price = price(i, version);
    let user_id = "5e9f8f8f8f8f8f8f8f8f8f8f".to_owned();
    if version == 0 {
        TicketEvent::Created(TicketCreated {
            id,
            version,
            title,
            price,
            user_id,
        })
    } else {
        TicketEvent::Updated(TicketUpdated {
            id,
            version,
            title,
            price,
            user_id,
        })
    }
}

/// The state in-order application of `versions` versions of `records`
/// records leaves.
pub fn expected_state(records: usize, versions: u64) -> BTreeMap<String, Ticket> {
    (0..records)
        .map(|i| {
            let id = record_id(i);
            let last = versions - 1;
            (
                id.clone(),
                Ticket {
                    title: title(&id, last),
                    price: price(i, last),
                    version: last,
                },
            )
        })
        .collect()
}

/// A small deterministic generator (xorshift64*), so that a failing
/// shuffle can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Every version of every record, plus `duplicates` extra copies of random
/// events, shuffled.
pub fn shuffled_workload(
    records: usize,
    versions: u64,
    duplicates: usize,
    seed: u64,
) -> Vec<TicketEvent> {
    let mut rng = Rng::new(seed);
    let mut events: Vec<TicketEvent> = (0..records)
        .flat_map(|i| (0..versions).map(move |v| event(i, v)))
        .collect();
    for _ in 0..duplicates {
        let i = rng.below(records);
        let v = rng.below(versions as usize) as u64;
        events.push(event(i, v));
    }
    rng.shuffle(&mut events);
    events
}

/// Publishes `events` pipelined (each publish gets its own message id, so
/// duplicates are stored twice, as when an old service published twice).
pub async fn publish_all(bus: &Bus, events: &[TicketEvent]) {
    let created = bus.publisher::<TicketCreated>();
    let updated = bus.publisher::<TicketUpdated>();
    let mut pending = Vec::with_capacity(events.len());
    for event in events {
        let sent = match event {
            TicketEvent::Created(e) => created.send(e).await,
            TicketEvent::Updated(e) => updated.send(e).await,
        };
        pending.push(sent.expect("sent"));
        if pending.len() >= 512 {
            for ack in pending.drain(..) {
                assert!(!ack.await.expect("stored").duplicate);
            }
        }
    }
    for ack in pending {
        assert!(!ack.await.expect("stored").duplicate);
    }
}

/// The replica "database" shared by every instance of the service, and
/// what the handlers saw.
#[derive(Default)]
pub struct Replica {
    pub tickets: Mutex<BTreeMap<String, Ticket>>,
    /// Handler calls per (record, version).
    pub calls: Mutex<HashMap<(String, u64), u32>>,
    /// Handler calls per instance of the service (see [`start_instance`]).
    pub per_instance: Mutex<BTreeMap<usize, u64>>,
    /// Handler calls that found no local ticket at `version - 1` (what the
    /// old listeners nakked on): never with the guard.
    pub refused: AtomicU64,
}

impl Replica {
    fn called(&self, id: &str, version: u64, instance: usize) {
        *self
            .calls
            .lock()
            .expect("lock")
            .entry((id.to_owned(), version))
            .or_default() += 1;
        *self
            .per_instance
            .lock()
            .expect("lock")
            .entry(instance)
            .or_default() += 1;
    }

    pub fn total_calls(&self) -> u64 {
        self.calls
            .lock()
            .expect("lock")
            .values()
            .map(|&n| u64::from(n))
            .sum()
    }
}

/// orders: `ticket:created` -> store a local copy (as instance `.1`).
pub struct CreateReplica(pub Arc<Replica>, pub usize);

impl Listener for CreateReplica {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(GROUP)
    }

    async fn on_message(&self, ticket: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        self.0.called(&ticket.id, ticket.version, self.1);
        let mut tickets = self.0.tickets.lock().expect("lock");
        if tickets.contains_key(&ticket.id) {
            self.0.refused.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::permanent(format!(
                "ticket {} exists already",
                ticket.id
            )));
        }
        tickets.insert(
            ticket.id,
            Ticket {
                title: ticket.title,
                price: ticket.price,
                version: ticket.version,
            },
        );
        Ok(())
    }
}

/// orders: `ticket:updated` -> update the local copy at `version - 1`
/// (as instance `.1`).
pub struct UpdateReplica(pub Arc<Replica>, pub usize);

impl Listener for UpdateReplica {
    type Event = TicketUpdated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(GROUP)
    }

    async fn on_message(&self, ticket: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
        self.0.called(&ticket.id, ticket.version, self.1);
        let mut tickets = self.0.tickets.lock().expect("lock");
        match tickets.get_mut(&ticket.id) {
            Some(local) if local.version + 1 == ticket.version => {
                local.title = ticket.title;
                local.price = ticket.price;
                local.version = ticket.version;
                Ok(())
            }
            _ => {
                self.0.refused.fetch_add(1, Ordering::SeqCst);
                Err(HandlerError::retry(format!(
                    "no local ticket {} at version {}",
                    ticket.id,
                    ticket.version - 1
                )))
            }
        }
    }
}

/// The guard's settings in these tests.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    pub early_delay: Duration,
    pub max_early_delay: Duration,
    pub patience: u32,
}

/// Starts instance `instance` of the service: both replica listeners,
/// guarded, over `bus` with `store`.
pub async fn start_instance(
    bus: &Bus,
    instance: usize,
    replica: &Arc<Replica>,
    store: Arc<dyn SequenceStore>,
    guard: Guard,
) -> Vec<ListenerHandle> {
    // Early events wait as pending deliveries, and a consumer delivers no
    // more than max_ack_pending at once: the window must hold the whole
    // shuffled backlog, or the early events fill it and the ones that would
    // close their gaps are never delivered (until the patience runs out).
    let options = |o: ListenOptions| o.concurrency(32).prefetch(64).max_ack_pending(20_000);
    let created = Sequenced::new(
        CreateReplica(Arc::clone(replica), instance),
        Arc::clone(&store),
    )
    .early_delay(guard.early_delay)
    .max_early_delay(guard.max_early_delay)
    .patience(guard.patience);
    let updated = Sequenced::new(UpdateReplica(Arc::clone(replica), instance), store)
        .early_delay(guard.early_delay)
        .max_early_delay(guard.max_early_delay)
        .patience(guard.patience);
    vec![
        bus.listen_with(created, options)
            .await
            .expect("listen created"),
        bus.listen_with(updated, options)
            .await
            .expect("listen updated"),
    ]
}

pub fn stream() -> StreamConfig {
    StreamConfig::new(["ticket:created", "ticket:updated"])
}

/// Waits until `done` holds, polling; panics with `what` after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    loop {
        if done().await {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The replicated state equals in-order application; every version was
/// handled exactly once; no handler call found its predecessor missing.
pub fn assert_replicated_exactly_once(replica: &Replica, records: usize) {
    let tickets = replica.tickets.lock().expect("lock");
    let expected = expected_state(records, VERSIONS);
    assert_eq!(tickets.len(), expected.len(), "records replicated");
    for (id, ticket) in &expected {
        assert_eq!(tickets.get(id), Some(ticket), "record {id}");
    }
    assert_eq!(*tickets, expected);
    drop(tickets);
    assert_eq!(
        replica.refused.load(Ordering::SeqCst),
        0,
        "handler calls out of order"
    );
    let calls = replica.calls.lock().expect("lock");
    let mut twice: Vec<_> = calls.iter().filter(|(_, n)| **n != 1).collect();
    twice.sort();
    assert!(
        twice.is_empty(),
        "versions not handled exactly once: {:?}",
        &twice[..twice.len().min(10)]
    );
    assert_eq!(
        calls.len(),
        records * VERSIONS as usize,
        "every version handled"
    );
}

/// The gap scenario's events: record `gap` at versions 0, 2 and 3 (1 is
/// missing), then `records` complete records behind them in the stream.
pub fn gap_workload(records: usize) -> (String, Vec<TicketEvent>) {
    let gap = records; // the record after the complete ones
    let mut events = vec![event(gap, 0), event(gap, 2), event(gap, 3)];
    for i in 0..records {
        for v in 0..VERSIONS {
            events.push(event(i, v));
        }
    }
    (record_id(gap), events)
}

pub const RECORDS: usize = 2_000;
pub const DUPLICATES: usize = 1_000; // 10% of the 10,000 events

/// 2,000 records x 5 versions, shuffled, with 10% duplicates, consumed by
/// two instances of one queue group (one per bus, each with its store):
/// the replica ends as in-order application, each version handled once,
/// and every instance handled a share of the versions (the queue group
/// spread the work: a test where one instance did everything would not
/// exercise the shared store).
pub async fn shuffled_with_duplicates(
    publisher: &Bus,
    instances: Vec<(Bus, Arc<dyn SequenceStore>)>,
    mut settled: impl AsyncFnMut() -> bool,
) {
    publisher.provision(&stream()).await.expect("provision");
    let events = shuffled_workload(RECORDS, VERSIONS, DUPLICATES, 0x7e57_0d3e);
    assert_eq!(events.len(), 11_000);
    publish_all(publisher, &events).await;
    let replica = Arc::new(Replica::default());
    let guard = Guard {
        early_delay: Duration::from_secs(1),
        max_early_delay: Duration::from_secs(16),
        patience: 10_000,
    };
    let mut handles = Vec::new();
    for (instance, (bus, store)) in instances.iter().enumerate() {
        handles.extend(start_instance(bus, instance, &replica, Arc::clone(store), guard).await);
    }
    let expected = (RECORDS * VERSIONS as usize) as u64;
    wait_until(
        Duration::from_secs(900),
        "every version to be applied",
        async || {
            let calls = replica.total_calls();
            eprintln!("{calls} of {expected} versions applied");
            calls >= expected
        },
    )
    .await;
    wait_until(
        Duration::from_secs(60),
        "every delivery to be settled",
        async || settled().await,
    )
    .await;
    for handle in handles {
        handle.shutdown().await.expect("shutdown");
    }
    assert_replicated_exactly_once(&replica, RECORDS);
    let shares = replica.per_instance.lock().expect("lock").clone();
    eprintln!("handler calls per instance: {shares:?}");
    for instance in 0..instances.len() {
        let share = shares.get(&instance).copied().unwrap_or(0);
        // A share, not an even split: which instance pulls first varies.
        assert!(
            share >= expected / 20,
            "instance {instance} handled {share} of {expected} versions: {shares:?}"
        );
    }
}

/// A dead letter as the test reads it back.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub kind: String,
    pub reason: String,
    /// The delivery on which it was dead-lettered.
    pub deliveries: u64,
    pub body: TicketUpdated,
}

/// Record `gap` lacks version 1: its versions 2 and 3 are dead-lettered
/// with the gap reason after the patience, while 50 complete records
/// published behind them are applied exactly once.
pub async fn gap_is_dead_lettered(
    bus: &Bus,
    store: Arc<dyn SequenceStore>,
    mut dead_letters: impl AsyncFnMut() -> Vec<DeadLetter>,
) {
    const COMPLETE: usize = 50;
    bus.provision(&stream()).await.expect("provision");
    let (gap, events) = gap_workload(COMPLETE);
    publish_all(bus, &events).await;
    let replica = Arc::new(Replica::default());
    let guard = Guard {
        early_delay: Duration::from_millis(100),
        max_early_delay: Duration::from_millis(100),
        patience: 5,
    };
    let started = Instant::now();
    let handles = start_instance(bus, 0, &replica, store, guard).await;
    wait_until(
        Duration::from_secs(60),
        "both gap events to be dead-lettered",
        async || dead_letters().await.len() >= 2,
    )
    .await;
    // The patience: the gap events were delivered `patience` times, nakked
    // with `early_delay` in between, before they were dead-lettered.
    let waited = started.elapsed();
    let least = guard.early_delay * (guard.patience - 1);
    assert!(
        waited >= least,
        "dead-lettered after {waited:?}, before the patience ({least:?})"
    );
    wait_until(
        Duration::from_secs(60),
        "the complete records",
        async || replica.total_calls() >= (COMPLETE * VERSIONS as usize + 1) as u64,
    )
    .await;
    for handle in handles {
        handle.shutdown().await.expect("shutdown");
    }
    let mut letters = dead_letters().await;
    letters.sort_by_key(|letter| letter.body.version);
    assert_eq!(letters.len(), 2, "{letters:?}");
    for (letter, version) in letters.iter().zip([2, 3]) {
        assert_eq!(letter.kind, "gap");
        assert_eq!(
            letter.deliveries,
            u64::from(guard.patience),
            "dead-lettered on delivery {} of a patience of {}",
            letter.deliveries,
            guard.patience
        );
        assert_eq!(letter.reason, format!("gap: waiting for ticket/{gap}@1"));
        assert_eq!(
            (letter.body.id.as_str(), letter.body.version),
            (gap.as_str(), version)
        );
    }
    // The gap record's first version was applied, its later ones never handled.
    let tickets = replica.tickets.lock().expect("lock");
    assert_eq!(tickets.get(&gap).map(|t| t.version), Some(0));
    let calls = replica.calls.lock().expect("lock");
    assert_eq!(calls.get(&(gap.clone(), 0)), Some(&1));
    assert!(!calls.contains_key(&(gap.clone(), 2)) && !calls.contains_key(&(gap.clone(), 3)));
    drop(calls);
    let complete: BTreeMap<_, _> = tickets
        .iter()
        .filter(|(id, _)| **id != gap)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    drop(tickets);
    assert_eq!(complete, expected_state(COMPLETE, VERSIONS));
    assert_eq!(replica.refused.load(Ordering::SeqCst), 0);
    assert!(
        replica
            .calls
            .lock()
            .expect("lock")
            .values()
            .all(|&n| n == 1)
    );
}

/// Reads a dead letter's headers and body.
pub fn dead_letter(headers: &typebus::Headers, body: &[u8]) -> DeadLetter {
    use typebus::headers::names;
    DeadLetter {
        kind: headers.get(names::DLQ_KIND).unwrap_or_default().to_owned(),
        reason: headers
            .get(names::DLQ_REASON)
            .unwrap_or_default()
            .to_owned(),
        deliveries: headers
            .get(names::DLQ_DELIVERIES)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        body: serde_json::from_slice(body).expect("dead letter body is the event"),
    }
}
