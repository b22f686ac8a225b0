//! `typebus lock`.

use crate::common::{Project, output};

#[test]
fn records_every_version_sorted_and_is_idempotent() {
    let p = Project::new();
    p.write(
        "schemas/more.yaml",
        "events:\n  A:\n    subject: a:one\n    version: 3\n    fields:\n      count: { type: u32, default: 7 }\n",
    );
    let (_, err) = output(&p.typebus(&["lock"]).assert().code(0));
    assert!(err.contains("recorded a:one v3"), "{err}");
    assert!(err.contains("recorded ticket:updated v1"), "{err}");
    let lock = p.read("schemas/typebus.lock");
    let a = lock.find("subject: a:one").unwrap();
    let t = lock.find("subject: ticket:updated").unwrap();
    assert!(a < t, "sorted by subject:\n{lock}");
    assert!(lock.contains("    count: u32 = 7\n"), "{lock}");
    assert!(lock.contains("      enum: [open, sold]\n"), "{lock}");
    assert!(lock.contains("    orderId: string?\n"), "{lock}");

    let (_, err) = output(&p.typebus(&["lock"]).assert().code(0));
    assert!(err.contains("up to date schemas/typebus.lock"), "{err}");
    assert_eq!(p.read("schemas/typebus.lock"), lock);
}

#[test]
fn refuses_to_rewrite_a_released_version() {
    let p = Project::new().settled();
    let lock = p.read("schemas/typebus.lock");
    p.edit_schema("price: f64", "price: string");
    let (_, err) = output(&p.typebus(&["lock"]).assert().code(1));
    assert!(
        err.contains("ticket:updated v1 changed: field `price` f64 -> string; bump `version` to 2"),
        "{err}"
    );
    assert!(
        err.contains("not changed: a recorded version never changes shape"),
        "{err}"
    );
    assert_eq!(p.read("schemas/typebus.lock"), lock);
}

#[test]
fn a_version_that_left_the_schemas_stays_recorded() {
    let p = Project::new().settled();
    p.edit_schema("version: 1", "version: 2\n    upcasts: [1]");
    p.edit_schema("price: f64", "price: string");
    p.typebus(&["lock"]).assert().code(0);
    // Going back to v1 with the v2 shape is caught.
    p.edit_schema("version: 2\n    upcasts: [1]", "version: 1");
    let (_, err) = output(&p.typebus(&["lock"]).assert().code(1));
    assert!(
        err.contains("ticket:updated v1 changed: field `price` f64 -> string; bump `version` to 3"),
        "{err}"
    );
}

#[test]
fn bad_schemas_exit_2_and_write_nothing() {
    let p = Project::new();
    p.edit_schema("version: 1", "version: 0");
    p.typebus(&["lock"]).assert().code(2);
    assert!(!p.path("schemas/typebus.lock").exists());
}

#[test]
fn an_unreleased_version_can_be_recorded_again_explicitly() {
    let p = Project::new().settled();
    p.edit_schema("price: f64", "price: string");
    p.typebus(&["lock"]).assert().code(1);
    let (_, err) = output(
        &p.typebus(&["lock", "--unreleased", "ticket:updated@1"])
            .assert()
            .code(0),
    );
    assert!(err.contains("recorded ticket:updated v1"), "{err}");
    assert!(
        p.read("schemas/typebus.lock")
            .contains("    price: string\n")
    );
    p.typebus(&["generate"]).assert().code(0);
    p.typebus(&["check"]).assert().code(0);
}

#[test]
fn unreleased_must_name_a_recorded_version_of_the_schemas() {
    let p = Project::new().settled();
    let lock = p.read("schemas/typebus.lock");
    for (arg, message) in [
        ("ticket:updated@7", "does not record it"),
        ("ticket:updated", "expected SUBJECT@VERSION"),
        ("ticket:updated@x", "`x` is not a version number"),
    ] {
        let (_, err) = output(&p.typebus(&["lock", "--unreleased", arg]).assert().code(2));
        assert!(err.contains(message), "{arg}: {err}");
    }
    assert_eq!(p.read("schemas/typebus.lock"), lock);
}

/// A new version is checked against every recorded one by its `compat:`
/// rule (typebus.toml's `compat`, else `backward`): a step that is not
/// mechanical must be declared as written by hand, and `typebus lock` and
/// `typebus check` refuse until it is, naming the version, the step and
/// the field.
#[test]
fn a_new_version_must_reach_every_recorded_one() {
    let p = Project::new().settled();
    let lock = p.read("schemas/typebus.lock");
    p.edit_schema("version: 1", "version: 2");
    p.edit_schema("price: f64", "price: string");
    let (_, err) = output(&p.typebus(&["lock"]).assert().code(1));
    assert!(
        err.contains("schemas/tickets.yaml:5:3: error: `TicketUpdated` version 2 breaks `compat: backward`: version 1 no longer reaches it: the step from version 1 to 2 is not mechanical (field `price` changed type from `f64` to `string`)"),
        "{err}"
    );
    assert!(
        err.contains("help: declare the step as written by hand with `upcasts: [1]` under `TicketUpdated` and write `impl typebus::Upcast<TicketUpdated> for TicketUpdatedV1`"),
        "{err}"
    );
    assert_eq!(p.read("schemas/typebus.lock"), lock, "nothing recorded");
    p.typebus(&["check"]).assert().code(1);

    // Declared: recorded.
    p.edit_schema("version: 2", "version: 2\n    upcasts: [1]");
    p.typebus(&["lock"]).assert().code(0);
    assert!(p.read("schemas/typebus.lock").contains("version: 2"));

    // Forward, from typebus.toml: v1 readers cannot read a string price.
    p.write(
        "typebus.toml",
        "schemas = \"schemas\"\nout = \"gen/events.rs\"\ncompat = \"forward\"\n",
    );
    let (_, err) = output(&p.typebus(&["lock"]).assert().code(1));
    assert!(
        err.contains("breaks `compat: forward`: readers of version 1 cannot read it: field `price` f64 -> string"),
        "{err}"
    );
    p.write(
        "typebus.toml",
        "schemas = \"schemas\"\nout = \"gen/events.rs\"\ncompat = \"sideways\"\n",
    );
    let (_, err) = output(&p.typebus(&["lock"]).assert().code(2));
    assert!(
        err.contains("invalid `typebus.toml`: compat: unknown compatibility mode `sideways`"),
        "{err}"
    );
}
