//! `typebus provision` and `typebus status` against a real nats-server that
//! starts empty, with the repo's ticketing schemas: the streams are created
//! from the schemas, verified, reported when they differ; the status report
//! shows what a listener left pending and fails as a health check when a
//! declared consumer is missing or a dead letter is stored.

use std::time::{Duration, Instant};

use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::testing::NatsServer;
use typebus::transport::{ConsumerSpec, MessageSource};
use typebus::{StreamConfig, Transport as _};

use crate::common::{Project, output, repo_schemas};

const TICKET: &str = r#"{"id":"t1","version":0,"title":"concert","price":20,"userId":"u1"}"#;

/// Every subject of the repo's schemas, sorted.
const SUBJECTS: [&str; 6] = [
    "expiration:complete",
    "order:cancelled",
    "order:created",
    "payment:created",
    "ticket:created",
    "ticket:updated",
];

/// An empty server, a project whose typebus.toml points at the repo's
/// schemas, and a connection for looking at the server directly.
struct Fixture {
    server: NatsServer,
    project: Project,
    runtime: tokio::runtime::Runtime,
    transport: NatsTransport,
}

impl Fixture {
    fn start() -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let transport = runtime
            .block_on(NatsTransport::connect(ConnectOptions::new(server.url())))
            .unwrap();
        let fx = Fixture {
            server,
            project: Project::new(),
            runtime,
            transport,
        };
        fx.config("");
        fx
    }

    /// typebus.toml: the repo's schemas, then `extra`.
    fn config(&self, extra: &str) {
        let schemas = repo_schemas();
        self.project.write(
            "typebus.toml",
            &format!("schemas = {:?}\n{extra}", schemas.to_str().unwrap()),
        );
    }

    /// `typebus ARGS --url <server>` in the project.
    fn typebus(&self, args: &[&str]) -> assert_cmd::Command {
        let url = self.server.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--url", &url]);
        let mut cmd = self.project.typebus(&all);
        cmd.timeout(Duration::from_secs(60));
        cmd
    }

    /// Runs `typebus ARGS`, expects exit status `code`; stdout and stderr.
    fn run(&self, args: &[&str], code: i32) -> (String, String) {
        output(&self.typebus(args).assert().code(code))
    }

    /// The stream's configured subjects and duplicate window, `None` when
    /// the server has no such stream.
    fn stream(&self, name: &str) -> Option<(Vec<String>, Duration)> {
        self.runtime.block_on(async {
            let mut stream = self.transport.jetstream().get_stream(name).await.ok()?;
            let info = stream.info().await.unwrap();
            Some((info.config.subjects.clone(), info.config.duplicate_window))
        })
    }

    /// Creates the durable consumer a listener of `group` creates for
    /// `subject` (the runtime's consumer and name), and returns its source.
    fn consumer(&self, group: &str, subject: &str) -> Box<dyn MessageSource> {
        self.runtime.block_on(async {
            self.transport
                .consume(ConsumerSpec {
                    stream: None,
                    durable_name: typebus::consumer_name(group, subject),
                    filter_subject: subject.to_owned(),
                    ack_wait: Duration::from_secs(30),
                    max_deliver: None,
                    max_ack_pending: 100,
                    backoff: Vec::new(),
                    batch: 10,
                })
                .await
                .unwrap()
        })
    }

    /// Creates the durable consumer a listener of `group` creates for
    /// `subject`, as a stopped service leaves it: nothing pulls from it.
    fn idle_consumer(&self, group: &str, subject: &str) {
        use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
        self.runtime.block_on(async {
            let stream = self
                .transport
                .jetstream()
                .get_stream("EVENTS")
                .await
                .unwrap();
            stream
                .create_consumer(pull::Config {
                    durable_name: Some(typebus::consumer_name(group, subject)),
                    filter_subject: subject.to_owned(),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ..Default::default()
                })
                .await
                .unwrap();
        });
    }

    /// Takes and acknowledges `n` messages from `source`, then waits until
    /// the server has every ack (no message pending acknowledgement).
    fn consume(&self, source: &mut dyn MessageSource, name: &str, n: usize) {
        self.runtime.block_on(async {
            for _ in 0..n {
                let message = source.next().await.unwrap();
                message.ack().await.unwrap();
            }
            self.transport.flush().await.unwrap();
            let stream = self
                .transport
                .jetstream()
                .get_stream("EVENTS")
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let info = stream.consumer_info(name).await.unwrap();
                if info.num_ack_pending == 0 && info.num_pending == 0 {
                    break;
                }
                assert!(Instant::now() < deadline, "acks not applied: {info:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    /// Publishes `body` on `subject` without the CLI.
    fn publish_raw(&self, subject: &str, body: &str) {
        self.runtime.block_on(async {
            self.transport
                .jetstream()
                .publish(subject.to_owned(), body.to_owned().into())
                .await
                .unwrap()
                .await
                .unwrap();
        });
    }
}

/// The row of the status table that starts with `first` and has `second`
/// as its second cell, split into cells.
fn row(stdout: &str, first: &str, second: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.len() > 1 && cells[0] == first && cells[1] == second)
        .unwrap_or_else(|| panic!("no row `{first} {second}` in:\n{stdout}"))
}

#[test]
fn provision_creates_the_streams_the_schemas_need_and_publish_then_works() {
    let fx = Fixture::start();

    // A fresh server: publish and listen say what fixes it.
    let (_, stderr) = fx.run(&["publish", "ticket:created", "--data", TICKET], 1);
    assert!(
        stderr.contains(
            "error: cannot publish ticket:created: no stream stores the subject: ticket:created\n  hint: run `typebus provision` to create the streams the schemas need"
        ),
        "{stderr}"
    );
    let (_, stderr) = fx.run(&["listen", "ticket:created", "--count", "1"], 1);
    assert!(
        stderr.contains("no stream stores subject `ticket:created`")
            && stderr.contains("hint: run `typebus provision`"),
        "{stderr}"
    );

    // A dry run says what it would create, and creates nothing.
    let (stdout, _) = fx.run(&["provision", "--dry-run"], 0);
    assert_eq!(
        stdout,
        format!(
            "would create EVENTS: 6 subjects ({}), file storage, 1 replica, duplicate window 2m\n\
             would create TYPEBUS_DLQ: 1 subject (typebus.dlq.>), file storage, 1 replica, duplicate window 2m\n",
            SUBJECTS.join(", ")
        )
    );
    assert_eq!(fx.stream("EVENTS"), None);
    assert_eq!(fx.stream("TYPEBUS_DLQ"), None);

    let (stdout, _) = fx.run(&["provision"], 0);
    assert!(stdout.starts_with("created EVENTS: 6 subjects"), "{stdout}");
    assert!(
        stdout.contains("created TYPEBUS_DLQ: 1 subject"),
        "{stdout}"
    );
    let (mut subjects, window) = fx.stream("EVENTS").unwrap();
    subjects.sort();
    assert_eq!(subjects, SUBJECTS);
    assert_eq!(window, Duration::from_secs(120));
    assert_eq!(
        fx.stream("TYPEBUS_DLQ").unwrap().0,
        ["typebus.dlq.>".to_owned()]
    );

    // Again: nothing to do.
    let (stdout, _) = fx.run(&["provision"], 0);
    assert_eq!(stdout, "up to date EVENTS\nup to date TYPEBUS_DLQ\n");

    let (stdout, _) = fx.run(
        &[
            "publish",
            "ticket:created",
            "--data",
            TICKET,
            "--msg-id",
            "m-1",
        ],
        0,
    );
    assert_eq!(
        stdout,
        "published ticket:created v1 msg-id m-1 to EVENTS #1\n"
    );
}

#[test]
fn provision_follows_the_stream_settings_of_typebus_toml() {
    let fx = Fixture::start();
    fx.config("[streams.events]\nname = \"TICKETING\"\nduplicate_window = \"10m\"\n\n[streams.dead_letters]\nname = \"DEAD\"\n");
    fx.run(&["provision"], 0);
    assert_eq!(fx.stream("EVENTS"), None);
    assert_eq!(fx.stream("TICKETING").unwrap().1, Duration::from_secs(600));
    assert!(fx.stream("DEAD").is_some());
    let (stdout, _) = fx.run(&["provision"], 0);
    assert_eq!(stdout, "up to date TICKETING\nup to date DEAD\n");

    // A typo in the section is a usage error naming the key.
    fx.config("[streams.events]\nduplicate_window = \"2 minutes\"\n");
    let (_, stderr) = fx.run(&["provision"], 2);
    assert!(
        stderr.contains("duplicate_window") && stderr.contains("is not a duration"),
        "{stderr}"
    );
}

#[test]
fn provision_reports_how_a_stream_differs_and_exits_1() {
    let fx = Fixture::start();
    fx.run(&["provision"], 0);

    // Another duplicate window: reported, never changed, even with --update.
    fx.config("[streams.events]\nduplicate_window = \"5s\"\n");
    for args in [&["provision"][..], &["provision", "--update"]] {
        let (stdout, stderr) = fx.run(args, 1);
        assert!(
            stdout.contains(
                "differs EVENTS:\n  duplicate window 2m on the server, 5s configured (`streams.events.duplicate_window` in typebus.toml)\n"
            ),
            "{stdout}"
        );
        assert!(stdout.contains("up to date TYPEBUS_DLQ"), "{stdout}");
        assert!(
            stderr.contains("error: stream EVENTS differs from the configuration"),
            "{stderr}"
        );
    }
    assert_eq!(fx.stream("EVENTS").unwrap().1, Duration::from_secs(120));
}

#[test]
fn provision_adds_missing_subjects_only_with_update() {
    let fx = Fixture::start();
    // A stream made when the schemas had one event.
    fx.runtime
        .block_on(
            fx.transport
                .provision(&StreamConfig::new(["ticket:created"])),
        )
        .unwrap();
    let missing =
        "expiration:complete, order:cancelled, order:created, payment:created, ticket:updated";

    let (stdout, _) = fx.run(&["provision"], 1);
    assert!(
        stdout.contains(&format!(
            "differs EVENTS:\n  missing subjects {missing}: `typebus provision --update` adds them\n"
        )),
        "{stdout}"
    );
    let (stdout, _) = fx.run(&["provision", "--update", "--dry-run"], 0);
    assert!(
        stdout.contains(&format!(
            "would update EVENTS: would add subjects {missing}\n"
        )),
        "{stdout}"
    );
    assert_eq!(fx.stream("EVENTS").unwrap().0, ["ticket:created"]);

    let (stdout, _) = fx.run(&["provision", "--update"], 0);
    assert!(
        stdout.contains(&format!("updated EVENTS: added subjects {missing}\n")),
        "{stdout}"
    );
    let (mut subjects, _) = fx.stream("EVENTS").unwrap();
    subjects.sort();
    assert_eq!(subjects, SUBJECTS);
    fx.run(&["provision"], 0);
}

const ORDERS_LISTENER: &str =
    "[[listeners]]\ngroup = \"orders-service\"\nevents = [\"TicketCreated\"]\n";

#[test]
fn status_shows_what_a_listener_has_pending_then_consumed() {
    let fx = Fixture::start();
    fx.run(&["provision"], 0);
    fx.config(ORDERS_LISTENER);
    let name = typebus::consumer_name("orders-service", "ticket:created");
    fx.idle_consumer("orders-service", "ticket:created");

    // Three events and no listener taking them: three pending.
    for id in ["m-1", "m-2", "m-3"] {
        fx.run(
            &[
                "publish",
                "ticket:created",
                "--data",
                TICKET,
                "--msg-id",
                id,
            ],
            0,
        );
    }
    let (stdout, _) = fx.run(&["status"], 0);
    assert_eq!(row(&stdout, "EVENTS", "ok")[2], "3", "{stdout}");
    let consumer = row(&stdout, "orders-service", "ticket:created");
    // GROUP SUBJECT CONSUMER PENDING ACK-PENDING REDELIVERED ACK-FLOOR LAST-ACTIVE
    assert_eq!(consumer[2], name);
    assert_eq!(&consumer[3..7], ["3", "0", "0", "0"], "{stdout}");
    assert_eq!(consumer[7], "never", "{stdout}");
    assert_eq!(
        row(&stdout, "orders-service", "typebus.dlq.orders-service")[2],
        "0"
    );
    assert!(stdout.ends_with("\nhealthy\n"), "{stdout}");

    // The listener handled them: nothing pending, acknowledged up to #3.
    let mut source = fx.consumer("orders-service", "ticket:created");
    fx.consume(&mut *source, &name, 3);
    fx.runtime.block_on(source.close());
    let (stdout, _) = fx.run(&["status"], 0);
    let consumer = row(&stdout, "orders-service", "ticket:created");
    assert_eq!(&consumer[3..7], ["0", "0", "0", "3"], "{stdout}");
    assert_ne!(consumer[7], "never", "{stdout}");

    // The same numbers for scripts.
    let (stdout, _) = fx.run(&["status", "--json"], 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["healthy"], true);
    assert_eq!(report["problems"], serde_json::json!([]));
    let events = &report["streams"][0];
    assert_eq!(events["role"], "events");
    assert_eq!(events["name"], "EVENTS");
    assert_eq!(events["messages"], 3);
    assert_eq!(events["matches"], true);
    assert_eq!(events["duplicate_window_ms"], 120_000);
    assert_eq!(events["subjects"].as_array().unwrap().len(), 6);
    assert_eq!(report["streams"][1]["name"], "TYPEBUS_DLQ");
    let consumer = &report["consumers"][0];
    assert_eq!(consumer["group"], "orders-service");
    assert_eq!(consumer["subject"], "ticket:created");
    assert_eq!(consumer["name"], name.as_str());
    assert_eq!(consumer["declared"], true);
    assert_eq!(consumer["exists"], true);
    assert_eq!(consumer["pending"], 0);
    assert_eq!(consumer["ack_pending"], 0);
    assert_eq!(consumer["redelivered"], 0);
    assert_eq!(consumer["ack_floor"], 3);
    assert!(consumer["last_active"].is_string(), "{consumer}");
    assert_eq!(
        report["dead_letters"],
        serde_json::json!([{"group": "orders-service", "subject": "typebus.dlq.orders-service", "messages": 0}])
    );
}

#[test]
fn status_fails_the_health_check_on_a_missing_consumer_or_a_dead_letter() {
    let fx = Fixture::start();

    // Nothing provisioned: both streams missing.
    let (stdout, _) = fx.run(&["status"], 1);
    assert!(
        stdout.contains("  - stream `EVENTS` does not exist: run `typebus provision`"),
        "{stdout}"
    );

    fx.run(&["provision"], 0);
    fx.config(
        "[[listeners]]\ngroup = \"orders-service\"\nevents = [\"TicketCreated\", \"ticket:updated\"]\n",
    );
    let _source = fx.consumer("orders-service", "ticket:created");
    let (stdout, stderr) = fx.run(&["status"], 1);
    assert_eq!(
        row(&stdout, "orders-service", "ticket:updated")[2..],
        ["orders-service_ticket:updated", "missing"],
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "unhealthy: 1 problem\n  - listener group `orders-service` has no consumer `orders-service_ticket:updated` for `ticket:updated` on stream `EVENTS`"
        ),
        "{stdout}"
    );
    assert!(stderr.contains("error: unhealthy: 1 problem"), "{stderr}");
    let (stdout, _) = fx.run(&["status", "--json"], 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["healthy"], false);
    let missing = report["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "ticket:updated")
        .unwrap();
    assert_eq!(missing["exists"], false);
    assert_eq!(missing["pending"], serde_json::Value::Null);

    // Healthy with the listener it has; then a dead letter arrives.
    fx.config(ORDERS_LISTENER);
    fx.run(&["status"], 0);
    fx.publish_raw("typebus.dlq.orders-service", "{}");
    let (stdout, _) = fx.run(&["status"], 1);
    assert_eq!(
        row(&stdout, "orders-service", "typebus.dlq.orders-service")[2],
        "1"
    );
    assert!(
        stdout.contains(
            "unhealthy: 1 problem\n  - 1 dead letter of group `orders-service` on `typebus.dlq.orders-service`"
        ),
        "{stdout}"
    );
    // A group typebus.toml does not declare is counted too.
    fx.publish_raw("typebus.dlq.billing", "{}");
    let (stdout, _) = fx.run(&["status", "--json"], 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["dead_letters"],
        serde_json::json!([
            {"group": "orders-service", "subject": "typebus.dlq.orders-service", "messages": 1},
            {"group": "billing", "subject": "typebus.dlq.billing", "messages": 1},
        ])
    );
    assert_eq!(report["problems"].as_array().unwrap().len(), 2);
}

#[test]
fn a_listener_naming_an_unknown_event_is_a_usage_error() {
    let fx = Fixture::start();
    fx.config("[[listeners]]\ngroup = \"orders-service\"\nevents = [\"TicketSold\"]\n");
    let (_, stderr) = fx.run(&["status"], 2);
    assert!(
        stderr.contains(
            "typebus.toml: listener group `orders-service` names event `TicketSold`, which no schema declares"
        ),
        "{stderr}"
    );
}
