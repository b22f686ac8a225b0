//! Lock file round trips, the fast check path against the plain one, and
//! violation messages.

use super::*;
use crate::SchemaSet;

fn model(yaml: &str) -> Model {
    SchemaSet::from_sources("schemas", [("s.yaml", yaml)])
        .unwrap()
        .validate()
        .unwrap()
}

const V1: &str = r#"
types:
  Status:
    enum: [open, "awaiting:payment", "yes", "a, b"]
    open: true
  Ref:
    fields:
      id: string
      "odd key": { type: "list<map<f64?>>?" }
      next: list<Ref>
events:
  Ticket:
    subject: ticket:updated
    version: 1
    fields:
      id: string
      price: f64
      status: Status
      ref: Ref
      seats: { type: u32, default: 1 }
      note: { type: string, default: "say \"hi\"\n" }
      tags: { type: "list<string>", default: [] }
  Other:
    subject: "other"
    version: 2
    fields: {}
"#;

#[test]
fn render_then_parse_gives_the_same_lock() {
    let lock = Lock::new().reconcile(&model(V1)).lock;
    let text = lock.render();
    let back = Lock::parse("typebus.lock", &text).unwrap();
    assert_eq!(back, lock);
    assert_eq!(back.render(), text);
    assert!(
        text.contains(
            r#"    note: "string = \"say \\\"hi\\\"\\n\""
"#
        ),
        "{text}"
    );
    assert!(text.contains("    seats: u32 = 1\n"), "{text}");
    assert!(text.contains("    tags: \"list<string> = []\"\n"), "{text}");
    assert!(
        text.contains(
            "      enum: [\"a, b\", awaiting:payment, open, \"yes\"]\n      open: true\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("        odd key: list<map<f64?>>?\n"),
        "{text}"
    );
    assert!(text.contains("  fields: {}\n"), "{text}");
}

#[test]
fn an_empty_lock_renders_and_reads_back() {
    let text = Lock::new().render();
    assert!(text.ends_with("format: 1\nevents: []\n"), "{text}");
    assert!(Lock::parse("l", &text).unwrap().is_empty());
}

/// The fast path and the plain path agree on every case.
fn both_paths(text: Option<&str>, m: &Model) -> (Vec<String>, Vec<(String, u32)>, String) {
    let (fast, expected) = Lock::check_text("l", text, m).unwrap();
    let slow = match text {
        Some(t) => Lock::parse("l", t).unwrap(),
        None => Lock::new(),
    }
    .reconcile(m);
    assert_eq!(expected, slow.lock.render());
    let violations: Vec<String> = fast.violations.iter().map(|v| v.to_string()).collect();
    let slow_violations: Vec<String> = slow.violations.iter().map(|v| v.to_string()).collect();
    assert_eq!(violations, slow_violations);
    assert_eq!(fast.added, slow.added);
    (violations, fast.added, expected)
}

#[test]
fn fast_check_agrees_with_parse_and_reconcile() {
    let v1 = model(V1);
    let text = Lock::new().reconcile(&v1).lock.render();

    // Up to date.
    let (violations, added, expected) = both_paths(Some(&text), &v1);
    assert!(violations.is_empty() && added.is_empty());
    assert_eq!(expected, text);

    // Missing file.
    let (_, added, _) = both_paths(None, &v1);
    assert_eq!(added.len(), 2);

    // A changed shape without a bump.
    let changed = model(&V1.replace("price: f64", "price: string"));
    let (violations, _, expected) = both_paths(Some(&text), &changed);
    assert_eq!(
        violations,
        ["ticket:updated v1 changed: field `price` f64 -> string; bump `version` to 2"]
    );
    assert_eq!(expected, text, "a released shape is never rewritten");

    // Bumped: v1 stays, v2 is added.
    let bumped = model(
        &V1.replace("price: f64", "price: string")
            .replace("version: 1", "version: 2"),
    );
    let (violations, added, expected) = both_paths(Some(&text), &bumped);
    assert!(violations.is_empty());
    assert_eq!(added, [("ticket:updated".to_owned(), 2)]);
    let reread = Lock::parse("l", &expected).unwrap();
    assert!(reread.get("ticket:updated", 1).is_some() && reread.get("ticket:updated", 2).is_some());
    // And with both recorded, the fast path still agrees.
    let (violations, added, again) = both_paths(Some(&expected), &bumped);
    assert!(violations.is_empty() && added.is_empty());
    assert_eq!(again, expected);
}

#[test]
fn a_renamed_nested_type_refreshes_the_entry_without_a_violation() {
    let v1 = model(V1);
    let text = Lock::new().reconcile(&v1).lock.render();
    let renamed = model(&V1.replace("Ref", "Link"));
    let (violations, added, expected) = both_paths(Some(&text), &renamed);
    assert!(violations.is_empty() && added.is_empty());
    assert_ne!(expected, text);
    assert!(expected.contains("    Link:\n"));
}

#[test]
fn bad_lock_files_are_errors_with_a_location() {
    let m = model(V1);
    let cases = [
        (
            "format: 1\nevents:\n- subject: a\n  version: 1\n  fields:\n    x: list<\n",
            "invalid lock entry a v1: field `x`",
        ),
        (
            "format: 1\nevents:\n- subject: a\n  version: 1\n  bogus: 1\n",
            "invalid lock file",
        ),
        (
            "format: 9\nevents: []\n",
            "lock file format 9 is not supported",
        ),
        (
            "format: 1\nevents:\n- subject: a\n  version: 1\n  fields: {}\n- subject: a\n  version: 1\n  fields: {}\n",
            "invalid lock entry a v1: recorded twice",
        ),
        (
            "format: 1\nevents:\n- subject: a\n  version: 1\n  fields: {}\n  types:\n    T: {}\n",
            "type `T` must have either",
        ),
    ];
    for (text, message) in cases {
        let err = Lock::check_text("typebus.lock", Some(text), &m).unwrap_err();
        assert!(err.to_string().contains(message), "{text}: {err}");
        assert!(err.to_string().starts_with("typebus.lock: "), "{err}");
    }
    let err = Lock::parse("typebus.lock", "format: 1\nevents:\n  - subject: [\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("line") || text.contains(":4:"), "{text}");
}

#[test]
fn a_duplicate_of_a_current_entry_is_caught_on_the_fast_path() {
    let m = model(V1);
    let text = Lock::new().reconcile(&m).lock.render();
    let entry_start = text.find("- subject: other").unwrap();
    let entry_end = text[entry_start..]
        .find("\n- ")
        .map_or(text.len(), |i| entry_start + i + 1);
    let doubled = format!("{text}{}", &text[entry_start..entry_end]);
    let err = Lock::check_text("l", Some(&doubled), &m).unwrap_err();
    assert!(err.to_string().contains("recorded twice"), "{err}");
}

#[test]
fn violations_point_at_the_changed_field() {
    let v1 = model(V1);
    let text = Lock::new().reconcile(&v1).lock.render();
    let changed = model(&V1.replace("price: f64", "price: string"));
    let (reconciled, _) = Lock::check_text("l", Some(&text), &changed).unwrap();
    let change = &reconciled.violations[0].changes[0];
    let at = change.new.as_ref().unwrap();
    assert_eq!((&*at.file, at.line, at.column), ("s.yaml", 17, 7));
    assert_eq!(change.old, None, "the lock has no schema locations");
}
