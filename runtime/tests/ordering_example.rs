//! Runs the orders service's ticket replica (`examples/orders_ticket_replica.rs`)
//! on both transports: the copy ends at every ticket's last version, and
//! each version was written once although the history arrives newest first
//! with repeats.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/orders_ticket_replica.rs"]
mod example;

use std::sync::Arc;

use typebus::nats::KvSequenceStore;
use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::ordering::{MemorySequenceStore, SequenceStore};
use typebus::testing::NatsServer;

const TICKETS: usize = 20;

fn check(replica: &example::Tickets) {
    let all = replica.all();
    assert_eq!(all.len(), TICKETS);
    for (id, ticket) in &all {
        assert_eq!(ticket.version, 3, "{id}");
        assert_eq!(ticket.price, 27.5, "{id}");
    }
    // 4 versions per ticket; the repeats and the early arrivals wrote nothing.
    assert_eq!(replica.writes(), (TICKETS * 4) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_example_runs_on_the_memory_transport() {
    let store: Arc<dyn SequenceStore> = Arc::new(MemorySequenceStore::new());
    let replica = example::replicate(&typebus::memory::bus(), store, TICKETS)
        .await
        .expect("replicated");
    check(&replica);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_example_runs_on_nats_with_a_kv_store() {
    let server = NatsServer::start().expect("nats-server");
    let transport = NatsTransport::connect(ConnectOptions::new(server.url()))
        .await
        .expect("connect");
    let store = KvSequenceStore::open(transport.jetstream(), "orders-service-sequences")
        .await
        .expect("bucket");
    let replica = example::replicate(&typebus::Bus::new(transport), Arc::new(store), TICKETS)
        .await
        .expect("replicated");
    check(&replica);
}
