//! `typebus diff --against DIR|GIT-REV`.

use std::process::Command as Process;

use crate::common::{Project, TICKETS, output};

/// A copy of the schemas in `old/` (the "before").
fn with_old(p: &Project) {
    p.write("old/tickets.yaml", TICKETS);
}

#[test]
fn no_changes_exit_0() {
    let p = Project::new();
    with_old(&p);
    let (out, err) = output(&p.typebus(&["diff", "--against", "old"]).assert().code(0));
    assert_eq!(out, "");
    assert!(err.contains("no changes from old to schemas"), "{err}");
}

#[test]
fn backward_violation_exits_1_with_locations_and_verdicts() {
    let p = Project::new();
    with_old(&p);
    p.edit_schema("version: 1", "version: 2");
    p.edit_schema(
        "      orderId: string?\n",
        "      orderId: string?\n      seats: u32\n",
    );
    let (out, err) = output(&p.typebus(&["diff", "--against", "old"]).assert().code(1));
    assert_eq!(
        out,
        "ticket:updated v1 -> v2 (TicketUpdated)\n  \
         schemas/tickets.yaml:13:7: error: field `seats` added (required)\n    \
         old readers of new events: ok, new readers of old events: cannot decode\n"
    );
    assert!(
        err.contains("error: 1 change in 1 event; 1 breaks backward compatibility"),
        "{err}"
    );
    // The same change is fine for old readers.
    p.typebus(&["diff", "--against", "old", "--mode", "forward"])
        .assert()
        .code(0);
    p.typebus(&["diff", "--against", "old", "--mode", "full"])
        .assert()
        .code(1);
    let (_, err) = output(
        &p.typebus(&["diff", "--against", "old", "--mode", "none"])
            .assert()
            .code(0),
    );
    assert!(
        err.contains("listed 1 change in 1 event; no compatibility rule checked (--mode none)"),
        "{err}"
    );
    assert!(!err.contains("holds"), "{err}");
}

#[test]
fn removed_things_point_at_the_old_files() {
    let p = Project::new();
    with_old(&p);
    p.edit_schema("version: 1", "version: 2");
    p.edit_schema("      price: f64\n", "");
    let (out, _) = output(
        &p.typebus(&["diff", "--against", "old", "--mode", "forward"])
            .assert()
            .code(1),
    );
    assert!(
        out.contains("old/tickets.yaml:10:7: error: field `price` removed (was required)"),
        "{out}"
    );
}

#[test]
fn unchanged_version_is_a_violation_in_every_mode_but_none() {
    let p = Project::new();
    with_old(&p);
    p.edit_schema(
        "      orderId: string?\n",
        "      orderId: string?\n      note: string?\n",
    );
    for mode in ["backward", "forward", "full"] {
        let (out, _) = output(
            &p.typebus(&["diff", "--against", "old", "--mode", mode])
                .assert()
                .code(1),
        );
        assert!(
            out.contains("error: payload changed but `version` is still 1"),
            "{out}"
        );
        assert!(out.contains("note: field `note` added (optional)"), "{out}");
    }
    p.typebus(&["diff", "--against", "old", "--mode", "none"])
        .assert()
        .code(0);
}

fn git(p: &Project, args: &[&str]) {
    let status = Process::new("git")
        .current_dir(p.dir.path())
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(status.status.success(), "git {args:?}: {status:?}");
}

#[test]
fn against_a_git_revision_reads_the_schema_dir_at_that_revision() {
    let p = Project::new();
    git(&p, &["init", "-q"]);
    git(&p, &["add", "schemas"]);
    git(&p, &["commit", "-q", "-m", "v1"]);
    p.edit_schema("version: 1", "version: 2");
    p.edit_schema("price: f64", "price: string");
    // Run from a subdirectory, with the schema dir given relatively.
    std::fs::create_dir_all(p.path("sub")).unwrap();
    let (out, err) = output(
        &p.typebus_in(
            &p.path("sub"),
            &["diff", "--against", "HEAD", "--schemas", "../schemas"],
        )
        .assert()
        .code(1),
    );
    assert!(
        out.contains("../schemas/tickets.yaml:10:7: error: field `price` f64 -> string"),
        "{out}"
    );
    assert!(
        out.contains(
            "old readers of new events: cannot decode, new readers of old events: cannot decode"
        ),
        "{out}"
    );
    assert!(err.contains("1 breaks backward compatibility"), "{err}");

    // Old-side errors name the revision.
    git(&p, &["commit", "-q", "-am", "v2"]);
    p.write("schemas/tickets.yaml", TICKETS);
    let (out, _) = output(
        &p.typebus(&["diff", "--against", "HEAD", "--mode", "none"])
            .assert()
            .code(0),
    );
    assert!(out.contains("ticket:updated v2 -> v1"), "{out}");
    assert!(
        out.contains("error: `version` went down") || out.contains("note: `version` went down"),
        "{out}"
    );
}

#[test]
fn neither_a_directory_nor_a_revision_exits_2() {
    let p = Project::new();
    let (_, err) = output(&p.typebus(&["diff", "--against", "nope"]).assert().code(2));
    assert!(
        err.contains("`nope` is neither a directory nor a revision"),
        "{err}"
    );
    git(&p, &["init", "-q"]);
    git(&p, &["add", "schemas"]);
    git(&p, &["commit", "-q", "-m", "one"]);
    let (_, err) = output(&p.typebus(&["diff", "--against", "HEAD~5"]).assert().code(2));
    assert!(err.contains("`HEAD~5` is neither"), "{err}");
    // A revision from before the schema directory existed.
    p.write("other/a.yaml", TICKETS);
    let (_, err) = output(
        &p.typebus(&["diff", "--against", "HEAD", "--schemas", "other"])
            .assert()
            .code(2),
    );
    assert!(
        err.contains("`HEAD:other` does not exist: the schema directory is not in revision `HEAD`"),
        "{err}"
    );
}

#[test]
fn invalid_old_schemas_exit_2_with_their_diagnostics() {
    let p = Project::new();
    p.write(
        "old/tickets.yaml",
        &TICKETS.replace("price: f64", "price: flaot"),
    );
    let (_, err) = output(&p.typebus(&["diff", "--against", "old"]).assert().code(2));
    assert!(err.contains("old/tickets.yaml:10:14: error:"), "{err}");
}
