//! The generated `Versioned` impls (ticketing-events and the `aggregates`
//! golden fixture) and the ordering guard driving them: the orders
//! service's ticket replica written against the generated types, fed a
//! shuffled history with duplicates on the embedded transport.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ticketing_events::{
    OrderCancelled, OrderCancelledTicket, OrderCreated, OrderCreatedTicket, OrderStatus,
    TicketCreated, TicketUpdated,
};
use typebus::ordering::{MemorySequenceStore, RecordKey, SequenceStore, Sequenced, Step};
use typebus::{
    Delivery, Event, HandlerError, ListenOptions, Listener, StreamConfig, Timestamp, Versioned,
};
use typebus_tests::golden::aggregates::{LedgerPosted, SeatReleased, SeatReserved};

fn ticket(id: &str, version: u64) -> TicketUpdated {
    TicketUpdated {
        id: id.to_owned(),
        version,
        title: format!("concert v{version}"),
        price: 20.0 + version as f64,
        user_id: "5e9f8f8f8f8f8f8f8f8f8f8f".to_owned(),
        order_id: None,
    }
}

#[test]
fn ticket_and_order_events_share_their_aggregate_key_spaces() {
    assert_eq!(TicketCreated::AGGREGATE, "ticket");
    assert_eq!(TicketUpdated::AGGREGATE, "ticket");
    assert_eq!(OrderCreated::AGGREGATE, "order");
    assert_eq!(OrderCancelled::AGGREGATE, "order");
    assert_eq!(TicketUpdated::INITIAL_SEQUENCE, 0);
    let updated = ticket("5f1a0c9e2b7d4a0012345678", 3);
    assert_eq!(updated.id(), "5f1a0c9e2b7d4a0012345678");
    assert_eq!(updated.sequence(), 3);
    let created = TicketCreated {
        id: updated.id.clone(),
        version: 0,
        title: "concert".into(),
        price: 20.0,
        user_id: updated.user_id.clone(),
    };
    // One record across both subjects.
    assert_eq!(RecordKey::of(&created), RecordKey::of(&updated));
    assert_eq!(Step::of(&created).previous, None);
    assert_eq!(Step::of(&updated).previous, Some(2));
    let order = OrderCreated {
        id: "6a2b0c9e2b7d4a0012345678".into(),
        version: 0,
        status: OrderStatus::Created,
        user_id: created.user_id.clone(),
        expires_at: "2020-05-01T12:00:00.000Z".parse::<Timestamp>().unwrap(),
        ticket: OrderCreatedTicket {
            id: created.id.clone(),
            price: 20.0,
        },
    };
    let cancelled = OrderCancelled {
        id: order.id.clone(),
        version: 1,
        ticket: OrderCancelledTicket {
            id: created.id.clone(),
        },
    };
    assert_eq!(RecordKey::of(&order), RecordKey::of(&cancelled));
    assert_ne!(RecordKey::of(&order), RecordKey::of(&created));
}

#[test]
fn fixture_impls_convert_uuid_ids_and_u32_sequences() {
    let seat = typebus::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let reserved = SeatReserved {
        seat_id: seat,
        rev: 7,
        holder: "x".into(),
    };
    assert_eq!(SeatReserved::AGGREGATE, "seat");
    assert_eq!(reserved.id(), "01234567-89ab-cdef-0123-456789abcdef");
    assert_eq!(reserved.sequence(), 7u64);
    let released = SeatReleased {
        rev: u32::MAX,
        seat_id: seat,
    };
    assert_eq!(released.sequence(), u64::from(u32::MAX));
    assert_eq!(RecordKey::of(&reserved), RecordKey::of(&released));
    // No name in the schema: the aggregate is named after the event.
    let posted = LedgerPosted {
        r#type: "cash".into(),
        r#ref: 12,
        amount: 1.5,
    };
    assert_eq!(LedgerPosted::AGGREGATE, "LedgerPosted");
    assert_eq!((posted.id().as_ref(), posted.sequence()), ("cash", 12));
}

/// The orders service's replica, on the generated types.
#[derive(Default)]
struct Replica {
    tickets: Mutex<BTreeMap<String, (String, f64, u64)>>,
    calls: Mutex<BTreeMap<(String, u64), u32>>,
}

struct OnCreated(Arc<Replica>);
struct OnUpdated(Arc<Replica>);

impl Listener for OnCreated {
    type Event = TicketCreated;
    fn options(&self) -> ListenOptions {
        ListenOptions::new("orders-service")
    }
    async fn on_message(&self, t: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        *self
            .0
            .calls
            .lock()
            .expect("lock")
            .entry((t.id.clone(), t.version))
            .or_default() += 1;
        self.0
            .tickets
            .lock()
            .expect("lock")
            .insert(t.id, (t.title, t.price, t.version));
        Ok(())
    }
}

impl Listener for OnUpdated {
    type Event = TicketUpdated;
    fn options(&self) -> ListenOptions {
        ListenOptions::new("orders-service")
    }
    async fn on_message(&self, t: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
        *self
            .0
            .calls
            .lock()
            .expect("lock")
            .entry((t.id.clone(), t.version))
            .or_default() += 1;
        let mut tickets = self.0.tickets.lock().expect("lock");
        match tickets.get_mut(&t.id) {
            Some(local) if local.2 + 1 == t.version => {
                *local = (t.title, t.price, t.version);
                Ok(())
            }
            _ => Err(HandlerError::permanent("applied out of order")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_replicates_generated_ticket_events_once_in_order() {
    const RECORDS: usize = 100;
    let broker = typebus::memory::Broker::new();
    let bus = broker.bus();
    bus.provision(&StreamConfig::new([
        TicketCreated::SUBJECT,
        TicketUpdated::SUBJECT,
    ]))
    .await
    .unwrap();
    let ids: Vec<String> = (0..RECORDS)
        .map(|i| format!("{:024x}", 0x5f1a_0000 + i))
        .collect();
    // Newest versions first, every third event twice.
    let mut history: Vec<TicketUpdated> = (0..5u64)
        .rev()
        .flat_map(|v| ids.iter().map(move |id| ticket(id, v)))
        .collect();
    let repeats: Vec<_> = history.iter().step_by(3).cloned().collect();
    history.extend(repeats);
    let created = bus.publisher::<TicketCreated>();
    let updated = bus.publisher::<TicketUpdated>();
    for event in &history {
        if event.version == 0 {
            let TicketUpdated {
                id,
                version,
                title,
                price,
                user_id,
                ..
            } = event.clone();
            created
                .publish(&TicketCreated {
                    id,
                    version,
                    title,
                    price,
                    user_id,
                })
                .await
                .unwrap();
        } else {
            updated.publish(event).await.unwrap();
        }
    }
    let replica = Arc::new(Replica::default());
    let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
    let early = Duration::from_millis(100);
    let handles = [
        bus.listen(
            Sequenced::new(OnCreated(Arc::clone(&replica)), Arc::clone(&store)).early_delay(early),
        )
        .await
        .unwrap(),
        bus.listen(
            Sequenced::new(OnUpdated(Arc::clone(&replica)), Arc::clone(&store)).early_delay(early),
        )
        .await
        .unwrap(),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while replica.calls.lock().expect("lock").len() < RECORDS * 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "replica did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for handle in handles {
        handle.shutdown().await.unwrap();
    }
    let tickets = replica.tickets.lock().expect("lock").clone();
    for id in &ids {
        assert_eq!(
            tickets.get(id),
            Some(&("concert v4".to_owned(), 24.0, 4)),
            "{id}"
        );
        assert_eq!(
            store
                .applied(&RecordKey::new("ticket", id.clone()))
                .await
                .unwrap(),
            Some(4)
        );
    }
    assert!(
        replica
            .calls
            .lock()
            .expect("lock")
            .values()
            .all(|&n| n == 1)
    );
    assert!(broker.messages_on("typebus.dlq.orders-service").is_empty());
}
