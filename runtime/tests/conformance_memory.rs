//! The transport conformance suite on the embedded `memory` broker.

mod conformance;

use typebus::Bus;
use typebus::memory::Broker;

/// A fresh broker per test; each connection is a bus on it.
struct Memory(Broker);

impl conformance::Backend for Memory {
    async fn start() -> Self {
        Memory(Broker::new())
    }

    async fn connect(&self) -> Bus {
        self.0.bus()
    }

    async fn consumer_settled(&self, durable: &str) -> bool {
        let state = self
            .0
            .consumer_state("EVENTS", durable)
            .expect("the consumer exists");
        state.ack_pending == 0 && state.redelivery_pending == 0 && state.unseen == 0
    }
}

conformance::suite!(Memory);
