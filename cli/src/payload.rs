//! Payloads checked against their event's schema: each event's JSON Schema
//! export (which agrees with the generated Rust, see `typebus export
//! jsonschema`) compiled with boon; every mismatch reported at its JSON path
//! (`$.items[2].price`).

use std::collections::BTreeMap;
use std::fmt;

use boon::{InstanceToken, ValidationError};
use serde_json::Value;
use typebus_codegen::export::jsonschema;
use typebus_codegen::model::{Model, TypeDef};

use crate::error::CliError;

/// The compiled payload schema of every event, by subject.
pub(crate) struct Payloads {
    schemas: boon::Schemas,
    events: BTreeMap<String, EventSchema>,
}

/// One event's name, version and compiled payload schema.
#[derive(Debug, Clone)]
pub(crate) struct EventSchema {
    /// The event's name (`TicketCreated`).
    pub(crate) name: String,
    /// Its subject.
    pub(crate) subject: String,
    /// Its contract version.
    pub(crate) version: u32,
    /// The older versions whose readers read this one (as the generated
    /// `Event::READABLE_AS` says), for `Typebus-Readable-As`.
    pub(crate) readable_as: Vec<u32>,
    index: boon::SchemaIndex,
}

/// Where a payload does not fit its schema, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// The JSON path of the offending value (`$` for the payload itself).
    pub(crate) path: String,
    /// What was expected, in words.
    pub(crate) message: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.path, self.message)
    }
}

impl Payloads {
    /// Compiles the payload schema of every event of `model`.
    pub(crate) fn new(model: &Model) -> Result<Self, CliError> {
        let types: BTreeMap<&str, &TypeDef> =
            model.types.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let mut schemas = boon::Schemas::new();
        let mut events = BTreeMap::new();
        for event in &model.events {
            let url = format!("urn:typebus:event:{}", event.name);
            let cannot = |err: boon::CompileError| {
                CliError::Usage(format!(
                    "cannot compile the payload schema of {}: {err}",
                    event.name
                ))
            };
            compiler
                .add_resource(&url, jsonschema::event_schema(event, &types))
                .map_err(cannot)?;
            let compiled = compiler.compile(&url, &mut schemas).map_err(cannot)?;
            events.insert(
                event.subject.clone(),
                EventSchema {
                    name: event.name.clone(),
                    subject: event.subject.clone(),
                    version: event.version,
                    readable_as: model.readable_as(&event.name),
                    index: compiled,
                },
            );
        }
        Ok(Payloads { schemas, events })
    }

    /// The event published on `subject`.
    pub(crate) fn event(&self, subject: &str) -> Option<&EventSchema> {
        self.events.get(subject)
    }

    /// Every subject, sorted.
    pub(crate) fn subjects(&self) -> impl Iterator<Item = &str> {
        self.events.keys().map(String::as_str)
    }

    /// The error for a subject no schema declares, listing the known ones.
    pub(crate) fn unknown_subject(&self, subject: &str) -> CliError {
        let known: Vec<&str> = self.subjects().collect();
        CliError::Usage(format!(
            "no event in the schemas has subject `{subject}` (known: {})",
            known.join(", ")
        ))
    }

    /// Checks `payload` against `event`'s schema; every mismatch, sorted by
    /// path.
    pub(crate) fn check(&self, event: &EventSchema, payload: &Value) -> Result<(), Vec<Mismatch>> {
        match self.schemas.validate(payload, event.index) {
            Ok(()) => Ok(()),
            Err(error) => {
                let mut found = Vec::new();
                leaves(&error, &mut found);
                found.sort_by(|a, b| a.path.cmp(&b.path).then(a.message.cmp(&b.message)));
                found.dedup();
                Err(found)
            }
        }
    }
}

/// The innermost errors: the ones that say what is wrong where.
fn leaves(error: &ValidationError<'_, '_>, found: &mut Vec<Mismatch>) {
    if error.causes.is_empty() {
        found.push(Mismatch {
            path: json_path(&error.instance_location.tokens),
            message: error.kind.to_string(),
        });
    } else {
        for cause in &error.causes {
            leaves(cause, found);
        }
    }
}

/// `$.a[0].b`, with bracketed quotes for keys that are not plain names.
fn json_path(tokens: &[InstanceToken<'_>]) -> String {
    let mut path = String::from("$");
    for token in tokens {
        match token {
            InstanceToken::Item(index) => path.push_str(&format!("[{index}]")),
            InstanceToken::Prop(name) => {
                let plain = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                if plain {
                    path.push('.');
                    path.push_str(name);
                } else {
                    path.push_str(&format!("[{}]", Value::String(name.to_string())));
                }
            }
        }
    }
    path
}

/// Parses `text` as JSON; the error says where (serde_json's message ends
/// with the line and column).
pub(crate) fn parse_json(text: &str, origin: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|err| format!("{origin} is not valid JSON: {err}"))
}

/// The payloads of one schema file's text (for tests).
#[cfg(test)]
pub(crate) fn payloads_of(yaml: &str) -> Payloads {
    let set = typebus_codegen::SchemaSet::from_sources("schemas", [("t.yaml", yaml)])
        .expect("the test schema parses");
    Payloads::new(&set.validate().expect("the test schema is valid"))
        .expect("the test schema compiles")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads() -> Payloads {
        payloads_of(
            "types:\n  Status:\n    enum: [open, sold]\n  Line:\n    fields:\n      sku: string\n      qty: u32\nevents:\n  TicketUpdated:\n    subject: ticket:updated\n    version: 2\n    fields:\n      id: string\n      price: f64\n      status: Status\n      lines: list<Line>\n      note: string?\n      tags: map<string>\n",
        )
    }

    #[test]
    fn a_fitting_payload_passes() {
        let p = payloads();
        let event = p.event("ticket:updated").unwrap();
        assert_eq!((event.name.as_str(), event.version), ("TicketUpdated", 2));
        let ok =
            serde_json::json!({"id": "a", "price": 9.5, "status": "open", "lines": [], "tags": {}});
        assert_eq!(p.check(event, &ok), Ok(()));
    }

    #[test]
    fn mismatches_name_their_json_paths() {
        let p = payloads();
        let event = p.event("ticket:updated").unwrap();
        let bad = serde_json::json!({
            "id": "a", "price": "9.5", "status": "lost",
            "lines": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": -1}],
            "tags": {"a b": 3}
        });
        let found = p.check(event, &bad).unwrap_err();
        let paths: Vec<&str> = found.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(
            paths,
            ["$.lines[1].qty", "$.price", "$.status", "$.tags[\"a b\"]"],
            "{found:?}"
        );
        assert!(found[1].message.contains("number"), "{found:?}");
    }

    #[test]
    fn a_missing_required_field_is_reported_at_the_object() {
        let p = payloads();
        let event = p.event("ticket:updated").unwrap();
        let found = p
            .check(
                event,
                &serde_json::json!({"id": "a", "status": "open", "lines": [], "tags": {}}),
            )
            .unwrap_err();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "$");
        assert!(found[0].message.contains("price"), "{found:?}");
    }

    #[test]
    fn arrays_are_not_objects_at_any_depth() {
        let p = payloads();
        let event = p.event("ticket:updated").unwrap();
        let found = p
            .check(event, &serde_json::json!(["a", 9.5, "open", [], null, {}]))
            .unwrap_err();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "$");
        assert!(found[0].message.contains("array"), "{found:?}");
        let nested = serde_json::json!({
            "id": "a", "price": 9.5, "status": "open", "lines": [["x", 1]], "tags": {}
        });
        let found = p.check(event, &nested).unwrap_err();
        assert_eq!(found[0].path, "$.lines[0]", "{found:?}");
        assert!(found[0].message.contains("array"), "{found:?}");
    }

    #[test]
    fn unknown_subjects_list_the_known_ones() {
        let message = payloads().unknown_subject("ticket:made").to_string();
        assert!(message.contains("`ticket:made`") && message.contains("ticket:updated"));
    }

    #[test]
    fn json_syntax_errors_say_where() {
        let err = parse_json("{\n  \"a\": 1,,\n}", "--data").unwrap_err();
        assert_eq!(
            err,
            "--data is not valid JSON: key must be a string at line 2 column 10"
        );
    }
}
