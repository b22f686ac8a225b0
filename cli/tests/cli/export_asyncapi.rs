//! `typebus export asyncapi`: the document validates against the official
//! AsyncAPI 3.0.0 JSON Schema (vendored in `tests/asyncapi/`, see its
//! README), with a channel, message and receive operation per event.

use std::path::Path;

use serde_json::Value;

use crate::common::{Project, output, repo_schemas};

fn asyncapi_validator() -> (boon::Schemas, boon::SchemaIndex) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/asyncapi/asyncapi-3.0.0.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let id = schema["$id"].as_str().unwrap().to_owned();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource(&id, schema).unwrap();
    let mut schemas = boon::Schemas::new();
    let index = compiler.compile(&id, &mut schemas).unwrap();
    (schemas, index)
}

#[test]
fn document_is_valid_asyncapi_3() {
    let (validator, index) = asyncapi_validator();
    let project = Project::new();
    let schemas = repo_schemas();
    let assert = project
        .typebus(&["export", "asyncapi", "--schemas", schemas.to_str().unwrap()])
        .assert()
        .code(0);
    let (stdout, _) = output(&assert);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    if let Err(e) = validator.validate(&doc, index) {
        panic!("not valid AsyncAPI 3.0.0: {e:#}\n{stdout}");
    }
    assert_eq!(doc["asyncapi"], "3.0.0");
    let channel = &doc["channels"]["OrderCreated"];
    assert_eq!(channel["address"], "order:created");
    let message = &doc["components"]["messages"]["OrderCreated"];
    assert_eq!(message["x-typebus-version"], 1);
    assert_eq!(
        message["payload"]["properties"]["status"]["$ref"],
        "#/components/schemas/OrderStatus"
    );
    assert_eq!(
        doc["operations"]["receiveOrderCreated"]["action"],
        "receive"
    );
    assert!(doc["components"]["schemas"]["OrderStatus"]["enum"].is_array());
    // A broken document is caught by the same validator (the check can fail).
    let mut broken = doc.clone();
    broken["operations"]["receiveOrderCreated"]["action"] = "listen".into();
    assert!(validator.validate(&broken, index).is_err());
}

#[test]
fn a_queue_group_binds_every_receive_operation() {
    let (validator, index) = asyncapi_validator();
    let project = Project::new();
    let schemas = repo_schemas();
    let schemas = schemas.to_str().unwrap();
    let assert = project
        .typebus(&[
            "export",
            "asyncapi",
            "--schemas",
            schemas,
            "--queue-group",
            "orders-service",
        ])
        .assert()
        .code(0);
    let doc: Value = serde_json::from_str(&output(&assert).0).unwrap();
    if let Err(e) = validator.validate(&doc, index) {
        panic!("not valid AsyncAPI 3.0.0: {e:#}");
    }
    let operations = doc["operations"].as_object().unwrap();
    assert_eq!(operations.len(), 6);
    for (name, operation) in operations {
        assert_eq!(
            operation["bindings"]["nats"]["queue"], "orders-service",
            "{name}"
        );
    }
    // The official schema checks the binding: a queue group of 256 characters fails.
    let mut broken = doc.clone();
    broken["operations"]["receiveOrderCreated"]["bindings"]["nats"]["queue"] =
        "q".repeat(256).into();
    assert!(validator.validate(&broken, index).is_err());

    let assert = project
        .typebus(&[
            "export",
            "asyncapi",
            "--schemas",
            schemas,
            "--queue-group",
            "a b",
        ])
        .assert()
        .code(2);
    assert!(
        output(&assert)
            .1
            .contains("a queue group cannot contain ' '")
    );
}

#[test]
fn recursive_types_and_out_file() {
    let (validator, index) = asyncapi_validator();
    let project = Project::new();
    project.write(
        "schemas/tickets.yaml",
        "\
types:
  Node:
    fields:
      name: string
      children: list<Node>
events:
  Built:
    subject: tree:built
    version: 2
    fields:
      root: Node
",
    );
    project
        .typebus(&["export", "asyncapi", "--out", "api/asyncapi.json"])
        .assert()
        .code(0);
    let text = project.read("api/asyncapi.json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    if let Err(e) = validator.validate(&doc, index) {
        panic!("not valid AsyncAPI 3.0.0: {e:#}\n{text}");
    }
    let node = &doc["components"]["schemas"]["Node"];
    assert_eq!(
        node["properties"]["children"]["items"]["$ref"],
        "#/components/schemas/Node"
    );
    assert_eq!(doc["components"]["messages"]["Built"]["title"], "Built v2");
    let assert = project
        .typebus(&["export", "asyncapi", "--out", "api/asyncapi.json"])
        .assert()
        .code(0);
    let (_, stderr) = output(&assert);
    assert!(stderr.contains("up to date"), "{stderr}");
}
