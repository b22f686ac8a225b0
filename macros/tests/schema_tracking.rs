//! A crate with `#[event(schema = "...")]`: its build depends on the schema
//! file. A no-op rebuild is fresh; editing the schema recompiles the crate
//! and the new subject and version show at run time; a schema edit that
//! the struct no longer matches fails the build with the schema location.
//!
//! The crate is written to a temporary directory and built with
//! `cargo build -v --offline` into a target directory under this
//! workspace's target directory, so dependencies are compiled once and
//! reused across runs.

// Helpers outside `#[test]` functions unwrap too: a failure is the test's.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

const SCHEMA: &str = "\
events:
  TicketCreated:
    subject: ticket:created
    version: 1
    fields:
      id: string
      userId: string
";

const MAIN: &str = r#"
use typebus::Event;

#[derive(serde::Serialize, serde::Deserialize, Event)]
#[event(schema = "schemas/tickets.yaml", name = "TicketCreated")]
struct TicketCreated {
    id: String,
    #[serde(rename = "userId")]
    user_id: String,
}

fn main() {
    println!("{} {}", TicketCreated::SUBJECT, TicketCreated::VERSION);
}
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("derive-schema-fixture")
}

/// The fixture crate, depending on this workspace's `typebus` and using its
/// lock file, so the same dependency versions are used.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[package]\nname = \"derive-schema-fixture\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\ntypebus = {{ path = {:?}, default-features = false }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n\
         [workspace]\n",
        workspace().join("runtime").display().to_string()
    );
    fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    fs::create_dir_all(dir.path().join("src")).unwrap();
    fs::write(dir.path().join("src/main.rs"), MAIN).unwrap();
    fs::create_dir_all(dir.path().join("schemas")).unwrap();
    fs::write(dir.path().join("schemas/tickets.yaml"), SCHEMA).unwrap();
    fs::copy(
        workspace().join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    dir
}

/// `cargo build -v --offline` of the fixture; the output as text.
fn build(dir: &Path) -> (Output, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let output = Command::new(cargo)
        .args(["build", "-v", "--offline", "--target-dir"])
        .arg(target_dir())
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

fn run_binary() -> String {
    let output = Command::new(target_dir().join("debug/derive-schema-fixture"))
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// Writes `text` and makes sure its modification time is clearly after the
/// last build.
fn write_later(path: &Path, text: &str) {
    std::thread::sleep(Duration::from_millis(1100));
    fs::write(path, text).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
}

#[test]
fn editing_the_schema_recompiles_the_crate() {
    let dir = fixture();
    let schema = dir.path().join("schemas/tickets.yaml");

    let (output, log) = build(dir.path());
    assert!(output.status.success(), "first build failed:\n{log}");
    assert_eq!(run_binary(), "ticket:created 1\n");

    // Nothing changed: the crate is fresh (unless a workspace crate it
    // depends on was edited meanwhile, as happens in a shared checkout).
    let (output, log) = build(dir.path());
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("Fresh derive-schema-fixture")
            || log.contains("Dirty derive-schema-fixture v0.0.0")
                && log.contains("the dependency `typebus` was rebuilt"),
        "a no-op rebuild recompiled the crate:\n{log}"
    );

    // A new contract version: only the schema changes, the binary follows.
    write_later(&schema, &SCHEMA.replace("version: 1", "version: 2"));
    let (output, log) = build(dir.path());
    assert!(output.status.success(), "{log}");
    assert!(log.contains("Compiling derive-schema-fixture"), "{log}");
    assert_eq!(run_binary(), "ticket:created 2\n");

    // A field type the struct no longer matches fails the build, at the
    // field, naming the schema location as the attribute wrote it.
    write_later(&schema, &SCHEMA.replace("userId: string", "userId: u64"));
    let (output, log) = build(dir.path());
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains(
            "field `user_id`: schemas/tickets.yaml:7:7 declares u64, the struct has String"
        ),
        "{log}"
    );
}
