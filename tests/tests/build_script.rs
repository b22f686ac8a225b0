//! A service that generates its events from `build.rs`
//! (`tests/fixtures/buildrs-service`): it builds, a no-op rebuild does not
//! rerun the build script, touching or editing a schema (or adding one)
//! does, editing other sources does not, and a schema error fails the build
//! with `file:line:col`.
//!
//! The fixture is copied to a temporary directory first (the checkout is
//! never modified) and built with `cargo build -v --offline` into a target
//! directory under this workspace's target directory, so dependencies are
//! compiled once and reused across runs.

// Test helpers fail loudly on setup errors, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// A copy of the fixture whose path dependencies point into this workspace,
/// with this workspace's lock file so the same dependency versions are used.
fn fixture_copy() -> tempfile::TempDir {
    let source = workspace().join("tests/fixtures/buildrs-service");
    let dir = tempfile::tempdir().unwrap();
    for rel in ["build.rs", "src/main.rs", "schemas/tickets.yaml"] {
        let to = dir.path().join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(source.join(rel), to).unwrap();
    }
    let manifest = fs::read_to_string(source.join("Cargo.toml")).unwrap();
    let root = format!("{}/", workspace().display());
    fs::write(
        dir.path().join("Cargo.toml"),
        manifest.replace("../../../", &root),
    )
    .unwrap();
    fs::copy(
        workspace().join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    dir
}

/// `cargo build -v --offline` of the copy; the output as text.
fn build(dir: &Path) -> (Output, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("buildrs-fixture");
    let output = Command::new(cargo)
        .args(["build", "-v", "--offline", "--target-dir"])
        .arg(&target)
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

/// Whether cargo ran the fixture's build script in this build.
fn ran_build_script(log: &str) -> bool {
    log.lines().any(|line| {
        line.trim_start().starts_with("Running")
            && line.contains("buildrs-service-")
            && line.contains("build-script-build")
    })
}

/// Runs the fixture's binary: it prints its subjects and a decoded event.
fn run_binary() -> String {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("buildrs-fixture");
    let output = Command::new(target.join("debug/buildrs-service"))
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// Sets a file's modification time to now, clearly after the last build
/// (not in the future, which would keep it dirty).
fn touch(path: &Path) {
    std::thread::sleep(Duration::from_millis(1100));
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
}

#[test]
fn build_script_reruns_only_when_schemas_change() {
    let dir = fixture_copy();
    let schema = dir.path().join("schemas/tickets.yaml");

    let (output, log) = build(dir.path());
    assert!(output.status.success(), "first build failed:\n{log}");
    assert!(
        ran_build_script(&log),
        "the first build runs the build script:\n{log}"
    );
    assert!(
        !log.contains("warning"),
        "generated code warns in a binary:\n{log}"
    );
    assert_eq!(run_binary(), "ticket:created\nOk(TicketCreated)\n");

    let (output, log) = build(dir.path());
    assert!(output.status.success(), "{log}");
    assert!(
        !ran_build_script(&log),
        "a no-op rebuild reran the build script:\n{log}"
    );
    assert!(log.contains("Fresh buildrs-service"), "{log}");

    touch(&schema);
    let (output, log) = build(dir.path());
    assert!(output.status.success(), "{log}");
    assert!(
        ran_build_script(&log),
        "touching a schema did not rerun the build script:\n{log}"
    );

    // Other sources do not rerun it: cargo watches only what it was told to.
    // Reading the deprecated field warns; nothing else in the generated code
    // does.
    let main = dir.path().join("src/main.rs");
    let mut source = fs::read_to_string(&main).unwrap();
    source.push_str(
        "\n#[allow(dead_code)]\nfn legacy(e: &events::TicketCreated) -> Option<&str> {\n    e.legacy_note.as_deref()\n}\n",
    );
    fs::write(&main, source).unwrap();
    touch(&main);
    let (output, log) = build(dir.path());
    assert!(output.status.success(), "{log}");
    assert!(log.contains("Compiling buildrs-service"), "{log}");
    assert!(
        !ran_build_script(&log),
        "editing src/main.rs reran the build script:\n{log}"
    );
    assert!(
        log.contains("use of deprecated field `events::TicketCreated::legacy_note`: use `title`"),
        "{log}"
    );
    assert_eq!(
        log.matches("warning:").count(),
        2,
        "one warning and its summary:\n{log}"
    );

    // An edit is picked up by the generated code.
    let mut text = fs::read_to_string(&schema).unwrap();
    text.push_str(
        "  TicketDeleted:\n    subject: ticket:deleted\n    version: 1\n    fields:\n      id: string\n",
    );
    fs::write(&schema, text).unwrap();
    touch(&schema);
    let (output, log) = build(dir.path());
    assert!(output.status.success(), "{log}");
    assert!(ran_build_script(&log), "{log}");
    assert_eq!(
        run_binary(),
        "ticket:created,ticket:deleted\nOk(TicketCreated)\n"
    );

    // A new schema file in the directory is picked up as well.
    fs::write(
        dir.path().join("schemas/orders.yaml"),
        "events:\n  OrderCreated:\n    subject: order:created\n    version: 1\n    fields:\n      id: string\n",
    )
    .unwrap();
    let (output, log) = build(dir.path());
    assert!(output.status.success(), "{log}");
    assert_eq!(
        run_binary(),
        "order:created,ticket:created,ticket:deleted\nOk(TicketCreated)\n"
    );

    // A schema error fails the build with every diagnostic and its location.
    fs::write(
        dir.path().join("schemas/orders.yaml"),
        "events:\n  OrderCreated:\n    subject: order:created\n    version: 0\n    fields:\n      id: strng\n",
    )
    .unwrap();
    let (output, log) = build(dir.path());
    assert!(!output.status.success(), "{log}");
    assert!(log.contains("schemas/orders.yaml:4:14: error: "), "{log}");
    assert!(log.contains("schemas/orders.yaml:6:11: error: "), "{log}");
    assert!(log.contains("did you mean `string`?"), "{log}");
}
