//! Event matching, policy changes and messages of [`diff`]; the decode
//! classification of every rule is checked against real generated types in
//! `tests/compat`.

use super::*;
use crate::SchemaSet;

fn model(yaml: &str) -> Model {
    SchemaSet::from_sources("s", [("s.yaml", yaml)])
        .unwrap()
        .validate()
        .unwrap()
}

fn event(name: &str, subject: &str, version: u32, fields: &str) -> String {
    format!("  {name}:\n    subject: {subject}\n    version: {version}\n    fields:\n{fields}")
}

fn kinds(diffs: &[EventDiff]) -> Vec<String> {
    diffs
        .iter()
        .flat_map(|d| {
            d.changes
                .iter()
                .map(move |c| format!("{}: {}", d.subject, c.kind))
        })
        .collect()
}

#[test]
fn identical_sets_have_no_changes() {
    let m = model(&format!(
        "events:\n{}",
        event("A", "a", 1, "      id: string\n")
    ));
    assert!(diff(&m, &m).is_empty());
}

#[test]
fn events_are_matched_by_subject_then_by_name() {
    let old = model(&format!(
        "events:\n{}{}",
        event("A", "a", 1, "      id: string\n"),
        event("B", "b", 1, "      id: string\n")
    ));
    let new = model(&format!(
        "events:\n{}{}",
        event("Renamed", "a", 1, "      id: string\n"),
        event("B", "b:moved", 2, "      id: string\n")
    ));
    let diffs = diff(&old, &new);
    assert_eq!(
        kinds(&diffs),
        [
            "a: event renamed `A` -> `Renamed` (same subject)",
            "b:moved: subject renamed `b` -> `b:moved`",
        ]
    );
    assert_eq!(diffs[1].old_subject.as_deref(), Some("b"));
    // A Rust rename is not a wire change; a subject rename breaks both ways.
    assert!(!diffs[0].violates(Mode::Full));
    assert!(diffs[1].violates(Mode::Backward) && diffs[1].violates(Mode::Forward));
}

#[test]
fn versions_going_down_or_not_moving_break_the_contract() {
    let old = model(&format!(
        "events:\n{}",
        event("A", "a", 3, "      id: string\n")
    ));
    let down = model(&format!(
        "events:\n{}",
        event("A", "a", 2, "      id: string\n")
    ));
    let diffs = diff(&old, &down);
    assert_eq!(kinds(&diffs), ["a: `version` went down from 3 to 2"]);
    assert!(diffs[0].violates(Mode::Backward) && !diffs[0].violates(Mode::None));

    let same = model(&format!(
        "events:\n{}",
        event("A", "a", 3, "      id: string\n      n: u32?\n")
    ));
    assert_eq!(
        kinds(&diff(&old, &same)),
        [
            "a: payload changed but `version` is still 3",
            "a: field `n` added (optional)"
        ]
    );
    // A bump without a payload change is not a change.
    let bumped = model(&format!(
        "events:\n{}",
        event("A", "a", 4, "      id: string\n")
    ));
    assert!(diff(&old, &bumped).is_empty());
}

#[test]
fn removed_and_added_events() {
    let old = model(&format!(
        "events:\n{}",
        event("A", "a", 1, "      id: string\n")
    ));
    let new = model(&format!(
        "events:\n{}",
        event("B", "b", 1, "      id: string\n")
    ));
    let diffs = diff(&old, &new);
    assert_eq!(kinds(&diffs), ["a: event removed", "b: event added"]);
    assert_eq!(diffs[0].new_version, None);
    assert_eq!(diffs[1].old_version, None);
    assert!(diffs[0].violates(Mode::Backward) && !diffs[0].violates(Mode::Forward));
    assert!(!diffs[1].violates(Mode::Full));
    let removed_at = diffs[0].changes[0].location().unwrap();
    assert_eq!((removed_at.line, removed_at.column), (2, 3));
}

#[test]
fn a_shared_type_change_is_reported_once_per_event_with_its_path() {
    let types = |price: &str| {
        format!("types:\n  T:\n    fields:\n      price: {price}\n      next: list<T>\n")
    };
    let events = format!(
        "events:\n{}{}",
        event("A", "a", 1, "      t: T\n      ts: map<T>\n"),
        event("B", "b", 1, "      items: list<T>\n")
    );
    let old = model(&format!("{}{events}", types("f64")));
    let new = model(&format!("{}{events}", types("string")));
    let all = kinds(&diff(&old, &new));
    assert_eq!(
        all.iter()
            .filter(|k| k.contains("f64 -> string"))
            .cloned()
            .collect::<Vec<_>>(),
        [
            "a: field `t.price` f64 -> string",
            "b: field `items[].price` f64 -> string"
        ]
    );
}

#[test]
fn aggregate_changes_are_noted_without_failing_any_mode() {
    let with = |agg: &str| {
        model(&format!(
            "events:\n  A:\n    subject: a\n    version: 1\n{agg}    fields:\n      id: string\n      seq: u64\n      other: u64\n"
        ))
    };
    let none = with("");
    let seq = with("    aggregate: { id: id, sequence: seq }\n");
    let other = with("    aggregate: { id: id, sequence: other }\n");
    assert_eq!(
        kinds(&diff(&none, &seq)),
        ["a: aggregate none -> `A` (id: `id`, sequence: `seq`)"]
    );
    let diffs = diff(&seq, &other);
    assert_eq!(
        kinds(&diffs),
        ["a: aggregate `A` (id: `id`, sequence: `seq`) -> `A` (id: `id`, sequence: `other`)"]
    );
    assert!(!diffs[0].violates(Mode::Full));
}
