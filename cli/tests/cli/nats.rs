//! `typebus publish` and `typebus listen` against a real nats-server with
//! the repo's ticketing schemas: payloads are checked before anything is
//! sent, published with the typebus headers, and shown decoded (or as
//! undecodable) with their delivery info.

use std::time::Duration;

use typebus::nats::{ConnectOptions, NatsTransport};
use typebus::testing::NatsServer;
use typebus::{StreamConfig, Transport as _};

use crate::common::{Project, output, repo_schemas};

const TICKET: &str = r#"{"id":"t1","version":0,"title":"concert","price":20,"userId":"u1"}"#;

/// A server with one `EVENTS` stream holding every ticketing subject, and a
/// JetStream context on it.
pub(crate) struct Fixture {
    pub(crate) server: NatsServer,
    pub(crate) project: Project,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) transport: NatsTransport,
}

impl Fixture {
    pub(crate) fn start() -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let transport = runtime.block_on(async {
            let transport = NatsTransport::connect(ConnectOptions::new(server.url()))
                .await
                .unwrap();
            // Every subject of the repo's schemas, read from them.
            let model = typebus_codegen::SchemaSet::from_dir(repo_schemas())
                .and_then(|set| set.validate())
                .unwrap();
            let subjects = model.events.iter().map(|event| event.subject.as_str());
            transport
                .provision(&StreamConfig::new(subjects))
                .await
                .unwrap();
            transport
        });
        Fixture {
            server,
            project: Project::new(),
            runtime,
            transport,
        }
    }

    /// `typebus ARGS --schemas <repo>/schemas --url <server>`.
    pub(crate) fn typebus(&self, args: &[&str]) -> assert_cmd::Command {
        let schemas = repo_schemas();
        let url = self.server.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--schemas", schemas.to_str().unwrap(), "--url", &url]);
        let mut cmd = self.project.typebus(&all);
        cmd.timeout(Duration::from_secs(60));
        cmd
    }

    /// `typebus publish ticket:created --data TICKET --msg-id ID`, which
    /// must succeed; its standard output.
    pub(crate) fn publish_ticket(&self, msg_id: &str) -> String {
        let assert = self
            .typebus(&[
                "publish",
                "ticket:created",
                "--data",
                TICKET,
                "--msg-id",
                msg_id,
            ])
            .assert()
            .code(0);
        output(&assert).0
    }

    /// The stored message at `sequence` of the stream: subject, headers, body.
    fn stored(&self, sequence: u64) -> (String, Vec<(String, String)>, String) {
        self.stored_in("EVENTS", sequence)
    }

    /// The stored message at `sequence` of `stream`: subject, headers
    /// (sorted), body.
    fn stored_in(&self, stream: &str, sequence: u64) -> (String, Vec<(String, String)>, String) {
        self.runtime.block_on(async {
            let stream = self.transport.jetstream().get_stream(stream).await.unwrap();
            let raw = stream.get_raw_message(sequence).await.unwrap();
            let mut headers: Vec<(String, String)> = raw
                .headers
                .iter()
                .flat_map(|(name, values)| {
                    values
                        .iter()
                        .map(move |v| (name.to_string(), v.as_str().to_owned()))
                })
                .collect();
            headers.sort();
            (
                raw.subject.to_string(),
                headers,
                String::from_utf8(raw.payload.to_vec()).unwrap(),
            )
        })
    }

    fn stored_count(&self) -> u64 {
        self.runtime.block_on(async {
            let mut stream = self
                .transport
                .jetstream()
                .get_stream("EVENTS")
                .await
                .unwrap();
            stream.info().await.unwrap().state.messages
        })
    }

    /// Publishes `body` on `subject` without the CLI (and without checks).
    pub(crate) fn publish_raw(&self, subject: &str, body: &str) {
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

#[test]
fn publish_sends_a_fitting_payload_with_the_typebus_headers() {
    let fx = Fixture::start();
    let stdout = fx.publish_ticket("m-1");
    assert_eq!(
        stdout,
        "published ticket:created v1 msg-id m-1 to EVENTS #1\n"
    );
    let (subject, headers, body) = fx.stored(1);
    assert_eq!(subject, "ticket:created");
    assert_eq!(
        headers,
        [
            ("Nats-Msg-Id".to_owned(), "m-1".to_owned()),
            ("Typebus-Event".to_owned(), "TicketCreated".to_owned()),
            ("Typebus-Version".to_owned(), "1".to_owned()),
        ]
    );
    // Byte for byte as given: keys in their order, numbers as JSON.stringify.
    assert_eq!(body, TICKET);

    // The same message id again: the stream keeps one copy.
    assert_eq!(
        fx.publish_ticket("m-1"),
        "duplicate ticket:created v1 msg-id m-1: already stored in EVENTS #1\n"
    );

    // From a file, with a fresh message id.
    fx.project.write("ticket.json", TICKET);
    fx.typebus(&["publish", "ticket:created", "--data", "@ticket.json"])
        .assert()
        .code(0);
    assert_eq!(fx.stored_count(), 2);
}

#[test]
fn publish_refuses_a_mismatch_at_its_json_path_and_sends_nothing() {
    let fx = Fixture::start();
    let bad = r#"{"id":"t1","version":-1,"title":"concert","price":"20"}"#;
    let assert = fx
        .typebus(&["publish", "ticket:created", "--data", bad])
        .assert()
        .code(1);
    let (stdout, stderr) = output(&assert);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(
            "error: invalid TicketCreated v1 payload at $.price: want number, but got string"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("at $.version: "), "{stderr}");
    assert!(
        stderr.contains("at $: missing properties 'userId'"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "--data does not fit TicketCreated (ticket:created): 3 problems; nothing was published"
        ),
        "{stderr}"
    );

    let assert = fx
        .typebus(&["publish", "ticket:created", "--data", "{\"id\": tru}"])
        .assert()
        .code(1);
    let stderr = output(&assert).1;
    assert!(
        stderr.contains("--data is not valid JSON: expected ident at line 1 column 11"),
        "{stderr}"
    );

    let assert = fx
        .typebus(&["publish", "ticket:sold", "--data", TICKET])
        .assert()
        .code(2);
    let stderr = output(&assert).1;
    assert!(
        stderr.contains("no event in the schemas has subject `ticket:sold`"),
        "{stderr}"
    );
    assert!(stderr.contains("ticket:created"), "{stderr}");

    assert_eq!(fx.stored_count(), 0);
}

#[test]
fn publish_without_a_server_fails_clearly() {
    let fx = Fixture::start();
    let port = fx.server.port();
    drop(fx);
    let project = Project::new();
    let schemas = repo_schemas();
    let url = format!("nats://user:hunter2@127.0.0.1:{port}");
    let assert = project
        .typebus(&[
            "publish",
            "ticket:created",
            "--data",
            TICKET,
            "--schemas",
            schemas.to_str().unwrap(),
            "--url",
            &url,
        ])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1);
    let stderr = output(&assert).1;
    assert!(stderr.contains("cannot connect to NATS"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaks: {stderr}");
}

#[test]
fn listen_shows_events_decoded_and_undecodable_ones_as_such() {
    let fx = Fixture::start();
    fx.publish_ticket("m-1");
    fx.publish_raw("ticket:created", "not json");
    fx.publish_raw(
        "ticket:created",
        r#"{"id":"t2","version":0,"title":"x","price":"1","userId":"u"}"#,
    );
    fx.publish_raw("order:created", "{}");

    let assert = fx
        .typebus(&["listen", "ticket:created", "--all", "--count", "3"])
        .assert()
        .code(0);
    let (stdout, stderr) = output(&assert);
    assert!(
        stderr.contains("listening on ticket:created (EVENTS)"),
        "{stderr}"
    );
    let blocks: Vec<&str> = stdout
        .split("ticket:created ")
        .filter(|b| !b.is_empty())
        .collect();
    assert_eq!(blocks.len(), 3, "{stdout}");
    assert!(
        blocks[0].starts_with("TicketCreated v1 (EVENTS #1, delivery 1, published "),
        "{stdout}"
    );
    // Keys in wire order, as the publisher sent them.
    assert!(
        blocks[0].contains(", msg-id m-1)\n{\n  \"id\": \"t1\",\n  \"version\": 0,\n  \"title\": \"concert\",\n  \"price\": 20,\n  \"userId\": \"u1\"\n}\n"),
        "{stdout}"
    );
    assert!(
        blocks[1].starts_with("undecodable: the body is not JSON: expected ident at line 1 column 2 (EVENTS #2, delivery 1"),
        "{stdout}"
    );
    assert!(blocks[1].ends_with("\nnot json\n"), "{stdout}");
    assert!(
        blocks[2].starts_with("undecodable: invalid TicketCreated v1 payload at $.price: want number, but got string (EVENTS #3"),
        "{stdout}"
    );
    assert!(!stdout.contains("order:created"), "{stdout}");
}

#[test]
fn listen_all_subjects_by_default_and_a_durable_keeps_its_position() {
    let fx = Fixture::start();
    fx.typebus(&["publish", "ticket:created", "--data", TICKET])
        .assert()
        .code(0);
    let expiration = r#"{"orderId":"o1"}"#;
    fx.typebus(&["publish", "expiration:complete", "--data", expiration])
        .assert()
        .code(0);
    let assert = fx
        .typebus(&["listen", "--all", "--count", "2"])
        .assert()
        .code(0);
    let stdout = output(&assert).0;
    assert!(
        stdout.contains("ticket:created TicketCreated v1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expiration:complete ExpirationComplete v1"),
        "{stdout}"
    );

    let first = fx
        .typebus(&[
            "listen",
            "ticket:created",
            "--durable",
            "cli",
            "--all",
            "--count",
            "1",
        ])
        .assert()
        .code(0);
    assert!(
        output(&first).0.contains("(EVENTS #1,"),
        "{}",
        output(&first).0
    );
    fx.typebus(&["publish", "ticket:created", "--data", TICKET])
        .assert()
        .code(0);
    let second = fx
        .typebus(&[
            "listen",
            "ticket:created",
            "--durable",
            "cli",
            "--count",
            "1",
        ])
        .assert()
        .code(0);
    assert!(
        output(&second).0.contains("(EVENTS #3,"),
        "{}",
        output(&second).0
    );

    // `--all` on an existing durable: it goes on from its position, and says so.
    fx.typebus(&["publish", "ticket:created", "--data", TICKET])
        .assert()
        .code(0);
    let again = fx
        .typebus(&[
            "listen",
            "ticket:created",
            "--durable",
            "cli",
            "--all",
            "--count",
            "1",
        ])
        .timeout(std::time::Duration::from_secs(5))
        .assert()
        .code(0);
    assert!(
        output(&again).1.contains("note: durable consumer `cli_ticket:created` exists: it goes on from its position, and --all applies only to a new one"),
        "{}",
        output(&again).1
    );
    assert!(
        output(&again).0.contains("(EVENTS #4,"),
        "{}",
        output(&again).0
    );

    let unknown = fx.typebus(&["listen", "ticket:sold"]).assert().code(2);
    assert!(output(&unknown).1.contains("`ticket:sold`"));
}

#[test]
fn listen_count_fetches_only_what_it_shows_so_a_durable_goes_on_at_once() {
    let fx = Fixture::start();
    for n in 1..=3 {
        fx.publish_ticket(&format!("m-{n}"));
    }
    for sequence in 1..=3 {
        // Each run shows the next event at once: nothing fetched by the run
        // before waits unacknowledged for its ack wait (30 s).
        let run = fx
            .typebus(&[
                "listen",
                "ticket:created",
                "--durable",
                "one",
                "--all",
                "--count",
                "1",
            ])
            .timeout(std::time::Duration::from_secs(10))
            .assert()
            .code(0);
        let stdout = output(&run).0;
        assert!(
            stdout.contains(&format!("(EVENTS #{sequence}, delivery 1,")),
            "{stdout}"
        );
        assert_eq!(
            stdout.matches("ticket:created TicketCreated").count(),
            1,
            "{stdout}"
        );
    }
    // Two subjects, --count 1: the other subject's event is released, not held.
    fx.typebus(&[
        "publish",
        "expiration:complete",
        "--data",
        r#"{"orderId":"o1"}"#,
    ])
    .assert()
    .code(0);
    fx.publish_ticket("m-4");
    let both = |count: &str| {
        let run = fx
            .typebus(&[
                "listen",
                "ticket:created",
                "expiration:complete",
                "--durable",
                "two",
                "--all",
                "--count",
                count,
            ])
            .timeout(std::time::Duration::from_secs(10))
            .assert()
            .code(0);
        output(&run).0
    };
    let first = both("1");
    let rest = both("4");
    assert_eq!(first.matches(" v1 (EVENTS #").count(), 1, "{first}");
    // The other four (of 4 tickets and 1 expiration) come in the next run,
    // first deliveries but for the one released.
    assert_eq!(rest.matches(" v1 (EVENTS #").count(), 4, "{rest}");
}

/// A version whose older readers read it (`seat:held` v2 only added an
/// optional field to v1, as the fixture's lock records) is published with
/// `Typebus-Readable-As`, as the generated publisher does.
#[test]
fn publish_says_which_older_versions_read_the_event() {
    let fx = Fixture::start();
    fx.runtime.block_on(async {
        fx.transport
            .provision(&StreamConfig::new(["seat:held"]).name("SEATS"))
            .await
            .unwrap();
    });
    let schemas = repo_schemas().join("../codegen/tests/golden/versions/schemas");
    let url = fx.server.url();
    fx.project
        .typebus(&[
            "publish",
            "seat:held",
            "--data",
            r#"{"seat":"s1","count":2,"note":"aisle"}"#,
            "--msg-id",
            "s-1",
            "--schemas",
            schemas.to_str().unwrap(),
            "--url",
            &url,
        ])
        .assert()
        .code(0);
    let (_, headers, _) = fx.stored_in("SEATS", 1);
    assert_eq!(
        headers,
        [
            ("Nats-Msg-Id".to_owned(), "s-1".to_owned()),
            ("Typebus-Event".to_owned(), "SeatHeld".to_owned()),
            ("Typebus-Readable-As".to_owned(), "1".to_owned()),
            ("Typebus-Version".to_owned(), "2".to_owned()),
        ]
    );
}
