//! Compile tests for `#[derive(Event)]` (used through `typebus::Event`):
//! every `tests/ui/pass-*.rs` must compile and run, and every other
//! `tests/ui/*.rs` must fail to compile with exactly the errors in its
//! `.stderr` file. Each failing case is named after the mistake it makes.
//! All cases share one trybuild run (one build of the dependencies).
//!
//! Schema fixtures for `#[event(schema = "...")]` are in `tests/ui/schemas/`.
//! The derive resolves `schema` against the compiled crate's
//! `CARGO_MANIFEST_DIR`, which for these cases is trybuild's project
//! directory (`<target>/tests/trybuild/typebus/`), so the fixtures are
//! copied there first, under the same relative path they have here: a case
//! names `tests/ui/schemas/good/events.yaml` exactly as a crate would. The
//! repository's `schemas/` is copied beside that directory, so
//! `../schemas/tickets.yaml` means what it means from `runtime/`.
//!
//! To accept new output after a deliberate change to a message:
//! `TRYBUILD=overwrite cargo nextest run -p typebus --test ui`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn derive_event_ui() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest_dir.join("tests/ui");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ui exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the UI cases in {}",
        dir.display()
    );

    install_schema_fixtures(&manifest_dir);

    let tests = trybuild::TestCases::new();
    for case in &cases {
        let is_pass = case
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("pass-"));
        if is_pass {
            tests.pass(case);
        } else {
            tests.compile_fail(case);
        }
    }
}

/// Copies `tests/ui/schemas` into trybuild's project directory and the
/// repository's `schemas/` next to it, replacing copies a previous run left.
fn install_schema_fixtures(manifest_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The same question trybuild asks to place its project.
    let output = Command::new(cargo)
        .args(["metadata", "--format-version=1", "--no-deps"])
        .current_dir(manifest_dir)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let target_dir = metadata["target_directory"]
        .as_str()
        .expect("cargo metadata names the target directory");
    let project_dir = Path::new(target_dir)
        .join("tests/trybuild")
        .join(env!("CARGO_PKG_NAME"));
    replace_dir(
        &manifest_dir.join("tests/ui/schemas"),
        &project_dir.join("tests/ui/schemas"),
    );
    replace_dir(
        &manifest_dir.join("../schemas"),
        &project_dir.join("../schemas"),
    );
}

fn replace_dir(from: &Path, to: &Path) {
    match std::fs::remove_dir_all(to) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot remove {}: {error}", to.display()),
    }
    copy_dir(from, to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the fixture directory");
    for entry in std::fs::read_dir(from).expect("read the fixture directory") {
        let entry = entry.expect("readable entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture");
        }
    }
}
