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

    async fn consumer_settled(&self, durable: &str) -> bool {
        let client = async_nats::connect(self.0.url()).await.expect("connects");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("EVENTS").await.expect("the stream");
        let last = stream
            .info()
            .await
            .expect("stream info")
            .state
            .last_sequence;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(durable).await.expect("the consumer");
        let info = consumer.info().await.expect("consumer info");
        info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence == last
    }
}

conformance::suite!(Nats);
