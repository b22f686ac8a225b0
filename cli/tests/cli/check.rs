//! `typebus check`: the CI check.

use std::time::SystemTime;

use crate::common::{Project, output};

fn snapshot(p: &Project) -> Vec<(String, String, SystemTime)> {
    [
        "gen/events.rs",
        "schemas/typebus.lock",
        "schemas/tickets.yaml",
    ]
    .iter()
    .filter(|rel| p.path(rel).exists())
    .map(|rel| {
        (
            rel.to_string(),
            p.read(rel),
            std::fs::metadata(p.path(rel)).unwrap().modified().unwrap(),
        )
    })
    .collect()
}

#[test]
fn passes_when_code_and_lock_match() {
    let p = Project::new().settled();
    let (_, err) = output(&p.typebus(&["check"]).assert().code(0));
    assert!(
        err.contains("ok gen/events.rs and schemas/typebus.lock match schemas"),
        "{err}"
    );
}

#[test]
fn without_an_output_file_the_schemas_and_the_lock_are_checked() {
    // The build.rs layout (`typebus init`): no `out`, nothing checked in.
    let p = Project::new();
    p.write("typebus.toml", "schemas = \"schemas\"\n");
    let (_, err) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(
        err.contains("error: schemas/typebus.lock does not exist"),
        "{err}"
    );
    assert!(err.contains("to fix, run: typebus lock\n"), "{err}");
    assert!(!err.contains("generate"), "{err}");
    p.typebus(&["lock"]).assert().code(0);
    let (_, err) = output(&p.typebus(&["check"]).assert().code(0));
    assert!(
        err.contains(
            "ok schemas/typebus.lock matches schemas (no `out`: no checked-in code to compare)"
        ),
        "{err}"
    );
    p.edit_schema("price: f64", "price: string");
    let (_, err) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(err.contains("ticket:updated v1 changed"), "{err}");
    p.edit_schema("price: string", "price: flaot");
    p.typebus(&["check"]).assert().code(2);
}

#[test]
fn stale_code_fails_with_a_plain_diff_and_the_fix() {
    let p = Project::new().settled();
    p.edit_schema(
        "      orderId: string?\n",
        "      orderId: string?\n      note: string?\n",
    );
    // Bump the version so only the code is stale... and record it.
    p.edit_schema("version: 1", "version: 2");
    p.typebus(&["lock"]).assert().code(0);
    let before = snapshot(&p);
    let (out, err) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(
        err.contains("error: gen/events.rs is not what the schemas generate"),
        "{err}"
    );
    assert!(out.contains("--- gen/events.rs (checked in)"), "{out}");
    assert!(
        out.contains("+++ gen/events.rs (generated from schemas)"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('+') && l.contains("note")),
        "{out}"
    );
    assert!(out.contains("@@ -"), "{out}");
    assert!(
        !out.contains('\u{1b}') && !err.contains('\u{1b}'),
        "no colour when piped"
    );
    assert!(err.contains("to fix, run: typebus generate\n"), "{err}");
    assert!(!err.contains("typebus lock"), "{err}");
    assert_eq!(snapshot(&p), before, "check writes nothing");

    p.typebus(&["generate"]).assert().code(0);
    p.typebus(&["check"]).assert().code(0);
}

#[test]
fn diff_is_coloured_when_forced_and_plain_under_no_color() {
    let p = Project::new().settled();
    p.write("gen/events.rs", "// edited by hand\n");
    let mut cmd = p.typebus(&["check"]);
    cmd.env_remove("NO_COLOR").env("CLICOLOR_FORCE", "1");
    let (out, _) = output(&cmd.assert().code(1));
    assert!(out.contains("\u{1b}["), "coloured: {out:?}");
    let (out, _) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(!out.contains('\u{1b}'));
    assert!(out.contains("-// edited by hand"), "{out}");
}

#[test]
fn missing_output_and_lock_fail_with_both_fixes() {
    let p = Project::new();
    let (out, err) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(err.contains("error: gen/events.rs does not exist"), "{err}");
    assert!(
        err.contains("error: schemas/typebus.lock does not exist"),
        "{err}"
    );
    assert!(err.contains("to fix, run: typebus generate\n"), "{err}");
    assert!(err.contains("to fix, run: typebus lock\n"), "{err}");
    assert!(out.contains("+- subject: ticket:updated"), "{out}");
    assert!(!p.path("gen").exists() && !p.path("schemas/typebus.lock").exists());
}

#[test]
fn the_fix_repeats_the_flags_given() {
    let p = Project::new();
    std::fs::remove_file(p.path("typebus.toml")).unwrap();
    let (_, err) = output(
        &p.typebus(&["check", "--schemas", "schemas", "--out", "my dir/ev.rs"])
            .assert()
            .code(1),
    );
    assert!(
        err.contains("to fix, run: typebus generate --schemas schemas --out 'my dir/ev.rs'\n"),
        "{err}"
    );
    assert!(
        err.contains("to fix, run: typebus lock --schemas schemas\n"),
        "{err}"
    );
}

#[test]
fn a_changed_released_version_names_the_change_and_the_bump() {
    let p = Project::new().settled();
    p.edit_schema("price: f64", "price: string");
    p.typebus(&["generate"]).assert().code(0);
    let before = snapshot(&p);
    let (_, err) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(
        err.contains(
            "schemas/tickets.yaml:10:7: error: ticket:updated v1 changed: field `price` f64 -> string; bump `version` to 2"
        ),
        "{err}"
    );
    assert!(
        err.contains("bump `version` of each changed event"),
        "{err}"
    );
    assert_eq!(snapshot(&p), before);

    // The fix: bump (declaring the step from v1 written by hand, as the
    // type change needs), regenerate, lock; v1 stays recorded.
    p.edit_schema("version: 1", "version: 2\n    upcasts: [1]");
    p.typebus(&["generate"]).assert().code(0);
    p.typebus(&["lock"]).assert().code(0);
    p.typebus(&["check"]).assert().code(0);
    let lock = p.read("schemas/typebus.lock");
    assert!(
        lock.contains("version: 1\n") && lock.contains("version: 2\n"),
        "{lock}"
    );
}

#[test]
fn enum_and_optionality_changes_are_shape_changes() {
    let p = Project::new().settled();
    p.edit_schema("enum: [open, sold]", "enum: [open, sold, void]");
    p.edit_schema("orderId: string?", "orderId: string");
    let (_, err) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(
        err.contains(
            "ticket:updated v1 changed: field `orderId` optional -> required, enum `Status` (field `status`) value `void` added to a closed enum; bump `version` to 2"
        ),
        "{err}"
    );
}

#[test]
fn descriptions_and_field_order_are_not_shape() {
    let p = Project::new().settled();
    p.edit_schema(
        "      id: string\n      price: f64\n",
        "      price: { type: f64, description: The price. }\n      id: string\n",
    );
    p.typebus(&["generate"]).assert().code(0);
    let (_, err) = output(&p.typebus(&["check"]).assert().code(0));
    assert!(err.contains("ok"), "{err}");
}

#[test]
fn a_corrupt_lock_file_exits_2() {
    let p = Project::new().settled();
    p.write(
        "schemas/typebus.lock",
        "format: 1\nevents: [{subject: x}]\n",
    );
    let (_, err) = output(&p.typebus(&["check"]).assert().code(2));
    assert!(
        err.contains("schemas/typebus.lock: invalid lock file"),
        "{err}"
    );
}

#[test]
fn bad_schemas_exit_2() {
    let p = Project::new().settled();
    p.edit_schema("subject: ticket:updated", "subject: \"ticket:*\"");
    let (out, err) = output(&p.typebus(&["check"]).assert().code(2));
    assert_eq!(out, "");
    assert!(err.contains("schemas/tickets.yaml:"), "{err}");
}

#[test]
fn a_hand_edit_is_caught_whether_or_not_the_fingerprint_line_was_kept() {
    let p = Project::new().settled();
    let code = p.read("gen/events.rs");
    assert!(
        code.lines()
            .nth(1)
            .unwrap()
            .starts_with("// typebus-fingerprint: model=")
    );
    // An edited body under the original fingerprint line.
    p.write("gen/events.rs", &code.replacen("pub price", "pub cost", 1));
    let (diff, _) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(
        diff.contains("-    pub cost: ::core::primitive::f64,"),
        "{diff}"
    );
    assert!(
        diff.contains("+    pub price: ::core::primitive::f64,"),
        "{diff}"
    );
    // The right code with the fingerprint line removed: slower, still ok.
    let without: String = code
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    p.write("gen/events.rs", &without);
    let (diff, _) = output(&p.typebus(&["check"]).assert().code(1));
    assert!(diff.contains("+// typebus-fingerprint: model="), "{diff}");
    p.write("gen/events.rs", &code);
    p.typebus(&["check"]).assert().code(0);
    p.typebus(&["check", "--full"]).assert().code(0);
}

#[test]
fn the_repo_generated_code_equals_a_full_regeneration() {
    // `.ci/run` checks the repo with the fingerprint; this compares bytes, so
    // an emitter change that was not followed by `typebus generate` fails
    // here even though the fingerprint line still matches.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = Project::new();
    p.typebus_in(&root, &["check", "--full"]).assert().code(0);
}
