//! `typebus check` on a synthetic corpus of 2,000 events (8 events per file,
//! 6-10 fields each, shared enums and nested types), against its own
//! generated code and lock file: the CI check's wall time, measured by
//! running the release binary as CI would, next to the in-process floors
//! (generate alone, lock parse alone) measured in the same run.
//!
//! `typebus check` decides the code check from the file's fingerprint line
//! when it shows the file current (the case CI meets on every green run);
//! `check --full` (emit and compare byte for byte) is measured next to it.
//!
//! Run: `cargo bench -p typebus-cli --bench check`. Target: under 200 ms.

// A bench is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use typebus_codegen::lock::Lock;
use typebus_codegen::{Generated, SchemaSet};

const EVENTS: usize = 2000;
const PER_FILE: usize = 8;
const RUNS: usize = 15;

const SCALARS: &[&str] = &[
    "string",
    "u64",
    "f64",
    "bool",
    "i32",
    "timestamp",
    "uuid",
    "u32",
    "i64",
    "string?",
];

/// Shared types: 10 enums and 20 nested structs (some referencing enums).
fn shared_types() -> String {
    let mut out = String::from("types:\n");
    for e in 0..10 {
        let _ = writeln!(
            out,
            "  Status{e}:\n    description: Shared status {e}.\n    enum: [created, cancelled, \"awaiting:payment\", complete{}]",
            if e % 3 == 0 { ", refunded" } else { "" }
        );
        if e % 4 == 0 {
            out.push_str("    open: true\n");
        }
    }
    for s in 0..20 {
        let _ = writeln!(
            out,
            "  Ref{s}:\n    description: A nested shape.\n    fields:\n      id: string\n      price: f64\n      status: Status{}\n      note: string?",
            s % 10
        );
    }
    out
}

fn event_file(file: usize) -> String {
    let mut out = String::from("events:\n");
    for i in 0..PER_FILE {
        let n = file * PER_FILE + i;
        let _ = write!(
            out,
            "  Event{n}:\n    subject: \"svc{}:event{n}\"\n    version: {}\n    description: Synthetic event {n}.\n    fields:\n      id: string\n      version: u64\n",
            file % 17,
            1 + n % 3
        );
        let extra = 4 + n % 5; // 6..10 fields in all
        for f in 0..extra {
            let ty = match (n + f) % 7 {
                0 => format!("Status{}", (n + f) % 10),
                1 => format!("Ref{}", (n * 3 + f) % 20),
                2 => format!("list<Ref{}>", (n + 2 * f) % 20),
                3 => "map<u32>".to_owned(),
                _ => SCALARS[(n + f) % SCALARS.len()].to_owned(),
            };
            if f == 2 {
                let _ = writeln!(
                    out,
                    "      field{f}:\n        type: u32\n        default: 1\n        description: With a default."
                );
            } else {
                let _ = writeln!(out, "      field{f}: {ty}");
            }
        }
    }
    out
}

fn write_corpus(root: &Path) -> Generated {
    let schemas = root.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    std::fs::write(schemas.join("types.yaml"), shared_types()).unwrap();
    for file in 0..EVENTS / PER_FILE {
        std::fs::write(
            schemas.join(format!("events{file:03}.yaml")),
            event_file(file),
        )
        .unwrap();
    }
    let set = SchemaSet::from_dir_as(&schemas, "schemas").unwrap();
    let generated = Generated::from_set(&set).unwrap();
    assert_eq!(generated.model().events.len(), EVENTS);
    std::fs::create_dir_all(root.join("gen")).unwrap();
    std::fs::write(root.join("gen/events.rs"), generated.code()).unwrap();
    let lock = Lock::new().reconcile(generated.model()).lock;
    std::fs::write(schemas.join("typebus.lock"), lock.render()).unwrap();
    std::fs::write(
        root.join("typebus.toml"),
        "schemas = \"schemas\"\nout = \"gen/events.rs\"\n",
    )
    .unwrap();
    generated
}

fn stats(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[0]))
}

fn time<T>(mut f: impl FnMut() -> T) -> (f64, f64) {
    let times = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    stats(times)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let generated = write_corpus(root);
    let bin = env!("CARGO_BIN_EXE_typebus");

    // Sanity: the corpus passes the check, and a change is caught.
    let status = Command::new(bin)
        .arg("check")
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{status:?}");

    let check = time(|| {
        let out = Command::new(bin)
            .arg("check")
            .current_dir(root)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    });
    let full = time(|| {
        let out = Command::new(bin)
            .args(["check", "--full"])
            .current_dir(root)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    });
    let schemas = root.join("schemas");
    let generate = time(|| {
        let set = SchemaSet::from_dir_as(&schemas, "schemas").unwrap();
        Generated::from_set(&set).unwrap()
    });
    let load = time(|| SchemaSet::from_dir_as(&schemas, "schemas").unwrap());
    let set = SchemaSet::from_dir_as(&schemas, "schemas").unwrap();
    let validate = time(|| set.validate().unwrap());
    let emit = time(|| typebus_codegen::emit(generated.model()).unwrap());
    let lock_text = std::fs::read_to_string(schemas.join("typebus.lock")).unwrap();
    let lock_parse = time(|| Lock::parse("typebus.lock", &lock_text).unwrap());
    let lock = Lock::parse("typebus.lock", &lock_text).unwrap();
    let reconcile = time(|| lock.reconcile(generated.model()).lock.render());
    let fast =
        time(|| Lock::check_text("typebus.lock", Some(&lock_text), generated.model()).unwrap());
    let version = time(|| Command::new(bin).arg("--version").output().unwrap());
    let code_text = generated.code().to_owned();
    let fingerprint = time(|| {
        assert!(typebus_codegen::emit::is_current(
            generated.model(),
            &code_text
        ))
    });

    // Wall times depend on what else runs: say how busy the machine was.
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cores} cores, load average {}",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let code_kb = generated.code().len() / 1024;
    let lock_kb = lock_text.len() / 1024;
    println!(
        "typebus check, {EVENTS} events ({} files, {code_kb} KiB of code, {lock_kb} KiB of lock), {RUNS} runs",
        EVENTS / PER_FILE + 1
    );
    println!(
        "  typebus check (release binary)   median {:7.1} ms  min {:7.1} ms  target < 200 ms",
        check.0, check.1
    );
    println!(
        "  typebus check --full (emit + compare) median {:7.1} ms  min {:7.1} ms",
        full.0, full.1
    );
    println!(
        "  fingerprint check in-process     median {:7.1} ms  min {:7.1} ms",
        fingerprint.0, fingerprint.1
    );
    println!(
        "  baseline: process start (--version) median {:7.1} ms  min {:7.1} ms",
        version.0, version.1
    );
    println!(
        "  baseline: generate in-process    median {:7.1} ms  min {:7.1} ms",
        generate.0, generate.1
    );
    println!(
        "    of which load (read + YAML)    median {:7.1} ms  min {:7.1} ms",
        load.0, load.1
    );
    println!(
        "    of which validate              median {:7.1} ms  min {:7.1} ms",
        validate.0, validate.1
    );
    println!(
        "    of which emit (quote + format) median {:7.1} ms  min {:7.1} ms",
        emit.0, emit.1
    );
    println!(
        "  lock parse in-process            median {:7.1} ms  min {:7.1} ms",
        lock_parse.0, lock_parse.1
    );
    println!(
        "  lock reconcile + render          median {:7.1} ms  min {:7.1} ms",
        reconcile.0, reconcile.1
    );
    println!(
        "  lock check_text (what check runs) median {:7.1} ms  min {:7.1} ms  vs parse + reconcile + render {:.1}x faster",
        fast.0,
        fast.1,
        (lock_parse.0 + reconcile.0) / fast.0
    );
    println!(
        "  check / generate: {:.2}x   ({:.0} events/s through check)",
        check.0 / generate.0,
        EVENTS as f64 / (check.0 / 1000.0)
    );
}
