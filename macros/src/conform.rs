//! The check of a hand-written struct against its schema event: wire names
//! (after serde's `rename` and `rename_all`), types, optionality, missing
//! and extra fields. Every mismatch is pushed, at the offending field, with
//! the schema location that declares what was expected.

use std::collections::BTreeMap;

use syn::ext::IdentExt as _;
use syn::{Fields, Ident};
use typebus_codegen::model::{EventDef, Field, TypeExpr};

use crate::errors::Errors;
use crate::schema::Schema;
use crate::serde_attr::{Container, FieldAttrs};
use crate::ty;

/// One Rust field that serde reads and writes.
struct WireField<'a> {
    field: &'a syn::Field,
    ident: &'a Ident,
    wire: String,
    custom: bool,
}

/// Checks the fields of struct `ident` against `event`.
pub(crate) fn check(
    ident: &Ident,
    fields: &Fields,
    container: &Container,
    event: &EventDef,
    schema: &Schema,
    errors: &mut Errors,
) {
    let declared = format!("event `{}` ({})", event.name, schema.show(&event.location));
    let named = match fields {
        Fields::Named(named) => named,
        Fields::Unnamed(_) | Fields::Unit => {
            errors.spanned(
                ident,
                format_args!(
                    "`#[event(schema = ...)]` needs a struct with named fields: {declared} is a JSON object"
                ),
            );
            return;
        }
    };
    for (key, span) in &container.replaces_object {
        errors.push(syn::Error::new(
            *span,
            format_args!(
                "`#[serde({key})]` is not supported with `#[event(schema = ...)]`: the struct's own fields make up the JSON object of {declared}"
            ),
        ));
    }
    if let Some(lit) = &container.bad_rename_all {
        // serde_derive reports the rule itself; without it no wire name is known.
        errors.spanned(
            lit,
            format_args!(
                "unknown `rename_all` rule `{}`: expected one of {}",
                lit.value(),
                typebus_codegen::serde_case::rule_names()
            ),
        );
        return;
    }

    let mut wire_fields: Vec<WireField<'_>> = Vec::new();
    let mut skipped: Vec<(&syn::Field, String, String)> = Vec::new();
    // Schema wire names a field already answered (with an error of its own).
    let mut answered: Vec<String> = Vec::new();
    for field in &named.named {
        let Some(ident) = &field.ident else { continue };
        let attrs = FieldAttrs::parse(&field.attrs);
        let rust_name = ident.unraw().to_string();
        let serialize = wire_name(
            &rust_name,
            attrs.rename.serialize,
            container.rename_all.serialize,
        );
        let deserialize = wire_name(
            &rust_name,
            attrs.rename.deserialize,
            container.rename_all.deserialize,
        );
        if let Some(span) = attrs.flatten {
            errors.push(syn::Error::new(
                span,
                format_args!(
                    "field `{rust_name}`: `#[serde(flatten)]` is not supported with `#[event(schema = ...)]`: write the flattened fields out, as {declared} lists them"
                ),
            ));
            answered.extend([serialize, deserialize]);
            continue;
        }
        if let Some((key, _)) = attrs.skip {
            skipped.push((field, key, serialize));
            continue;
        }
        if serialize != deserialize {
            errors.spanned(
                ident,
                format_args!(
                    "field `{rust_name}` is written as `{serialize}` but read as `{deserialize}`: an event field has one wire name"
                ),
            );
            answered.extend([serialize, deserialize]);
            continue;
        }
        wire_fields.push(WireField {
            field,
            ident,
            wire: serialize,
            custom: attrs.custom,
        });
    }

    let mut by_wire: BTreeMap<&str, &WireField<'_>> = BTreeMap::new();
    let mut unique: Vec<&WireField<'_>> = Vec::new();
    for wire_field in &wire_fields {
        if let Some(first) = by_wire.get(wire_field.wire.as_str()) {
            errors.spanned(
                wire_field.ident,
                format_args!(
                    "field `{}` is serialised as `{}`, like field `{}`: each wire name is written once",
                    wire_field.ident.unraw(),
                    wire_field.wire,
                    first.ident.unraw()
                ),
            );
        } else {
            by_wire.insert(&wire_field.wire, wire_field);
            unique.push(wire_field);
        }
    }

    let schema_fields: BTreeMap<&str, &Field> = event
        .fields
        .iter()
        .map(|field| (field.wire.as_str(), field))
        .collect();
    // Field by field in declaration order, so errors read top to bottom.
    let mut extra = Vec::new();
    for wire_field in unique {
        match schema_fields.get(wire_field.wire.as_str()) {
            Some(field) => {
                if !wire_field.custom {
                    check_type(wire_field, field, schema, errors);
                }
            }
            None => extra.push(wire_field),
        }
    }

    let mut missing: Vec<&Field> = event
        .fields
        .iter()
        .filter(|field| {
            !by_wire.contains_key(field.wire.as_str()) && !answered.contains(&field.wire)
        })
        .collect();

    for wire_field in extra {
        let rust_name = wire_field.ident.unraw();
        let same_word = missing
            .iter()
            .position(|field| normalized(&field.wire) == normalized(&wire_field.wire));
        if let Some(index) = same_word {
            let field = missing.remove(index);
            errors.spanned(
                wire_field.ident,
                format_args!(
                    "field `{rust_name}` is serialised as `{}`, but {} declares it as `{}`: add `#[serde(rename = \"{}\")]` or fix `rename_all`",
                    wire_field.wire,
                    schema.show(&field.location),
                    field.wire,
                    field.wire
                ),
            );
            continue;
        }
        let mut message = format!(
            "field `{rust_name}` is serialised as `{}`, which {declared} does not declare",
            wire_field.wire
        );
        let unmatched = missing.iter().map(|field| field.wire.as_str());
        if let Some(close) = crate::attr::closest(&wire_field.wire, unmatched) {
            message.push_str(&format!(": did you mean `{close}`?"));
        } else {
            message.push_str(": remove it, mark it `#[serde(skip)]`, or add it to the schema");
        }
        errors.spanned(wire_field.ident, message);
    }

    for field in missing {
        let location = schema.show(&field.location);
        match skipped.iter().find(|(_, _, wire)| *wire == field.wire) {
            Some((skipped_field, key, _)) => errors.spanned(
                skipped_field.ident.as_ref().unwrap_or(ident),
                format_args!(
                    "field `{}`: {location} declares it, but `#[serde({key})]` leaves it out of the JSON",
                    field.wire
                ),
            ),
            None => errors.spanned(
                ident,
                format_args!(
                    "missing field `{}`: {location} declares `{}: {}`",
                    field.wire, field.wire, field.ty
                ),
            ),
        }
    }
}

/// The wire name serde gives a field: its `rename`, else the container's
/// `rename_all` applied to its name, else its name.
fn wire_name(
    rust_name: &str,
    rename: Option<String>,
    rule: Option<typebus_codegen::serde_case::RenameRule>,
) -> String {
    rename.unwrap_or_else(|| match rule {
        Some(rule) => rule.apply_to_field(rust_name),
        None => rust_name.to_owned(),
    })
}

/// A name without case or word separators, to spot a missing rename.
fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Checks the field's Rust type against the schema type. (A schema field
/// with a `default` is never optional, so it is never an `Option` either.)
fn check_type(wire_field: &WireField<'_>, field: &Field, schema: &Schema, errors: &mut Errors) {
    let model = &schema.model;
    let ty = &wire_field.field.ty;
    if ty::fits(ty, &field.ty, model) {
        return;
    }
    let rust_name = wire_field.ident.unraw();
    let location = schema.show(&field.location);
    let has = ty::render(ty);
    let expected = ty::expected(&field.ty, model);
    let hint = match &field.ty {
        TypeExpr::Optional(inner) if ty::fits(ty, inner, model) => {
            format!(": the schema field is optional, use {expected}")
        }
        _ if ty::option_inner(ty).is_some_and(|inner| ty::fits(inner, &field.ty, model)) => {
            format!(": the schema field is required, use {expected}")
        }
        // `f64` needs no "expected f64"; `string` does say `String`.
        schema_ty if expected == schema_ty.to_string() => String::new(),
        _ => format!(": expected {expected}"),
    };
    errors.spanned(
        ty,
        format_args!(
            "field `{rust_name}`: {location} declares {}, the struct has {has}{hint}",
            field.ty
        ),
    );
}
