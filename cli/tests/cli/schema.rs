//! `typebus schema`: the JSON Schema of the schema-file format. The copies in
//! `schemas/typebus-schema.json` and `examples/quickstart/schemas/` (which
//! every schema file beside them names in its `yaml-language-server`
//! modeline) are current; every real schema file validates against it; the
//! mistakes editors should flag are rejected.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Project, output, repo_schemas};

const MODELINE: &str = "# yaml-language-server: $schema=typebus-schema.json\n";

pub(crate) fn printed_schema() -> String {
    let assert = Project::new().typebus(&["schema"]).assert().code(0);
    output(&assert).0
}

/// The schema-file format, compiled, to validate schema files with.
pub(crate) struct FormatSchema {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl FormatSchema {
    pub(crate) fn compile(text: &str) -> Self {
        let value: Value = serde_json::from_str(text).unwrap();
        let mut compiler = boon::Compiler::new();
        let mut schemas = boon::Schemas::new();
        compiler
            .add_resource("file:///typebus-schema.json", value)
            .unwrap();
        let index = compiler
            .compile("file:///typebus-schema.json", &mut schemas)
            .unwrap_or_else(|e| panic!("not a valid JSON Schema: {e:#}"));
        FormatSchema { schemas, index }
    }

    pub(crate) fn check(&self, yaml: &str) -> Result<(), String> {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        self.schemas
            .validate(&value, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

/// The schema directories of this repository that carry a copy of the
/// format's JSON Schema: the ticketing contracts, and the quickstart's (which
/// stands alone, as a project of its own would, so its modeline names a copy
/// beside it, as `typebus init` writes one).
fn schema_dirs() -> [(&'static str, PathBuf); 2] {
    [
        ("schemas", repo_schemas()),
        (
            "examples/quickstart/schemas",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart/schemas"),
        ),
    ]
}

#[test]
fn the_checked_in_schemas_are_current() {
    let printed = printed_schema();
    for (name, dir) in schema_dirs() {
        let checked_in = std::fs::read_to_string(dir.join("typebus-schema.json")).unwrap();
        assert!(
            printed == checked_in,
            "{name}/typebus-schema.json is stale: run `cargo run -p typebus-cli -- schema --out {name}/typebus-schema.json`"
        );
    }
}

#[test]
fn schema_out_writes_only_when_changed() {
    let project = Project::new();
    let assert = project
        .typebus(&["schema", "--out", "fmt.json"])
        .assert()
        .code(0);
    assert!(output(&assert).1.contains("wrote fmt.json"));
    assert_eq!(project.read("fmt.json"), printed_schema());
    let assert = project
        .typebus(&["schema", "--out", "fmt.json"])
        .assert()
        .code(0);
    assert!(output(&assert).1.contains("up to date fmt.json"));
}

#[test]
fn every_repo_schema_file_names_the_schema_and_validates() {
    let format = FormatSchema::compile(&printed_schema());
    let mut seen = 0;
    for (_, dir) in schema_dirs() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text.starts_with(MODELINE),
                    "{} lacks the modeline",
                    path.display()
                );
                if let Err(e) = format.check(&text) {
                    panic!("{} does not validate: {e}", path.display());
                }
                seen += 1;
            }
        }
    }
    // The five ticketing files and the quickstart's users.yaml.
    assert_eq!(seen, 6);
}

#[test]
fn every_valid_corpus_file_validates() {
    // The fixtures the codegen tests compile: every shape the loader accepts.
    let format = FormatSchema::compile(&printed_schema());
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../codegen/tests/golden");
    let mut seen = 0;
    let mut dirs = vec![golden];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if let Err(e) = format.check(&text) {
                    panic!("{} does not validate: {e}", path.display());
                }
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "only {seen} golden schema files");
}

#[test]
fn the_mistakes_an_editor_should_flag_are_rejected() {
    let format = FormatSchema::compile(&printed_schema());
    let good = "types:\n  Status:\n    enum: [open, sold]\n    open: true\n  Line:\n    fields:\n      sku: string\n      qty: { type: u32, default: 1, deprecated: use count }\nevents:\n  TicketCreated:\n    subject: ticket:created\n    version: 1\n    aggregate: { id: id, sequence: version }\n    fields:\n      id: string\n      version: u64\n      lines: list<Line>?\n";
    format.check(good).unwrap();
    for (bad, why) in [
        (good.replace("subject:", "subjct:"), "misspelled key"),
        (
            good.replace("    version: 1\n", "    version: 0\n"),
            "version < 1",
        ),
        (good.replace("    version: 1\n", ""), "missing version"),
        (
            good.replace(
                "aggregate: { id: id, sequence: version }",
                "aggregate: { id: id }",
            ),
            "aggregate without sequence",
        ),
        (
            good.replace("{ type: u32,", "{ typ: u32,"),
            "field spec without type",
        ),
        (good.replace("enum: [open, sold]", "enum: []"), "empty enum"),
        (
            good.replace("open: true", "open: yes please"),
            "open not a boolean",
        ),
        (format!("{good}extra: 1\n"), "unknown top-level key"),
    ] {
        assert!(format.check(&bad).is_err(), "accepted ({why}):\n{bad}");
    }
}
