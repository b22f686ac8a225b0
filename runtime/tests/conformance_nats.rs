//! The transport conformance suite on a real `nats-server` (a fresh server
//! on a random port per test).

mod conformance;

use std::time::Duration;

use typebus::Bus;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::testing::NatsServer;

/// A server of its own per test; each connection is a new client.
struct Nats(NatsServer);

impl conformance::Backend for Nats {
    async fn start() -> Self {
        Nats(NatsServer::start().expect("nats-server starts"))
    }

    async fn connect(&self) -> Bus {
        let options = ConnectOptions::new(self.0.url())
            .name("typebus-conformance")
            .pull_expiry(Duration::from_secs(2))
            .idle_heartbeat(Duration::from_millis(500))
            .publish_timeout(Duration::from_secs(2))
            .request_timeout(Duration::from_secs(3));
        Bus::new(NatsTransport::connect(options).await.expect("connects"))
    }
}

conformance::suite!(Nats);
