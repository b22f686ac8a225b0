//! The synthetic schema corpus the codegen benches share: `events` events
//! over [`FILES`] files, with [`ENUMS`] shared enums and [`STRUCTS`] shared
//! nested types, the same for every run and machine.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde_json::{Map, Value, json};

/// Schema files the events are spread over.
pub(crate) const FILES: usize = 20;
/// Shared enums.
pub(crate) const ENUMS: usize = 40;
/// Shared nested types.
pub(crate) const STRUCTS: usize = 80;

/// A small deterministic generator (64-bit LCG), so every run and every
/// machine benchmarks the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One field's type in both notations: schema syntax and JSON Schema.
fn field_type(rng: &mut Rng) -> (String, Value, bool) {
    const SCALARS: &[(&str, &str, Option<&str>)] = &[
        ("string", "string", None),
        ("bool", "boolean", None),
        ("i32", "integer", Some("int32")),
        ("i64", "integer", Some("int64")),
        ("u32", "integer", Some("uint32")),
        ("u64", "integer", Some("uint64")),
        ("f64", "number", Some("double")),
        ("timestamp", "string", Some("date-time")),
        ("uuid", "string", Some("uuid")),
    ];
    let scalar = |rng: &mut Rng| {
        let (name, ty, format) = SCALARS[rng.below(SCALARS.len())];
        let mut schema = json!({ "type": ty });
        if let Some(format) = format {
            schema["format"] = json!(format);
        }
        if name.starts_with('u') {
            schema["minimum"] = json!(0);
        }
        (name.to_owned(), schema)
    };
    let (ty, schema) = match rng.below(10) {
        0..=4 => scalar(rng),
        5 => {
            let n = rng.below(ENUMS);
            (
                format!("Enum{n}"),
                json!({ "$ref": format!("#/definitions/Enum{n}") }),
            )
        }
        6 => {
            let n = rng.below(STRUCTS);
            (
                format!("Shape{n}"),
                json!({ "$ref": format!("#/definitions/Shape{n}") }),
            )
        }
        7 => {
            let (inner, schema) = scalar(rng);
            (
                format!("list<{inner}>"),
                json!({ "type": "array", "items": schema }),
            )
        }
        8 => {
            let n = rng.below(STRUCTS);
            (
                format!("map<Shape{n}>"),
                json!({ "type": "object", "additionalProperties": { "$ref": format!("#/definitions/Shape{n}") } }),
            )
        }
        _ => {
            let n = rng.below(ENUMS);
            (
                format!("list<Enum{n}>"),
                json!({ "type": "array", "items": { "$ref": format!("#/definitions/Enum{n}") } }),
            )
        }
    };
    let optional = rng.below(4) == 0;
    let ty = if optional { format!("{ty}?") } else { ty };
    (ty, schema, optional)
}

/// An object schema from `(wire name, schema, optional)` fields.
fn object(description: &str, fields: &[(String, Value, bool)]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, schema, optional) in fields {
        properties.insert(name.clone(), schema.clone());
        if !optional {
            required.push(json!(name));
        }
    }
    json!({ "type": "object", "description": description, "properties": properties, "required": required })
}

/// Writes the corpus as YAML files under `dir` and returns it as one JSON
/// Schema, with the number of fields.
pub(crate) fn write_corpus(dir: &Path, events: usize) -> (Value, usize) {
    let mut rng = Rng(0x07e5_7b05);
    let mut definitions = Map::new();
    let mut files: Vec<String> = vec![String::new(); FILES];
    let mut field_count = 0;

    let mut shared = String::from("types:\n");
    for n in 0..ENUMS {
        let values: Vec<String> = (0..5 + rng.below(4))
            .map(|v| format!("value-{v}"))
            .collect();
        writeln!(
            shared,
            "  Enum{n}:\n    description: Shared enum {n}.\n    enum: [{}]",
            values.join(", ")
        )
        .unwrap();
        definitions.insert(
            format!("Enum{n}"),
            json!({ "type": "string", "description": format!("Shared enum {n}."), "enum": values }),
        );
    }
    for n in 0..STRUCTS {
        let mut fields = Vec::new();
        writeln!(
            shared,
            "  Shape{n}:\n    description: Shared nested type {n}.\n    fields:"
        )
        .unwrap();
        for f in 0..3 + rng.below(3) {
            // Nested types hold scalars and enums only: no recursion.
            let (ty, schema, optional) = loop {
                let candidate = field_type(&mut rng);
                if !candidate.0.contains("Shape") {
                    break candidate;
                }
            };
            writeln!(shared, "      part{f}: \"{ty}\"").unwrap();
            fields.push((format!("part{f}"), schema, optional));
        }
        definitions.insert(
            format!("Shape{n}"),
            object(&format!("Shared nested type {n}."), &fields),
        );
    }
    fs::write(dir.join("shared.yaml"), shared).unwrap();

    for e in 0..events {
        let file = &mut files[e % FILES];
        if file.is_empty() {
            file.push_str("events:\n");
        }
        let description = format!("Synthetic event number {e}.");
        writeln!(
            file,
            "  Event{e}:\n    subject: service{}.event{e}\n    version: {}\n    description: {description}\n    fields:",
            e % FILES,
            1 + e % 3
        )
        .unwrap();
        let mut fields = vec![(String::from("id"), json!({ "type": "string" }), false)];
        file.push_str("      id: string\n");
        for f in 1..6 + rng.below(5) {
            let (ty, schema, optional) = field_type(&mut rng);
            let wire = format!("field{f}Name");
            writeln!(file, "      {wire}: \"{ty}\"").unwrap();
            fields.push((wire, schema, optional));
        }
        field_count += fields.len();
        definitions.insert(format!("Event{e}"), object(&description, &fields));
    }
    for (i, file) in files.iter().enumerate() {
        fs::write(dir.join(format!("service-{i:02}.yaml")), file).unwrap();
    }
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Corpus",
        "definitions": definitions,
    });
    (schema, field_count)
}
