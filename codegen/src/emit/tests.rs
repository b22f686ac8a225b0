//! [`emit`](super::emit) on a large model.

use std::fmt::Write as _;

use crate::SchemaSet;
use crate::model::Model;

/// A model of `events` events sharing one enum and one struct.
fn big_model(events: usize) -> Model {
    let mut yaml = String::from(
        "types:\n  Level:\n    enum: [low, high]\n  Part:\n    fields:\n      level: Level\nevents:\n",
    );
    for i in 0..events {
        write!(
            yaml,
            "  Event{i}:\n    subject: big.event{i}\n    version: 1\n    fields:\n      id: string\n      part: Part\n      levels: list<Level>\n      note: string?\n"
        )
        .unwrap();
    }
    SchemaSet::from_sources("schemas", [("big.yaml", yaml)])
        .unwrap()
        .validate()
        .unwrap()
}

#[test]
fn problems_throughout_a_large_model_are_all_reported_in_order() {
    let mut model = big_model(130);
    for i in [3, 47, 90, 129] {
        model.events[i].fields[0].ident.name = format!("bad name {i}");
    }
    let err = super::emit(&model).unwrap_err();
    let mut messages: Vec<&str> = err.diagnostics().iter().map(|d| d.message()).collect();
    assert_eq!(messages.len(), 4, "{err}");
    messages.sort();
    let mut expected: Vec<String> = [3, 47, 90, 129]
        .iter()
        .map(|i| format!("the rust name `bad name {i}` is not a valid identifier"))
        .collect();
    expected.sort();
    assert_eq!(messages, expected);
    let lines: Vec<u32> = err.diagnostics().iter().map(|d| d.line()).collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
}
