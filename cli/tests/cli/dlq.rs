//! `typebus dlq list|show|replay|purge` against a real nats-server, on
//! dead letters a real listener left: output, exit codes, `--json`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use typebus::headers::names;
use typebus::{Bus, Delivery, HandlerError, ListenOptions, Listener, ListenerHandle};

use crate::common::output;
use crate::nats::Fixture;

const GROUP: &str = "orders-service";

/// The part of `ticket:created` the listener reads.
#[derive(Debug, serde::Serialize, serde::Deserialize, typebus::Event)]
#[event(subject = "ticket:created", version = 1)]
struct TicketCreated {
    id: String,
}

/// Rejects (permanently) events published with ids `m-*` until fixed;
/// counts the replays it handles.
#[derive(Clone, Default)]
struct Orders {
    fixed: Arc<AtomicBool>,
    replays: Arc<AtomicUsize>,
}

impl Listener for Orders {
    type Event = TicketCreated;

    fn options(&self) -> ListenOptions {
        ListenOptions::new(GROUP)
    }

    async fn on_message(&self, _: TicketCreated, delivery: &Delivery) -> Result<(), HandlerError> {
        let id = delivery.headers().get(names::MSG_ID).unwrap_or_default();
        if !self.fixed.load(Ordering::SeqCst) && id.starts_with("m-") {
            return Err(HandlerError::permanent("price service down"));
        }
        if delivery.headers().get(names::REPLAY_OF).is_some() {
            self.replays.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Fixture {
    /// `typebus dlq ARGS --url <server>`.
    fn dlq(&self, args: &[&str]) -> assert_cmd::Command {
        let url = self.server.url();
        let mut all = vec!["dlq"];
        all.extend_from_slice(args);
        all.extend(["--url", &url]);
        let mut cmd = self.project.typebus(&all);
        cmd.timeout(Duration::from_secs(60));
        cmd
    }

    /// How many dead letters `GROUP` has, read through the library.
    fn dead_letter_count(&self, bus: &Bus) -> u64 {
        self.runtime.block_on(async {
            bus.dead_letters()
                .list(Some(GROUP))
                .await
                .unwrap()
                .first()
                .map_or(0, |group| group.count)
        })
    }

    fn start_listener(&self, bus: &Bus, orders: &Orders) -> ListenerHandle {
        self.runtime
            .block_on(bus.listen(orders.clone()))
            .expect("listener starts")
    }
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {stdout}"))
}

#[test]
fn dlq_lists_shows_replays_and_purges_with_exit_codes() {
    let fx = Fixture::start();
    let bus = Bus::new(fx.transport.clone());
    let orders = Orders::default();
    let handle = fx.start_listener(&bus, &orders);
    fx.publish_ticket("m-1");
    fx.publish_ticket("m-2");
    fx.publish_raw("ticket:created", "not json");
    wait_until("three dead letters", || fx.dead_letter_count(&bus) == 3);

    // list: per reason and per subject and version.
    let assert = fx.dlq(&["list"]).assert().code(0);
    let (stdout, _) = output(&assert);
    assert_eq!(
        stdout,
        "orders-service: 3 dead letters in TYPEBUS_DLQ, #1 to #3
  by reason:
    decode     1
    rejected   2
  by event:
    ticket:created (no version) 1
    ticket:created v1           2
"
    );
    let assert = fx.dlq(&["list", GROUP, "--json"]).assert().code(0);
    let list = json(&output(&assert).0);
    assert_eq!(list["stream"], "TYPEBUS_DLQ");
    assert_eq!(list["groups"][0]["group"], GROUP);
    assert_eq!(list["groups"][0]["count"], 3);
    assert_eq!(list["groups"][0]["reasons"]["rejected"], 2);
    assert_eq!(list["groups"][0]["reasons"]["decode"], 1);
    assert_eq!(list["groups"][0]["events"][1]["version"], "1");
    assert_eq!(list["groups"][0]["events"][0]["version"], Value::Null);
    let assert = fx.dlq(&["list", "other-service"]).assert().code(0);
    assert_eq!(
        output(&assert).0,
        "no dead letters of group other-service in TYPEBUS_DLQ\n"
    );

    // show: the first rejected one, as text and as JSON.
    let assert = fx.dlq(&["show", GROUP, "1"]).assert().code(0);
    let (stdout, _) = output(&assert);
    for line in [
        "dead letter TYPEBUS_DLQ #1 of group orders-service, dead-lettered ",
        "  kind        rejected\n",
        "  reason      price service down\n",
        "  deliveries  1\n",
        "  subject     ticket:created\n",
        "  original    EVENTS #1\n",
        "  version     1\n",
        "  msg-id      m-1\n",
        "  replay id   m-1~replay~1\n",
        "headers\n  Typebus-Event: TicketCreated\n  Typebus-Version: 1\n",
        "\"title\": \"concert\"",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("Typebus-Dlq-"), "{stdout}");
    let assert = fx.dlq(&["show", GROUP, "3", "--json"]).assert().code(0);
    let shown = json(&output(&assert).0);
    assert_eq!(shown["kind"], "decode");
    assert_eq!(shown["body"], "not json");
    assert_eq!(shown["original"]["sequence"], 3);
    assert_eq!(shown["version"], Value::Null);
    assert_eq!(shown["replay_id"], "typebus:EVENTS:3~replay~3");
    // No such sequence, or another group's: exit 1.
    for args in [&["show", GROUP, "99"][..], &["show", "other-service", "1"]] {
        let assert = fx.dlq(args).assert().code(1);
        let (stdout, stderr) = output(&assert);
        assert_eq!(stdout, "");
        assert!(
            stderr.contains("error: no such dead letter: group `"),
            "{stderr}"
        );
    }

    // A dry run prints what it would replay and changes nothing.
    let assert = fx
        .dlq(&["replay", GROUP, "--reason", "rejected", "--dry-run"])
        .assert()
        .code(0);
    assert_eq!(
        output(&assert).0,
        "would replay TYPEBUS_DLQ #1 rejected ticket:created as msg-id m-1~replay~1
would replay TYPEBUS_DLQ #2 rejected ticket:created as msg-id m-2~replay~2
dry run: would replay 2 dead letters of group orders-service; nothing was published or deleted
"
    );
    assert_eq!(fx.dead_letter_count(&bus), 3);

    // Fixed: the rejected ones come back (EVENTS #4 and #5), once each.
    orders.fixed.store(true, Ordering::SeqCst);
    let assert = fx
        .dlq(&["replay", GROUP, "--reason", "rejected"])
        .assert()
        .code(0);
    assert_eq!(
        output(&assert).0,
        "replayed TYPEBUS_DLQ #1 rejected ticket:created as msg-id m-1~replay~1 to EVENTS #4
replayed TYPEBUS_DLQ #2 rejected ticket:created as msg-id m-2~replay~2 to EVENTS #5
replayed 2 dead letters of group orders-service
"
    );
    wait_until("both replays handled", || {
        orders.replays.load(Ordering::SeqCst) == 2
    });
    assert_eq!(fx.dead_letter_count(&bus), 1);
    let assert = fx
        .dlq(&["replay", GROUP, "--reason", "rejected"])
        .assert()
        .code(0);
    assert_eq!(
        output(&assert).0,
        "no dead letters of group orders-service match in TYPEBUS_DLQ\n"
    );

    // purge: dry run, then for real.
    let assert = fx.dlq(&["purge", GROUP, "--dry-run"]).assert().code(0);
    assert_eq!(
        output(&assert).0,
        "would purge TYPEBUS_DLQ #3 decode ticket:created
dry run: would purge 1 dead letter of group orders-service; nothing was deleted
"
    );
    assert_eq!(fx.dead_letter_count(&bus), 1);
    let assert = fx
        .dlq(&["purge", GROUP, "--subject", "ticket:created"])
        .assert()
        .code(0);
    assert_eq!(
        output(&assert).0,
        "purged TYPEBUS_DLQ #3 decode ticket:created\npurged 1 dead letter of group orders-service\n"
    );
    let assert = fx.dlq(&["list"]).assert().code(0);
    assert_eq!(output(&assert).0, "no dead letters in TYPEBUS_DLQ\n");
    let assert = fx.dlq(&["list", "--json"]).assert().code(0);
    assert_eq!(
        json(&output(&assert).0),
        serde_json::json!({"stream": "TYPEBUS_DLQ", "groups": []})
    );
    fx.runtime.block_on(handle.shutdown()).unwrap();
    assert_eq!(orders.replays.load(Ordering::SeqCst), 2);
}

#[test]
fn dlq_replay_that_cannot_publish_exits_1_and_keeps_the_dead_letter() {
    let fx = Fixture::start();
    let bus = Bus::new(fx.transport.clone());
    // A dead letter whose original subject no stream stores any more.
    fx.runtime.block_on(async {
        bus.provision(&Bus::default_dead_letter_stream())
            .await
            .unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(names::DLQ_KIND, "rejected");
        headers.insert(names::DLQ_GROUP, GROUP);
        headers.insert(names::DLQ_SUBJECT, "retired:event");
        headers.insert(names::DLQ_MSG_ID, "old-1");
        fx.transport
            .jetstream()
            .publish_with_headers("typebus.dlq.orders-service", headers, "{}".into())
            .await
            .unwrap()
            .await
            .unwrap();
    });
    let assert = fx.dlq(&["replay", GROUP]).assert().code(1);
    let (stdout, stderr) = output(&assert);
    assert_eq!(stdout, "replayed 0 dead letters of group orders-service\n");
    assert!(
        stderr.contains("error: TYPEBUS_DLQ #1: republishing failed: dead letter 1 to `retired:event`; it is kept"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 1 dead letter could not be replayed; it is kept"),
        "{stderr}"
    );
    assert_eq!(fx.dead_letter_count(&bus), 1);
}

#[test]
fn dlq_usage_errors_exit_2() {
    for args in [
        &["dlq"][..],
        &["dlq", "replay"],
        &["dlq", "purge", GROUP, "--reason", "bogus"],
        &["dlq", "show", GROUP, "not-a-number"],
    ] {
        assert_cmd::Command::cargo_bin("typebus")
            .unwrap()
            .args(args)
            .assert()
            .code(2);
    }
}
