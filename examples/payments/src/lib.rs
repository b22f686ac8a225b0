//! The ticketing system's payments service on typebus.
//!
//! Unlike the other services (`ticketing-services`), it does not depend on
//! the `ticketing-events` crate: its `build.rs` runs `typebus-codegen` on
//! `schemas/` and [`events`] includes the output, the way a service in its
//! own repository would. It interoperates with the others on the wire: the
//! same subjects and the same JSON.
//!
//! | listens to | does |
//! |---|---|
//! | `order:created` | stores the order (id, version, userId, price from `ticket.price`, status) |
//! | `order:cancelled` | marks the order cancelled (after the version before it, by the guard) |
//!
//! [`PaymentsService::pay`] charges an order (a made-up charge id; no
//! payment provider is called) and publishes `payment:created`.

mod describe;
pub mod events;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ticketing_services::{Journal, ObjectId, QUICK_RETRY, ServiceError, Verb, guarded, message_id};
use typebus::ordering::{MemorySequenceStore, SequenceStore, Sequenced};
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenError, ListenOptions, Listener, ListenerHandle,
    Publisher,
};

use events::{OrderCancelled, OrderCreated, OrderStatus, PaymentCreated};

/// The payments service's queue group.
pub const QUEUE_GROUP: &str = "payments-service";

/// The service's name in the timeline.
pub const SERVICE: &str = "payments";

/// An order as the payments service knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PayableOrder {
    /// The order's id.
    pub id: String,
    /// The version of the last applied order event.
    pub version: u64,
    /// The buyer.
    pub user_id: String,
    /// What to charge.
    pub price: f64,
    /// Created, or cancelled.
    pub status: OrderStatus,
}

/// A charge for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The payment's id.
    pub id: String,
    /// The paid order.
    pub order_id: String,
    /// The charge's id at the payment provider.
    pub stripe_id: String,
}

#[derive(Debug, Default)]
struct Tables {
    orders: BTreeMap<String, PayableOrder>,
    payments: BTreeMap<String, Payment>,
}

struct Inner {
    tables: Mutex<Tables>,
    journal: Journal,
    created: Publisher<PaymentCreated>,
    sequences: Arc<dyn SequenceStore>,
}

impl Inner {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The payments service. Cheap to clone; clones share the tables.
#[derive(Clone)]
pub struct PaymentsService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PaymentsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentsService")
            .field("tables", &*self.inner.tables())
            .finish_non_exhaustive()
    }
}

impl PaymentsService {
    /// A service with no orders that publishes on `bus` and records into
    /// `journal`.
    pub fn new(bus: &Bus, journal: Journal) -> Self {
        Self {
            inner: Arc::new(Inner {
                tables: Mutex::new(Tables::default()),
                journal,
                created: bus.publisher(),
                sequences: Arc::new(MemorySequenceStore::new()),
            }),
        }
    }

    /// Starts both listeners on `bus`.
    pub async fn start(&self, bus: &Bus) -> Result<Vec<ListenerHandle>, ListenError> {
        Ok(vec![
            bus.listen(self.order_created_listener()).await?,
            bus.listen(self.order_cancelled_listener()).await?,
        ])
    }

    /// The guarded `order:created` listener.
    pub fn order_created_listener(&self) -> Sequenced<RecordOrder> {
        guarded(RecordOrder(Arc::clone(&self.inner)), &self.inner.sequences)
    }

    /// The guarded `order:cancelled` listener.
    pub fn order_cancelled_listener(&self) -> Sequenced<CancelOrder> {
        guarded(CancelOrder(Arc::clone(&self.inner)), &self.inner.sequences)
    }

    /// Charges order `order_id` (known, not cancelled, not paid yet): saves
    /// the payment and publishes `payment:created`.
    pub async fn pay(&self, order_id: &str) -> Result<Payment, ServiceError> {
        let payment = {
            let mut tables = self.inner.tables();
            let order = tables
                .orders
                .get(order_id)
                .ok_or_else(|| ServiceError::UnknownOrder(order_id.to_owned()))?;
            if order.status == OrderStatus::Cancelled {
                return Err(ServiceError::OrderStatus {
                    order: order_id.to_owned(),
                    status: order.status.to_string(),
                });
            }
            if let Some(paid) = tables.payments.values().find(|p| p.order_id == order_id) {
                return Err(ServiceError::OrderStatus {
                    order: order_id.to_owned(),
                    status: format!("paid already by `{}`", paid.id),
                });
            }
            let payment = Payment {
                id: ObjectId::new().to_string(),
                order_id: order_id.to_owned(),
                stripe_id: format!("ch_{}", ObjectId::new()),
            };
            tables.payments.insert(payment.id.clone(), payment.clone());
            payment
        };
        let event = Self::created_event(&payment);
        let id = message_id(PaymentCreated::SUBJECT, &payment.id, 0);
        self.inner
            .journal
            .publish(SERVICE, &self.inner.created, &event, id)
            .await?;
        Ok(payment)
    }

    /// The `payment:created` event of `payment`.
    pub fn created_event(payment: &Payment) -> PaymentCreated {
        PaymentCreated {
            id: payment.id.clone(),
            order_id: payment.order_id.clone(),
            stripe_id: payment.stripe_id.clone(),
        }
    }

    /// The order with `id`.
    pub fn order(&self, id: &str) -> Option<PayableOrder> {
        self.inner.tables().orders.get(id).cloned()
    }

    /// Every order, by id.
    pub fn orders(&self) -> Vec<PayableOrder> {
        self.inner.tables().orders.values().cloned().collect()
    }

    /// Every payment, by id.
    pub fn payments(&self) -> Vec<Payment> {
        self.inner.tables().payments.values().cloned().collect()
    }
}

/// payments: `order:created` -> store the order. An upsert, so a repeated
/// call leaves what one call does.
pub struct RecordOrder(Arc<Inner>);

impl Listener for RecordOrder {
    type Event = OrderCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(&self, order: OrderCreated, _: &Delivery) -> Result<(), HandlerError> {
        self.0.journal.event(SERVICE, Verb::Handled, &order);
        self.0.tables().orders.insert(
            order.id.clone(),
            PayableOrder {
                id: order.id,
                version: order.version,
                user_id: order.user_id,
                price: order.ticket.price,
                status: order.status,
            },
        );
        Ok(())
    }
}

/// payments: `order:cancelled` -> mark the order cancelled. The guard calls
/// it only once the order's previous version was applied (the old listener
/// looked the order up at `version - 1` and failed without an ack).
pub struct CancelOrder(Arc<Inner>);

impl Listener for CancelOrder {
    type Event = OrderCancelled;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(&self, event: OrderCancelled, _: &Delivery) -> Result<(), HandlerError> {
        let mut tables = self.0.tables();
        let Some(order) = tables.orders.get_mut(&event.id) else {
            return Err(HandlerError::retry(ServiceError::UnknownOrder(event.id)));
        };
        order.status = OrderStatus::Cancelled;
        order.version = event.version;
        drop(tables);
        self.0.journal.event(SERVICE, Verb::Handled, &event);
        Ok(())
    }
}
