//! Golden tests: each fixture `tests/golden/<name>/schemas/` generates
//! exactly `tests/golden/<name>/expected.rs`, byte for byte. Run with
//! `TYPEBUS_BLESS=1` to rewrite the expected files after an intended change
//! (then review the diff). The expected files are also compiled: the
//! `typebus-tests` crate includes every one of them (`tests/src/golden.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use typebus_codegen::Builder;

/// The fixtures, each with its own test below.
const FIXTURES: &[&str] = &[
    "aggregates",
    "enums",
    "every-type",
    "hostile-descriptions",
    "keywords-and-odd-names",
    "many-files",
    "optional-and-defaults",
    "shared-types",
    "ticketing",
    "types-only",
    "versions",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn check(name: &str) {
    let dir = golden_dir().join(name);
    let code = match Builder::new().schema_dir(dir.join("schemas")).generate() {
        Ok(generated) => generated.into_code(),
        Err(err) => panic!("fixture `{name}` does not generate:\n{err}"),
    };
    let expected_path = dir.join("expected.rs");
    if std::env::var_os("TYPEBUS_BLESS").is_some_and(|v| v == "1") {
        if let Err(err) = typebus_codegen::write_if_changed(&expected_path, &code) {
            panic!("cannot bless `{name}`: {err}");
        }
        return;
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err}\nrun `TYPEBUS_BLESS=1 cargo test -p typebus-codegen --test golden` to create it",
            expected_path.display()
        )
    });
    if code != expected {
        panic!(
            "fixture `{name}`: generated code differs from {}\n{}\nif the change is intended, run \
             `TYPEBUS_BLESS=1 cargo test -p typebus-codegen --test golden` and review the diff",
            expected_path.display(),
            first_difference(&expected, &code)
        );
    }
}

/// The first line that differs, with its number, for a readable failure.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    for number in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (Some(e), Some(a)) if e == a => continue,
            (None, None) => break,
            (e, a) => {
                return format!(
                    "line {number}:\n  expected: {}\n  actual:   {}",
                    e.unwrap_or("<end of file>"),
                    a.unwrap_or("<end of file>")
                );
            }
        }
    }
    String::from("the files differ only in line endings or a final newline")
}

macro_rules! golden {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($name);
            }
        )*
    };
}

golden! {
    aggregates => "aggregates",
    enums => "enums",
    every_type => "every-type",
    hostile_descriptions => "hostile-descriptions",
    keywords_and_odd_names => "keywords-and-odd-names",
    many_files => "many-files",
    optional_and_defaults => "optional-and-defaults",
    shared_types => "shared-types",
    ticketing => "ticketing",
    types_only => "types-only",
    versions => "versions",
}

#[test]
fn every_fixture_directory_has_a_test() {
    let mut found: Vec<String> = fs::read_dir(golden_dir())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found, FIXTURES,
        "add new fixtures to FIXTURES and golden! {{}}"
    );
    assert!(FIXTURES.len() >= 8);
}

#[test]
fn the_ticketing_fixture_is_a_copy_of_the_real_schemas() {
    // Schema files only: schemas/ also holds the CLI's lock file.
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let copy = golden_dir().join("ticketing/schemas");
    let names = |dir: &Path| {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| {
                let n = n.to_string_lossy();
                n.ends_with(".yaml") || n.ends_with(".yml")
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&real), names(&copy));
    for name in names(&real) {
        assert_eq!(
            fs::read_to_string(real.join(&name)).unwrap(),
            fs::read_to_string(copy.join(&name)).unwrap(),
            "{} differs from schemas/; copy it over (and bless)",
            copy.join(&name).display()
        );
    }
}
