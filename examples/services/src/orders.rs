//! The orders service: places and cancels orders, keeps a replica of the
//! tickets, and follows expirations and payments.
//!
//! The replica listeners (`ticket:created`, `ticket:updated`) run behind
//! the ordering guard ([`Sequenced`]): each ticket's events are applied once,
//! in version order, where the old listener looked up the ticket at
//! `version - 1` by hand and failed without an ack.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound as _, TimeDelta, Utc};
use ticketing_events::{
    ExpirationComplete, OrderCancelled, OrderCancelledTicket, OrderCreated, OrderCreatedTicket,
    OrderStatus, PaymentCreated, TicketCreated, TicketUpdated,
};
use typebus::ordering::{MemorySequenceStore, SequenceStore, Sequenced};
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenError, ListenOptions, Listener, ListenerHandle,
    Publisher, Timestamp,
};

use crate::state::Table;
use crate::{Journal, ObjectId, QUICK_RETRY, ServiceError, Verb, guarded, message_id};

/// The orders service's queue group.
pub const QUEUE_GROUP: &str = "orders-service";

/// The service's name in the timeline.
pub const SERVICE: &str = "orders";

/// The orders service's copy of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketCopy {
    /// The ticket's id.
    pub id: String,
    /// The title.
    pub title: String,
    /// The price.
    pub price: f64,
    /// The version of the last applied ticket event.
    pub version: u64,
}

/// An order.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The order's id.
    pub id: String,
    /// 0 when placed, up by 1 on every save.
    pub version: u64,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// The buyer.
    pub user_id: String,
    /// When the reservation runs out unless the order is paid.
    pub expires_at: Timestamp,
    /// The reserved ticket.
    pub ticket_id: String,
    /// The ticket's price when the order was placed.
    pub price: f64,
}

impl Order {
    /// Whether the order holds its ticket (created, awaiting payment, or complete).
    pub fn holds_ticket(&self) -> bool {
        self.status != OrderStatus::Cancelled
    }

    /// The `order:created` event of this order.
    pub fn created_event(&self) -> OrderCreated {
        OrderCreated {
            id: self.id.clone(),
            version: self.version,
            status: self.status,
            user_id: self.user_id.clone(),
            expires_at: self.expires_at,
            ticket: OrderCreatedTicket {
                id: self.ticket_id.clone(),
                price: self.price,
            },
        }
    }

    /// The `order:cancelled` event of this order as saved.
    pub fn cancelled_event(&self) -> OrderCancelled {
        OrderCancelled {
            id: self.id.clone(),
            version: self.version,
            ticket: OrderCancelledTicket {
                id: self.ticket_id.clone(),
            },
        }
    }
}

struct Inner {
    tickets: Table<TicketCopy>,
    orders: Table<Order>,
    journal: Journal,
    created: Publisher<OrderCreated>,
    cancelled: Publisher<OrderCancelled>,
    sequences: Arc<dyn SequenceStore>,
    expiration: Duration,
}

impl Inner {
    async fn publish_cancelled(&self, order: &Order) -> Result<(), ServiceError> {
        let id = message_id(OrderCancelled::SUBJECT, &order.id, order.version);
        self.journal
            .publish(SERVICE, &self.cancelled, &order.cancelled_event(), id)
            .await?;
        Ok(())
    }
}

/// The orders service: its orders, its replica of tickets, its publishers.
/// Cheap to clone; clones share the tables.
#[derive(Clone)]
pub struct OrdersService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OrdersService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrdersService")
            .field("tickets", &self.inner.tickets)
            .field("orders", &self.inner.orders)
            .finish_non_exhaustive()
    }
}

impl OrdersService {
    /// A service with no orders and no tickets that publishes on `bus`,
    /// records into `journal`, and gives each order `expiration` to be paid.
    pub fn new(bus: &Bus, journal: Journal, expiration: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                tickets: Table::default(),
                orders: Table::default(),
                journal,
                created: bus.publisher(),
                cancelled: bus.publisher(),
                sequences: Arc::new(MemorySequenceStore::new()),
                expiration,
            }),
        }
    }

    /// Starts all four listeners on `bus`.
    pub async fn start(&self, bus: &Bus) -> Result<Vec<ListenerHandle>, ListenError> {
        Ok(vec![
            bus.listen(self.ticket_created_listener()).await?,
            bus.listen(self.ticket_updated_listener()).await?,
            bus.listen(self.expiration_listener()).await?,
            bus.listen(self.payment_listener()).await?,
        ])
    }

    /// The guarded `ticket:created` listener.
    pub fn ticket_created_listener(&self) -> Sequenced<CopyTicket> {
        guarded(CopyTicket(Arc::clone(&self.inner)), &self.inner.sequences)
    }

    /// The guarded `ticket:updated` listener.
    pub fn ticket_updated_listener(&self) -> Sequenced<UpdateTicketCopy> {
        guarded(
            UpdateTicketCopy(Arc::clone(&self.inner)),
            &self.inner.sequences,
        )
    }

    /// The `expiration:complete` listener.
    pub fn expiration_listener(&self) -> ExpireOrder {
        ExpireOrder(Arc::clone(&self.inner))
    }

    /// The `payment:created` listener.
    pub fn payment_listener(&self) -> CompleteOrder {
        CompleteOrder(Arc::clone(&self.inner))
    }

    /// Places an order for a ticket of the replica that no other order
    /// holds: saves it at version 0 and publishes `order:created`.
    pub async fn create_order(
        &self,
        user_id: &str,
        ticket_id: &str,
    ) -> Result<Order, ServiceError> {
        let ticket = self
            .inner
            .tickets
            .get(ticket_id)
            .ok_or_else(|| ServiceError::UnknownTicket(ticket_id.to_owned()))?;
        let window = TimeDelta::from_std(self.inner.expiration).unwrap_or(TimeDelta::MAX);
        // Milliseconds, as JavaScript's `toISOString()` writes it.
        let expires_at = Utc::now()
            .checked_add_signed(window)
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
            .trunc_subsecs(3);
        let order = Order {
            id: ObjectId::new().to_string(),
            version: 0,
            status: OrderStatus::Created,
            user_id: user_id.to_owned(),
            expires_at: Timestamp::from(expires_at),
            ticket_id: ticket.id.clone(),
            price: ticket.price,
        };
        {
            let mut orders = self.inner.orders.lock();
            if let Some(holder) = orders
                .values()
                .find(|o| o.ticket_id == ticket_id && o.holds_ticket())
            {
                return Err(ServiceError::TicketReserved {
                    ticket: ticket_id.to_owned(),
                    order: holder.id.clone(),
                });
            }
            orders.insert(order.id.clone(), order.clone());
        }
        let id = message_id(OrderCreated::SUBJECT, &order.id, order.version);
        self.inner
            .journal
            .publish(SERVICE, &self.inner.created, &order.created_event(), id)
            .await?;
        Ok(order)
    }

    /// Cancels an order that is not complete nor cancelled yet: saves it
    /// (version + 1) and publishes `order:cancelled`.
    pub async fn cancel_order(&self, order_id: &str) -> Result<Order, ServiceError> {
        let order = {
            let mut orders = self.inner.orders.lock();
            let order = orders
                .get_mut(order_id)
                .ok_or_else(|| ServiceError::UnknownOrder(order_id.to_owned()))?;
            if matches!(order.status, OrderStatus::Cancelled | OrderStatus::Complete) {
                return Err(ServiceError::OrderStatus {
                    order: order_id.to_owned(),
                    status: order.status.to_string(),
                });
            }
            order.status = OrderStatus::Cancelled;
            order.version += 1;
            order.clone()
        };
        self.inner.publish_cancelled(&order).await?;
        Ok(order)
    }

    /// The order with `id`.
    pub fn order(&self, id: &str) -> Option<Order> {
        self.inner.orders.get(id)
    }

    /// Every order, by id.
    pub fn orders(&self) -> Vec<Order> {
        self.inner.orders.all()
    }

    /// The replica's copy of ticket `id`.
    pub fn ticket(&self, id: &str) -> Option<TicketCopy> {
        self.inner.tickets.get(id)
    }

    /// The whole replica, by id.
    pub fn tickets(&self) -> Vec<TicketCopy> {
        self.inner.tickets.all()
    }
}

/// orders: `ticket:created` -> store a local copy (id, title, price,
/// version 0). An upsert, so a repeated call leaves what one call does.
pub struct CopyTicket(Arc<Inner>);

impl Listener for CopyTicket {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(&self, ticket: TicketCreated, _: &Delivery) -> Result<(), HandlerError> {
        self.0.journal.event(SERVICE, Verb::Handled, &ticket);
        self.0.tickets.lock().insert(
            ticket.id.clone(),
            TicketCopy {
                id: ticket.id,
                title: ticket.title,
                price: ticket.price,
                version: ticket.version,
            },
        );
        Ok(())
    }
}

/// orders: `ticket:updated` -> update the local copy's title, price and
/// version. The guard calls it only with the version after the last
/// applied one, so the old "find it at `version - 1`, else fail" is gone.
pub struct UpdateTicketCopy(Arc<Inner>);

impl Listener for UpdateTicketCopy {
    type Event = TicketUpdated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(&self, ticket: TicketUpdated, _: &Delivery) -> Result<(), HandlerError> {
        let mut tickets = self.0.tickets.lock();
        let Some(copy) = tickets.get_mut(&ticket.id) else {
            return Err(HandlerError::retry(ServiceError::UnknownTicket(ticket.id)));
        };
        copy.title.clone_from(&ticket.title);
        copy.price = ticket.price;
        copy.version = ticket.version;
        drop(tickets);
        self.0.journal.event(SERVICE, Verb::Handled, &ticket);
        Ok(())
    }
}

/// orders: `expiration:complete` -> cancel the order unless it is
/// complete, and publish `order:cancelled`.
pub struct ExpireOrder(Arc<Inner>);

impl Listener for ExpireOrder {
    type Event = ExpirationComplete;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(
        &self,
        event: ExpirationComplete,
        _: &Delivery,
    ) -> Result<(), HandlerError> {
        let inner = &self.0;
        let order = {
            let mut orders = inner.orders.lock();
            let Some(order) = orders.get_mut(&event.order_id) else {
                return Err(HandlerError::permanent(ServiceError::UnknownOrder(
                    event.order_id,
                )));
            };
            match order.status {
                OrderStatus::Complete => None,
                // Cancelled already (by the user, or by an earlier call
                // whose publish may have failed): publish it again below,
                // with the same message id.
                OrderStatus::Cancelled => Some((order.clone(), Verb::Ignored)),
                OrderStatus::Created | OrderStatus::AwaitingPayment => {
                    order.status = OrderStatus::Cancelled;
                    order.version += 1;
                    Some((order.clone(), Verb::Handled))
                }
            }
        };
        let Some((order, verb)) = order else {
            inner.journal.event(SERVICE, Verb::Ignored, &event);
            return Ok(());
        };
        inner.journal.event(SERVICE, verb, &event);
        inner
            .publish_cancelled(&order)
            .await
            .map_err(HandlerError::retry)
    }
}

/// orders: `payment:created` -> mark the order complete.
pub struct CompleteOrder(Arc<Inner>);

impl Listener for CompleteOrder {
    type Event = PaymentCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(&self, payment: PaymentCreated, _: &Delivery) -> Result<(), HandlerError> {
        let inner = &self.0;
        let verb = {
            let mut orders = inner.orders.lock();
            let Some(order) = orders.get_mut(&payment.order_id) else {
                return Err(HandlerError::permanent(ServiceError::UnknownOrder(
                    payment.order_id,
                )));
            };
            match order.status {
                OrderStatus::Complete => Verb::Ignored,
                OrderStatus::Cancelled => {
                    return Err(HandlerError::permanent(ServiceError::OrderStatus {
                        order: order.id.clone(),
                        status: format!("cancelled but paid by `{}`", payment.id),
                    }));
                }
                OrderStatus::Created | OrderStatus::AwaitingPayment => {
                    order.status = OrderStatus::Complete;
                    order.version += 1;
                    Verb::Handled
                }
            }
        };
        inner.journal.event(SERVICE, verb, &payment);
        Ok(())
    }
}
