//! The README's quickstart, built as a newcomer builds it: in a new package
//! outside this workspace, against the crates as `cargo package` makes them.
//!
//! 1. `cargo package --no-verify` of the five published crates (`typebus`,
//!    `typebus-codegen`, `typebus-macros`, `typebus-names`, `typebus-cli`);
//!    the `.crate` files are unpacked with `tar` outside the workspace.
//! 2. `cargo new quickstart` there, and the README's quickstart files written
//!    into it as they appear in README.md (its `Cargo.toml` block replaces
//!    the empty `[dependencies]` of `cargo new`). The only addition is a
//!    `[patch.crates-io]` section pointing `typebus`, `typebus-codegen`,
//!    `typebus-macros` and `typebus-names` at the unpacked packages, which
//!    stands in for crates.io; every patch must be used.
//! 3. `cargo build` (no warning allowed), then `cargo run` with no argument:
//!    the embedded broker, and what `main` prints.
//! 4. The unpacked `typebus-cli` package is built the same way (the same
//!    patches, through `--config`) and its `typebus schema --out
//!    schemas/typebus-schema.json` writes the copy the quickstart's modeline
//!    names, which must be `examples/quickstart/schemas/typebus-schema.json`.
//!
//! So a file a packaged crate needs but does not ship, a dependency without a
//! version, or a README snippet that stops building fails this test. The
//! builds are `--offline` with this workspace's `Cargo.lock` (the dependency
//! versions every other test uses; `cargo package` writes the CLI's lock
//! file from it too), into a target directory under this workspace's target
//! directory, so registry dependencies are compiled once and reused. The
//! unpacked packages and the project live in a directory of the system's
//! temporary directory named after this checkout, recreated on each run:
//! stable paths keep cargo from piling up a copy of every local crate per run,
//! and the files are unpacked with the current time (`tar --touch`; the
//! `.crate` archives carry a fixed 2006 timestamp), so cargo rebuilds them.

// Test helpers fail loudly on setup errors, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The published crates, in dependency order.
const PUBLISHED: [&str; 5] = [
    "typebus-names",
    "typebus-macros",
    "typebus",
    "typebus-codegen",
    "typebus-cli",
];

/// The crates a service depends on (directly or through `typebus`), which
/// the project's `[patch.crates-io]` points at the unpacked packages.
const PATCHED: [&str; 4] = [
    "typebus",
    "typebus-codegen",
    "typebus-macros",
    "typebus-names",
];

/// What the quickstart prints on the embedded broker.
const PRINTED: &str = "published as #1 in EVENTS\nwelcome, ada@example.com!\n";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The version every published crate has (the workspace's).
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `cargo` with this test's cargo, in `dir`, with the shared target
/// directory and without what the test harness's environment would leak
/// into the build.
fn cargo(dir: &Path, args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTDOCFLAGS")
        .env("CARGO_TERM_COLOR", "never");
    command
}

/// The target directory of every build here (and of `cargo package`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("outside-quickstart")
}

/// Runs a command: its output, and its stdout and stderr as text.
fn run(mut command: Command) -> (Output, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

/// A directory outside the workspace for this checkout, emptied.
fn outside() -> PathBuf {
    let mut hasher = std::hash::DefaultHasher::new();
    workspace().hash(&mut hasher);
    let dir = std::env::temp_dir().join(format!(
        "typebus-outside-quickstart-{:016x}",
        hasher.finish()
    ));
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    assert!(
        !dir.starts_with(workspace()),
        "{} is inside the workspace",
        dir.display()
    );
    dir
}

/// `cargo package --no-verify` of the published crates, unpacked into
/// `into`: the directory of each package, by crate name.
fn package(into: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut args = vec![
        "package",
        "--no-verify",
        "--allow-dirty",
        "--offline",
        "--locked",
    ];
    for name in PUBLISHED {
        args.extend(["-p", name]);
    }
    let (output, log) = run(cargo(&workspace(), &args));
    assert!(output.status.success(), "cargo package failed:\n{log}");
    PUBLISHED
        .iter()
        .map(|&name| {
            let file = target_dir()
                .join("package")
                .join(format!("{name}-{}.crate", version()));
            let (output, log) = run({
                let mut tar = Command::new("tar");
                tar.arg("--touch")
                    .arg("-xzf")
                    .arg(&file)
                    .arg("-C")
                    .arg(into);
                tar
            });
            assert!(
                output.status.success(),
                "tar -xzf {}:\n{log}",
                file.display()
            );
            (name, into.join(format!("{name}-{}", version())))
        })
        .collect()
}

/// The files the README's quickstart section shows: every fenced block that
/// follows a line naming a file in backticks and ending with a colon
/// (`` `build.rs`: ``), as (path, text).
fn readme_quickstart() -> Vec<(String, String)> {
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    let start = readme
        .find("\n## Quickstart")
        .expect("README.md has no `## Quickstart` section")
        + 1;
    let section = &readme[start..];
    let section = &section[..section[1..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 1)];
    let mut files = Vec::new();
    let mut named = None;
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            let mut text = String::new();
            for line in lines.by_ref() {
                if line.starts_with("```") {
                    break;
                }
                text.push_str(line);
                text.push('\n');
            }
            if let Some(path) = named.take() {
                files.push((path, text));
            }
        } else if !line.trim().is_empty() {
            named = line
                .strip_prefix('`')
                .filter(|_| line.trim_end().ends_with(':'))
                .and_then(|rest| rest.split('`').next())
                .filter(|path| {
                    path.contains('.')
                        && !path.ends_with('/')
                        && !path.contains(' ')
                        && !path.starts_with('/')
                        && !path.split('/').any(|part| part == "..")
                })
                .map(str::to_owned);
        }
    }
    let paths: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
    for needed in ["Cargo.toml", "build.rs", "src/main.rs"] {
        assert!(
            paths.contains(&needed),
            "the README's quickstart shows no `{needed}` block (found {paths:?})"
        );
    }
    assert!(
        paths.iter().any(|path| path.starts_with("schemas/")),
        "the README's quickstart shows no schema file (found {paths:?})"
    );
    files
}

/// `cargo new quickstart` in `outside`, with the README's files written in.
fn new_project(outside: &Path, packages: &[(&str, PathBuf)]) -> PathBuf {
    let (output, log) = run(cargo(
        outside,
        &["new", "--vcs", "none", "--offline", "quickstart"],
    ));
    assert!(output.status.success(), "cargo new failed:\n{log}");
    let project = outside.join("quickstart");
    let generated = fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let package = generated
        .strip_suffix("[dependencies]\n")
        .unwrap_or_else(|| panic!("`cargo new` wrote another Cargo.toml:\n{generated}"));
    for (path, text) in readme_quickstart() {
        let text = if path == "Cargo.toml" {
            // The newcomer's manifest, and crates.io standing in as patches.
            let mut manifest = format!("{package}{text}\n[patch.crates-io]\n");
            for name in PATCHED {
                let (_, dir) = packages.iter().find(|(n, _)| *n == name).unwrap();
                manifest.push_str(&format!(
                    "{name} = {{ path = {:?} }}\n",
                    dir.display().to_string()
                ));
            }
            manifest
        } else {
            text
        };
        let to = project.join(&path);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::write(to, text).unwrap();
    }
    fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    project
}

#[test]
fn the_readme_quickstart_builds_and_runs_outside_the_workspace_on_the_packaged_crates() {
    let outside = outside();
    let packages = package(&outside);
    let project = new_project(&outside, &packages);

    let (output, log) = run(cargo(&project, &["build", "--offline"]));
    assert!(
        output.status.success(),
        "the quickstart does not build:\n{log}"
    );
    for (name, dir) in packages.iter().filter(|(name, _)| PATCHED.contains(name)) {
        assert!(
            log.contains(&format!(
                "Compiling {name} v{} ({})",
                version(),
                dir.display()
            )),
            "{name} was not built from its package:\n{log}"
        );
    }
    assert!(
        !log.contains("warning"),
        "the quickstart's build warns:\n{log}"
    );
    let lock = fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(
        !lock.contains("[[patch.unused]]"),
        "a patch is unused:\n{lock}"
    );

    let (output, log) = run(cargo(
        &project,
        &["run", "--offline", "-q", "-p", "quickstart"],
    ));
    assert!(output.status.success(), "the quickstart failed:\n{log}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), PRINTED);

    // The CLI's package builds (the published crates it depends on patched
    // the same way), and writes the file the schema's modeline names.
    let (_, cli) = packages
        .iter()
        .find(|(name, _)| *name == "typebus-cli")
        .unwrap();
    let mut build = cargo(cli, &["build", "--offline"]);
    for name in PATCHED {
        let (_, dir) = packages.iter().find(|(n, _)| *n == name).unwrap();
        build.arg("--config").arg(format!(
            "patch.crates-io.{name}.path={:?}",
            dir.display().to_string()
        ));
    }
    let (output, log) = run(build);
    assert!(
        output.status.success(),
        "typebus-cli's package does not build:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "Compiling typebus-cli v{} ({})",
            version(),
            cli.display()
        )),
        "{log}"
    );
    let (output, log) = run({
        let mut typebus = Command::new(target_dir().join("debug/typebus"));
        typebus
            .args(["schema", "--out", "schemas/typebus-schema.json"])
            .current_dir(&project);
        typebus
    });
    assert!(output.status.success(), "typebus schema failed:\n{log}");
    assert_eq!(
        fs::read_to_string(project.join("schemas/typebus-schema.json")).unwrap(),
        fs::read_to_string(workspace().join("examples/quickstart/schemas/typebus-schema.json"))
            .unwrap(),
        "the packaged CLI's `typebus schema` differs from the quickstart's copy"
    );
}
