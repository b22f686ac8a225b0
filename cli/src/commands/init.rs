//! `typebus init`: sets up an existing cargo package for typebus.
//!
//! Writes, relative to the package directory: `schemas/example.yaml` (one
//! example event, with the modeline naming `schemas/typebus-schema.json`),
//! that JSON Schema (what `typebus schema` prints), `schemas/typebus.lock`
//! (what `typebus lock` writes), `typebus.toml`, `build.rs` (or, with
//! `--checked-in`, `out = "src/events.rs"` and that file, generated now),
//! and `.github/workflows/typebus.yml` running `typebus check`. Adds
//! `typebus` to `[dependencies]` and `typebus-codegen` to
//! `[build-dependencies]` of Cargo.toml with toml_edit, which keeps the rest
//! of the file (comments, order, layout) as it was.
//!
//! Rules:
//! - Everything is planned before anything is written. A file that exists
//!   with other content is a user's file: it is never overwritten. Then
//!   nothing at all is written, each such file is named, and the exit status
//!   is 1.
//! - A file that already holds exactly what init writes is left as it is
//!   (modification time included): a second run changes nothing.
//! - One exception, reported as a note with what to add by hand (exit 0):
//!   a `build.rs` of the user's own (many packages have one; init cannot
//!   merge into it).
//! - `--dry-run` prints every file it would write with its content, and the
//!   lines it would add to Cargo.toml, on standard output; it refuses (exit
//!   1) exactly when a real run would.
//! - Files are written atomically (a temporary file, then a rename).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use anstream::{eprintln, print};
use typebus_codegen::lock::Lock;
use typebus_codegen::{Generated, SchemaSet};

use crate::cli::InitArgs;
use crate::error::CliError;
use crate::output::{BOLD, COMMAND, ERROR, NOTE, OK};

/// The example schema file, in `schemas/`.
pub(crate) const EXAMPLE_FILE: &str = "example.yaml";

/// The example schema: one event, with the modeline naming the JSON Schema
/// written next to it.
pub(crate) const EXAMPLE: &str = "\
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

/// `build.rs`: exactly `examples/quickstart/build.rs` (a test checks it).
pub(crate) const BUILD_RS: &str = "\
//! Generates the event types of `schemas/` into `$OUT_DIR/events.rs`.
fn main() -> Result<(), typebus_codegen::Error> {
    // Relative to CARGO_MANIFEST_DIR; reruns only when a schema changes.
    typebus_codegen::Builder::new()
        .schema_dir(\"schemas\")
        .compile()?;
    Ok(())
}
";

/// `typebus.toml` for the build.rs layout: no `out`.
const CONFIG_BUILD_RS: &str = "\
# typebus CLI paths, relative to this file. build.rs generates the code into
# $OUT_DIR, so nothing is checked in and there is no `out`: `typebus check`
# checks the schemas and schemas/typebus.lock.
schemas = \"schemas\"
";

/// The checked-in file of `--checked-in`.
const CHECKED_IN_OUT: &str = "src/events.rs";

/// `typebus.toml` for the checked-in layout.
const CONFIG_CHECKED_IN: &str = "\
# typebus CLI paths, relative to this file: the schemas, and the checked-in
# code that `typebus generate` writes and `typebus check` verifies.
schemas = \"schemas\"
out = \"src/events.rs\"
";

/// The GitHub Actions workflow file.
const WORKFLOW_FILE: &str = ".github/workflows/typebus.yml";

/// This CLI's version: the crates the package depends on and the CLI the
/// workflow installs (the checked-in code must be what this version writes).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The GitHub Actions workflow.
pub(crate) fn workflow() -> String {
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

/// A dependency init adds to Cargo.toml.
#[derive(Debug)]
struct Dep {
    /// `dependencies` or `build-dependencies`.
    table: &'static str,
    /// The package name.
    name: &'static str,
    /// Its value: a version, or a table with the features.
    value: toml_edit::Value,
}

/// The dependencies of a layout: `typebus` for the generated code, and
/// `typebus-codegen` for build.rs.
fn deps(checked_in: bool) -> Vec<Dep> {
    let mut typebus = toml_edit::InlineTable::new();
    typebus.insert("version", VERSION.into());
    typebus.insert("features", toml_edit::Array::from_iter(["nats"]).into());
    let mut deps = vec![Dep {
        table: "dependencies",
        name: "typebus",
        value: typebus.into(),
    }];
    if !checked_in {
        deps.push(Dep {
            table: "build-dependencies",
            name: "typebus-codegen",
            value: VERSION.into(),
        });
    }
    deps
}

/// What to do with one file.
#[derive(Debug, PartialEq)]
enum State {
    /// It does not exist: write it.
    New,
    /// It holds exactly the planned text.
    Same,
    /// It holds something else: the user's, left alone.
    Differs,
}

/// A file init writes.
#[derive(Debug)]
struct Planned {
    path: PathBuf,
    shown: String,
    text: String,
    state: State,
}

/// What happens to Cargo.toml.
#[derive(Debug)]
enum CargoPlan {
    /// Every dependency is there.
    Unchanged,
    /// The new text, and the dependencies it adds.
    Edit { text: String, added: Vec<Dep> },
}

/// Plans everything, reports what it found, then writes (unless
/// `--dry-run`) or refuses.
pub(crate) fn run(args: &InitArgs) -> Result<(), CliError> {
    let dir = &args.dir;
    let base = dir.display().to_string();
    let base = base.trim_end_matches('/');
    let shown = |rel: &str| {
        if base.is_empty() || base == "." {
            rel.to_owned()
        } else {
            format!("{base}/{rel}")
        }
    };
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "`{}` is not a directory; create a package first with `cargo new {}`",
            dir.display(),
            dir.display()
        )));
    }

    // Cargo.toml: read, checked to be a package, and the edit planned.
    let manifest_path = dir.join("Cargo.toml");
    let manifest_shown = shown("Cargo.toml");
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CliError::Usage(format!(
                "no Cargo.toml in `{}`: typebus init sets up an existing cargo package; run `cargo init` there first (or `cargo new NAME` for a new one)",
                dir.display()
            )));
        }
        Err(source) => {
            return Err(CliError::Io {
                what: format!("`{manifest_shown}`"),
                source,
            });
        }
    };
    let invalid = |e: &dyn std::fmt::Display| {
        CliError::Usage(format!(
            "invalid `{manifest_shown}`: {}",
            e.to_string().trim_end()
        ))
    };
    let doc: toml_edit::DocumentMut = manifest.parse().map_err(|e| invalid(&e))?;
    if !doc
        .get("package")
        .is_some_and(toml_edit::Item::is_table_like)
    {
        return Err(CliError::Usage(format!(
            "`{manifest_shown}` has no [package] (a workspace root?); run typebus init in the directory of a package"
        )));
    }
    let cargo = plan_cargo(doc, deps(args.checked_in)).map_err(|e| invalid(&e))?;

    // The files, with the schema set they make (existing schema files and
    // the example) for the lock file and the checked-in code.
    let schemas_dir = dir.join("schemas");
    let schemas_shown = shown("schemas");
    let set = schema_set(&schemas_dir, &schemas_shown)?;
    let generated = Generated::from_set(&set)?;
    let lock = Lock::new().reconcile(generated.model()).lock.render();
    let mut files = vec![
        (format!("schemas/{EXAMPLE_FILE}"), EXAMPLE.to_owned()),
        (
            "schemas/typebus-schema.json".to_owned(),
            typebus_codegen::schema_format::json_schema(),
        ),
        (
            format!("schemas/{}", typebus_codegen::lock::LOCK_FILE_NAME),
            lock,
        ),
    ];
    let config = if args.checked_in {
        CONFIG_CHECKED_IN
    } else {
        CONFIG_BUILD_RS
    };
    files.push((crate::config::CONFIG_FILE.to_owned(), config.to_owned()));
    if args.checked_in {
        files.push((CHECKED_IN_OUT.to_owned(), generated.into_code()));
    }
    files.push((WORKFLOW_FILE.to_owned(), workflow()));
    let mut planned = Vec::with_capacity(files.len());
    for (rel, text) in files {
        let path = dir.join(&rel);
        let shown = shown(&rel);
        let state = state(&path, &shown, &text)?;
        planned.push(Planned {
            path,
            shown,
            text,
            state,
        });
    }
    // build.rs: the user's own is left alone with a note, not refused.
    let mut build_rs_note = None;
    if !args.checked_in {
        let path = dir.join("build.rs");
        let build_shown = shown("build.rs");
        let state = state(&path, &build_shown, BUILD_RS)?;
        if state == State::Differs {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            build_rs_note = Some((build_shown, text.contains("typebus_codegen")));
        } else {
            planned.push(Planned {
                path,
                shown: build_shown,
                text: BUILD_RS.to_owned(),
                state,
            });
        }
    }

    // Refuse before writing anything.
    let conflicts: Vec<&Planned> = planned
        .iter()
        .filter(|p| p.state == State::Differs)
        .collect();
    if !conflicts.is_empty() {
        for p in &conflicts {
            eprintln!(
                "{ERROR}error:{ERROR:#} {} exists with other content; left alone",
                p.shown
            );
        }
        let n = conflicts.len();
        let (exist, them) = if n == 1 {
            ("exists", "it")
        } else {
            ("exist", "them")
        };
        return Err(CliError::Failed(format!(
            "nothing written: {n} file{} already {exist} with other content; move {them} away and run typebus init again, or finish the setup by hand",
            crate::output::plural(n),
        )));
    }

    // Write (or show).
    for p in &planned {
        match (&p.state, args.dry_run) {
            (State::New, true) => {
                print!("{BOLD}would write {}:{BOLD:#}\n{}\n", p.shown, p.text);
            }
            (State::New, false) => {
                typebus_codegen::write_if_changed(&p.path, &p.text)?;
                eprintln!("{OK}wrote{OK:#} {}", p.shown);
            }
            _ => eprintln!("{OK}unchanged{OK:#} {}", p.shown),
        }
    }
    match &cargo {
        CargoPlan::Unchanged => {
            eprintln!("{OK}unchanged{OK:#} {manifest_shown} (it has the dependencies already)")
        }
        CargoPlan::Edit { text, added } => {
            if args.dry_run {
                print!(
                    "{BOLD}would add to {manifest_shown}:{BOLD:#}\n{}\n",
                    dep_lines(added)
                );
            } else {
                write_keeping_permissions(&manifest_path, text)?;
                for dep in added {
                    eprintln!(
                        "{OK}added{OK:#} {} to [{}] in {manifest_shown}",
                        dep.name, dep.table
                    );
                }
            }
        }
    }

    // Notes and next steps.
    match build_rs_note {
        Some((build_shown, true)) => eprintln!(
            "{NOTE}note:{NOTE:#} {build_shown} exists and already uses typebus_codegen; left alone"
        ),
        Some((build_shown, false)) => eprintln!(
            "{NOTE}note:{NOTE:#} {build_shown} exists; left alone. Add to its `main`:\n    typebus_codegen::Builder::new().schema_dir(\"schemas\").compile()?;"
        ),
        None => {}
    }
    if let Some(root) = git_root_above(dir) {
        eprintln!(
            "{NOTE}note:{NOTE:#} GitHub reads workflows only at the repository root ({}): move {} there and give its steps `working-directory:` this package's directory",
            root.display(),
            shown(WORKFLOW_FILE)
        );
    }
    let module = if args.checked_in {
        "mod events;"
    } else {
        "mod events { typebus::include_events!(); }"
    };
    eprintln!("next steps:");
    eprintln!(
        "  - the generated types: add `{COMMAND}{module}{COMMAND:#}` to src/main.rs or src/lib.rs"
    );
    eprintln!(
        "  - after changing the schemas: `{COMMAND}{}typebus lock{COMMAND:#}` records each new event version",
        if args.checked_in {
            "typebus generate && "
        } else {
            ""
        }
    );
    eprintln!(
        "  - CI other than GitHub Actions: `{COMMAND}cargo install --locked typebus-cli --version {VERSION}{COMMAND:#}`, then run `{COMMAND}typebus check{COMMAND:#}`"
    );
    if args.dry_run {
        eprintln!("dry run: nothing written");
    }
    Ok(())
}

/// The schema files already in `dir` with the example (replacing an
/// existing `example.yaml`: init writes that one or refuses).
fn schema_set(dir: &Path, shown: &str) -> Result<SchemaSet, CliError> {
    let mut sources = vec![(EXAMPLE_FILE.to_owned(), EXAMPLE.to_owned())];
    if dir.is_dir() {
        // codegen's own walk finds the files `typebus check` will read.
        match SchemaSet::from_dir_as(dir, shown) {
            Ok(existing) => {
                for (name, path) in existing.files().iter().zip(existing.paths()) {
                    if &**name == EXAMPLE_FILE {
                        continue;
                    }
                    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
                        what: format!("`{shown}/{name}`"),
                        source,
                    })?;
                    sources.push((name.to_string(), text));
                }
            }
            // No schema file yet.
            Err(typebus_codegen::Error::Read { path, source })
                if source.kind() == io::ErrorKind::NotFound && path == dir => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(SchemaSet::from_sources(shown, sources)?)
}

/// Whether `path` is missing, holds `text`, or holds something else.
fn state(path: &Path, shown: &str, text: &str) -> Result<State, CliError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes == text.as_bytes() => Ok(State::Same),
        Ok(_) => Ok(State::Differs),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::New),
        // A directory (or anything else unreadable as a file) in the way.
        Err(_) if path.is_dir() => Ok(State::Differs),
        Err(source) => Err(CliError::Io {
            what: format!("`{shown}`"),
            source,
        }),
    }
}

/// Plans the Cargo.toml edit: each missing dependency goes into its table
/// (created at the end when there is none), through toml_edit, which keeps
/// the rest of the file (comments, order, layout) as it was.
fn plan_cargo(mut doc: toml_edit::DocumentMut, deps: Vec<Dep>) -> Result<CargoPlan, String> {
    let missing: Vec<Dep> = deps
        .into_iter()
        .filter(|dep| !has_dep(&doc, dep.table, dep.name))
        .collect();
    if missing.is_empty() {
        return Ok(CargoPlan::Unchanged);
    }
    for dep in &missing {
        let table = doc
            .entry(dep.table)
            .or_insert_with(toml_edit::table)
            .as_table_like_mut()
            .ok_or_else(|| format!("`{}` is not a table", dep.table))?;
        table.insert(dep.name, toml_edit::Item::Value(dep.value.clone()));
    }
    Ok(CargoPlan::Edit {
        text: doc.to_string(),
        added: missing,
    })
}

/// Whether `[table]` has `name`, under its own name or renamed
/// (`package = "name"`).
fn has_dep(doc: &toml_edit::DocumentMut, table: &str, name: &str) -> bool {
    doc.get(table)
        .and_then(toml_edit::Item::as_table_like)
        .is_some_and(|deps| {
            deps.iter().any(|(key, item)| {
                key == name
                    || item
                        .as_table_like()
                        .and_then(|dep| dep.get("package"))
                        .and_then(toml_edit::Item::as_str)
                        == Some(name)
            })
        })
}

/// The dependencies as Cargo.toml lines under their table headers.
fn dep_lines(deps: &[Dep]) -> String {
    let mut out = String::new();
    for table in ["dependencies", "build-dependencies"] {
        let mut lines = deps.iter().filter(|d| d.table == table).peekable();
        if lines.peek().is_some() {
            let _ = writeln!(out, "[{table}]");
        }
        for dep in lines {
            let _ = writeln!(out, "{} = {}", dep.name, dep.value.to_string().trim());
        }
    }
    out
}

/// Writes atomically and gives the new file the old one's permissions.
fn write_keeping_permissions(path: &Path, text: &str) -> Result<(), CliError> {
    let permissions = std::fs::metadata(path).map(|m| m.permissions()).ok();
    typebus_codegen::write_if_changed(path, text)?;
    if let Some(permissions) = permissions {
        std::fs::set_permissions(path, permissions).map_err(|source| CliError::Io {
            what: format!("`{}`", path.display()),
            source,
        })?;
    }
    Ok(())
}

/// The root of the git repository `dir` is in, when that is not `dir`.
fn git_root_above(dir: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    if dir.join(".git").exists() {
        return None;
    }
    dir.ancestors()
        .skip(1)
        .find(|a| a.join(".git").exists())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str, checked_in: bool) -> CargoPlan {
        plan_cargo(text.parse().unwrap(), deps(checked_in)).unwrap()
    }

    fn edited(text: &str) -> String {
        match plan(text, false) {
            CargoPlan::Edit { text, .. } => text,
            other => panic!("not an edit: {other:?}"),
        }
    }

    #[test]
    fn missing_tables_are_appended() {
        let text = "[package]\nname = \"svc\"\n";
        assert_eq!(
            edited(text),
            format!(
                "[package]\nname = \"svc\"\n\n[dependencies]\ntypebus = {{ version = \"{VERSION}\", features = [\"nats\"] }}\n\n[build-dependencies]\ntypebus-codegen = \"{VERSION}\"\n"
            )
        );
    }

    #[test]
    fn lines_go_into_existing_tables_and_the_rest_is_kept() {
        let text = "[package] # the package\nname = \"svc\"\n\n[dependencies]   # deps\nserde = \"1\"\n\n[ build-dependencies ]\ncc = \"1\"\n";
        assert_eq!(
            edited(text),
            format!(
                "[package] # the package\nname = \"svc\"\n\n[dependencies]   # deps\nserde = \"1\"\ntypebus = {{ version = \"{VERSION}\", features = [\"nats\"] }}\n\n[ build-dependencies ]\ncc = \"1\"\ntypebus-codegen = \"{VERSION}\"\n"
            )
        );
    }

    #[test]
    fn present_dependencies_are_left_even_renamed() {
        let text = "[package]\nname = \"svc\"\n[dependencies]\ntb = { package = \"typebus\", version = \"0.1\" }\n[build-dependencies.typebus-codegen]\nversion = \"0.1\"\n";
        assert!(matches!(plan(text, false), CargoPlan::Unchanged));
        // The checked-in layout needs no typebus-codegen.
        let text = "[package]\nname = \"svc\"\n[dependencies]\ntypebus = \"0.1\"\n";
        assert!(matches!(plan(text, true), CargoPlan::Unchanged));
    }

    #[test]
    fn dotted_and_sub_tables_are_extended_in_place() {
        let text = "dependencies.serde = \"1\"\n[package]\nname = \"svc\"\n";
        let out = match plan(text, true) {
            CargoPlan::Edit { text, .. } => text,
            other => panic!("{other:?}"),
        };
        let doc: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(doc["dependencies"]["serde"].as_str(), Some("1"));
        assert_eq!(
            doc["dependencies"]["typebus"]["features"][0].as_str(),
            Some("nats")
        );
        let text = "[package]\nname = \"svc\"\n[dependencies.serde]\nversion = \"1\"\n";
        let out = match plan(text, true) {
            CargoPlan::Edit { text, .. } => text,
            other => panic!("{other:?}"),
        };
        assert!(
            out.contains("[dependencies.serde]\nversion = \"1\"\n"),
            "{out}"
        );
        let doc: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(
            doc["dependencies"]["typebus"]["version"].as_str(),
            Some(VERSION)
        );
    }

    #[test]
    fn a_dependency_key_that_is_not_a_table_is_an_error() {
        let text = "dependencies = 5\n[package]\nname = \"svc\"\n";
        let err = plan_cargo(text.parse().unwrap(), deps(true)).unwrap_err();
        assert_eq!(err, "`dependencies` is not a table");
    }
}
