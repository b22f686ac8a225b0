//! The step from one released version of an event to the next: the
//! generated `impl ::typebus::Upcast` where the change is mechanical, or
//! the reason it is not (then the user writes the impl).
//!
//! Mechanical, field by field (by wire name): the same type; a number
//! widened without loss (`u32` -> `u64`/`i64`, `i32` -> `i64`, `f32` ->
//! `f64`); a value made optional; a field added as optional (`None`) or
//! with a default (the default); a field removed; an enum whose every old
//! value the new one lists (or keeps as an unknown value, when it is open);
//! a nested struct changed in these ways; lists, maps and options of
//! these. Everything else (a type changed, a field added as required, an
//! optional field made required, enum values removed) is a hand-written
//! step. Each of these is also a change the next version's type reads
//! directly, which is what lets `decode_version` skip the conversion.

use std::collections::BTreeMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::structs::{self, Default};
use super::types::Recursion;
use super::{Context, enums, idents};
use crate::model::{DefaultValue, EventDef, Field, Model, Scalar, TypeDef, TypeExpr, TypeKind};

/// One side of a step, as seen from the older version's module.
pub(super) struct Side<'a> {
    /// The model the side's event and types are emitted from.
    pub(super) model: &'a Model,
    /// The side's event.
    pub(super) event: &'a EventDef,
    /// The path in front of the side's type names (`super::`, or nothing
    /// for the older side itself).
    pub(super) path: TokenStream,
    /// Whether a named type of this side is the current schemas' type
    /// (re-exported, so both sides may name the same Rust type).
    pub(super) parent: &'a dyn Fn(&str) -> bool,
    /// The event's fields this side renamed in its step from the other
    /// side: new wire name -> old wire name (empty on the older side).
    pub(super) renames: &'a BTreeMap<String, String>,
}

/// What a step is.
pub(super) enum Step {
    /// Generated: the impl and the functions it calls.
    Mechanical(TokenStream),
    /// Written by hand, because of this (a phrase: "field `price` changed
    /// type from `f64` to `string`").
    Manual(String),
}

/// The step from `old` to `new`.
pub(super) fn step(old: &Side<'_>, new: &Side<'_>) -> Step {
    let mut upcaster = Upcaster {
        old,
        new,
        old_recursion: Recursion::new(old.model),
        new_recursion: Recursion::new(new.model),
        helpers: BTreeMap::new(),
        new_cx: Context::new(new.model),
    };
    let (Ok(old_ident), Ok(new_ident)) = (
        idents::ident(&old.event.ident, &old.event.location),
        idents::ident(&new.event.ident, &new.event.location),
    ) else {
        return Step::Manual("a name cannot be written in Rust".to_owned());
    };
    let new_path = &new.path;
    let next = quote!(#new_path #new_ident);
    let body = match upcaster.fields(
        &old.event.fields,
        &new.event.fields,
        new.renames,
        &quote!(self),
        &next,
    ) {
        Ok(body) => body,
        Err(reason) => return Step::Manual(reason),
    };
    let mut out = quote! {
        #[automatically_derived]
        impl ::typebus::Upcast<#next> for #old_ident {
            fn upcast(self) -> #next {
                #body
            }
        }
    };
    for helper in upcaster.helpers.into_values().flatten() {
        out.extend(helper);
    }
    Step::Mechanical(out)
}

struct Upcaster<'s, 'a> {
    old: &'s Side<'a>,
    new: &'s Side<'a>,
    old_recursion: Recursion,
    new_recursion: Recursion,
    /// Conversion functions of nested named types, by name (`None` while
    /// being built, so a recursive type calls itself).
    helpers: BTreeMap<String, Option<TokenStream>>,
    /// For the defaults of the new side's fields.
    new_cx: Context<'a>,
}

impl Upcaster<'_, '_> {
    /// The struct expression `ty { field: value, ... }` of the new fields,
    /// built from the old ones of `src`.
    fn fields(
        &mut self,
        old: &[Field],
        new: &[Field],
        renames: &BTreeMap<String, String>,
        src: &TokenStream,
        ty: &TokenStream,
    ) -> Result<TokenStream, String> {
        let mut inits = TokenStream::new();
        for field in new {
            let ident = idents::ident(&field.ident, &field.location)
                .map_err(|_| format!("field `{}` has no Rust name", field.wire))?;
            let was = renames.get(&field.wire).unwrap_or(&field.wire);
            if was != &field.wire && !old.iter().any(|f| f.wire == *was) {
                return Err(format!(
                    "field `{}` is declared renamed from `{was}`, which the older version does not have",
                    field.wire
                ));
            }
            let value = match old.iter().find(|f| f.wire == *was) {
                Some(before) => {
                    let from = idents::ident(&before.ident, &before.location)
                        .map_err(|_| format!("field `{}` has no Rust name", field.wire))?;
                    self.convert(quote!(#src.#from), &before.ty, &field.ty)
                        .map_err(|why| format!("field `{}` {why}", field.wire))?
                }
                None => self.added(field)?,
            };
            inits.extend(quote!(#ident: #value,));
        }
        Ok(quote!(#ty { #inits }))
    }

    /// The value of a field the old version does not have.
    fn added(&mut self, field: &Field) -> Result<TokenStream, String> {
        let Some(default) = &field.default else {
            return match field.ty {
                TypeExpr::Optional(_) => Ok(quote!(::core::option::Option::None)),
                _ => Err(format!("field `{}` was added as required", field.wire)),
            };
        };
        let (inner, optional) = match &field.ty {
            TypeExpr::Optional(inner) => (inner.as_ref(), true),
            ty => (ty, false),
        };
        let value = match (inner, default) {
            (_, DefaultValue::Empty) => return Ok(quote!(::core::default::Default::default())),
            (TypeExpr::Named(name), DefaultValue::EnumValue(wire) | DefaultValue::String(wire)) => {
                let def = self
                    .new
                    .model
                    .types
                    .iter()
                    .find(|t| t.name == *name)
                    .ok_or_else(|| format!("the default of field `{}` is unknown", field.wire))?;
                let TypeKind::Enum { values, .. } = &def.kind else {
                    return Err(format!("the default of field `{}` is unknown", field.wire));
                };
                let value = values
                    .iter()
                    .find(|v| v.wire == *wire)
                    .ok_or_else(|| format!("the default of field `{}` is unknown", field.wire))?;
                let ty = idents::ident(&def.ident, &def.location).map_err(|d| d.to_string())?;
                let variant =
                    idents::ident(&value.ident, &value.location).map_err(|d| d.to_string())?;
                let path = &self.new.path;
                quote!(#path #ty::#variant)
            }
            _ => match structs::default_value(&mut self.new_cx, inner, default, field) {
                Some(Default::Value(expr, _)) => expr,
                Some(Default::Empty) => quote!(::core::default::Default::default()),
                None => return Err(format!("the default of field `{}` is unknown", field.wire)),
            },
        };
        Ok(if optional {
            quote!(::core::option::Option::Some(#value))
        } else {
            value
        })
    }

    /// `expr` (of the old type `old`) as a value of the new type `new`.
    fn convert(
        &mut self,
        expr: TokenStream,
        old: &TypeExpr,
        new: &TypeExpr,
    ) -> Result<TokenStream, String> {
        if self.same(old, new) {
            return Ok(expr);
        }
        match (old, new) {
            (TypeExpr::Scalar(a), TypeExpr::Scalar(b)) if widens(*a, *b) => {
                Ok(quote!(::core::convert::From::from(#expr)))
            }
            (TypeExpr::Optional(a), TypeExpr::Optional(b)) => {
                let inner = self.convert(quote!(value), a, b)?;
                Ok(quote!(::core::option::Option::map(#expr, |value| #inner)))
            }
            (TypeExpr::Optional(_), _) => Err(format!("was made required (`{old}` -> `{new}`)")),
            (_, TypeExpr::Optional(b)) => {
                let inner = self.convert(expr, old, b)?;
                Ok(quote!(::core::option::Option::Some(#inner)))
            }
            (TypeExpr::List(a), TypeExpr::List(b)) => {
                let inner = self.convert(quote!(item), a, b)?;
                Ok(quote! {
                    ::core::iter::Iterator::collect(::core::iter::Iterator::map(
                        ::core::iter::IntoIterator::into_iter(#expr),
                        |item| #inner,
                    ))
                })
            }
            (TypeExpr::Map(a), TypeExpr::Map(b)) => {
                let inner = self.convert(quote!(value), a, b)?;
                Ok(quote! {
                    ::core::iter::Iterator::collect(::core::iter::Iterator::map(
                        ::core::iter::IntoIterator::into_iter(#expr),
                        |(key, value)| (key, #inner),
                    ))
                })
            }
            (TypeExpr::Named(a), TypeExpr::Named(b)) if a == b => {
                let helper = self.named(a)?;
                Ok(quote!(#helper(#expr)))
            }
            _ => Err(format!("changed type from `{old}` to `{new}`")),
        }
    }

    /// Whether both sides spell the same Rust type: the same expression
    /// whose named types are all the current schemas' own.
    fn same(&self, old: &TypeExpr, new: &TypeExpr) -> bool {
        match (old, new) {
            (TypeExpr::Scalar(a), TypeExpr::Scalar(b)) => a == b,
            (TypeExpr::List(a), TypeExpr::List(b))
            | (TypeExpr::Map(a), TypeExpr::Map(b))
            | (TypeExpr::Optional(a), TypeExpr::Optional(b)) => self.same(a, b),
            (TypeExpr::Named(a), TypeExpr::Named(b)) => {
                a == b && (self.old.parent)(a) && (self.new.parent)(b)
            }
            _ => false,
        }
    }

    /// The function converting the named type `name`, built on first use.
    fn named(&mut self, name: &str) -> Result<Ident, String> {
        let function = Ident::new(
            &format!(
                "__typebus_upcast_{}",
                heck::ToSnakeCase::to_snake_case(name)
            ),
            Span::call_site(),
        );
        if self.helpers.contains_key(name) {
            return Ok(function);
        }
        let find = |model: &Model| model.types.iter().find(|t| t.name == name).cloned();
        let (Some(old), Some(new)) = (find(self.old.model), find(self.new.model)) else {
            return Err(format!("type `{name}` is unknown"));
        };
        self.helpers.insert(name.to_owned(), None);
        let body = self.named_body(&old, &new)?;
        let (old_ty, new_ty) = (
            idents::ident(&old.ident, &old.location).map_err(|d| d.to_string())?,
            idents::ident(&new.ident, &new.location).map_err(|d| d.to_string())?,
        );
        let path = &self.new.path;
        self.helpers.insert(
            name.to_owned(),
            Some(quote! {
                fn #function(old: #old_ty) -> #path #new_ty {
                    #body
                }
            }),
        );
        Ok(function)
    }

    fn named_body(&mut self, old: &TypeDef, new: &TypeDef) -> Result<TokenStream, String> {
        let name = &old.name;
        let path = self.new.path.clone();
        let new_ty = idents::ident(&new.ident, &new.location).map_err(|d| d.to_string())?;
        match (&old.kind, &new.kind) {
            (TypeKind::Struct { fields: before }, TypeKind::Struct { fields: after }) => {
                let boxed = |fields: &[Field], recursion: &Recursion| {
                    fields.iter().any(|f| match &f.ty {
                        TypeExpr::Named(to) => recursion.leads_back(to, name),
                        TypeExpr::Optional(inner) => {
                            matches!(inner.as_ref(), TypeExpr::Named(to) if recursion.leads_back(to, name))
                        }
                        _ => false,
                    })
                };
                if boxed(before, &self.old_recursion) || boxed(after, &self.new_recursion) {
                    return Err(format!("type `{name}`, which contains itself, changed"));
                }
                self.fields(
                    before,
                    after,
                    &BTreeMap::new(),
                    &quote!(old),
                    &quote!(#path #new_ty),
                )
                .map_err(|why| format!("in type `{name}`, {why}"))
            }
            (
                TypeKind::Enum {
                    open: old_open,
                    values: before,
                },
                TypeKind::Enum {
                    open: new_open,
                    values: after,
                },
            ) => {
                let old_ty = idents::ident(&old.ident, &old.location).map_err(|d| d.to_string())?;
                let variants = |values: &[crate::model::EnumValue]| -> Result<Vec<Ident>, String> {
                    values
                        .iter()
                        .map(|v| idents::ident(&v.ident, &v.location).map_err(|d| d.to_string()))
                        .collect()
                };
                let (old_variants, new_variants) = (variants(before)?, variants(after)?);
                let new_unknown = enums::unknown_variant(&new_variants);
                let mut arms = TokenStream::new();
                for (value, variant) in before.iter().zip(&old_variants) {
                    let target = match after.iter().position(|v| v.wire == value.wire) {
                        Some(i) => {
                            let to = &new_variants[i];
                            quote!(#path #new_ty::#to)
                        }
                        None if *new_open => {
                            let wire = &value.wire;
                            quote!(#path #new_ty::#new_unknown(::std::string::String::from(#wire)))
                        }
                        None => {
                            return Err(format!(
                                "value `{}` of enum `{name}` was removed",
                                value.wire
                            ));
                        }
                    };
                    arms.extend(quote!(#old_ty::#variant => #target,));
                }
                match (old_open, new_open) {
                    (true, true) => {
                        let old_unknown = enums::unknown_variant(&old_variants);
                        // A value the old version did not list may be one
                        // the new one does.
                        let known = after
                            .iter()
                            .zip(&new_variants)
                            .filter(|(v, _)| !before.iter().any(|b| b.wire == v.wire))
                            .map(|(v, variant)| {
                                let wire = &v.wire;
                                quote!(#wire => #path #new_ty::#variant,)
                            });
                        arms.extend(quote! {
                            #old_ty::#old_unknown(value) => match ::std::string::String::as_str(&value) {
                                #(#known)*
                                _ => #path #new_ty::#new_unknown(value),
                            },
                        });
                    }
                    (true, false) => return Err(format!("enum `{name}` was closed")),
                    _ => {}
                }
                Ok(quote!(match old { #arms }))
            }
            _ => Err(format!(
                "type `{name}` changed between a struct and an enum"
            )),
        }
    }
}

/// Whether every value of `from` is a value of `to`, converted by `From`.
fn widens(from: Scalar, to: Scalar) -> bool {
    matches!(
        (from, to),
        (Scalar::U32, Scalar::U64 | Scalar::I64)
            | (Scalar::I32, Scalar::I64)
            | (Scalar::F32, Scalar::F64)
    )
}
