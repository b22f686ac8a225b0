//! Type expressions -> Rust types, and the boxing that recursive types need.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use quote::quote;

use super::{Context, idents};
use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::model::{Location, Model, Scalar, TypeExpr, TypeKind};

/// The Rust type of a schema type expression, fully qualified
/// (`::core::option::Option<::std::string::String>` for `string?`), for
/// front ends that compare hand-written fields with the schema. Named types
/// are written by their bare Rust name, as they appear in the generated
/// module.
pub fn rust_type(ty: &TypeExpr, model: &Model) -> Result<TokenStream, Error> {
    let mut cx = Context::new(model);
    let location = Location {
        file: "".into(),
        line: 0,
        column: 0,
    };
    let tokens = type_tokens(&mut cx, ty, None, &location);
    cx.finish()?;
    Ok(tokens)
}

/// The tokens of the scalar's Rust type.
pub(super) fn scalar(scalar: Scalar) -> TokenStream {
    match scalar {
        Scalar::String => quote!(::std::string::String),
        Scalar::Bool => quote!(::core::primitive::bool),
        Scalar::I32 => quote!(::core::primitive::i32),
        Scalar::I64 => quote!(::core::primitive::i64),
        Scalar::U32 => quote!(::core::primitive::u32),
        Scalar::U64 => quote!(::core::primitive::u64),
        Scalar::F32 => quote!(::core::primitive::f32),
        Scalar::F64 => quote!(::core::primitive::f64),
        Scalar::Timestamp => quote!(::typebus::Timestamp),
        Scalar::Uuid => quote!(::typebus::Uuid),
        Scalar::Json => quote!(::typebus::__private::serde_json::Value),
    }
}

/// The Rust type of `ty` for a field of the type named `owner` (`None` for
/// an event). A named type that leads back to `owner` without a list or map
/// in between is boxed, so the struct has a finite size.
pub(super) fn type_tokens(
    cx: &mut Context<'_>,
    ty: &TypeExpr,
    owner: Option<&str>,
    location: &Location,
) -> TokenStream {
    let mut out = TokenStream::new();
    write_type(cx, ty, owner, location, &mut out);
    out
}

/// [`type_tokens`], appended to `out`: nested types are written in place
/// rather than built apart and copied in (interpolating a token stream into
/// `quote!` copies every token of it).
pub(super) fn write_type(
    cx: &mut Context<'_>,
    ty: &TypeExpr,
    owner: Option<&str>,
    location: &Location,
    out: &mut TokenStream,
) {
    match ty {
        TypeExpr::Scalar(s) => out.extend(scalar(*s)),
        TypeExpr::List(inner) => {
            out.extend(quote!(::std::vec::Vec<));
            write_type(cx, inner, None, location, out);
            out.extend(quote!(>));
        }
        TypeExpr::Map(inner) => {
            out.extend(quote!(::std::collections::BTreeMap < ::std::string::String,));
            write_type(cx, inner, None, location, out);
            out.extend(quote!(>));
        }
        TypeExpr::Optional(inner) => {
            out.extend(quote!(::core::option::Option<));
            write_type(cx, inner, owner, location, out);
            out.extend(quote!(>));
        }
        TypeExpr::Named(name) => {
            let Some(def) = cx.type_def(name) else {
                cx.error(Diagnostic::new(
                    location.clone(),
                    format!("unknown type `{name}`"),
                ));
                out.extend(quote!(()));
                return;
            };
            let ident = match idents::ident(&def.ident, &def.location) {
                Ok(ident) => ident,
                // Reported where the type itself is emitted.
                Err(_) => {
                    out.extend(quote!(()));
                    return;
                }
            };
            match owner {
                Some(owner) if cx.leads_back(name, owner) => {
                    out.extend(quote!(::std::boxed::Box<#ident>));
                }
                _ => out.extend(quote!(#ident)),
            }
        }
    }
}

/// Which struct types reach which others through fields that are stored
/// inline (a named type, possibly optional, but not inside a list or map).
pub(super) struct Recursion {
    reach: BTreeMap<String, BTreeSet<String>>,
}

impl Recursion {
    pub(super) fn new(model: &Model) -> Self {
        let mut direct: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for def in &model.types {
            if let TypeKind::Struct { fields } = &def.kind {
                let entry = direct.entry(def.name.as_str()).or_default();
                for field in fields {
                    if let Some(name) = inline_named(&field.ty) {
                        entry.insert(name);
                    }
                }
            }
        }
        let mut reach = BTreeMap::new();
        for (&start, _) in direct.iter().filter(|(_, next)| !next.is_empty()) {
            let mut seen: BTreeSet<String> = BTreeSet::new();
            let mut stack: Vec<&str> = direct[start].iter().copied().collect();
            while let Some(name) = stack.pop() {
                if seen.insert(name.to_owned())
                    && let Some(next) = direct.get(name)
                {
                    stack.extend(next.iter().copied());
                }
            }
            reach.insert(start.to_owned(), seen);
        }
        Self { reach }
    }

    /// Whether a field of type `to` inside `from` closes a cycle of inline
    /// fields.
    pub(super) fn leads_back(&self, to: &str, from: &str) -> bool {
        to == from || self.reach.get(to).is_some_and(|r| r.contains(from))
    }
}

/// The named type stored inline by a field of type `ty`, if any.
fn inline_named(ty: &TypeExpr) -> Option<&str> {
    match ty {
        TypeExpr::Named(name) => Some(name),
        TypeExpr::Optional(inner) => inline_named(inner),
        TypeExpr::Scalar(_) | TypeExpr::List(_) | TypeExpr::Map(_) => None,
    }
}
