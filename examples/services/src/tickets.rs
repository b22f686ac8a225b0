//! The tickets service: sells tickets, and reserves and releases them as
//! orders are placed and cancelled.
//!
//! Its listeners of `order:created` and `order:cancelled` run behind the
//! ordering guard ([`Sequenced`]) on the order's version, so a duplicate
//! `order:created` never bumps the ticket twice and an `order:cancelled`
//! that overtakes its `order:created` waits for it.

use std::sync::Arc;

use ticketing_events::{OrderCancelled, OrderCreated, TicketCreated, TicketUpdated};
use typebus::ordering::{MemorySequenceStore, SequenceStore, Sequenced};
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenError, ListenOptions, Listener, ListenerHandle,
    Publisher,
};

use crate::state::Table;
use crate::{Journal, ObjectId, QUICK_RETRY, ServiceError, Verb, guarded, message_id};

/// The tickets service's queue group.
pub const QUEUE_GROUP: &str = "tickets-service";

/// The service's name in the timeline.
pub const SERVICE: &str = "tickets";

/// A ticket as the tickets service stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The ticket's id.
    pub id: String,
    /// The title.
    pub title: String,
    /// The price.
    pub price: f64,
    /// The seller.
    pub user_id: String,
    /// 0 when created, up by 1 on every save.
    pub version: u64,
    /// The order that reserves it, if one does.
    pub order_id: Option<String>,
}

impl Ticket {
    /// The `ticket:created` event of this ticket.
    pub fn created_event(&self) -> TicketCreated {
        TicketCreated {
            id: self.id.clone(),
            version: self.version,
            title: self.title.clone(),
            price: self.price,
            user_id: self.user_id.clone(),
        }
    }

    /// The `ticket:updated` event of this ticket as saved.
    pub fn updated_event(&self) -> TicketUpdated {
        TicketUpdated {
            id: self.id.clone(),
            version: self.version,
            title: self.title.clone(),
            price: self.price,
            user_id: self.user_id.clone(),
            order_id: self.order_id.clone(),
        }
    }
}

struct Inner {
    tickets: Table<Ticket>,
    journal: Journal,
    created: Publisher<TicketCreated>,
    updated: Publisher<TicketUpdated>,
    sequences: Arc<dyn SequenceStore>,
}

impl Inner {
    /// Publishes the `ticket:updated` of `ticket` as saved.
    async fn publish_update(&self, ticket: &Ticket) -> Result<(), ServiceError> {
        let event = ticket.updated_event();
        let id = message_id(TicketUpdated::SUBJECT, &ticket.id, ticket.version);
        self.journal
            .publish(SERVICE, &self.updated, &event, id)
            .await?;
        Ok(())
    }
}

/// The tickets service: its table of tickets and its publishers. Cheap to
/// clone; clones share the table.
#[derive(Clone)]
pub struct TicketsService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TicketsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketsService")
            .field("tickets", &self.inner.tickets)
            .finish_non_exhaustive()
    }
}

impl TicketsService {
    /// A service with no tickets that publishes on `bus` and records into
    /// `journal`.
    pub fn new(bus: &Bus, journal: Journal) -> Self {
        Self {
            inner: Arc::new(Inner {
                tickets: Table::default(),
                journal,
                created: bus.publisher(),
                updated: bus.publisher(),
                sequences: Arc::new(MemorySequenceStore::new()),
            }),
        }
    }

    /// Starts both listeners (`order:created`, `order:cancelled`) on `bus`.
    pub async fn start(&self, bus: &Bus) -> Result<Vec<ListenerHandle>, ListenError> {
        Ok(vec![
            bus.listen(self.reserve_listener()).await?,
            bus.listen(self.release_listener()).await?,
        ])
    }

    /// The guarded `order:created` listener, to start on a bus (one per
    /// instance of the service).
    pub fn reserve_listener(&self) -> Sequenced<ReserveTicket> {
        guarded(
            ReserveTicket(Arc::clone(&self.inner)),
            &self.inner.sequences,
        )
    }

    /// The guarded `order:cancelled` listener.
    pub fn release_listener(&self) -> Sequenced<ReleaseTicket> {
        guarded(
            ReleaseTicket(Arc::clone(&self.inner)),
            &self.inner.sequences,
        )
    }

    /// Puts a ticket up for sale: saves it at version 0 and publishes
    /// `ticket:created`.
    pub async fn create_ticket(
        &self,
        title: &str,
        price: f64,
        user_id: &str,
    ) -> Result<Ticket, ServiceError> {
        let ticket = Ticket {
            id: ObjectId::new().to_string(),
            title: title.to_owned(),
            price,
            user_id: user_id.to_owned(),
            version: 0,
            order_id: None,
        };
        self.inner
            .tickets
            .lock()
            .insert(ticket.id.clone(), ticket.clone());
        let id = message_id(TicketCreated::SUBJECT, &ticket.id, ticket.version);
        self.inner
            .journal
            .publish(SERVICE, &self.inner.created, &ticket.created_event(), id)
            .await?;
        Ok(ticket)
    }

    /// Changes a ticket's title and price (not while it is reserved):
    /// saves it (version + 1) and publishes `ticket:updated`.
    pub async fn update_ticket(
        &self,
        id: &str,
        title: &str,
        price: f64,
    ) -> Result<Ticket, ServiceError> {
        let ticket = {
            let mut tickets = self.inner.tickets.lock();
            let ticket = tickets
                .get_mut(id)
                .ok_or_else(|| ServiceError::UnknownTicket(id.to_owned()))?;
            if let Some(order) = &ticket.order_id {
                return Err(ServiceError::TicketReserved {
                    ticket: id.to_owned(),
                    order: order.clone(),
                });
            }
            ticket.title = title.to_owned();
            ticket.price = price;
            ticket.version += 1;
            ticket.clone()
        };
        self.inner.publish_update(&ticket).await?;
        Ok(ticket)
    }

    /// The ticket with `id`.
    pub fn ticket(&self, id: &str) -> Option<Ticket> {
        self.inner.tickets.get(id)
    }

    /// Every ticket, by id.
    pub fn tickets(&self) -> Vec<Ticket> {
        self.inner.tickets.all()
    }
}

/// tickets: `order:created` -> set the ticket's `orderId`, save, publish
/// `ticket:updated` with `orderId`.
pub struct ReserveTicket(Arc<Inner>);

impl Listener for ReserveTicket {
    type Event = OrderCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(&self, order: OrderCreated, _: &Delivery) -> Result<(), HandlerError> {
        let inner = &self.0;
        let ticket = {
            let mut tickets = inner.tickets.lock();
            let Some(ticket) = tickets.get_mut(&order.ticket.id) else {
                return Err(HandlerError::permanent(ServiceError::UnknownTicket(
                    order.ticket.id,
                )));
            };
            match &ticket.order_id {
                // Saved by an earlier call whose publish failed: publish again.
                Some(reserved) if *reserved == order.id => {}
                Some(reserved) => {
                    return Err(HandlerError::permanent(ServiceError::TicketReserved {
                        ticket: ticket.id.clone(),
                        order: reserved.clone(),
                    }));
                }
                None => {
                    ticket.order_id = Some(order.id.clone());
                    ticket.version += 1;
                }
            }
            ticket.clone()
        };
        inner.journal.event(SERVICE, Verb::Handled, &order);
        inner
            .publish_update(&ticket)
            .await
            .map_err(HandlerError::retry)
    }
}

/// tickets: `order:cancelled` -> clear the ticket's `orderId`, save,
/// publish `ticket:updated` without `orderId`.
pub struct ReleaseTicket(Arc<Inner>);

impl Listener for ReleaseTicket {
    type Event = OrderCancelled;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(QUEUE_GROUP).retry(QUICK_RETRY)
    }

    async fn on_message(&self, order: OrderCancelled, _: &Delivery) -> Result<(), HandlerError> {
        let inner = &self.0;
        let (ticket, changed) = {
            let mut tickets = inner.tickets.lock();
            let Some(ticket) = tickets.get_mut(&order.ticket.id) else {
                return Err(HandlerError::permanent(ServiceError::UnknownTicket(
                    order.ticket.id,
                )));
            };
            let changed = ticket.order_id.as_deref() == Some(order.id.as_str());
            if changed {
                ticket.order_id = None;
                ticket.version += 1;
            }
            (ticket.clone(), changed)
        };
        if !changed && (ticket.order_id.is_some() || ticket.version == 0) {
            // Reserved by another order, or never reserved: nothing to release.
            inner.journal.event(SERVICE, Verb::Ignored, &order);
            return Ok(());
        }
        // Released now, or by an earlier call whose publish may have
        // failed: (re)publish the release with its message id.
        inner.journal.event(SERVICE, Verb::Handled, &order);
        inner
            .publish_update(&ticket)
            .await
            .map_err(HandlerError::retry)
    }
}
