//! `--help` of every command, kept as golden files in `tests/help/`.
//! Set `TYPEBUS_BLESS=1` to rewrite them after a deliberate change (only
//! `1` blesses, as in codegen's golden and error tests; any other value
//! compares).

use std::path::Path;

use assert_cmd::Command;

fn golden(name: &str, args: &[&str]) {
    let out = Command::cargo_bin("typebus")
        .unwrap()
        .args(args)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("NATS_URL")
        .assert()
        .code(0);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/help/{name}.txt"));
    if std::env::var_os("TYPEBUS_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with TYPEBUS_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        text,
        expected,
        "`typebus {}` changed; run with TYPEBUS_BLESS=1 if intended",
        args.join(" ")
    );
}

#[test]
fn help_main() {
    golden("typebus", &["--help"]);
}

#[test]
fn help_init() {
    golden("init", &["init", "--help"]);
}

#[test]
fn help_generate() {
    golden("generate", &["generate", "--help"]);
}

#[test]
fn help_check() {
    golden("check", &["check", "--help"]);
}

#[test]
fn help_lock() {
    golden("lock", &["lock", "--help"]);
}

#[test]
fn help_schema() {
    golden("schema", &["schema", "--help"]);
}

#[test]
fn help_publish() {
    golden("publish", &["publish", "--help"]);
}

#[test]
fn help_listen() {
    golden("listen", &["listen", "--help"]);
}

#[test]
fn help_diff() {
    golden("diff", &["diff", "--help"]);
}

#[test]
fn help_dlq() {
    golden("dlq", &["dlq", "--help"]);
}

#[test]
fn help_dlq_list() {
    golden("dlq-list", &["dlq", "list", "--help"]);
}

#[test]
fn help_dlq_show() {
    golden("dlq-show", &["dlq", "show", "--help"]);
}

#[test]
fn help_dlq_replay() {
    golden("dlq-replay", &["dlq", "replay", "--help"]);
}

#[test]
fn help_dlq_purge() {
    golden("dlq-purge", &["dlq", "purge", "--help"]);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["diff"],
        &["diff", "--against", "x", "--mode", "sideways"],
        &["check", "--bogus"],
    ] {
        Command::cargo_bin("typebus")
            .unwrap()
            .args(args)
            .assert()
            .code(2);
    }
}

#[test]
fn help_export() {
    golden("export", &["export", "--help"]);
}

#[test]
fn help_export_jsonschema() {
    golden("export-jsonschema", &["export", "jsonschema", "--help"]);
}

#[test]
fn help_export_typescript() {
    golden("export-typescript", &["export", "typescript", "--help"]);
}

#[test]
fn help_export_asyncapi() {
    golden("export-asyncapi", &["export", "asyncapi", "--help"]);
}

#[test]
fn help_provision() {
    golden("provision", &["provision", "--help"]);
}

#[test]
fn help_status() {
    golden("status", &["status", "--help"]);
}
