//! Timeline descriptions of the events this service reads and publishes.

use ticketing_services::Describe;

use crate::events::{OrderCancelled, OrderCreated, PaymentCreated};

impl Describe for OrderCreated {
    fn describe(&self) -> String {
        format!(
            "id={} v={} price={} userId={}",
            self.id, self.version, self.ticket.price, self.user_id
        )
    }
}

impl Describe for OrderCancelled {
    fn describe(&self) -> String {
        format!("id={} v={}", self.id, self.version)
    }
}

impl Describe for PaymentCreated {
    fn describe(&self) -> String {
        format!(
            "id={} orderId={} stripeId={}",
            self.id, self.order_id, self.stripe_id
        )
    }
}
