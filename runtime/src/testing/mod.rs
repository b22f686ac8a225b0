//! Test helpers (feature `testing`): what a service's tests use instead of
//! mocking the client.
//!
//! - [`NatsServer`]: a real `nats-server` with JetStream on a random
//!   loopback port and its own store directory, killed on drop; it can be
//!   killed (SIGKILL) and restarted on the same port and store.

mod nats_server;

pub use nats_server::{NatsServer, NatsServerBuilder, NatsServerError};
