//! Runs the built `ticketing-demo` binary: consistent on the memory
//! transport and on a real nats-server, and exit code 1 when the test hook
//! `--break-consistency` makes the services disagree.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use typebus::testing::NatsServer;

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketing-demo"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The run ended consistent, and the timeline shows the injected crashes,
/// their redelivery, the stream's deduplication, and the expiry.
fn assert_consistent_run(output: &Output) {
    let all = text(output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("consistent: every service agrees"), "{all}");
    assert_eq!(
        stdout.matches("tickets    ** order:created").count(),
        2,
        "{all}"
    );
    assert_eq!(
        stdout.matches("tickets    <- order:created").count(),
        3,
        "{all}"
    );
    assert!(stdout.contains("demo       => order:created"), "{all}");
    assert!(
        stdout.contains("expiration => expiration:complete"),
        "{all}"
    );
    assert_eq!(
        stdout.matches("orders     <- expiration:complete").count(),
        1,
        "{all}"
    );
    assert_eq!(
        stdout.matches("orders     <= expiration:complete").count(),
        2,
        "{all}"
    );
    assert!(stdout.contains("orders     <= payment:created"), "{all}");
    assert_eq!(stdout.matches(" complete ").count(), 1, "{all}");
    assert_eq!(stdout.matches(" cancelled ").count(), 2, "{all}");
}

#[test]
fn the_demo_is_consistent_on_the_memory_transport() {
    assert_consistent_run(&demo(&["--expiration-ms", "1500"]));
}

#[test]
fn the_demo_is_consistent_on_nats() {
    let server = NatsServer::start().unwrap();
    let url = server.url();
    assert_consistent_run(&demo(&["--nats", &url, "--expiration-ms", "1500"]));
}

#[test]
fn a_skipped_listener_makes_the_demo_exit_1() {
    let output = demo(&[
        "--break-consistency",
        "--expiration-ms",
        "500",
        "--settle-ms",
        "2000",
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("NOT consistent"), "{all}");
    // Both cancelled orders keep their tickets reserved.
    assert_eq!(
        stdout.matches("but the active order is none").count(),
        2,
        "{all}"
    );
}

#[test]
fn an_unreachable_server_is_an_error_not_an_inconsistency() {
    let output = demo(&["--nats", "nats://127.0.0.1:1"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}
