//! Compatibility over an event's whole history (`compat:` and `upcasts:`,
//! checked against the lock file): transitive by default, or against the
//! previous version only.

#![allow(clippy::unwrap_used)]

use typebus_codegen::SchemaSet;
use typebus_codegen::compat::{Rule, check_history};
use typebus_codegen::lock::Lock;

/// v1 had `price: f64`; v2 replaced it with `priceCents: i64` (not
/// mechanical); v3 adds `note: string?` (mechanical from v2).
const LOCK: &str = "\
format: 1
events:
- subject: ticket:updated
  version: 1
  fields:
    id: string
    price: f64
- subject: ticket:updated
  version: 2
  fields:
    id: string
    priceCents: i64
";

fn check(extra: &str, default: Rule) -> Vec<String> {
    let schema = format!(
        "events:\n  TicketUpdated:\n    subject: ticket:updated\n    version: 3\n{extra}    fields:\n      id: string\n      priceCents: i64\n      note: string?\n"
    );
    let lock = Lock::parse("typebus.lock", LOCK).unwrap();
    let model = SchemaSet::from_sources("schemas", [("tickets.yaml", schema)])
        .unwrap()
        .with_lock(lock.clone())
        .validate()
        .unwrap();
    check_history(&model, &lock, default)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn backward_is_checked_against_every_recorded_version_by_default() {
    let problems = check("", Rule::DEFAULT);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = &problems[0];
    assert!(
        problem.starts_with("tickets.yaml:2:3: error: `TicketUpdated` version 3 breaks `compat: backward`: version 1 no longer reaches it: the step from version 1 to 2 is not mechanical (field `priceCents` was added as required)"),
        "{problem}"
    );
    assert!(
        problem.contains("help: declare the step as written by hand with `upcasts: [1]` under `TicketUpdated` and write `impl typebus::Upcast<TicketUpdatedV2> for TicketUpdatedV1`"),
        "{problem}"
    );
    assert!(problem.contains("`compat: backward-previous`"), "{problem}");
}

#[test]
fn backward_previous_checks_only_the_last_step() {
    assert_eq!(
        check("    compat: backward-previous\n", Rule::DEFAULT),
        Vec::<String>::new()
    );
    // The project's default can say the same.
    assert_eq!(
        check("", "backward-previous".parse().unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn a_declared_hand_written_step_is_accepted() {
    assert_eq!(
        check("    upcasts: [1]\n", Rule::DEFAULT),
        Vec::<String>::new()
    );
}

#[test]
fn forward_needs_every_recorded_reader_to_read_the_new_version() {
    let problems = check("    compat: forward\n    upcasts: [1]\n", Rule::DEFAULT);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains(
            "breaks `compat: forward`: readers of version 1 cannot read it: field `price` removed"
        ),
        "{}",
        problems[0]
    );
    // v2 readers read v3 (it only added an optional field).
    assert_eq!(
        check("    compat: forward-previous\n", Rule::DEFAULT),
        Vec::<String>::new()
    );
    let full = check("    compat: full\n", Rule::DEFAULT);
    assert_eq!(full.len(), 2, "{full:#?}");
    assert_eq!(
        check("    compat: none\n", Rule::DEFAULT),
        Vec::<String>::new()
    );
}

#[test]
fn an_unknown_mode_or_version_is_a_schema_error() {
    let schema = "events:\n  TicketUpdated:\n    subject: ticket:updated\n    version: 3\n    compat: backwards\n    upcasts: [3, 0]\n    fields:\n      id: string\n";
    let err = SchemaSet::from_sources("schemas", [("tickets.yaml", schema)])
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("schemas/tickets.yaml:5:13: error: unknown compatibility mode `backwards`"),
        "{err}"
    );
    assert!(err.contains("did you mean `backward`?"), "{err}");
    assert!(
        err.contains("schemas/tickets.yaml:6:15: error: `upcasts` lists version 3, which is not an older version of this event (it is at version 3)"),
        "{err}"
    );
    assert!(err.contains("`upcasts` lists version 0"), "{err}");
}

#[test]
fn renames_are_checked_where_they_are_declared() {
    // `renames` of the current version must name its fields; versions from
    // 2 to the current one.
    let schema = "events:\n  SeatMoved:\n    subject: seat:moved\n    version: 2\n    renames:\n      2: { row: rowNo }\n      9: { a: b }\n    fields:\n      seat: string\n      rowNumber: u32\n";
    let err = SchemaSet::from_sources("schemas", [("seats.yaml", schema)])
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("schemas/seats.yaml:6:17: error: `renames` of version 2 renames `row` to `rowNo`, which is not a field of this version"),
        "{err}"
    );
    assert!(err.contains("`renames` lists version `9`"), "{err}");

    // A rename from a field the older version does not have is not a
    // mechanical step: `check` says so.
    let lock = Lock::parse(
        "typebus.lock",
        "format: 1\nevents:\n- subject: seat:moved\n  version: 1\n  fields:\n    seat: string\n    rowNo: u32\n",
    )
    .unwrap();
    let schema = "events:\n  SeatMoved:\n    subject: seat:moved\n    version: 2\n    renames:\n      2: { row: rowNumber }\n    fields:\n      seat: string\n      rowNumber: u32\n";
    let model = SchemaSet::from_sources("schemas", [("seats.yaml", schema)])
        .unwrap()
        .with_lock(lock.clone())
        .validate()
        .unwrap();
    let problems: Vec<String> = check_history(&model, &lock, Rule::DEFAULT)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("field `rowNumber` is declared renamed from `row`, which the older version does not have"),
        "{}",
        problems[0]
    );
}
