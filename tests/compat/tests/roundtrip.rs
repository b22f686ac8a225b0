//! For every rule fixture: encode each sample with the writer side's
//! generated types, decode with the reader side's, and check that the
//! outcome is what `compat::diff` classified and what the fixture states.
//!
//! Backward = old writers, new readers; forward = new writers, old readers.
//! A reader without an event on the sample's subject counts as not
//! decoding it (its listeners never read those events), which is how a
//! removed event or a renamed subject really fails.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use typebus_codegen::SchemaSet;
use typebus_codegen::compat::{self, ChangeKind, EventDiff, Mode};
use typebus_compat_tests::{Failure, RULES, Rule, Side};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Samples {
    expect: Expect,
    old: Vec<Sample>,
    new: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    backward: Outcome,
    forward: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Ok,
    Fail,
}

impl From<bool> for Outcome {
    fn from(ok: bool) -> Self {
        if ok { Outcome::Ok } else { Outcome::Fail }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    subject: String,
    json: String,
}

fn load(rule: &Rule) -> (Samples, Vec<EventDiff>) {
    let dir = Path::new(rule.dir);
    let text = std::fs::read_to_string(dir.join("samples.yaml")).unwrap();
    let samples: Samples = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: bad samples.yaml: {e}", rule.name));
    let old = SchemaSet::from_dir(dir.join("old"))
        .unwrap()
        .validate()
        .unwrap();
    let new = SchemaSet::from_dir(dir.join("new"))
        .unwrap()
        .validate()
        .unwrap();
    (samples, compat::diff(&old, &new))
}

/// Real outcome per writer subject: whether every sample decodes.
fn real(rule: &Rule, samples: &[Sample], writer: Side, reader: Side) -> BTreeMap<String, Outcome> {
    let mut out = BTreeMap::new();
    for sample in samples {
        let bytes = (writer.encode)(&sample.subject, &sample.json)
            .unwrap_or_else(|e| panic!("{}: writer cannot encode {}: {e}", rule.name, sample.json));
        let decoded = (reader.decode)(&sample.subject, &bytes);
        if let Err(Failure::Decode(reason)) = &decoded {
            eprintln!(
                "{}: {} -> {reason}",
                rule.name,
                String::from_utf8_lossy(&bytes)
            );
        }
        let entry = out.entry(sample.subject.clone()).or_insert(Outcome::Ok);
        if decoded.is_err() {
            *entry = Outcome::Fail;
        }
    }
    out
}

/// Predicted outcome for events written on `subject`: every change of the
/// event that `subject` belongs to on the writer side must keep that
/// direction decoding.
fn predicted(diffs: &[EventDiff], subject: &str, backward: bool) -> Outcome {
    let event = diffs.iter().find(|d| {
        if backward {
            d.old_subject.as_deref() == Some(subject)
        } else {
            d.new_version.is_some() && d.subject == subject
        }
    });
    let ok = event.is_none_or(|d| {
        d.changes.iter().all(|c| {
            if backward {
                c.verdict.new_readers
            } else {
                c.verdict.old_readers
            }
        })
    });
    Outcome::from(ok)
}

#[test]
fn every_rule_has_fixtures() {
    assert!(RULES.len() >= 40, "only {} rules", RULES.len());
}

#[test]
fn classification_matches_real_decoding() {
    let mut failures = Vec::new();
    for rule in RULES {
        let (samples, diffs) = load(rule);
        assert!(
            !samples.old.is_empty() && !samples.new.is_empty(),
            "{}: needs samples on both sides",
            rule.name
        );
        for (backward, list, writer, reader, stated) in [
            (
                true,
                &samples.old,
                rule.old,
                rule.new,
                samples.expect.backward,
            ),
            (
                false,
                &samples.new,
                rule.new,
                rule.old,
                samples.expect.forward,
            ),
        ] {
            let direction = if backward { "backward" } else { "forward" };
            let real = real(rule, list, writer, reader);
            let overall_real = Outcome::from(real.values().all(|o| *o == Outcome::Ok));
            for (subject, outcome) in &real {
                let predicted = predicted(&diffs, subject, backward);
                if predicted != *outcome {
                    failures.push(format!(
                        "{}: {direction} on `{subject}`: diff says {predicted:?}, real decoding {outcome:?}; changes: {:#?}",
                        rule.name, diffs
                    ));
                }
            }
            if overall_real != stated {
                failures.push(format!(
                    "{}: {direction}: samples.yaml states {stated:?}, real decoding {overall_real:?}",
                    rule.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn modes_follow_the_classification() {
    for rule in RULES {
        let (samples, diffs) = load(rule);
        let violates = |mode| diffs.iter().any(|d| d.violates(mode));
        let policy = diffs
            .iter()
            .flat_map(|d| &d.changes)
            .any(|c| c.kind.is_policy());
        let back_ok = samples.expect.backward == Outcome::Ok && !policy;
        let fwd_ok = samples.expect.forward == Outcome::Ok && !policy;
        assert_eq!(
            violates(Mode::Backward),
            !back_ok,
            "{}: backward",
            rule.name
        );
        assert_eq!(violates(Mode::Forward), !fwd_ok, "{}: forward", rule.name);
        assert_eq!(
            violates(Mode::Full),
            !(back_ok && fwd_ok),
            "{}: full",
            rule.name
        );
        assert!(!violates(Mode::None), "{}: none", rule.name);
    }
}

#[test]
fn each_rule_reports_the_change_it_is_named_after() {
    let kinds: BTreeMap<&str, Vec<String>> = RULES
        .iter()
        .map(|rule| {
            let (_, diffs) = load(rule);
            let kinds = diffs
                .iter()
                .flat_map(|d| &d.changes)
                .map(|c| c.kind.to_string())
                .collect();
            (rule.name, kinds)
        })
        .collect();
    let expect = |rule: &str, text: &str| {
        let got = &kinds[rule];
        assert!(
            got.iter().any(|k| k == text),
            "{rule}: expected `{text}` among {got:?}"
        );
    };
    expect("field_added_optional", "field `note` added (optional)");
    expect(
        "field_added_with_default",
        "field `seats` added (with default 1)",
    );
    expect("field_added_required", "field `seats` added (required)");
    expect(
        "field_removed_required",
        "field `seats` removed (was required)",
    );
    expect("type_changed_f64_to_string", "field `price` f64 -> string");
    expect("type_list_item_changed", "field `tags[]` string -> u32");
    expect("type_map_value_widened", "field `counts{}` i32 -> i64");
    expect("optional_to_required", "field `note` optional -> required");
    expect("required_to_optional", "field `note` required -> optional");
    expect("default_changed", "field `seats` default 1 -> 2");
    expect(
        "enum_value_added_closed",
        "enum `Status` (field `status`) value `refunded` added to a closed enum",
    );
    expect(
        "enum_value_removed_open",
        "enum `Status` (field `status`) value `refunded` removed",
    );
    expect(
        "enum_opened",
        "enum `Status` (field `status`) closed -> open",
    );
    expect(
        "nested_field_type_changed",
        "field `ticket.price` f64 -> string",
    );
    expect(
        "nested_field_added_required",
        "field `tickets[].title` added (required)",
    );
    expect(
        "recursive_type_field_added",
        "field `root.size` added (optional)",
    );
    expect(
        "subject_renamed",
        "subject renamed `probe` -> `probe:moved`",
    );
    expect("event_removed", "event removed");
    expect("event_added", "event added");
    expect(
        "version_not_bumped",
        "payload changed but `version` is still 1",
    );
    assert!(
        kinds["nested_type_renamed"].is_empty(),
        "{:?}",
        kinds["nested_type_renamed"]
    );
    assert!(
        kinds["fields_reordered"].is_empty(),
        "{:?}",
        kinds["fields_reordered"]
    );
}

#[test]
fn changes_point_at_their_schema_lines() {
    let rule = RULES
        .iter()
        .find(|r| r.name == "type_changed_f64_to_string")
        .unwrap();
    let (_, diffs) = load(rule);
    let change = diffs[0]
        .changes
        .iter()
        .find(|c| matches!(c.kind, ChangeKind::TypeChanged { .. }))
        .unwrap();
    let new = change.new.as_ref().unwrap();
    let old = change.old.as_ref().unwrap();
    assert_eq!((&*new.file, new.line, new.column), ("schema.yaml", 6, 7));
    assert_eq!((&*old.file, old.line, old.column), ("schema.yaml", 6, 7));
}
