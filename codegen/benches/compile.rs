//! What the generated contracts cost their users at compile time: the crate
//! generated for the 2,000-event corpus against the same structs written as
//! plain serde derives, and against a crate that also calls
//! `AnyEvent::decode` once, in release and debug, alternating.
//!
//! ```text
//! cargo bench -p typebus-codegen --bench compile
//! TYPEBUS_BENCH_EVENTS=200 TYPEBUS_BENCH_ROUNDS=2 TYPEBUS_BENCH_PROFILES=debug cargo bench -p typebus-codegen --bench compile
//! ```
//!
//! Three crates in one scratch workspace, each `include!`-ing its file, with
//! their dependencies (typebus from this repository, serde, serde_json)
//! built first and not counted:
//!
//! - `plain`: the generated structs and enums, with every
//!   `#[typebus::contract]` replaced by `#[derive(Debug, Clone, PartialEq,
//!   Serialize, Deserialize)]` and no catalog: what a team writes by hand;
//! - `contracts`: the generated file as it is (contracts, `Event` impls,
//!   the `AnyEvent` catalog), which its crate does not call;
//! - `decoding`: the same file plus one function calling `AnyEvent::decode`
//!   (where the catalog is used, its decoders are compiled);
//! - `plain-decoding`: `plain` plus a hand-written `match` on the subject
//!   calling `serde_json::from_slice` for each event: the least any crate
//!   that decodes every event compiles, the ceiling for `decoding`.
//!
//! Each build touches the crate's `lib.rs` and times `cargo build -p`
//! without incremental compilation (a whole rebuild of the crate, as on a
//! clean checkout or in CI);
//! rustc's peak memory comes from GNU time (`/usr/bin/time`, Debian package
//! `time`) when it is installed. The best of the rounds is reported, with
//! ratios to `plain` of the same profile. Figures, not assertions.

// A benchmark binary: a setup step that fails should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use typebus_codegen::Builder;

mod corpus;

/// The crates measured, in build order within a round.
const CRATES: [&str; 4] = ["plain", "plain-decoding", "contracts", "decoding"];

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The generated structs as plain serde derives, without the catalog, and
/// every event's (subject, type name).
fn plain(code: &str) -> (String, Vec<(String, String)>) {
    const DERIVE: &str = "#[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, ::serde::Serialize, ::serde::Deserialize)]";
    let catalog = code
        .find("#[::typebus::__private::catalog]")
        .expect("the generated file has a catalog");
    // The catalog's doc comment starts after the last blank line before it.
    let cut = code[..catalog].rfind("\n\n").map_or(catalog, |at| at + 1);
    let mut out = String::with_capacity(cut);
    let mut events = Vec::new();
    let mut subject = None;
    for line in code[..cut].lines() {
        if let Some(args) = line.strip_prefix("#[::typebus::contract(subject = \"") {
            subject = args.split('"').next().map(str::to_owned);
        }
        if line.starts_with("#[::typebus::contract") {
            out.push_str(DERIVE);
        } else {
            if let (Some(name), Some(_)) = (line.strip_prefix("pub struct "), &subject) {
                let name = name.split([' ', '{']).next().unwrap_or_default().to_owned();
                events.push((subject.take().unwrap(), name));
            }
            out.push_str(line);
        }
        out.push('\n');
    }
    (out, events)
}

/// Writes the scratch workspace under `root`.
fn workspace(root: &Path, code: &str, repo: &Path) {
    let manifest = |name: &str| {
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\ntypebus = {{ path = {:?}, default-features = false }}\n\
             serde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n",
            repo.join("runtime")
        )
    };
    let decode = "\n/// Calls the catalog once.\npub fn decode_any(subject: &str, payload: &[u8]) -> bool {\n    AnyEvent::decode(subject, payload).is_ok()\n}\n";
    let (plain, events) = plain(code);
    let arms: String = events
        .iter()
        .map(|(subject, name)| {
            format!("        {subject:?} => ::serde_json::from_slice::<{name}>(payload).is_ok(),\n")
        })
        .collect();
    let plain_decode = format!(
        "\n/// Decodes with serde_json, one arm per event.\npub fn decode_any(subject: &str, payload: &[u8]) -> bool {{\n    match subject {{\n{arms}        _ => false,\n    }}\n}}\n"
    );
    fs::write(root.join("plain.rs"), plain).unwrap();
    fs::write(root.join("contracts.rs"), code).unwrap();
    for (name, file, extra) in [
        ("plain", "plain.rs", ""),
        ("plain-decoding", "plain.rs", plain_decode.as_str()),
        ("contracts", "contracts.rs", ""),
        ("decoding", "contracts.rs", decode),
    ] {
        let src = root.join(name).join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(root.join(name).join("Cargo.toml"), manifest(name)).unwrap();
        fs::write(
            src.join("lib.rs"),
            format!("#![allow(missing_docs, dead_code)]\ninclude!(\"../../{file}\");\n{extra}"),
        )
        .unwrap();
    }
    fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"plain\", \"plain-decoding\", \"contracts\", \"decoding\"]\n",
    )
    .unwrap();
    // The repository's lock pins the dependencies' versions.
    fs::copy(repo.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
}

/// One build's wall time in seconds and peak memory in MiB (when GNU time
/// is there to measure it).
struct Build {
    seconds: f64,
    peak_mib: Option<u64>,
}

fn build(root: &Path, krate: &str, release: bool, time: Option<&Path>) -> Build {
    let lib = root.join(krate).join("src/lib.rs");
    let text = fs::read_to_string(&lib).unwrap();
    fs::write(&lib, text).unwrap();
    let report = root.join("time.out");
    let mut command = match time {
        Some(time) => {
            let mut command = Command::new(time);
            command
                .arg("-f")
                .arg("%M")
                .arg("-o")
                .arg(&report)
                .arg("cargo");
            command
        }
        None => Command::new("cargo"),
    };
    command
        .current_dir(root)
        .args(["build", "-q", "-p", krate])
        .env("CARGO_TARGET_DIR", root.join("target"))
        // A whole rebuild of the crate each time, in debug too.
        .env("CARGO_INCREMENTAL", "0");
    if release {
        command.arg("--release");
    }
    let start = Instant::now();
    let status = command.status().unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert!(status.success(), "building `{krate}` failed");
    let peak_mib = time.and_then(|_| {
        let kib: u64 = fs::read_to_string(&report).ok()?.trim().parse().ok()?;
        Some(kib / 1024)
    });
    Build { seconds, peak_mib }
}

fn main() {
    let events: usize = env_or("TYPEBUS_BENCH_EVENTS", "2000").parse().unwrap();
    let rounds: usize = env_or("TYPEBUS_BENCH_ROUNDS", "1").parse().unwrap();
    let profiles = env_or("TYPEBUS_BENCH_PROFILES", "release,debug");
    let profiles: Vec<&str> = profiles.split(',').map(str::trim).collect();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let time = Some(Path::new("/usr/bin/time")).filter(|path| path.is_file());

    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas");
    fs::create_dir(&schemas).unwrap();
    corpus::write_corpus(&schemas, events);
    let code = Builder::new()
        .schema_dir(&schemas)
        .generate()
        .unwrap_or_else(|err| panic!("the corpus does not generate:\n{err}"))
        .code()
        .to_owned();
    let root = dir.path().join("crates");
    fs::create_dir(&root).unwrap();
    workspace(&root, &code, &repo);
    println!(
        "compile: {events}-event corpus, {} lines of generated Rust; best of {rounds} round(s); \
         dependencies prebuilt; peak memory {}",
        code.lines().count(),
        if time.is_some() {
            "from /usr/bin/time"
        } else {
            "not measured (install GNU time)"
        }
    );
    // The dependencies, built once per profile (the crates share them).
    for profile in &profiles {
        build(&root, CRATES[0], *profile == "release", None);
    }
    let mut best: Vec<Vec<Option<Build>>> = profiles
        .iter()
        .map(|_| CRATES.iter().map(|_| None).collect())
        .collect();
    for round in 1..=rounds {
        for (p, profile) in profiles.iter().enumerate() {
            for (c, krate) in CRATES.iter().enumerate() {
                let this = build(&root, krate, *profile == "release", time);
                eprintln!("round {round} {profile} {krate}: {:.1} s", this.seconds);
                let slot = &mut best[p][c];
                if slot.as_ref().is_none_or(|old| this.seconds < old.seconds) {
                    *slot = Some(this);
                }
            }
        }
    }
    for (p, profile) in profiles.iter().enumerate() {
        let builds: Vec<&Build> = best[p].iter().map(|b| b.as_ref().unwrap()).collect();
        let base = builds[0];
        for (krate, this) in CRATES.iter().zip(&builds) {
            let memory = match (this.peak_mib, base.peak_mib) {
                (Some(mib), Some(base)) => {
                    format!("   peak {mib} MiB ({:.2}x)", mib as f64 / base as f64)
                }
                _ => String::new(),
            };
            println!(
                "{profile:8} {krate:15} {:7.1} s  ({:.2}x plain){memory}",
                this.seconds,
                this.seconds / base.seconds
            );
        }
    }
}
