//! [`ServiceError`]: why a service command failed.

use typebus::PublishError;

/// Why a command of a service (create a ticket, place an order, ...) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// No ticket with this id (in the service's own table or replica).
    #[error("unknown ticket `{0}`")]
    UnknownTicket(String),
    /// No order with this id.
    #[error("unknown order `{0}`")]
    UnknownOrder(String),
    /// The ticket is reserved by an order that is not cancelled.
    #[error("ticket `{ticket}` is reserved by order `{order}`")]
    TicketReserved {
        /// The ticket.
        ticket: String,
        /// The order that reserves it.
        order: String,
    },
    /// The order is in a status that does not allow the command.
    #[error("order `{order}` is {status}")]
    OrderStatus {
        /// The order.
        order: String,
        /// Its status on the wire (`cancelled`, `complete`, ...).
        status: String,
    },
    /// The record was saved but its event could not be published.
    #[error("publishing `{subject}` failed")]
    Publish {
        /// The event's subject.
        subject: &'static str,
        /// What went wrong.
        #[source]
        source: PublishError,
    },
}

impl ServiceError {
    /// A failed publish of an event on `subject`.
    pub fn publish(subject: &'static str, source: PublishError) -> Self {
        Self::Publish { subject, source }
    }
}
