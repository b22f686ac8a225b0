//! `typebus init`: sets up a cargo package; idempotent; never overwrites a
//! user's file; `--dry-run` writes nothing.

use std::path::Path;
use std::time::SystemTime;

use typebus_codegen::Builder;

use crate::common::{Project, output};
use crate::schema::{FormatSchema, printed_schema};

const VERSION: &str = env!("CARGO_PKG_VERSION");

const MANIFEST: &str = "[package]\nname = \"svc\"\nversion = \"0.1.0\"\nedition = \"2024\"\n";

const EXAMPLE: &str = "\
# yaml-language-server: $schema=typebus-schema.json
events:
  ExampleCreated:
    subject: example:created
    version: 1
    description: An example event; rename it or replace it with your own.
    fields:
      id: string
      name: string
      note:
        type: string?
        description: An optional field.
";

const CONFIG: &str = "\
# typebus CLI paths, relative to this file. build.rs generates the code into
# $OUT_DIR, so nothing is checked in and there is no `out`: `typebus check`
# checks the schemas and schemas/typebus.lock.
schemas = \"schemas\"
";

const CONFIG_CHECKED_IN: &str = "\
# typebus CLI paths, relative to this file: the schemas, and the checked-in
# code that `typebus generate` writes and `typebus check` verifies.
schemas = \"schemas\"
out = \"src/events.rs\"
";

fn workflow() -> String {
    format!(
        "\
# `typebus check`: the schemas are valid, schemas/typebus.lock records every
# event version with its shape, and the checked-in code (if typebus.toml has
# an `out`) is what the schemas generate.
name: typebus
on: [push, pull_request]
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: dtolnay/rust-toolchain@stable
      - run: cargo install --locked typebus-cli --version {VERSION}
      - run: typebus check
"
    )
}

fn typebus_dep() -> String {
    format!("typebus = {{ version = \"{VERSION}\", features = [\"nats\"] }}")
}

/// A fresh cargo package `svc` (what `cargo new svc` leaves, minus git).
fn package() -> Project {
    let p = Project {
        dir: tempfile::tempdir().unwrap(),
    };
    p.write("Cargo.toml", MANIFEST);
    p.write("src/main.rs", "fn main() {}\n");
    p
}

/// Every file under `dir`: relative path, content, modification time.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>, SystemTime)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                let meta = std::fs::metadata(&path).unwrap();
                out.push((rel, std::fs::read(&path).unwrap(), meta.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn names(dir: &Path) -> Vec<String> {
    tree(dir).into_iter().map(|(name, ..)| name).collect()
}

#[test]
fn a_fresh_package_gets_every_file_and_typebus_check_passes() {
    let p = package();
    let (out, err) = output(&p.typebus(&["init"]).assert().code(0));
    assert_eq!(out, "");
    assert_eq!(
        names(p.dir.path()),
        [
            ".github/workflows/typebus.yml",
            "Cargo.toml",
            "build.rs",
            "schemas/example.yaml",
            "schemas/typebus-schema.json",
            "schemas/typebus.lock",
            "src/main.rs",
            "typebus.toml",
        ]
    );
    assert_eq!(p.read("schemas/example.yaml"), EXAMPLE);
    assert_eq!(p.read("schemas/typebus-schema.json"), printed_schema());
    assert_eq!(p.read("typebus.toml"), CONFIG);
    assert_eq!(p.read(".github/workflows/typebus.yml"), workflow());
    // The build script the workspace compiles (examples/quickstart), byte for byte.
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart/build.rs");
    assert_eq!(
        p.read("build.rs"),
        std::fs::read_to_string(quickstart).unwrap()
    );
    assert_eq!(
        p.read("Cargo.toml"),
        format!(
            "{MANIFEST}\n[dependencies]\n{}\n\n[build-dependencies]\ntypebus-codegen = \"{VERSION}\"\n",
            typebus_dep()
        )
    );
    // The example validates against the format schema it names, and
    // codegen accepts it.
    FormatSchema::compile(&printed_schema())
        .check(EXAMPLE)
        .unwrap();
    Builder::new()
        .schema_dir(p.path("schemas"))
        .generate()
        .unwrap();
    for line in [
        "wrote schemas/example.yaml\n",
        "wrote schemas/typebus.lock\n",
        "wrote build.rs\n",
        "added typebus to [dependencies] in Cargo.toml\n",
        "added typebus-codegen to [build-dependencies] in Cargo.toml\n",
        "`mod events { typebus::include_events!(); }`",
        "run `typebus check`",
    ] {
        assert!(err.contains(line), "{line:?} not in:\n{err}");
    }

    // The CI check passes as written: no `out`, the lock matches.
    let (_, err) = output(&p.typebus(&["check"]).assert().code(0));
    assert!(
        err.contains("ok schemas/typebus.lock matches schemas (no `out`"),
        "{err}"
    );
    p.typebus(&["check", "--full"]).assert().code(0);
    p.typebus(&["lock"]).assert().code(0);
    assert_eq!(
        names(p.dir.path()).len(),
        8,
        "lock wrote nothing new either"
    );
}

#[test]
fn a_second_run_changes_nothing() {
    for flags in [&[][..], &["--checked-in"]] {
        let p = package();
        p.typebus(&[&["init"], flags].concat()).assert().code(0);
        let before = tree(p.dir.path());
        let (out, err) = output(&p.typebus(&[&["init"], flags].concat()).assert().code(0));
        assert_eq!(tree(p.dir.path()), before, "contents and mtimes");
        assert_eq!(out, "");
        assert!(!err.contains("wrote") && !err.contains("added"), "{err}");
        assert!(err.contains("unchanged typebus.toml\n"), "{err}");
        assert!(
            err.contains("unchanged Cargo.toml (it has the dependencies already)"),
            "{err}"
        );
    }
}

#[test]
fn a_users_file_is_never_overwritten_and_then_nothing_is_written() {
    for (file, text) in [
        ("typebus.toml", "schemas = \"contracts\"\n"),
        ("schemas/example.yaml", "events: {}\n"),
        (".github/workflows/typebus.yml", "name: mine\n"),
    ] {
        let p = package();
        p.write(file, text);
        let before = tree(p.dir.path());
        let (out, err) = output(&p.typebus(&["init"]).assert().code(1));
        assert_eq!(out, "");
        assert!(
            err.contains(&format!(
                "error: {file} exists with other content; left alone"
            )),
            "{err}"
        );
        assert!(
            err.contains("error: nothing written: 1 file already exists with other content"),
            "{err}"
        );
        assert_eq!(tree(p.dir.path()), before, "{file}: nothing else written");
        assert_eq!(p.read(file), text);
    }
}

#[test]
fn a_users_build_rs_is_left_alone_with_a_note() {
    let p = package();
    let mine = "fn main() { println!(\"cargo:rustc-env=X=1\"); }\n";
    p.write("build.rs", mine);
    p.write(
        "Cargo.toml",
        &format!("{MANIFEST}\n[dependencies]\nserde = \"1\"\n"),
    );
    let (_, err) = output(&p.typebus(&["init"]).assert().code(0));
    assert_eq!(p.read("build.rs"), mine);
    assert!(
        err.contains("note: build.rs exists; left alone. Add to its `main`:\n    typebus_codegen::Builder::new().schema_dir(\"schemas\").compile()?;"),
        "{err}"
    );
    // The line goes at the end of the existing table.
    assert_eq!(
        p.read("Cargo.toml"),
        format!(
            "{MANIFEST}\n[dependencies]\nserde = \"1\"\n{}\n\n[build-dependencies]\ntypebus-codegen = \"{VERSION}\"\n",
            typebus_dep()
        )
    );
    p.typebus(&["check"]).assert().code(0);
}

#[test]
fn dry_run_prints_every_file_and_writes_nothing() {
    let p = package();
    let before = tree(p.dir.path());
    let (out, err) = output(&p.typebus(&["init", "--dry-run"]).assert().code(0));
    assert_eq!(tree(p.dir.path()), before);
    assert!(
        out.contains(&format!("would write schemas/example.yaml:\n{EXAMPLE}\n")),
        "{out}"
    );
    for path in [
        "schemas/typebus-schema.json",
        "schemas/typebus.lock",
        "typebus.toml",
        "build.rs",
        ".github/workflows/typebus.yml",
    ] {
        assert!(out.contains(&format!("would write {path}:\n")), "{out}");
    }
    assert!(
        out.contains(&format!(
            "would add to Cargo.toml:\n[dependencies]\n{}\n[build-dependencies]\ntypebus-codegen = \"{VERSION}\"\n",
            typebus_dep()
        )),
        "{out}"
    );
    assert!(err.contains("dry run: nothing written"), "{err}");
    assert!(!err.contains("wrote"), "{err}");
}

#[test]
fn checked_in_writes_the_generated_file_and_typebus_check_passes() {
    let p = package();
    let (_, err) = output(&p.typebus(&["init", "--checked-in"]).assert().code(0));
    assert!(err.contains("wrote src/events.rs\n"), "{err}");
    assert!(err.contains("`mod events;`"), "{err}");
    assert!(!p.path("build.rs").exists());
    assert_eq!(p.read("typebus.toml"), CONFIG_CHECKED_IN);
    assert_eq!(
        p.read("Cargo.toml"),
        format!("{MANIFEST}\n[dependencies]\n{}\n", typebus_dep())
    );
    let expected = Builder::new()
        .schema_dir(p.path("schemas"))
        .generate()
        .unwrap();
    assert_eq!(p.read("src/events.rs"), expected.code());
    let (_, err) = output(&p.typebus(&["check", "--full"]).assert().code(0));
    assert!(
        err.contains("ok src/events.rs and schemas/typebus.lock match schemas"),
        "{err}"
    );
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(0));
    assert!(err.contains("up to date src/events.rs"), "{err}");
}

#[test]
fn existing_schema_files_join_the_lock_and_the_code() {
    let p = package();
    p.write("schemas/tickets.yaml", crate::common::TICKETS);
    p.typebus(&["init", "--checked-in"]).assert().code(0);
    let lock = p.read("schemas/typebus.lock");
    assert!(
        lock.contains("ticket:updated") && lock.contains("example:created"),
        "{lock}"
    );
    assert_eq!(p.read("schemas/tickets.yaml"), crate::common::TICKETS);
    p.typebus(&["check", "--full"]).assert().code(0);
}

#[test]
fn a_directory_argument_is_shown_in_every_path() {
    let p = Project {
        dir: tempfile::tempdir().unwrap(),
    };
    p.write("svc/Cargo.toml", MANIFEST);
    p.write("svc/src/main.rs", "fn main() {}\n");
    // The parent is the git repository: GitHub would not read the workflow.
    std::fs::create_dir(p.path(".git")).unwrap();
    let (_, err) = output(&p.typebus(&["init", "svc"]).assert().code(0));
    assert!(err.contains("wrote svc/schemas/example.yaml\n"), "{err}");
    assert!(
        err.contains("added typebus to [dependencies] in svc/Cargo.toml\n"),
        "{err}"
    );
    assert!(
        err.contains("note: GitHub reads workflows only at the repository root"),
        "{err}"
    );
    assert!(p.path("svc/typebus.toml").is_file());
    assert!(!p.path("schemas").exists());
    p.typebus_in(&p.path("svc"), &["check"]).assert().code(0);
}

#[test]
fn without_a_cargo_package_it_says_to_create_one() {
    let p = Project {
        dir: tempfile::tempdir().unwrap(),
    };
    let (_, err) = output(&p.typebus(&["init"]).assert().code(2));
    assert!(
        err.contains("error: no Cargo.toml in `.`: typebus init sets up an existing cargo package; run `cargo init` there first"),
        "{err}"
    );
    std::fs::create_dir(p.path("empty")).unwrap();
    let (_, err) = output(&p.typebus(&["init", "empty"]).assert().code(2));
    assert!(err.contains("no Cargo.toml in `empty`"), "{err}");
    let (_, err) = output(&p.typebus(&["init", "nope"]).assert().code(2));
    assert!(err.contains("`nope` is not a directory"), "{err}");
    // A workspace root is not a package.
    p.write("Cargo.toml", "[workspace]\nmembers = []\n");
    let (_, err) = output(&p.typebus(&["init"]).assert().code(2));
    assert!(err.contains("`Cargo.toml` has no [package]"), "{err}");
    assert_eq!(names(p.dir.path()), ["Cargo.toml"], "nothing written");
}
