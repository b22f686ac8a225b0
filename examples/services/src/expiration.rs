//! The expiration service: publishes `expiration:complete` for each order
//! once its `expiresAt` has passed.
//!
//! The old service kept a job queue for this. Here the broker holds the
//! schedule: the listener of `order:created` leaves an order that has not
//! expired unacknowledged and asks for a redelivery at `expiresAt`
//! (a nak with that delay), so a restart of the service loses nothing.
//! When the delivery comes back after `expiresAt`, it publishes
//! `expiration:complete` with a message id derived from the order, so a
//! duplicate `order:created` publishes it again only as a duplicate the
//! stream does not store.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use ticketing_events::{ExpirationComplete, OrderCreated};
use typebus::{
    Bus, Delivery, Event, HandlerError, ListenError, ListenOptions, Listener, ListenerHandle,
    Publisher,
};

use crate::{Journal, ServiceError, Verb, message_id};

/// The expiration service's queue group.
pub const QUEUE_GROUP: &str = "expiration-service";

/// The service's name in the timeline.
pub const SERVICE: &str = "expiration";

struct Inner {
    journal: Journal,
    complete: Publisher<ExpirationComplete>,
    /// Orders whose `expiration:complete` the stream acknowledged.
    expired: Mutex<BTreeSet<String>>,
}

/// The expiration service. Cheap to clone; clones share their state.
#[derive(Clone)]
pub struct ExpirationService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ExpirationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpirationService")
            .field("expired", &self.expired())
            .finish_non_exhaustive()
    }
}

impl ExpirationService {
    /// A service that publishes on `bus` and records into `journal`.
    pub fn new(bus: &Bus, journal: Journal) -> Self {
        Self {
            inner: Arc::new(Inner {
                journal,
                complete: bus.publisher(),
                expired: Mutex::new(BTreeSet::new()),
            }),
        }
    }

    /// Starts the `order:created` listener on `bus`.
    pub async fn start(&self, bus: &Bus) -> Result<Vec<ListenerHandle>, ListenError> {
        Ok(vec![bus.listen(self.listener()).await?])
    }

    /// The `order:created` listener.
    pub fn listener(&self) -> ScheduleExpiration {
        ScheduleExpiration(Arc::clone(&self.inner))
    }

    /// The orders whose `expiration:complete` was published, by id.
    pub fn expired(&self) -> Vec<String> {
        self.inner
            .expired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// expiration: `order:created` -> `expiration:complete` at `expiresAt`.
pub struct ScheduleExpiration(Arc<Inner>);

impl Listener for ScheduleExpiration {
    type Event = OrderCreated;

    fn options(&self) -> ListenOptions {
        // Waiting for `expiresAt` takes as many deliveries as it takes.
        ListenOptions::new(QUEUE_GROUP)
            .max_deliver(None)
            .retry(crate::QUICK_RETRY)
    }

    async fn on_message(
        &self,
        order: OrderCreated,
        delivery: &Delivery,
    ) -> Result<(), HandlerError> {
        let inner = &self.0;
        let remaining = (*order.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default();
        if !remaining.is_zero() {
            if delivery.delivery_count() == 1 {
                inner.journal.record(
                    SERVICE,
                    Verb::Handled,
                    OrderCreated::SUBJECT,
                    format!("id={} expires in {} ms", order.id, remaining.as_millis()),
                );
            }
            // Not an error: the broker holds the event until it is due.
            return Err(HandlerError::retry_after(
                remaining,
                format!("order {} expires at {}", order.id, order.expires_at),
            ));
        }
        let event = ExpirationComplete {
            order_id: order.id.clone(),
        };
        let id = message_id(ExpirationComplete::SUBJECT, &order.id, order.version);
        inner
            .journal
            .publish(SERVICE, &inner.complete, &event, id)
            .await
            .map_err(|err: ServiceError| HandlerError::retry(err))?;
        inner
            .expired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(order.id);
        Ok(())
    }
}
