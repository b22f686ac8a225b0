//! The final check: do the four services agree?

use std::collections::BTreeMap;

use ticketing_events::OrderStatus;
use ticketing_payments::PaymentsService;
use ticketing_payments::events::OrderStatus as PaymentsOrderStatus;
use ticketing_services::orders::OrdersService;
use ticketing_services::tickets::TicketsService;

/// The services whose state is compared.
#[derive(Debug, Clone)]
pub(crate) struct Services {
    /// tickets.
    pub(crate) tickets: TicketsService,
    /// orders.
    pub(crate) orders: OrdersService,
    /// payments.
    pub(crate) payments: PaymentsService,
}

/// Every way the services' states disagree, in words; empty when they agree.
///
/// - a ticket is reserved iff an order that is not cancelled references
///   it, and by that order;
/// - the orders service's copy of each ticket equals the ticket;
/// - payments knows every order, cancelled exactly when orders says so;
/// - payments exist only for complete orders, one per complete order.
pub(crate) fn problems(services: &Services) -> Vec<String> {
    let mut problems = Vec::new();
    let tickets = services.tickets.tickets();
    let orders = services.orders.orders();

    for ticket in &tickets {
        let holders: Vec<_> = orders
            .iter()
            .filter(|o| o.ticket_id == ticket.id && o.holds_ticket())
            .collect();
        if holders.len() > 1 {
            problems.push(format!(
                "ticket {} is held by {} orders",
                ticket.id,
                holders.len()
            ));
        }
        let holder = holders.first().map(|o| o.id.as_str());
        if ticket.order_id.as_deref() != holder {
            problems.push(format!(
                "ticket {} is reserved by {} but the active order is {}",
                ticket.id,
                ticket.order_id.as_deref().unwrap_or("nobody"),
                holder.unwrap_or("none")
            ));
        }
        match services.orders.ticket(&ticket.id) {
            None => problems.push(format!("orders has no copy of ticket {}", ticket.id)),
            Some(copy)
                if copy.version != ticket.version
                    || copy.price != ticket.price
                    || copy.title != ticket.title =>
            {
                problems.push(format!(
                    "orders' copy of ticket {} is v{} {:?} {} but the ticket is v{} {:?} {}",
                    ticket.id,
                    copy.version,
                    copy.title,
                    copy.price,
                    ticket.version,
                    ticket.title,
                    ticket.price
                ));
            }
            Some(_) => {}
        }
    }
    let known: Vec<_> = tickets.iter().map(|t| t.id.as_str()).collect();
    for copy in services.orders.tickets() {
        if !known.contains(&copy.id.as_str()) {
            problems.push(format!(
                "orders copies ticket {} that tickets does not have",
                copy.id
            ));
        }
    }

    let mut paid: BTreeMap<&str, usize> = BTreeMap::new();
    let payments = services.payments.payments();
    for payment in &payments {
        *paid.entry(payment.order_id.as_str()).or_default() += 1;
    }
    for order in &orders {
        if !known.contains(&order.ticket_id.as_str()) {
            problems.push(format!(
                "order {} is for unknown ticket {}",
                order.id, order.ticket_id
            ));
        }
        match services.payments.order(&order.id) {
            None => problems.push(format!("payments does not know order {}", order.id)),
            Some(copy) => {
                let cancelled = order.status == OrderStatus::Cancelled;
                if cancelled != (copy.status == PaymentsOrderStatus::Cancelled) {
                    problems.push(format!(
                        "order {} is {} in orders but {} in payments",
                        order.id, order.status, copy.status
                    ));
                }
            }
        }
        let payments_of = paid.get(order.id.as_str()).copied().unwrap_or(0);
        let complete = order.status == OrderStatus::Complete;
        if complete && payments_of != 1 {
            problems.push(format!(
                "complete order {} has {payments_of} payments",
                order.id
            ));
        }
        if !complete && payments_of > 0 {
            problems.push(format!(
                "order {} is {} but has {payments_of} payments",
                order.id, order.status
            ));
        }
    }
    for payment in &payments {
        if services.orders.order(&payment.order_id).is_none() {
            problems.push(format!(
                "payment {} is for unknown order {}",
                payment.id, payment.order_id
            ));
        }
    }
    problems
}

/// The final state of every service, one line per record.
pub(crate) fn render(services: &Services) -> String {
    let mut out = String::new();
    for ticket in services.tickets.tickets() {
        let copy = services
            .orders
            .ticket(&ticket.id)
            .map_or_else(|| "none".to_owned(), |c| format!("v{}", c.version));
        out.push_str(&format!(
            "  ticket  {}  v{}  {:<18} {:>6.2}  reserved by {:<24}  (orders' copy: {copy})\n",
            ticket.id,
            ticket.version,
            format!("{:?}", ticket.title),
            ticket.price,
            ticket.order_id.as_deref().unwrap_or("-"),
        ));
    }
    let payments = services.payments.payments();
    for order in services.orders.orders() {
        let in_payments = services
            .payments
            .order(&order.id)
            .map_or_else(|| "unknown".to_owned(), |o| o.status.to_string());
        let paid = payments
            .iter()
            .find(|p| p.order_id == order.id)
            .map_or_else(|| "-".to_owned(), |p| p.id.clone());
        out.push_str(&format!(
            "  order   {}  v{}  {:<10} ticket {}  (payments: {in_payments}, payment {paid})\n",
            order.id, order.version, order.status, order.ticket_id
        ));
    }
    out
}
