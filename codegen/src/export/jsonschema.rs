//! JSON Schema (draft 2020-12) for every event and shared type.
//!
//! The schemas accept exactly what the generated Rust decodes, as far as
//! JSON Schema can say it:
//!
//! - a field is `required` unless it is optional (`T?`) or has a `default`;
//! - an optional field without a value is absent, never `null`: the rule
//!   every writer follows (the generated Rust, the Node services), stated
//!   alike by every export (the Rust decoder also reads a `null` field as
//!   absent, a leniency the contract does not offer). Inside a list or map,
//!   `T?` is `T` or `null`, as there the missing value has to be written;
//! - integers carry the bounds of their Rust type (`u32`: 0 to 4294967295);
//! - `timestamp` is a string with `format: date-time`, `uuid` one with
//!   `format: uuid`, `json` accepts anything;
//! - a closed enum lists its wire values; an open one accepts any string;
//! - `list<T>` is an array of `T`, `map<T>` an object whose values are `T`;
//! - unknown properties are allowed, as the generated types ignore them
//!   (tolerant readers).
//!
//! Each file is self-contained: the shared types an event uses (directly or
//! through other types) are copied into its `$defs` and referenced as
//! `#/$defs/Name`, so recursive types work and no `$ref` leaves the file.
//! Object keys are written in sorted order whatever serde_json's map type.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::ExportedFile;
use crate::model::{DefaultValue, EventDef, Field, Model, Scalar, TypeDef, TypeExpr, TypeKind};

/// The `$schema` URI of JSON Schema 2020-12.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// One schema file per event (`<EventName>.schema.json`) and per shared type
/// (`types/<TypeName>.schema.json`), sorted by path.
pub fn export(model: &Model) -> Vec<ExportedFile> {
    let types: BTreeMap<&str, &TypeDef> =
        model.types.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut files = Vec::with_capacity(model.events.len() + model.types.len());
    for event in &model.events {
        files.push(ExportedFile {
            path: format!("{}.schema.json", event.name),
            contents: crate::json_text::pretty(&event_schema(event, &types)),
        });
    }
    for ty in &model.types {
        files.push(ExportedFile {
            path: format!("types/{}.schema.json", ty.name),
            contents: crate::json_text::pretty(&type_schema(ty, &types)),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The schema of one event's payload, with the shared types it uses in
/// `$defs`.
pub fn event_schema(event: &EventDef, types: &BTreeMap<&str, &TypeDef>) -> Value {
    let mut entries = object_entries(&event.fields);
    entries.insert("$schema".into(), json!(DRAFT_2020_12));
    entries.insert("title".into(), json!(event.name));
    if let Some(description) = &event.description {
        entries.insert("description".into(), json!(description.trim_end()));
    }
    entries.insert("x-typebus-subject".into(), json!(event.subject));
    entries.insert("x-typebus-version".into(), json!(event.version));
    let used = used_types(event.fields.iter().map(|f| &f.ty), types);
    if !used.is_empty() {
        entries.insert("$defs".into(), defs(&used, types));
    }
    object(entries)
}

/// The schema of one shared type, with the other shared types it uses in
/// `$defs`.
pub fn type_schema(ty: &TypeDef, types: &BTreeMap<&str, &TypeDef>) -> Value {
    let mut entries = match type_def_entries(ty) {
        Value::Object(map) => map.into_iter().collect::<BTreeMap<_, _>>(),
        other => BTreeMap::from([("allOf".to_owned(), json!([other]))]),
    };
    entries.insert("$schema".into(), json!(DRAFT_2020_12));
    let mut used = match &ty.kind {
        TypeKind::Struct { fields } => used_types(fields.iter().map(|f| &f.ty), types),
        TypeKind::Enum { .. } => BTreeSet::new(),
    };
    // A recursive type refers to itself through `#/$defs/Self`.
    used.insert(ty.name.as_str());
    if used.len() > 1 || refers_to_itself(ty, types) {
        entries.insert("$defs".into(), defs(&used, types));
    }
    object(entries)
}

fn refers_to_itself(ty: &TypeDef, types: &BTreeMap<&str, &TypeDef>) -> bool {
    match &ty.kind {
        TypeKind::Struct { fields } => {
            used_types(fields.iter().map(|f| &f.ty), types).contains(ty.name.as_str())
        }
        TypeKind::Enum { .. } => false,
    }
}

/// `type: object`, `properties`, `required` for a list of fields.
fn object_entries(fields: &[Field]) -> BTreeMap<String, Value> {
    let mut properties = BTreeMap::new();
    let mut required = BTreeSet::new();
    for field in fields {
        properties.insert(field.wire.clone(), field_schema(field));
        let optional = matches!(field.ty, TypeExpr::Optional(_)) || field.default.is_some();
        if !optional {
            required.insert(field.wire.clone());
        }
    }
    let mut entries = BTreeMap::new();
    entries.insert("type".to_owned(), json!("object"));
    entries.insert("properties".to_owned(), object(properties));
    if !required.is_empty() {
        entries.insert("required".to_owned(), json!(required));
    }
    entries
}

/// A field's schema: an optional field's own type (absent when there is
/// no value, never `null`), its description, default and deprecation.
pub(super) fn field_schema(field: &Field) -> Value {
    let ty = match &field.ty {
        TypeExpr::Optional(inner) => inner,
        ty => ty,
    };
    let mut schema = match type_expr(ty) {
        Value::Object(map) => map.into_iter().collect::<BTreeMap<_, _>>(),
        other => BTreeMap::from([("allOf".to_owned(), json!([other]))]),
    };
    if let Some(description) = &field.description {
        schema.insert("description".into(), json!(description.trim_end()));
    }
    if let Some(default) = &field.default {
        schema.insert("default".into(), default_value(default, &field.ty));
    }
    if field.deprecated.is_some() {
        schema.insert("deprecated".into(), json!(true));
    }
    object(schema)
}

fn default_value(default: &DefaultValue, ty: &TypeExpr) -> Value {
    match default {
        DefaultValue::Bool(b) => json!(b),
        DefaultValue::Int(i) => i64::try_from(*i)
            .map(Value::from)
            .or_else(|_| u64::try_from(*i).map(Value::from))
            .unwrap_or(Value::Null),
        DefaultValue::Float(f) => json!(f),
        DefaultValue::String(s) | DefaultValue::EnumValue(s) => json!(s),
        DefaultValue::Empty => match strip_optional(ty) {
            TypeExpr::List(_) if !matches!(ty, TypeExpr::Optional(_)) => json!([]),
            TypeExpr::Map(_) if !matches!(ty, TypeExpr::Optional(_)) => json!({}),
            _ => Value::Null,
        },
    }
}

fn strip_optional(ty: &TypeExpr) -> &TypeExpr {
    match ty {
        TypeExpr::Optional(inner) => strip_optional(inner),
        other => other,
    }
}

/// The schema of a type expression.
fn type_expr(ty: &TypeExpr) -> Value {
    match ty {
        TypeExpr::Scalar(scalar) => scalar_schema(*scalar),
        TypeExpr::List(item) => json!({ "type": "array", "items": type_expr(item) }),
        TypeExpr::Map(value) => {
            json!({ "type": "object", "additionalProperties": type_expr(value) })
        }
        TypeExpr::Optional(inner) => json!({ "anyOf": [type_expr(inner), { "type": "null" }] }),
        TypeExpr::Named(name) => json!({ "$ref": format!("#/$defs/{name}") }),
    }
}

fn scalar_schema(scalar: Scalar) -> Value {
    match scalar {
        Scalar::String => json!({ "type": "string" }),
        Scalar::Bool => json!({ "type": "boolean" }),
        Scalar::I32 => json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX }),
        Scalar::I64 => json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX }),
        Scalar::U32 => json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
        Scalar::U64 => json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }),
        Scalar::F32 | Scalar::F64 => json!({ "type": "number" }),
        Scalar::Timestamp => json!({ "type": "string", "format": "date-time" }),
        Scalar::Uuid => json!({ "type": "string", "format": "uuid" }),
        Scalar::Json => json!({}),
    }
}

/// A shared type's schema without `$schema`/`$defs`.
fn type_def_entries(ty: &TypeDef) -> Value {
    let mut entries = match &ty.kind {
        TypeKind::Struct { fields } => object_entries(fields),
        TypeKind::Enum { open, values } => {
            let mut entries = BTreeMap::new();
            entries.insert("type".to_owned(), json!("string"));
            let wire: Vec<&str> = values.iter().map(|v| v.wire.as_str()).collect();
            if *open {
                // Unknown values decode too (kept verbatim); list the known
                // ones for readers and editors.
                entries.insert("examples".to_owned(), json!(wire));
                entries.insert("x-typebus-open".to_owned(), json!(true));
            } else {
                entries.insert("enum".to_owned(), json!(wire));
            }
            entries
        }
    };
    entries.insert("title".into(), json!(ty.name));
    if let Some(description) = &ty.description {
        entries.insert("description".into(), json!(description.trim_end()));
    }
    object(entries)
}

/// The shared types reachable from `roots`, by name.
fn used_types<'a, 'm>(
    roots: impl Iterator<Item = &'m TypeExpr>,
    types: &BTreeMap<&'a str, &'a TypeDef>,
) -> BTreeSet<&'a str> {
    let mut used = BTreeSet::new();
    let mut pending: Vec<&TypeExpr> = roots.collect();
    while let Some(expr) = pending.pop() {
        match expr {
            TypeExpr::Scalar(_) => {}
            TypeExpr::List(inner) | TypeExpr::Map(inner) | TypeExpr::Optional(inner) => {
                pending.push(inner);
            }
            TypeExpr::Named(name) => {
                if let Some((&key, ty)) = types.get_key_value(name.as_str())
                    && used.insert(key)
                    && let TypeKind::Struct { fields } = &ty.kind
                {
                    pending.extend(fields.iter().map(|f| &f.ty));
                }
            }
        }
    }
    used
}

fn defs(used: &BTreeSet<&str>, types: &BTreeMap<&str, &TypeDef>) -> Value {
    let defs: BTreeMap<String, Value> = used
        .iter()
        .filter_map(|name| {
            types
                .get(name)
                .map(|ty| ((*name).to_owned(), type_def_entries(ty)))
        })
        .collect();
    object(defs)
}

/// An object whose keys are inserted in sorted order, so the output is the
/// same whether or not serde_json preserves insertion order.
fn object(entries: BTreeMap<String, Value>) -> Value {
    Value::Object(entries.into_iter().collect::<Map<String, Value>>())
}
