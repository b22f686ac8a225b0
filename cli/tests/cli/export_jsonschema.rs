//! `typebus export jsonschema`: the REFERENCE.md payloads validate against
//! the exported schemas of the repo's own `schemas/`; wrong types, missing
//! required fields, unknown enum values and out-of-range integers fail.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Project, output, repo_schemas};

/// Compiled exported schemas, by file path relative to the export dir.
pub(crate) struct Exported {
    schemas: boon::Schemas,
    index: std::collections::BTreeMap<String, boon::SchemaIndex>,
}

impl Exported {
    pub(crate) fn load(dir: &Path, names: &[&str]) -> Self {
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let mut schemas = boon::Schemas::new();
        let mut index = std::collections::BTreeMap::new();
        for name in names {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            let url = format!("file:///export/{name}");
            compiler.add_resource(&url, value).unwrap();
            let idx = compiler
                .compile(&url, &mut schemas)
                .unwrap_or_else(|e| panic!("{name} is not a valid JSON Schema: {e}"));
            index.insert((*name).to_owned(), idx);
        }
        Exported { schemas, index }
    }

    pub(crate) fn check(&self, name: &str, payload: &Value) -> Result<(), String> {
        self.schemas
            .validate(payload, self.index[name])
            .map_err(|e| format!("{e:#}"))
    }

    fn accepts(&self, name: &str, payload: Value) {
        if let Err(e) = self.check(name, &payload) {
            panic!("{name} rejects {payload}: {e}");
        }
    }

    fn rejects(&self, name: &str, payload: Value) -> String {
        match self.check(name, &payload) {
            Ok(()) => panic!("{name} accepts {payload}"),
            Err(e) => e,
        }
    }
}

const EVENTS: &[&str] = &[
    "TicketCreated.schema.json",
    "TicketUpdated.schema.json",
    "OrderCreated.schema.json",
    "OrderCancelled.schema.json",
    "ExpirationComplete.schema.json",
    "PaymentCreated.schema.json",
    "types/OrderStatus.schema.json",
];

fn export_repo() -> (tempfile::TempDir, Exported) {
    let project = Project::new();
    let out = project.path("js");
    project
        .typebus(&[
            "export",
            "jsonschema",
            "--schemas",
            repo_schemas().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(0);
    let exported = Exported::load(&out, EVENTS);
    (project.dir, exported)
}

#[test]
fn reference_payloads_validate() {
    let (_dir, x) = export_repo();
    let id = "5ea1c4b8e2a7c9001b3f2a10";
    x.accepts(
        "TicketCreated.schema.json",
        json!({ "id": id, "version": 0, "title": "concert", "price": 20, "userId": id }),
    );
    x.accepts(
        "TicketUpdated.schema.json",
        json!({ "id": id, "version": 1, "title": "concert", "price": 9.99, "userId": id, "orderId": id }),
    );
    // `orderId` is optional: absent is fine.
    x.accepts(
        "TicketUpdated.schema.json",
        json!({ "id": id, "version": 2, "title": "concert", "price": 9.99, "userId": id }),
    );
    for status in ["created", "cancelled", "awaiting:payment", "complete"] {
        x.accepts(
            "OrderCreated.schema.json",
            json!({
                "id": id, "version": 0, "status": status, "userId": id,
                "expiresAt": "2020-05-01T12:00:00.000Z",
                "ticket": { "id": id, "price": 20 }
            }),
        );
        x.accepts("types/OrderStatus.schema.json", json!(status));
    }
    x.accepts(
        "OrderCancelled.schema.json",
        json!({ "id": id, "version": 1, "ticket": { "id": id } }),
    );
    x.accepts("ExpirationComplete.schema.json", json!({ "orderId": id }));
    x.accepts(
        "PaymentCreated.schema.json",
        json!({ "id": id, "orderId": id, "stripeId": "ch_1Gq2" }),
    );
    // Tolerant readers: unknown properties are allowed.
    x.accepts(
        "ExpirationComplete.schema.json",
        json!({ "orderId": id, "traceId": "abc" }),
    );
}

#[test]
fn mismatching_payloads_fail() {
    let (_dir, x) = export_repo();
    let id = "5ea1c4b8e2a7c9001b3f2a10";
    let ticket = |price: Value| json!({ "id": id, "version": 0, "title": "concert", "price": price, "userId": id });
    // Wrong type.
    let e = x.rejects("TicketCreated.schema.json", ticket(json!("20")));
    assert!(e.contains("/price"), "{e}");
    // Missing required field.
    let e = x.rejects(
        "TicketCreated.schema.json",
        json!({ "id": id, "version": 0, "title": "concert", "price": 20 }),
    );
    assert!(e.contains("userId"), "{e}");
    // Unknown value of a closed enum.
    let order = |status: &str, expires: &str, version: Value| {
        json!({
            "id": id, "version": version, "status": status, "userId": id,
            "expiresAt": expires, "ticket": { "id": id, "price": 20 }
        })
    };
    let e = x.rejects(
        "OrderCreated.schema.json",
        order("shipped", "2020-05-01T12:00:00.000Z", json!(0)),
    );
    assert!(e.contains("/status"), "{e}");
    x.rejects("types/OrderStatus.schema.json", json!("shipped"));
    // A timestamp that is not RFC 3339.
    let e = x.rejects(
        "OrderCreated.schema.json",
        order("created", "tomorrow", json!(0)),
    );
    assert!(e.contains("/expiresAt"), "{e}");
    // u64: no negative numbers, no fractions.
    x.rejects(
        "OrderCreated.schema.json",
        order("created", "2020-05-01T12:00:00.000Z", json!(-1)),
    );
    x.rejects(
        "OrderCreated.schema.json",
        order("created", "2020-05-01T12:00:00.000Z", json!(1.5)),
    );
    // Nested object: missing required field.
    let e = x.rejects(
        "OrderCancelled.schema.json",
        json!({ "id": id, "version": 1, "ticket": {} }),
    );
    assert!(e.contains("/ticket"), "{e}");
}

const EVERY_KIND: &str = "\
types:
  Level:
    enum: [low, high]
    open: true
  Node:
    fields:
      name: string
      children: list<Node>
events:
  Measured:
    subject: sensor:measured
    version: 3
    fields:
      id: uuid
      small: i32
      count: u32
      retries:
        type: u32
        default: 0
      level: Level
      tags: map<string>
      samples: list<f64?>
      note: string?
      tree: Node
      extra: json
";

fn measured(project: &Project) -> Exported {
    project.write("schemas/tickets.yaml", EVERY_KIND);
    project
        .typebus(&["export", "jsonschema", "--out", "js"])
        .assert()
        .code(0);
    Exported::load(&project.path("js"), &["Measured.schema.json"])
}

#[test]
fn every_kind_of_field_agrees_with_the_rust_types() {
    let project = Project::new();
    let x = measured(&project);
    let ok = json!({
        "id": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "small": -5, "count": 7, "level": "whatever-new",
        "tags": { "a": "b" }, "samples": [1.5, null, 2],
        "tree": { "name": "root", "children": [{ "name": "leaf", "children": [] }] },
        "extra": [1, { "x": true }]
    });
    // `retries` has a default and `note` is `T?`: neither is required.
    x.accepts("Measured.schema.json", ok.clone());
    let with = |key: &str, value: Value| {
        let mut payload = ok.clone();
        payload[key] = value;
        payload
    };
    // An optional field without a value is absent, never `null` (in a
    // list, `null` is how a missing item is written).
    x.accepts("Measured.schema.json", with("note", json!("hi")));
    x.rejects("Measured.schema.json", with("note", Value::Null));
    x.rejects("Measured.schema.json", with("id", json!("not-a-uuid")));
    x.rejects(
        "Measured.schema.json",
        with("small", json!(2_147_483_648_i64)),
    );
    x.rejects("Measured.schema.json", with("count", json!(-1)));
    x.rejects(
        "Measured.schema.json",
        with("count", json!(4_294_967_296_i64)),
    );
    x.rejects("Measured.schema.json", with("retries", json!("3")));
    x.rejects("Measured.schema.json", with("level", json!(3)));
    x.rejects("Measured.schema.json", with("tags", json!({ "a": 1 })));
    x.rejects("Measured.schema.json", with("samples", json!(["x"])));
    x.rejects(
        "Measured.schema.json",
        with(
            "tree",
            json!({ "name": "r", "children": [{ "name": 1, "children": [] }] }),
        ),
    );
    let schema: Value = serde_json::from_str(&project.read("js/Measured.schema.json")).unwrap();
    assert_eq!(schema["x-typebus-subject"], "sensor:measured");
    assert_eq!(schema["x-typebus-version"], 3);
    assert_eq!(schema["properties"]["retries"]["default"], 0);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "count", "extra", "id", "level", "samples", "small", "tags", "tree"
        ]
    );
}

#[test]
fn export_is_deterministic_and_written_only_when_changed() {
    let project = Project::new();
    let _ = measured(&project);
    let path = project.path("js/Measured.schema.json");
    let first = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let assert = project
        .typebus(&["export", "jsonschema", "--out", "js"])
        .assert()
        .code(0);
    let (_, stderr) = output(&assert);
    assert!(stderr.contains("(0 changed)"), "{stderr}");
    assert_eq!(std::fs::read(&path).unwrap(), first);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    assert!(project.path("js/types/Node.schema.json").exists());
    assert!(project.path("js/types/Level.schema.json").exists());
}

#[test]
fn invalid_schemas_exit_2_and_write_nothing() {
    let project = Project::new();
    project.edit_schema("price: f64", "price: decimal");
    let assert = project
        .typebus(&["export", "jsonschema", "--out", "js"])
        .assert()
        .code(2);
    let (_, stderr) = output(&assert);
    assert!(stderr.contains("tickets.yaml:"), "{stderr}");
    assert!(!project.path("js").exists());
}
