//! End-to-end tests of the `typebus` binary: every command and exit code,
//! in temporary projects.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod check;
mod common;
mod diff;
mod dlq;
mod export_agreement;
mod export_asyncapi;
mod export_jsonschema;
mod export_typescript;
mod generate;
mod help;
mod init;
mod lock;
mod nats;
mod schema;
mod status;
