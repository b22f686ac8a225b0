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

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use typebus_codegen::{Builder, SchemaSet};

mod corpus;

use corpus::{ENUMS, FILES, STRUCTS, write_corpus};

const EVENTS: usize = 2_000;
const RUNS: usize = 11;
const TYPIFY_RUNS: usize = 5;

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
    let (json_schema, fields) = write_corpus(&schemas, EVENTS);
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
