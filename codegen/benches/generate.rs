//! The whole `generate` (load -> validate -> emit -> format) on a synthetic
//! corpus of 2,000 events, against `cargo typify -B` (typify 0.8, no
//! builders) on the same corpus written as one JSON Schema, in the same run.
//!
//! ```text
//! cargo bench -p typebus-codegen --bench generate
//! ```
//!
//! Prints wall times (median and minimum over several runs), events per
//! second, a per-stage breakdown, the serde-saphyr-only parse time of the
//! YAML as a reference, and the ratio to typify when `cargo-typify` is
//! installed (`cargo install cargo-typify --version '^0.8' --locked`);
//! otherwise it says why that comparison was skipped. With
//! `TYPEBUS_BENCH_KEEP=DIR` it also copies the corpus into `DIR`, to
//! profile `typebus generate --schemas DIR` on its own. Figures, not
//! assertions: nothing here fails on a slow machine.

// A benchmark binary: a setup step that fails should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use typebus_codegen::{Builder, SchemaSet};

const EVENTS: usize = 2_000;
const FILES: usize = 20;
const ENUMS: usize = 40;
const STRUCTS: usize = 80;
const RUNS: usize = 11;
const TYPIFY_RUNS: usize = 5;

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
fn write_corpus(dir: &Path) -> (Value, usize) {
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

    for e in 0..EVENTS {
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

/// Runs `f` `runs` times; returns (median, minimum).
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn typify_binary() -> Option<PathBuf> {
    let name = "cargo-typify";
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas");
    fs::create_dir(&schemas).unwrap();
    let (json_schema, fields) = write_corpus(&schemas);
    // To profile `generate` outside the bench: keep a copy of the corpus.
    if let Some(keep) = std::env::var_os("TYPEBUS_BENCH_KEEP") {
        let keep = PathBuf::from(keep);
        fs::create_dir_all(&keep).unwrap();
        for entry in fs::read_dir(&schemas).unwrap() {
            let path = entry.unwrap().path();
            fs::copy(&path, keep.join(path.file_name().unwrap())).unwrap();
        }
        println!("corpus kept in {}", keep.display());
    }
    let yaml_bytes: u64 = fs::read_dir(&schemas)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();

    let builder = Builder::new().schema_dir(&schemas);
    let generated = builder
        .generate()
        .unwrap_or_else(|err| panic!("the corpus does not generate:\n{err}"));
    println!(
        "corpus: {EVENTS} events ({fields} fields), {ENUMS} shared enums, {STRUCTS} shared nested types, \
         {} YAML files ({:.0} KiB) -> {} lines of Rust ({:.0} KiB)",
        FILES + 1,
        yaml_bytes as f64 / 1024.0,
        generated.code().lines().count(),
        generated.code().len() as f64 / 1024.0
    );

    // References and stages.
    let sources: Vec<String> = {
        let mut paths: Vec<_> = fs::read_dir(&schemas)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| fs::read_to_string(p).unwrap())
            .collect()
    };
    let (parse, _) = time(RUNS, || {
        for text in &sources {
            let _: serde::de::IgnoredAny = serde_saphyr::from_str(text).unwrap();
        }
    });
    let (load, _) = time(RUNS, || SchemaSet::from_dir(&schemas).unwrap());
    let set = SchemaSet::from_dir(&schemas).unwrap();
    let (validate, _) = time(RUNS, || set.validate().unwrap());
    let model = set.validate().unwrap();
    let (tokens, _) = time(RUNS, || typebus_codegen::emit::tokens(&model).unwrap());
    let (emit, _) = time(RUNS, || typebus_codegen::emit(&model).unwrap());

    let (median, min) = time(RUNS, || builder.generate().unwrap());
    println!(
        "typebus generate (load -> validate -> emit -> format): median {:.1} ms, min {:.1} ms, {:.0} events/s",
        ms(median),
        ms(min),
        EVENTS as f64 / median.as_secs_f64()
    );
    println!(
        "  stages (medians): load {:.1} ms, validate {:.1} ms, emit tokens {:.1} ms, emit + parse + format {:.1} ms",
        ms(load),
        ms(validate),
        ms(tokens),
        ms(emit)
    );
    println!(
        "  reference: serde-saphyr alone parses the YAML in {:.1} ms",
        ms(parse)
    );

    match typify_binary() {
        None => println!(
            "typify: skipped, `cargo-typify` is not installed (install it with \
             `cargo install cargo-typify --version '^0.8' --locked`)"
        ),
        Some(typify) => {
            let input = dir.path().join("corpus.json");
            fs::write(&input, serde_json::to_vec(&json_schema).unwrap()).unwrap();
            let output = dir.path().join("corpus.rs");
            let run = || {
                let status = Command::new(&typify)
                    .arg("typify")
                    .arg("-B")
                    .arg(&input)
                    .arg("-o")
                    .arg(&output)
                    .status()
                    .unwrap();
                assert!(status.success(), "cargo typify failed on the corpus");
            };
            let (typify_median, typify_min) = time(TYPIFY_RUNS, run);
            let lines = fs::read_to_string(&output)
                .map(|s| s.lines().count())
                .unwrap_or(0);
            println!(
                "cargo typify -B (same corpus as one JSON Schema, {lines} lines out): median {:.1} ms, min {:.1} ms",
                ms(typify_median),
                ms(typify_min)
            );
            println!(
                "ratio typebus/typify (medians): {:.2} (target: at most 0.50)",
                median.as_secs_f64() / typify_median.as_secs_f64()
            );
        }
    }
}
