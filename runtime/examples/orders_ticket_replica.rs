//! The orders service's replica of tickets (REFERENCE.md), written with the
//! ordering guard: orders listens to `ticket:created` and `ticket:updated`
//! and keeps a local copy of each ticket (id, title, price, version).
//!
//! The old listener of `ticket:updated` looked up the local ticket at
//! `version - 1` and failed without an ack when there was none, so that an
//! early event came back later; a duplicate was applied twice or failed
//! forever. Here the handlers just apply the event: [`Sequenced`] hands each
//! ticket's events over once, in version order, and acknowledges the
//! duplicates.
//!
//! Run it on the embedded broker (it publishes a shuffled history with
//! duplicates, replicates it, and prints the copy):
//!
//! ```text
//! cargo run -p typebus --example orders_ticket_replica
//! ```
//!
//! or against a nats-server with JetStream, the sequences in a key-value
//! bucket:
//!
//! ```text
//! cargo run -p typebus --example orders_ticket_replica -- nats://127.0.0.1:4222
//! ```
//!
//! `runtime/tests/ordering_example.rs` runs [`replicate`] on both.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use typebus::ordering::{MemorySequenceStore, SequenceStore, Sequenced};
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenOptions, Listener, ListenerHandle, StreamConfig,
    Versioned,
};

/// `ticket:created`, as the tickets service publishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:created", version = 1)]
pub struct TicketCreated {
    /// The ticket's id.
    pub id: String,
    /// 0 for a new ticket.
    pub version: u64,
    /// The title.
    pub title: String,
    /// The price.
    pub price: f64,
    /// The seller.
    #[serde(rename = "userId")]
    pub user_id: String,
}

/// `ticket:updated`, as the tickets service publishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:updated", version = 1)]
pub struct TicketUpdated {
    /// The ticket's id.
    pub id: String,
    /// The version after this save.
    pub version: u64,
    /// The title.
    pub title: String,
    /// The price.
    pub price: f64,
    /// The seller.
    #[serde(rename = "userId")]
    pub user_id: String,
    /// The order that reserves the ticket, if one does.
    #[serde(rename = "orderId", default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

// What `aggregate: { name: ticket, id: id, sequence: version }` generates.
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

/// The orders service's copy of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The title.
    pub title: String,
    /// The price.
    pub price: f64,
    /// The version of the last applied event.
    pub version: u64,
}

/// The orders service's ticket table (a database in the real service).
#[derive(Debug, Default)]
pub struct Tickets {
    rows: Mutex<BTreeMap<String, Ticket>>,
    writes: Mutex<u64>,
}

impl Tickets {
    /// Writes the ticket as of `version`. Idempotent: writing one version
    /// twice leaves what writing it once does (the guard's contract asks
    /// for that, since a crash can repeat a handler call).
    fn upsert(&self, id: &str, ticket: Ticket) {
        *self.writes.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), ticket);
    }

    /// Every ticket, by id.
    pub fn all(&self) -> BTreeMap<String, Ticket> {
        self.rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many writes the handlers made.
    pub fn writes(&self) -> u64 {
        *self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// orders: `ticket:created` -> store a local copy.
pub struct TicketCreatedListener(pub Arc<Tickets>);

impl Listener for TicketCreatedListener {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new("orders-service")
    }

    async fn on_message(&self, t: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        self.0.upsert(
            &t.id,
            Ticket {
                title: t.title,
                price: t.price,
                version: t.version,
            },
        );
        Ok(())
    }
}

/// orders: `ticket:updated` -> update the local copy. No "find at
/// version - 1, else fail": the guard calls this only for the next version.
pub struct TicketUpdatedListener(pub Arc<Tickets>);

impl Listener for TicketUpdatedListener {
    type Event = TicketUpdated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new("orders-service")
    }

    async fn on_message(&self, t: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
        self.0.upsert(
            &t.id,
            Ticket {
                title: t.title,
                price: t.price,
                version: t.version,
            },
        );
        Ok(())
    }
}

/// Starts the orders service's two replica listeners, guarded by `store`.
pub async fn start(
    bus: &Bus,
    tickets: &Arc<Tickets>,
    store: Arc<dyn SequenceStore>,
) -> Result<Vec<ListenerHandle>, typebus::ListenError> {
    let early = Duration::from_millis(200);
    Ok(vec![
        bus.listen(
            Sequenced::new(
                TicketCreatedListener(Arc::clone(tickets)),
                Arc::clone(&store),
            )
            .early_delay(early),
        )
        .await?,
        bus.listen(
            Sequenced::new(TicketUpdatedListener(Arc::clone(tickets)), store).early_delay(early),
        )
        .await?,
    ])
}

/// The history the example publishes: `tickets` tickets, each created and
/// then updated three times, in a scrambled order with every fourth event
/// sent twice.
pub fn history(tickets: usize) -> Vec<(u64, TicketUpdated)> {
    let mut events = Vec::new();
    for i in 0..tickets {
        for version in 0..4u64 {
            events.push((
                version,
                TicketUpdated {
                    id: format!("{:024x}", 0x5f1a_u64 << 32 | i as u64),
                    version,
                    title: format!("concert #{i}"),
                    price: 20.0 + version as f64 * 2.5,
                    user_id: "5e9f8f8f8f8f8f8f8f8f8f8f".into(),
                    order_id: (version % 2 == 1)
                        .then(|| format!("{:024x}", 0x0dde_u64 << 32 | i as u64)),
                },
            ));
        }
    }
    // Newest versions first, then every fourth event again.
    events.sort_by_key(|(version, event)| (std::cmp::Reverse(*version), event.id.clone()));
    let repeats: Vec<_> = events.iter().step_by(4).cloned().collect();
    events.extend(repeats);
    events
}

/// Publishes `history`, replicates it with `store`, and returns the
/// replica once every ticket reached its last version.
pub async fn replicate(
    bus: &Bus,
    store: Arc<dyn SequenceStore>,
    tickets: usize,
) -> Result<Arc<Tickets>, Box<dyn std::error::Error>> {
    bus.provision(&StreamConfig::new([
        TicketCreated::SUBJECT,
        TicketUpdated::SUBJECT,
    ]))
    .await?;
    let created = bus.publisher::<TicketCreated>();
    let updated = bus.publisher::<TicketUpdated>();
    for (version, event) in history(tickets) {
        if version == 0 {
            let TicketUpdated {
                id,
                version,
                title,
                price,
                user_id,
                ..
            } = event;
            created
                .publish(&TicketCreated {
                    id,
                    version,
                    title,
                    price,
                    user_id,
                })
                .await?;
        } else {
            updated.publish(&event).await?;
        }
    }
    let replica = Arc::new(Tickets::default());
    let handles = start(bus, &replica, store).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while replica.all().values().filter(|t| t.version == 3).count() < tickets {
        if tokio::time::Instant::now() > deadline {
            return Err("the replica did not catch up in 2 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for handle in handles {
        handle.shutdown().await?;
    }
    Ok(replica)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (bus, store): (Bus, Arc<dyn SequenceStore>) = match std::env::args().nth(1) {
        Some(url) => {
            let transport =
                typebus::nats::NatsTransport::connect(typebus::nats::ConnectOptions::new(url))
                    .await?;
            let store = typebus::nats::KvSequenceStore::open(
                transport.jetstream(),
                "orders-service-sequences",
            )
            .await?;
            (Bus::new(transport), Arc::new(store))
        }
        None => (typebus::memory::bus(), Arc::new(MemorySequenceStore::new())),
    };
    let replica = replicate(&bus, store, 5).await?;
    for (id, ticket) in replica.all() {
        println!(
            "{id}  v{}  {:<12} {:>6.2}",
            ticket.version, ticket.title, ticket.price
        );
    }
    println!("{} writes for {} events", replica.writes(), 5 * 4);
    Ok(())
}
