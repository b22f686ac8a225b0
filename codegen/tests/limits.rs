//! Limits on hostile schema input: each case ends with a clear diagnostic
//! at `file:line:col` or with a success, in bounded time, never a hang or a
//! panic. (`errors.rs` feeds random and truncated input; these cases pin the
//! message and location of every limit, and the work done at scale.)
//!
//! | input | outcome |
//! |---|---|
//! | a file over 8 MiB | "schema file is too large" at 1:1, read no further |
//! | an alias bomb | "aliases expand to too much data" |
//! | nesting deeper than 32 | "the file nests deeper than 32 levels" |
//! | a 100,000-character name, subject, enum value or field | "... is too long" |
//! | 20,000 events | a model (and code) with 20,000 events |
//! | 20,000 unknown type names among 20,000 types | 20,000 diagnostics, suggestions bounded |

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::fs;

use typebus_codegen::{Error, SchemaSet};

/// Loads and validates `text` as `schemas/limits.yaml`, expecting problems;
/// returns them rendered one per line (`file:line:col: message`).
fn problems(text: &str) -> Vec<String> {
    let err = match SchemaSet::from_sources("schemas", [("limits.yaml", text)]) {
        Ok(set) => set.validate().unwrap_err(),
        Err(err) => err,
    };
    let Error::Schema(diagnostics) = &err else {
        panic!("not a schema error: {err}");
    };
    assert!(!diagnostics.is_empty());
    diagnostics
        .iter()
        .map(|d| first_line(&d.to_string()))
        .collect()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn an_oversized_file_is_refused_without_reading_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB of comment: only the first 8 MiB + 1 byte are read.
    let mut big = String::with_capacity(64 * 1024 * 1024 + 64);
    big.push_str("types:\n  T: {enum: [a]}\n");
    while big.len() < 64 * 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    fs::write(dir.path().join("big.yaml"), &big).unwrap();
    let err = SchemaSet::from_dir_as(dir.path(), "schemas").unwrap_err();
    assert_eq!(
        first_line(&err.to_string()),
        "schemas/big.yaml:1:1: error: schema file is too large (more than 8 MiB)"
    );
    // In memory as well, one byte over.
    let mut over = String::from("types:\n  T: {enum: [a]}\n#");
    over.push_str(&"x".repeat(8 * 1024 * 1024 - over.len()));
    over.push('\n');
    assert_eq!(
        problems(&over),
        ["schemas/limits.yaml:1:1: error: schema file is too large (more than 8 MiB)"]
    );
}

#[test]
fn a_billion_laughs_is_refused() {
    let mut bomb = String::from(
        "types:\n  T:\n    fields:\n      x:\n        type: json\n        default:\n          - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..12 {
        let p = i - 1;
        writeln!(
            bomb,
            "          - &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
        )
        .unwrap();
    }
    let found = problems(&bomb);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("schemas/limits.yaml:")
            && found[0].ends_with("error: aliases expand to too much data"),
        "{found:?}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let flow = format!(
        "types:\n  T:\n    fields:\n      x:\n        type: json\n        default: {}{}\n",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let found = problems(&flow);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].ends_with("error: the file nests deeper than 32 levels"),
        "{found:?}"
    );
    let expr = format!(
        "types:\n  T:\n    fields:\n      x: {}string{}\n",
        "list<".repeat(50_000),
        ">".repeat(50_000)
    );
    let found = problems(&expr);
    assert_eq!(
        found,
        ["schemas/limits.yaml:4:10: error: type expression is too long (at most 1024 characters)"]
    );
    let expr = format!(
        "types:\n  T:\n    fields:\n      x: {}string{}\n",
        "list<".repeat(40),
        ">".repeat(40)
    );
    let found = problems(&expr);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("schemas/limits.yaml:4:")
            && found[0].ends_with("error: type expression nests deeper than 32 levels"),
        "{found:?}"
    );
}

#[test]
fn absurdly_long_names_are_refused() {
    let long = "A".repeat(100_000);
    let lower = "a".repeat(100_000);
    // A key over YAML's 1,024-character limit is not a key to the parser.
    assert_eq!(
        problems(&format!(
            "events:\n  {long}:\n    subject: a:b\n    version: 1\n    fields: {{}}\n"
        )),
        [
            "schemas/limits.yaml:2:3: error: key is too long (100000 characters, names are at most 256)"
        ]
    );
    assert_eq!(
        problems(&format!("types:\n  {long}:\n    enum: [a]\n")),
        [
            "schemas/limits.yaml:2:3: error: key is too long (100000 characters, names are at most 256)"
        ]
    );
    // Under that limit, the validator reports the name.
    let name = "A".repeat(1000);
    assert_eq!(
        problems(&format!(
            "events:\n  {name}:\n    subject: a:b\n    version: 1\n    fields: {{}}\n"
        )),
        ["schemas/limits.yaml:2:3: error: event name is too long (1000 characters, at most 256)"]
    );
    assert_eq!(
        problems(&format!(
            "events:\n  E:\n    subject: {lower}\n    version: 1\n    fields: {{}}\n"
        )),
        ["schemas/limits.yaml:3:14: error: subject is too long (100000 characters, at most 256)"]
    );
    assert_eq!(
        problems(&format!("types:\n  T:\n    enum: [{lower}]\n")),
        [
            "schemas/limits.yaml:3:12: error: enum value is too long (100000 characters, at most 256)"
        ]
    );
    assert_eq!(
        problems(&format!(
            "types:\n  T:\n    fields:\n      {lower}: string\n"
        )),
        [
            "schemas/limits.yaml:4:7: error: key is too long (100000 characters, names are at most 256)"
        ]
    );
    // An unknown type with a huge name: reported, no suggestion attempted.
    let found = problems(&format!("types:\n  T:\n    fields:\n      x: {long}\n"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("schemas/limits.yaml:4:10: error: "),
        "{found:?}"
    );
}

#[test]
fn twenty_thousand_events_are_fine() {
    let mut src = String::from("types:\n  Ref: {fields: {id: string}}\nevents:\n");
    for i in 0..20_000 {
        writeln!(
            src,
            "  Event{i}: {{subject: \"thing{i}:happened\", version: 1, fields: {{id: string, ref: Ref, n: u64}}}}"
        )
        .unwrap();
    }
    let model = SchemaSet::from_sources("schemas", [("many.yaml", src)])
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(model.events.len(), 20_000);
    assert_eq!(model.events[0].name, "Event0");
}

#[test]
fn suggestions_stay_bounded_among_many_names() {
    // 20,000 types, and 20,000 fields naming a type that is one typo away
    // from one of them: every problem is reported, and the work spent on
    // "did you mean" suggestions is bounded.
    let mut src = String::from("types:\n");
    for i in 0..20_000 {
        writeln!(src, "  Type{i:05}: {{enum: [a]}}").unwrap();
    }
    src.push_str("  Holder:\n    fields:\n");
    for i in 0..20_000 {
        writeln!(src, "      f{i}: Tpye{i:05}").unwrap();
    }
    let err = SchemaSet::from_sources("schemas", [("limits.yaml", src)])
        .unwrap()
        .validate()
        .unwrap_err();
    let diagnostics = err.diagnostics();
    assert_eq!(diagnostics.len(), 20_000);
    assert_eq!(
        first_line(&diagnostics[0].to_string()),
        "schemas/limits.yaml:20004:11: error: unknown type `Tpye00000`"
    );
    // The first ones still get their suggestion; once the budget is spent,
    // the rest are reported without one.
    assert_eq!(diagnostics[0].help(), Some("did you mean `Type00000`?"));
    assert_eq!(diagnostics[1].help(), Some("did you mean `Type00001`?"));
    assert!(
        diagnostics[19_999]
            .help()
            .is_some_and(|help| help.starts_with("declare it under `types:`")),
        "{:?}",
        diagnostics[19_999].help()
    );
    assert!(
        diagnostics
            .iter()
            .all(|d| d.message().starts_with("unknown type `Tpye"))
    );
}
