//! The wire shape of one event payload: what decoding depends on and nothing
//! else. Field order, descriptions, deprecation notes and Rust names are left
//! out; nested named types are included transitively, so a shape is complete
//! on its own (the lock file stores one per released (subject, version)).

use std::collections::BTreeMap;

use crate::model::{DefaultValue, EventDef, Field, Location, Model, TypeExpr, TypeKind};

/// The wire shape of an event payload (or of what a lock file recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// The payload's fields, sorted by wire name.
    pub fields: Vec<FieldShape>,
    /// Every named type the fields reach, directly or through other types.
    pub types: BTreeMap<String, TypeShape>,
}

/// A field as the wire sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldShape {
    /// The JSON key.
    pub wire: String,
    /// The type, with the field-level `?` when the field is optional.
    pub ty: TypeExpr,
    /// The default in canonical JSON text (`1`, `"text"`, `null`, `[]`), see
    /// [`default_text`].
    pub default: Option<String>,
    /// Where the field was written, when it comes from a schema file.
    pub location: Option<Location>,
}

impl FieldShape {
    /// Whether a writer may leave the field out of the JSON (optional fields
    /// are omitted when `None`; fields with a default are always written).
    pub fn may_be_absent(&self) -> bool {
        matches!(self.ty, TypeExpr::Optional(_))
    }

    /// Whether a reader accepts the field missing from the JSON.
    pub fn tolerates_absence(&self) -> bool {
        self.may_be_absent() || self.default.is_some()
    }
}

/// A named type as the wire sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeShape {
    /// A struct or an enum.
    pub kind: TypeShapeKind,
    /// Where the type was written, when it comes from a schema file.
    pub location: Option<Location>,
}

/// The two kinds of named types.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeShapeKind {
    /// An object; fields sorted by wire name.
    Struct(Vec<FieldShape>),
    /// A string enum.
    Enum {
        /// Whether unknown values are kept instead of rejected.
        open: bool,
        /// The wire values, sorted, each with where it was written.
        values: Vec<(String, Option<Location>)>,
    },
}

impl Shape {
    /// The shape of `event`'s payload; named types are looked up in `model`.
    pub fn of_event(model: &Model, event: &EventDef) -> Shape {
        let mut shape = Shape {
            fields: fields_shape(&event.fields),
            types: BTreeMap::new(),
        };
        let mut pending: Vec<String> = Vec::new();
        for field in &event.fields {
            named_in(&field.ty, &mut pending);
        }
        while let Some(name) = pending.pop() {
            if shape.types.contains_key(&name) {
                continue;
            }
            // A validated model resolves every name; an unknown one is skipped
            // here and shows up as a type change when compared.
            let Some(def) = model.types.iter().find(|t| t.name == name) else {
                continue;
            };
            let kind = match &def.kind {
                TypeKind::Struct { fields } => {
                    for field in fields {
                        named_in(&field.ty, &mut pending);
                    }
                    TypeShapeKind::Struct(fields_shape(fields))
                }
                TypeKind::Enum { open, values } => {
                    let mut values: Vec<_> = values
                        .iter()
                        .map(|v| (v.wire.clone(), Some(v.location.clone())))
                        .collect();
                    values.sort_by(|a, b| a.0.cmp(&b.0));
                    TypeShapeKind::Enum {
                        open: *open,
                        values,
                    }
                }
            };
            shape.types.insert(
                name,
                TypeShape {
                    kind,
                    location: Some(def.location.clone()),
                },
            );
        }
        shape
    }

    /// Looks a named type up.
    pub fn named(&self, name: &str) -> Option<&TypeShape> {
        self.types.get(name)
    }
}

fn fields_shape(fields: &[Field]) -> Vec<FieldShape> {
    let mut out: Vec<FieldShape> = fields
        .iter()
        .map(|f| FieldShape {
            wire: f.wire.clone(),
            ty: f.ty.clone(),
            default: f.default.as_ref().map(|d| default_text(d, &f.ty)),
            location: Some(f.location.clone()),
        })
        .collect();
    out.sort_by(|a, b| a.wire.cmp(&b.wire));
    out
}

fn named_in(ty: &TypeExpr, out: &mut Vec<String>) {
    match ty {
        TypeExpr::Scalar(_) => {}
        TypeExpr::List(t) | TypeExpr::Map(t) | TypeExpr::Optional(t) => named_in(t, out),
        TypeExpr::Named(n) => out.push(n.clone()),
    }
}

/// The canonical JSON text of a default: `true`, `1`, `9.99`, `"text"`,
/// and for [`DefaultValue::Empty`] `null`, `[]` or `{}` depending on `ty`.
pub fn default_text(value: &DefaultValue, ty: &TypeExpr) -> String {
    match value {
        DefaultValue::Bool(b) => b.to_string(),
        DefaultValue::Int(i) => i.to_string(),
        // `{:?}` is the shortest text that reads back as the same f64, and
        // always has a `.` or an exponent (`1.0`, `1e300`).
        DefaultValue::Float(x) => format!("{x:?}"),
        DefaultValue::String(s) | DefaultValue::EnumValue(s) => json_string(s),
        DefaultValue::Empty => match ty {
            TypeExpr::Optional(_) => "null".to_owned(),
            TypeExpr::List(_) => "[]".to_owned(),
            TypeExpr::Map(_) => "{}".to_owned(),
            // Only optional, list and map fields take an empty default.
            TypeExpr::Scalar(_) | TypeExpr::Named(_) => "null".to_owned(),
        },
    }
}

/// `s` as a JSON string literal (RFC 8259 escapes).
pub(crate) fn json_string(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
