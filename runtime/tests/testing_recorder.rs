//! `typebus::testing::Recorder`: what a service's unit test asserts on
//! instead of a mocked client, with a listener running on the recorder's
//! bus as in the service.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use typebus::headers::Headers;
use typebus::testing::Recorder;
use typebus::transport::OutgoingMessage;
use typebus::{Delivery, Event, HandlerError, ListenOptions, Listener};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "order:created", version = 1)]
struct OrderCreated {
    id: String,
    version: u64,
    ticket: TicketRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TicketRef {
    id: String,
    price: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(subject = "ticket:updated", version = 1)]
struct TicketUpdated {
    id: String,
    version: u64,
    #[serde(rename = "orderId", default, skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
}

const SUBJECTS: [&str; 2] = ["order:created", "ticket:updated"];

/// The tickets service's listener, as the old system had it: reserve the
/// ticket for the order and publish `ticket:updated` with its `orderId`.
struct OrderCreatedListener {
    bus: typebus::Bus,
}

impl Listener for OrderCreatedListener {
    type Event = OrderCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new("tickets-service")
    }

    async fn on_message(&self, event: OrderCreated, _: &Delivery) -> Result<(), HandlerError> {
        if event.ticket.price < 0.0 {
            return Err(HandlerError::permanent(format!(
                "order {} has a negative price",
                event.id
            )));
        }
        let updated = TicketUpdated {
            id: event.ticket.id,
            version: 1,
            order_id: Some(event.id),
        };
        self.bus
            .publisher::<TicketUpdated>()
            .publish(&updated)
            .await
            .map_err(HandlerError::retry)?;
        Ok(())
    }
}

fn order(id: &str, price: f64) -> OrderCreated {
    OrderCreated {
        id: id.into(),
        version: 0,
        ticket: TicketRef {
            id: "ticket-1".into(),
            price,
        },
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion fails");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_listener_on_the_recorder_bus_publishes_what_the_test_asserts() {
    let recorder = Recorder::new(SUBJECTS);
    let bus = recorder.bus();
    let handle = bus
        .listen(OrderCreatedListener { bus: bus.clone() })
        .await
        .unwrap();
    bus.publisher::<OrderCreated>()
        .publish(&order("order-7", 20.0))
        .await
        .unwrap();

    let updated = recorder
        .wait_for::<TicketUpdated>(Duration::from_secs(10), |e| {
            e.order_id.as_deref() == Some("order-7")
        })
        .await;
    assert_eq!(updated.id, "ticket-1");
    handle.shutdown().await.unwrap();

    recorder.assert_published::<TicketUpdated>(|e| e.order_id.as_deref() == Some("order-7"));
    recorder.assert_published_eq(&TicketUpdated {
        id: "ticket-1".into(),
        version: 1,
        order_id: Some("order-7".into()),
    });
    recorder.assert_published_count::<TicketUpdated>(1);
    assert_eq!(
        recorder.published::<OrderCreated>(),
        [order("order-7", 20.0)]
    );
    // The stored body is the event's JSON and nothing else.
    let stored = recorder.messages_on("ticket:updated");
    assert_eq!(
        stored[0].payload.as_ref(),
        br#"{"id":"ticket-1","version":1,"orderId":"order-7"}"#
    );
    assert!(recorder.dead_letters().is_empty());
}

#[tokio::test]
async fn a_failed_assertion_lists_what_was_published_instead() {
    let recorder = Recorder::new(SUBJECTS);
    let publisher = recorder.bus().publisher::<TicketUpdated>();
    publisher
        .publish(&TicketUpdated {
            id: "t1".into(),
            version: 1,
            order_id: Some("o1".into()),
        })
        .await
        .unwrap();
    publisher
        .publish(&TicketUpdated {
            id: "t2".into(),
            version: 2,
            order_id: None,
        })
        .await
        .unwrap();

    let message = panic_message(|| {
        recorder.assert_published::<TicketUpdated>(|e| e.order_id.as_deref() == Some("o2"));
    });
    assert!(
        message.contains("expected a published `TicketUpdated` (subject `ticket:updated`)"),
        "{message}"
    );
    assert!(
        message.contains("2 `TicketUpdated` published, none matched"),
        "{message}"
    );
    assert!(
        message.contains(r#"EVENTS#1 `ticket:updated` {"id":"t1","version":1,"orderId":"o1"}"#),
        "{message}"
    );
    assert!(
        message.contains(r#"EVENTS#2 `ticket:updated` {"id":"t2","version":2}"#),
        "{message}"
    );

    let message = panic_message(|| recorder.assert_not_published::<TicketUpdated>());
    assert!(
        message
            .contains("expected 0 published `TicketUpdated` (subject `ticket:updated`), found 2"),
        "{message}"
    );

    let message = panic_message(|| {
        recorder.assert_published_eq(&TicketUpdated {
            id: "t3".into(),
            version: 3,
            order_id: None,
        });
    });
    assert!(
        message.contains(r#"equal to TicketUpdated { id: "t3""#),
        "{message}"
    );

    let empty = Recorder::new(SUBJECTS);
    let message = panic_message(|| {
        empty.assert_published::<OrderCreated>(|_| true);
    });
    assert!(message.contains("nothing was published"), "{message}");
}

#[tokio::test]
async fn waiting_for_an_event_that_never_comes_fails_with_the_record() {
    let recorder = Recorder::new(SUBJECTS);
    recorder
        .bus()
        .publisher::<OrderCreated>()
        .publish(&order("o1", 5.0))
        .await
        .unwrap();
    let waited = tokio::spawn(async move {
        recorder
            .wait_for::<TicketUpdated>(Duration::from_millis(200), |_| true)
            .await;
    })
    .await;
    let payload = waited.expect_err("the wait fails").into_panic();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("no `TicketUpdated` (subject `ticket:updated`) matching the predicate was published within 200ms"), "{message}");
    assert!(message.contains("`order:created`"), "{message}");
}

#[tokio::test]
async fn clear_forgets_what_was_recorded() {
    let recorder = Recorder::new(SUBJECTS);
    let publisher = recorder.bus().publisher::<OrderCreated>();
    publisher.publish(&order("o1", 5.0)).await.unwrap();
    recorder.clear();
    recorder.assert_not_published::<OrderCreated>();
    publisher.publish(&order("o2", 5.0)).await.unwrap();
    assert_eq!(recorder.published::<OrderCreated>(), [order("o2", 5.0)]);
    // The stream itself keeps counting.
    assert_eq!(recorder.messages()[0].sequence, 2);
}

#[tokio::test]
async fn a_body_that_is_not_the_event_is_reported_not_skipped() {
    let recorder = Recorder::new(SUBJECTS);
    let bus = recorder.bus();
    let message = OutgoingMessage {
        subject: "order:created".into(),
        headers: Headers::new(),
        payload: bytes::Bytes::from_static(br#"{"id":"o1","version":"zero"}"#),
    };
    bus.transport()
        .publish(message)
        .await
        .unwrap()
        .await
        .unwrap();
    let err = recorder
        .try_published::<OrderCreated>()
        .expect_err("does not decode");
    assert!(err.to_string().contains("$.version"), "{err}");
    let message = panic_message(|| {
        recorder.published::<OrderCreated>();
    });
    assert!(
        message
            .contains("a message published on `order:created` does not decode as `OrderCreated`"),
        "{message}"
    );
}

#[tokio::test]
async fn dead_letters_are_recorded_with_their_reason() {
    let recorder = Recorder::new(SUBJECTS);
    let bus = recorder.bus();
    let handle = bus
        .listen(OrderCreatedListener { bus: bus.clone() })
        .await
        .unwrap();
    bus.publisher::<OrderCreated>()
        .publish(&order("order-9", -1.0))
        .await
        .unwrap();
    bus.publisher::<OrderCreated>()
        .publish(&order("order-10", 3.0))
        .await
        .unwrap();
    recorder
        .wait_for::<TicketUpdated>(Duration::from_secs(10), |e| {
            e.order_id.as_deref() == Some("order-10")
        })
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while recorder.dead_letters().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no dead letter\n{}",
            recorder.describe()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.shutdown().await.unwrap();
    let letters = recorder.dead_letters();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.subject, "typebus.dlq.tickets-service");
    assert_eq!(letter.original_subject, "order:created");
    assert_eq!(letter.kind, "rejected");
    assert_eq!(letter.reason, "order order-9 has a negative price");
    assert_eq!(letter.deliveries, 1);
    let original: OrderCreated = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(original, order("order-9", -1.0));
    recorder.assert_published_count::<TicketUpdated>(1);
    assert!(
        recorder
            .describe()
            .contains("(dead letter, rejected: order order-9 has a negative price)")
    );
}
