//! Older released versions: the lock file's recorded shapes of each
//! event's earlier versions, turned into model nodes ([`Released`]) that
//! the emitter generates like any event, each in a module of its own.
//!
//! The lock is where an older version's definition lives: it is checked
//! in, reviewed in every diff, and a recorded shape never changes, so the
//! types generated from it cannot drift from what was published. What it
//! does not keep (descriptions, field order, Rust names) is derived: field
//! and variant names from the wire names by the same rules as the schemas',
//! fields and enum values in wire-name order.

use std::collections::BTreeMap;

use heck::ToSnakeCase as _;

use crate::compat::{FieldShape, Shape, TypeShapeKind};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::ident;
use crate::lock::{Lock, strip_locations};
use crate::model::{
    DefaultValue, EnumValue, EventDef, Field, Location, Model, Released, RustIdent, Scalar,
    TypeDef, TypeExpr, TypeKind,
};

/// Every version the lock records of `model`'s events below their current
/// version, sorted by event name then version. Problems (a recorded name no
/// Rust identifier can spell, a generated name taken by a schema name) are
/// pushed at the current event's location.
pub(crate) fn released(model: &Model, lock: &Lock, diagnostics: &mut Diagnostics) -> Vec<Released> {
    let mut by_subject: BTreeMap<&str, Vec<(u32, &Shape)>> = BTreeMap::new();
    for (subject, version, shape) in lock.iter() {
        by_subject
            .entry(subject)
            .or_default()
            .push((version, shape));
    }
    let taken: BTreeMap<&str, &str> = model
        .events
        .iter()
        .map(|e| (e.ident.name.as_str(), e.name.as_str()))
        .chain(
            model
                .types
                .iter()
                .map(|t| (t.ident.name.as_str(), t.name.as_str())),
        )
        .collect();
    let older = |e: &crate::model::EventDef| {
        by_subject
            .get(e.subject.as_str())
            .is_some_and(|vs| vs.iter().any(|(v, _)| *v < e.version))
    };
    if !model.events.iter().any(older) {
        // The common case: nothing to generate, and no type shapes to
        // compute on every build.
        return Vec::new();
    }
    let current = Shapes::of(model);
    let mut out = Vec::new();
    for event in &model.events {
        let Some(versions) = by_subject.get(event.subject.as_str()) else {
            continue;
        };
        let newest = Shape::of_event(model, event);
        for &(version, shape) in versions.iter().filter(|(v, _)| *v < event.version) {
            let problem = |message: String| Diagnostic::new(event.location.clone(), message);
            let alias = format!("{}V{version}", event.ident.name);
            if let Some(name) = taken.get(alias.as_str()) {
                diagnostics.push(problem(format!(
                    "`{alias}`, the type of `{}` version {version} recorded in typebus.lock, is also the Rust name of `{name}`; rename `{name}`",
                    event.name
                )));
                continue;
            }
            match released_version(event, version, shape, &current) {
                Ok(mut released) => {
                    released.alias = RustIdent {
                        name: alias,
                        raw: false,
                    };
                    released.reads_current = crate::compat::Reads::new(&newest, shape)
                        .fields(&newest.fields, &shape.fields);
                    released.read_by_current = crate::compat::Reads::new(shape, &newest)
                        .fields(&shape.fields, &newest.fields);
                    out.push(released);
                }
                Err(message) => diagnostics.push(problem(format!(
                    "`{}` version {version} as recorded in typebus.lock cannot be generated: {message}",
                    event.name
                ))),
            }
        }
    }
    out
}

/// The current schemas' named types, by name, as lock shapes (without
/// locations), to tell which recorded types are still the same.
struct Shapes<'m> {
    model: &'m Model,
    shapes: BTreeMap<&'m str, crate::compat::TypeShape>,
}

impl<'m> Shapes<'m> {
    fn of(model: &'m Model) -> Self {
        let mut shapes = BTreeMap::new();
        for def in &model.types {
            // The shape of an event with one field of the type holds the
            // type's own shape.
            let probe = EventDef {
                fields: vec![Field {
                    wire: String::new(),
                    ident: def.ident.clone(),
                    ty: TypeExpr::Named(def.name.clone()),
                    description: None,
                    default: None,
                    deprecated: None,
                    location: def.location.clone(),
                    type_location: def.location.clone(),
                }],
                ..placeholder_event(def.location.clone())
            };
            let mut shape = strip_locations(&Shape::of_event(model, &probe));
            if let Some(ty) = shape.types.remove(&def.name) {
                shapes.insert(def.name.as_str(), ty);
            }
        }
        Self { model, shapes }
    }

    /// Whether the current type `name` has exactly the recorded shape.
    fn same(&self, name: &str, recorded: &crate::compat::TypeShape) -> bool {
        self.shapes.get(name).is_some_and(|ty| ty == recorded)
    }
}

fn placeholder_event(location: Location) -> EventDef {
    EventDef {
        name: String::new(),
        ident: RustIdent {
            name: String::new(),
            raw: false,
        },
        subject: String::new(),
        subject_variant: RustIdent {
            name: String::new(),
            raw: false,
        },
        version: 0,
        description: None,
        aggregate: None,
        fields: Vec::new(),
        location,
    }
}

/// One recorded version of `event` as model nodes.
fn released_version(
    event: &EventDef,
    version: u32,
    shape: &Shape,
    current: &Shapes<'_>,
) -> Result<Released, String> {
    let at = &event.location;
    let enums: BTreeMap<&str, ()> = shape
        .types
        .iter()
        .filter(|(_, ty)| matches!(ty.kind, TypeShapeKind::Enum { .. }))
        .map(|(name, _)| (name.as_str(), ()))
        .collect();
    let is_enum = |name: &str| enums.contains_key(name);
    let mut types = Vec::new();
    let mut shared = Vec::new();
    for (name, ty) in &shape.types {
        if current.same(name, ty) {
            shared.push(name.clone());
            continue;
        }
        let ident = ident::type_ident(name).map_err(|e| format!("type `{name}`: {e}"))?;
        let kind = match &ty.kind {
            TypeShapeKind::Struct(fields) => TypeKind::Struct {
                fields: fields_of(fields, at, &is_enum)
                    .map_err(|e| format!("type `{name}`, {e}"))?,
            },
            TypeShapeKind::Enum { open, values } => TypeKind::Enum {
                open: *open,
                values: values
                    .iter()
                    .map(|(wire, _)| {
                        Ok(EnumValue {
                            wire: wire.clone(),
                            ident: ident::type_ident(wire)
                                .map_err(|e| format!("value `{wire}` of `{name}`: {e}"))?,
                            location: at.clone(),
                        })
                    })
                    .collect::<Result<_, String>>()?,
            },
        };
        let description = current
            .model
            .types
            .iter()
            .find(|t| t.name == *name)
            .map(|_| {
                format!(
                    "`{name}` as version {version} of `{}` recorded it.",
                    event.name
                )
            })
            .or_else(|| Some(format!("A type of version {version} of `{}`.", event.name)));
        types.push(TypeDef {
            name: name.clone(),
            ident,
            description,
            kind,
            location: at.clone(),
        });
    }
    let module = ident::field_ident(&format!("{}_v{version}", event.ident.name.to_snake_case()))
        .map_err(|e| format!("module name: {e}"))?;
    Ok(Released {
        event: EventDef {
            version,
            description: Some(format!(
                "Version {version} of `{}`, as recorded in `typebus.lock`: what publishers of that version send. A listener of the newest version, [`super::{}`], reads it and upcasts it.",
                event.name, event.ident.name
            )),
            aggregate: None,
            fields: fields_of(&shape.fields, at, &is_enum)?,
            ..event.clone()
        },
        module,
        alias: event.ident.clone(),
        types,
        shared,
        reads_current: false,
        read_by_current: false,
    })
}

/// Recorded fields as model fields (their names derived from the wire
/// names, their defaults read back from JSON text).
fn fields_of(
    fields: &[FieldShape],
    at: &Location,
    is_enum: &dyn Fn(&str) -> bool,
) -> Result<Vec<Field>, String> {
    fields
        .iter()
        .map(|f| {
            let ident =
                ident::field_ident(&f.wire).map_err(|e| format!("field `{}`: {e}", f.wire))?;
            let default = match &f.default {
                None => None,
                Some(text) => Some(default_of(text, &f.ty, is_enum).ok_or_else(|| {
                    format!(
                        "field `{}`: default `{text}` does not fit `{}`",
                        f.wire, f.ty
                    )
                })?),
            };
            Ok(Field {
                wire: f.wire.clone(),
                ident,
                ty: f.ty.clone(),
                description: None,
                default,
                deprecated: None,
                location: at.clone(),
                type_location: at.clone(),
            })
        })
        .collect()
}

/// A default as the lock writes it (canonical JSON text, see
/// [`crate::compat::default_text`]) read back. A JSON string is read as
/// YAML, which spells JSON's escapes the same way.
fn default_of(text: &str, ty: &TypeExpr, is_enum: &dyn Fn(&str) -> bool) -> Option<DefaultValue> {
    let inner = match ty {
        TypeExpr::Optional(inner) => inner.as_ref(),
        other => other,
    };
    Some(match text {
        "null" | "[]" | "{}" => DefaultValue::Empty,
        "true" => DefaultValue::Bool(true),
        "false" => DefaultValue::Bool(false),
        _ if text.starts_with('"') => {
            let s: String = serde_saphyr::from_str(text).ok()?;
            match inner {
                TypeExpr::Named(name) if is_enum(name) => DefaultValue::EnumValue(s),
                _ => DefaultValue::String(s),
            }
        }
        _ if matches!(inner, TypeExpr::Scalar(Scalar::F32 | Scalar::F64)) => {
            DefaultValue::Float(text.parse().ok()?)
        }
        _ => DefaultValue::Int(text.parse().ok()?),
    })
}
