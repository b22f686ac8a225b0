//! The demo's scenario: tickets, orders, one expiry, one payment, one
//! cancellation, a crashing listener instance and duplicate deliveries.
//!
//! The order to pay is paid as soon as the payments service knows it,
//! which must happen before it expires: keep `--expiration-ms` well above
//! the time an event takes to go round (the default 1500 ms is ample on
//! one machine).

use std::time::Duration;

use ticketing_events::{OrderCreated, OrderStatus, SUBJECTS, TicketUpdated};
use ticketing_payments::PaymentsService;
use ticketing_payments::events::OrderStatus as PaymentsOrderStatus;
use ticketing_services::expiration::ExpirationService;
use ticketing_services::orders::OrdersService;
use ticketing_services::tickets::{self, TicketsService};
use ticketing_services::{Journal, ObjectId, ServiceError, Verb, message_id};
use typebus::{Bus, Event, ListenError, ListenerHandle, ProvisionError, StreamConfig};

use crate::consistency::{self, Services};
use crate::crash::Crashing;

/// How the scenario runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How long an order may go unpaid.
    pub(crate) expiration: Duration,
    /// How long to wait for the services to agree at the end.
    pub(crate) settle: Duration,
    /// How many deliveries the crashing listener instance crashes on.
    pub(crate) crashes: u32,
    /// Test hook: do not start the tickets service's `order:cancelled`
    /// listener, so cancelled orders keep their tickets reserved.
    pub(crate) break_consistency: bool,
}

/// Why the scenario could not run (as opposed to ending inconsistent).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScenarioError {
    /// The event stream could not be created.
    #[error("cannot provision the event stream")]
    Provision(#[from] ProvisionError),
    /// A listener could not be started.
    #[error("cannot start a listener")]
    Listen(#[from] ListenError),
    /// A service command failed.
    #[error("service command failed")]
    Service(#[from] ServiceError),
    /// A step waited in vain.
    #[error("timed out after {0:?} waiting until {1}")]
    Timeout(Duration, &'static str),
}

/// How the run ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The services, to render their final state.
    pub(crate) services: Services,
    /// Disagreements between services (see [`consistency::problems`]).
    pub(crate) problems: Vec<String>,
    /// Scenario steps whose expected result did not happen.
    pub(crate) unmet: Vec<String>,
}

/// Waits until `done` holds, polling, for at most `timeout`.
async fn wait_until(
    timeout: Duration,
    what: &'static str,
    mut done: impl FnMut() -> bool,
) -> Result<(), ScenarioError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return Err(ScenarioError::Timeout(timeout, what));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Starts every service's listeners on `bus`; the tickets service's
/// `order:created` listener runs as an instance that crashes on its first
/// `settings.crashes` deliveries.
async fn start(
    bus: &Bus,
    services: &Services,
    expiration: &ExpirationService,
    journal: &Journal,
    settings: &Settings,
) -> Result<Vec<ListenerHandle>, ScenarioError> {
    let mut handles = Vec::new();
    handles.push(
        bus.listen(Crashing::new(
            services.tickets.reserve_listener(),
            settings.crashes,
            journal.clone(),
            tickets::SERVICE,
        ))
        .await?,
    );
    if !settings.break_consistency {
        handles.push(bus.listen(services.tickets.release_listener()).await?);
    }
    handles.extend(services.orders.start(bus).await?);
    handles.extend(services.payments.start(bus).await?);
    handles.extend(expiration.start(bus).await?);
    Ok(handles)
}

/// Runs the scenario on `bus` and returns the final state and its checks.
pub(crate) async fn run(
    bus: &Bus,
    settings: &Settings,
    journal: &Journal,
) -> Result<Outcome, ScenarioError> {
    bus.provision(&StreamConfig::new(SUBJECTS.iter().copied()))
        .await?;
    let services = Services {
        tickets: TicketsService::new(bus, journal.clone()),
        orders: OrdersService::new(bus, journal.clone(), settings.expiration),
        payments: PaymentsService::new(bus, journal.clone()),
    };
    let expiration = ExpirationService::new(bus, journal.clone());
    let handles = start(bus, &services, &expiration, journal, settings).await?;
    let step = Duration::from_secs(10);
    let mut unmet = Vec::new();

    // Tickets go on sale; one changes price before anyone orders it.
    let seller = ObjectId::new().to_string();
    let buyer = ObjectId::new().to_string();
    let concert = services
        .tickets
        .create_ticket("concert", 20.0, &seller)
        .await?;
    let theatre = services
        .tickets
        .create_ticket("theatre", 9.99, &seller)
        .await?;
    let opera = services
        .tickets
        .create_ticket("opera", 45.0, &seller)
        .await?;
    let opera = services
        .tickets
        .update_ticket(&opera.id, "opera (matinee)", 39.5)
        .await?;
    wait_until(step, "orders has a copy of every ticket", || {
        [&concert, &theatre, &opera].iter().all(|t| {
            services
                .orders
                .ticket(&t.id)
                .is_some_and(|c| c.version == t.version)
        })
    })
    .await?;

    // Three orders: one to pay, one to expire, one to cancel.
    let paid = services.orders.create_order(&buyer, &concert.id).await?;
    let expiring = services.orders.create_order(&buyer, &theatre.id).await?;
    let cancelled = services.orders.create_order(&buyer, &opera.id).await?;
    match services.orders.create_order(&seller, &concert.id).await {
        Err(ServiceError::TicketReserved { .. }) => {}
        Ok(order) => unmet.push(format!(
            "a second order {} was accepted for the reserved ticket {}",
            order.id, concert.id
        )),
        Err(err) => return Err(err.into()),
    }

    wait_until(step, "payments knows the order to pay", || {
        services.payments.order(&paid.id).is_some()
    })
    .await?;
    let payment = services.payments.pay(&paid.id).await?;
    services.orders.cancel_order(&cancelled.id).await?;

    // Duplicate deliveries. The same message id: the stream stores nothing.
    let created = bus.publisher::<OrderCreated>();
    let same_id = message_id(OrderCreated::SUBJECT, &paid.id, paid.version);
    let ack = journal
        .publish("demo", &created, &paid.created_event(), same_id)
        .await?;
    if !ack.duplicate {
        unmet.push("republishing order:created with its message id stored it again".into());
    }
    // Fresh message ids (a publisher that retried without one): stored and
    // delivered twice; the guards and the handlers must not apply them twice.
    let fresh = || ObjectId::new().to_string();
    journal
        .publish("demo", &created, &paid.created_event(), fresh())
        .await?;
    if let Some(ticket) = services.tickets.ticket(&concert.id) {
        journal
            .publish(
                "demo",
                &bus.publisher::<TicketUpdated>(),
                &ticket.updated_event(),
                fresh(),
            )
            .await?;
    }
    let payment_event = PaymentsService::created_event(&payment);
    journal
        .publish(
            "demo",
            &bus.publisher::<ticketing_payments::events::PaymentCreated>(),
            &payment_event,
            fresh(),
        )
        .await?;

    // Settle: the expected end state, all services agreeing, for a moment.
    let expected = |s: &Services| {
        let status = |id: &str| s.orders.order(id).map(|o| o.status);
        status(&paid.id) == Some(OrderStatus::Complete)
            && status(&expiring.id) == Some(OrderStatus::Cancelled)
            && status(&cancelled.id) == Some(OrderStatus::Cancelled)
            && [&paid.id, &expiring.id, &cancelled.id]
                .iter()
                .all(|id| expiration.expired().contains(id))
            && [&expiring.id, &cancelled.id].iter().all(|id| {
                s.payments
                    .order(id)
                    .is_some_and(|o| o.status == PaymentsOrderStatus::Cancelled)
            })
    };
    let settle_deadline = tokio::time::Instant::now() + settings.settle;
    let mut agreed_since: Option<tokio::time::Instant> = None;
    while tokio::time::Instant::now() < settle_deadline {
        let now = tokio::time::Instant::now();
        if expected(&services) && consistency::problems(&services).is_empty() {
            let since = *agreed_since.get_or_insert(now);
            if now - since >= Duration::from_millis(300) {
                break;
            }
        } else {
            agreed_since = None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for handle in handles {
        handle.shutdown().await?;
    }

    if !expected(&services) {
        unmet.push(format!(
            "orders did not end as expected within {:?} (paid: complete, expired: cancelled, cancelled: cancelled, three expirations, payments saw both cancellations)",
            settings.settle
        ));
    }
    let versions = [(&concert.id, 1), (&theatre.id, 2), (&opera.id, 3)];
    for (id, version) in versions {
        let actual = services.tickets.ticket(id).map(|t| t.version);
        if actual != Some(version) {
            let actual = actual.map_or_else(|| "none".to_owned(), |v| v.to_string());
            unmet.push(format!(
                "ticket {id} ended at version {actual}, expected {version} (each save applied once)"
            ));
        }
    }
    if journal.count(tickets::SERVICE, Verb::Injected, OrderCreated::SUBJECT)
        != settings.crashes as usize
    {
        unmet.push("the crashing listener instance did not crash as often as asked".into());
    }
    let problems = consistency::problems(&services);
    Ok(Outcome {
        services,
        problems,
        unmet,
    })
}
