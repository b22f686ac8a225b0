//! Compile tests for `#[derive(Event)]` (used through `typebus::Event`):
//! every `tests/ui/pass-*.rs` must compile and run, and every other
//! `tests/ui/*.rs` must fail to compile with exactly the errors in its
//! `.stderr` file. Each failing case is named after the mistake it makes.
//!
//! To accept new output after a deliberate change to a message:
//! `TRYBUILD=overwrite cargo nextest run -p typebus --test ui`.

use std::path::PathBuf;

#[test]
fn derive_event_ui() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
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
