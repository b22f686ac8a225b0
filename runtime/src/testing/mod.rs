//! Test helpers (feature `testing`): what a service's tests use instead of
//! mocking the client.
//!
//! - [`NatsServer`]: a real `nats-server` with JetStream on a random
//!   loopback port and its own store directory, killed on drop; it can be
//!   killed (SIGKILL) and restarted on the same port and store.
//! - [`NatsCluster`]: a JetStream cluster of `nats-server` processes on
//!   loopback (routes, ports and store directories per node), whose nodes
//!   can be killed and restarted one by one.
//! - [`Recorder`]: a bus on the embedded `memory` broker that records what
//!   the code under test publishes, with typed assertions.
//! - [`drive`]: runs a listener on one crafted delivery (an event or raw
//!   bytes, any delivery count or headers) and returns the [`Outcome`]:
//!   acked, nakked with a delay, or dead-lettered and termed.

mod drive;
mod nats_cluster;
mod nats_server;
mod recorder;

pub use drive::{Drive, Outcome, drive};
pub use recorder::{RecordedDeadLetter, Recorder};

pub use nats_cluster::NatsCluster;
pub use nats_server::{NatsServer, NatsServerBuilder, NatsServerError};
