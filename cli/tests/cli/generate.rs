//! `typebus generate`.

use typebus_codegen::{Builder, SchemaSet};

use crate::common::{Project, output};

#[test]
fn writes_what_the_builder_generates_then_is_up_to_date() {
    let p = Project::new();
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(0));
    assert!(err.contains("wrote gen/events.rs"), "{err}");
    let expected = Builder::new()
        .schema_dir(p.path("schemas"))
        .generate()
        .unwrap();
    assert_eq!(p.read("gen/events.rs"), expected.code());

    let (_, err) = output(&p.typebus(&["generate"]).assert().code(0));
    assert!(err.contains("up to date gen/events.rs"), "{err}");
}

#[test]
fn names_the_code_spells_otherwise_are_warned_of_with_their_location() {
    let p = Project::new();
    p.write(
        "schemas/odd.yaml",
        "types:\n  order_status:\n    enum: [created]\nevents:\n  ticketSold:\n    subject: ticket:sold\n    version: 1\n    fields:\n      status: order_status\n",
    );
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(0));
    assert!(
        err.contains("schemas/odd.yaml:2:3: warning: type name `order_status` is generated as `OrderStatus`; name it `OrderStatus` in the schema to give it one name\n\
                      schemas/odd.yaml:5:3: warning: event name `ticketSold` is generated as `TicketSold`; name it `TicketSold` in the schema to give it one name\n"),
        "{err}"
    );
    assert!(p.read("gen/events.rs").contains("pub struct TicketSold {"));
    // Names written as the code spells them: no warning.
    let (_, err) = output(&Project::new().typebus(&["generate"]).assert().code(0));
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn flags_override_the_config_and_paths_are_relative_to_it() {
    let p = Project::new();
    p.write("other/a.yaml", crate::common::TICKETS);
    // From a subdirectory, typebus.toml is found upwards.
    std::fs::create_dir_all(p.path("sub/deeper")).unwrap();
    p.typebus_in(&p.path("sub/deeper"), &["generate"])
        .assert()
        .code(0);
    assert!(p.path("gen/events.rs").is_file());
    // Flags are relative to the current directory.
    p.typebus(&["generate", "--schemas", "other", "--out", "x/out.rs"])
        .assert()
        .code(0);
    assert!(p.read("x/out.rs").contains("from a.yaml"));
}

#[test]
fn without_an_output_file_is_a_usage_error() {
    let p = Project::new();
    std::fs::remove_file(p.path("typebus.toml")).unwrap();
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(2));
    assert!(err.contains("no output file: pass `--out FILE`"), "{err}");
}

#[test]
fn invalid_config_is_a_usage_error() {
    let p = Project::new();
    p.write("typebus.toml", "schema = \"typo\"\n");
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(2));
    assert!(err.contains("invalid `typebus.toml`"), "{err}");
}

#[test]
fn bad_schemas_exit_2_with_every_diagnostic_as_codegen_renders_them() {
    let p = Project::new();
    p.edit_schema("price: f64", "price: flaot");
    p.edit_schema("status: Status", "status: Statuss");
    let (out, err) = output(&p.typebus(&["generate"]).assert().code(2));
    assert_eq!(out, "");
    let expected = SchemaSet::from_dir_as(p.path("schemas"), "schemas")
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(expected.diagnostics().len(), 2);
    assert_eq!(err, format!("{expected}\n"));
    assert!(err.contains("schemas/tickets.yaml:"), "{err}");
    assert!(!p.path("gen/events.rs").exists(), "nothing is written");
}

#[test]
fn a_missing_schema_directory_exits_2() {
    let p = Project::new();
    let (_, err) = output(
        &p.typebus(&["generate", "--schemas", "nope"])
            .assert()
            .code(2),
    );
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn says_when_the_lock_file_lags_behind() {
    let p = Project::new();
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(0));
    assert!(
        err.contains("note: schemas/typebus.lock does not match the schemas; run `typebus lock`"),
        "{err}"
    );
    p.typebus(&["lock"]).assert().code(0);
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(0));
    assert!(!err.contains("note:"), "{err}");

    // A released version changed shape: `lock` would refuse, so the note
    // says what to change in the schema instead.
    p.edit_schema("price: f64", "price: string");
    let (_, err) = output(&p.typebus(&["generate"]).assert().code(0));
    assert!(
        err.contains(
            "schemas/tickets.yaml:10:7: note: ticket:updated v1 changed: field `price` f64 -> string; bump `version` to 2\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("note: schemas/typebus.lock records those versions with another shape, and a recorded version never changes: bump `version` as said, then run `typebus lock`"),
        "{err}"
    );
    assert!(!err.contains("does not match the schemas; run"), "{err}");
    p.typebus(&["lock"]).assert().code(1);
}
