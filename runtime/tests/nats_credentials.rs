//! Credentials against real nats-servers that require them (user/password
//! and token, set on the command line or in a configuration file): the right
//! ones publish and consume; wrong or missing ones fail with
//! [`ConnectErrorKind::Authorization`], and no rendering of the error (its
//! `Display`, `Debug`, or its chain of sources) contains the secret.

// Tests and their helpers unwrap: a failure should stop the test.
#![allow(clippy::unwrap_used)]

mod nats_support;

use std::time::Duration;

use nats_support::*;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::testing::NatsServer;
use typebus::{Bus, ConnectError, ConnectErrorKind, StreamConfig};

const PASSWORD: &str = "right-pass-123";
const WRONG_PASSWORD: &str = "wrong-pass-456";
const TOKEN: &str = "right-token-7f3a9c";
const WRONG_TOKEN: &str = "wrong-token-2b8e1d";

/// Every rendering of `err` a log or a panic could show.
fn renderings(err: &ConnectError) -> String {
    format!("{err} | {err:?} | {}", typebus::error::chain(err))
}

/// Connects with `options`, expecting an authorization failure that does not
/// echo `secret`.
async fn refused(options: ConnectOptions, secret: &str) {
    let err = NatsTransport::connect(options.max_reconnects(Some(1)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Authorization, "{err}");
    assert!(err.to_string().starts_with("authorization failed"), "{err}");
    let all = renderings(&err);
    assert!(!all.contains(secret), "the secret leaked: {all}");
}

/// Publishes one event and receives it through a listener.
async fn publishes_and_consumes(options: ConnectOptions) {
    let bus = Bus::new(NatsTransport::connect(options).await.unwrap());
    bus.provision(&StreamConfig::new(SUBJECTS)).await.unwrap();
    let ack = bus
        .publisher::<TicketCreated>()
        .publish(&ticket(1))
        .await
        .unwrap();
    assert_eq!(ack.sequence, 1);
    let probe = Probe::<TicketCreated>::new("orders-service", |_, _| Act::Ok);
    let handle = bus.listen(probe.instance(0)).await.unwrap();
    eventually(Duration::from_secs(10), "the event to be handled", || {
        !probe.calls().is_empty()
    })
    .await;
    handle.shutdown().await.unwrap();
    assert_eq!(probe.calls()[0].event, ticket(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_from_a_config_file() {
    let server = NatsServer::builder()
        .config(&format!(
            "authorization {{\n  user: orders\n  password: \"{PASSWORD}\"\n}}\n"
        ))
        .start()
        .unwrap();
    publishes_and_consumes(test_options(&server).user_and_password("orders", PASSWORD)).await;
    refused(
        test_options(&server).user_and_password("orders", WRONG_PASSWORD),
        WRONG_PASSWORD,
    )
    .await;
    // A wrong user with the right password: the password still never shows.
    refused(
        test_options(&server).user_and_password("payments", PASSWORD),
        PASSWORD,
    )
    .await;
    // No credentials at all.
    let err = NatsTransport::connect(test_options(&server).max_reconnects(Some(1)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ConnectErrorKind::Authorization, "{err}");
    // Credentials in the URL are scrubbed as well.
    refused(
        ConnectOptions::new(format!(
            "nats://orders:{WRONG_PASSWORD}@127.0.0.1:{}",
            server.port()
        )),
        WRONG_PASSWORD,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_from_the_command_line() {
    let server = NatsServer::builder()
        .args(["--user", "orders", "--pass", PASSWORD])
        .start()
        .unwrap();
    publishes_and_consumes(test_options(&server).user_and_password("orders", PASSWORD)).await;
    refused(
        test_options(&server).user_and_password("orders", WRONG_PASSWORD),
        WRONG_PASSWORD,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_from_a_config_file() {
    let server = NatsServer::builder()
        .config(&format!("authorization {{\n  token: \"{TOKEN}\"\n}}\n"))
        .start()
        .unwrap();
    publishes_and_consumes(test_options(&server).token(TOKEN)).await;
    refused(test_options(&server).token(WRONG_TOKEN), WRONG_TOKEN).await;
    refused(
        ConnectOptions::new(format!("nats://{WRONG_TOKEN}@127.0.0.1:{}", server.port())),
        WRONG_TOKEN,
    )
    .await;
    // The token is not a password for any user.
    refused(
        test_options(&server).user_and_password("orders", TOKEN),
        TOKEN,
    )
    .await;
}

#[test]
fn the_config_file_is_written_into_the_work_dir() {
    let server = NatsServer::builder()
        .config("max_payload: 4096\n")
        .start()
        .unwrap();
    let written = std::fs::read_to_string(server.work_dir().join("nats.conf")).unwrap();
    assert_eq!(written, "max_payload: 4096\n");
    assert!(server.store_dir().is_dir());
}
