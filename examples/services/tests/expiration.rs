//! The expiration service's listener on the memory transport.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;
use ticketing_events::ExpirationComplete;
use ticketing_services::expiration::ExpirationService;
use typebus::testing::drive;

#[tokio::test]
async fn an_expired_order_gets_expiration_complete_once() {
    let recorder = recorder();
    let expiration = ExpirationService::new(&recorder.bus(), journal());
    let order = order_created(&id(), &id(), 20.0, -1);
    drive(&expiration.listener())
        .event(&order)
        .await
        .assert_acked();
    // A duplicate order:created publishes the same message id: stored once.
    drive(&expiration.listener())
        .event(&order)
        .await
        .assert_acked();
    recorder.assert_published_eq(&ExpirationComplete {
        order_id: order.id.clone(),
    });
    recorder.assert_published_count::<ExpirationComplete>(1);
    assert_eq!(expiration.expired(), vec![order.id]);
}

#[tokio::test]
async fn an_order_not_yet_expired_is_delivered_again_at_its_expiry() {
    let recorder = recorder();
    let expiration = ExpirationService::new(&recorder.bus(), journal());
    let order = order_created(&id(), &id(), 20.0, 60_000);
    let delay = drive(&expiration.listener())
        .event(&order)
        .await
        .assert_nakked();
    assert!(delay <= Duration::from_secs(60), "{delay:?}");
    assert!(delay > Duration::from_secs(50), "{delay:?}");
    recorder.assert_not_published::<ExpirationComplete>();
    assert!(expiration.expired().is_empty());
}

#[tokio::test]
async fn the_started_listener_publishes_after_expires_at() {
    let recorder = recorder();
    let bus = recorder.bus();
    let expiration = ExpirationService::new(&bus, journal());
    let handles = expiration.start(&bus).await.unwrap();
    let order = order_created(&id(), &id(), 20.0, 200);
    bus.publisher().publish(&order).await.unwrap();
    eventually("expiration:complete is published", || {
        !recorder.published::<ExpirationComplete>().is_empty()
    })
    .await;
    assert_eq!(
        recorder.published::<ExpirationComplete>()[0].order_id,
        order.id
    );
    for handle in handles {
        handle.shutdown().await.unwrap();
    }
}
