//! The lock file's text form: a YAML document read and written with
//! serde-saphyr. Every map is a `BTreeMap` and every list is sorted, so the
//! same shapes always give the same bytes.
//!
//! ```yaml
//! format: 1
//! events:
//! - subject: ticket:updated
//!   version: 1
//!   fields:
//!     id: string
//!     orderId: string?
//!     seats: u32 = 1
//!     ticket: TicketRef
//!   types:
//!     TicketRef:
//!       fields:
//!         id: string
//! ```
//!
//! A field is `TYPE` or `TYPE = DEFAULT` (the default as JSON text); a type
//! is `fields:` or `enum:` (values sorted) with `open: true` when open.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::compat::json_string;

use crate::compat::{FieldShape, Shape, TypeShape, TypeShapeKind};
use crate::model::{Scalar, TypeExpr};

/// The version of this format, written as `format:`.
pub(crate) const FORMAT: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Doc {
    pub(crate) format: u32,
    #[serde(default)]
    pub(crate) events: Vec<DocEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocEvent {
    pub(crate) subject: String,
    pub(crate) version: u32,
    #[serde(default)]
    pub(crate) fields: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) types: BTreeMap<String, DocType>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocType {
    #[serde(default)]
    fields: Option<BTreeMap<String, String>>,
    #[serde(rename = "enum", default)]
    values: Option<Vec<String>>,
    #[serde(default)]
    open: bool,
}

/// Writes the document as block YAML: two-space indents, `key: value`
/// lines, flow lists for enum values; scalars plain where YAML reads them
/// back as the same string, else double-quoted with JSON escapes.
pub(crate) fn render(doc: &Doc, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "format: {}", doc.format);
    if doc.events.is_empty() {
        out.push_str("events: []\n");
        return;
    }
    out.push_str("events:\n");
    for event in &doc.events {
        render_event(event, out);
    }
}

/// One entry of the `events:` list, from its `- subject:` line to its last
/// line (newline-terminated).
pub(crate) fn render_event(event: &DocEvent, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "- subject: {}", scalar(&event.subject));
    let _ = writeln!(out, "  version: {}", event.version);
    render_fields(out, "  ", &event.fields);
    if !event.types.is_empty() {
        out.push_str("  types:\n");
        for (name, ty) in &event.types {
            let _ = writeln!(out, "    {}:", scalar(name));
            if let Some(fields) = &ty.fields {
                render_fields(out, "      ", fields);
            }
            if let Some(values) = &ty.values {
                let values: Vec<String> = values.iter().map(|v| scalar(v)).collect();
                let _ = writeln!(out, "      enum: [{}]", values.join(", "));
            }
            if ty.open {
                out.push_str("      open: true\n");
            }
        }
    }
}

fn render_fields(out: &mut String, indent: &str, fields: &BTreeMap<String, String>) {
    use std::fmt::Write as _;
    if fields.is_empty() {
        let _ = writeln!(out, "{indent}fields: {{}}");
        return;
    }
    let _ = writeln!(out, "{indent}fields:");
    for (wire, ty) in fields {
        let _ = writeln!(out, "{indent}  {}: {}", scalar(wire), scalar(ty));
    }
}

/// `text` as a YAML scalar that reads back as the same string: plain when
/// that is unambiguous, else a double-quoted (JSON-escaped) string.
fn scalar(text: &str) -> String {
    if is_plain(text) {
        text.to_owned()
    } else {
        json_string(text)
    }
}

fn is_plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let safe = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '-' | '.' | ':' | '<' | '>' | '?' | '/' | '=' | ' ')
    };
    let special = ["true", "false", "yes", "no", "on", "off", "null", "y", "n"];
    (first.is_ascii_alphabetic() || first == '_')
        && text.chars().all(safe)
        && !text.contains(": ")
        && !text.ends_with([':', ' '])
        && !special.iter().any(|w| w.eq_ignore_ascii_case(text))
}

/// The text form of a shape's fields.
pub(crate) fn fields_doc(fields: &[FieldShape]) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|f| {
            let text = match &f.default {
                Some(d) => format!("{} = {d}", f.ty),
                None => f.ty.to_string(),
            };
            (f.wire.clone(), text)
        })
        .collect()
}

/// The text form of a named type.
pub(crate) fn type_doc(ty: &TypeShape) -> DocType {
    match &ty.kind {
        TypeShapeKind::Struct(fields) => DocType {
            fields: Some(fields_doc(fields)),
            values: None,
            open: false,
        },
        TypeShapeKind::Enum { open, values } => DocType {
            fields: None,
            values: Some(values.iter().map(|(v, _)| v.clone()).collect()),
            open: *open,
        },
    }
}

/// Reads a field map back; `Err` names the field and what is wrong.
pub(crate) fn fields_from_doc(doc: &BTreeMap<String, String>) -> Result<Vec<FieldShape>, String> {
    doc.iter()
        .map(|(wire, text)| {
            let (ty, default) = match text.split_once(" = ") {
                Some((ty, default)) => (ty, Some(default.trim().to_owned())),
                None => (text.as_str(), None),
            };
            let ty = parse_type(ty.trim())
                .ok_or_else(|| format!("field `{wire}`: `{text}` is not a type expression"))?;
            Ok(FieldShape {
                wire: wire.clone(),
                ty,
                default,
                location: None,
            })
        })
        .collect()
}

/// Reads a named type back.
pub(crate) fn type_from_doc(name: &str, doc: &DocType) -> Result<TypeShape, String> {
    let kind = match (&doc.fields, &doc.values) {
        (Some(fields), None) if !doc.open => TypeShapeKind::Struct(
            fields_from_doc(fields).map_err(|e| format!("type `{name}`, {e}"))?,
        ),
        (None, Some(values)) => {
            let mut values: Vec<_> = values.iter().map(|v| (v.clone(), None)).collect();
            values.sort();
            values.dedup();
            TypeShapeKind::Enum {
                open: doc.open,
                values,
            }
        }
        _ => {
            return Err(format!(
                "type `{name}` must have either `fields` or `enum` (with `open` only for an enum)"
            ));
        }
    };
    Ok(TypeShape {
        kind,
        location: None,
    })
}

/// The text form of a whole shape.
pub(crate) fn event_doc(subject: &str, version: u32, shape: &Shape) -> DocEvent {
    DocEvent {
        subject: subject.to_owned(),
        version,
        fields: fields_doc(&shape.fields),
        types: shape
            .types
            .iter()
            .map(|(name, ty)| (name.clone(), type_doc(ty)))
            .collect(),
    }
}

/// Reads a whole shape back.
pub(crate) fn shape_from_doc(doc: &DocEvent) -> Result<Shape, String> {
    let mut types = BTreeMap::new();
    for (name, ty) in &doc.types {
        types.insert(name.clone(), type_from_doc(name, ty)?);
    }
    Ok(Shape {
        fields: fields_from_doc(&doc.fields)?,
        types,
    })
}

/// Parses the schema syntax of a type expression, as [`TypeExpr`]'s
/// `Display` writes it (`list<map<string?>>?`).
pub(crate) fn parse_type(text: &str) -> Option<TypeExpr> {
    if let Some(inner) = text.strip_suffix('?') {
        return Some(TypeExpr::Optional(Box::new(parse_type(inner)?)));
    }
    if let Some(inner) = text.strip_prefix("list<").and_then(|t| t.strip_suffix('>')) {
        return Some(TypeExpr::List(Box::new(parse_type(inner)?)));
    }
    if let Some(inner) = text.strip_prefix("map<").and_then(|t| t.strip_suffix('>')) {
        return Some(TypeExpr::Map(Box::new(parse_type(inner)?)));
    }
    if let Some(scalar) = Scalar::ALL.iter().find(|s| s.schema_name() == text) {
        return Some(TypeExpr::Scalar(*scalar));
    }
    let named = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '<' | '>' | '?' | '='));
    named.then(|| TypeExpr::Named(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_expressions_read_back_what_display_writes() {
        let cases = [
            "string",
            "u64?",
            "list<string>",
            "list<string?>?",
            "map<list<TicketRef>>",
            "map<json>?",
            "OrderStatus",
        ];
        for text in cases {
            let ty = parse_type(text).unwrap();
            assert_eq!(ty.to_string(), text);
        }
    }

    #[test]
    fn malformed_type_expressions_are_rejected() {
        for text in ["", "list<string", "map<>", "a b", "?", "list<>"] {
            assert_eq!(parse_type(text), None, "{text:?}");
        }
    }
}
