//! The shape of a `#[derive(Event)]` input, and the checked event it becomes.

use std::path::PathBuf;

use proc_macro2::Span;
use syn::{DeriveInput, Fields, Generics, Ident};

use crate::attr::Attrs;
use crate::errors::Errors;
use crate::serde_attr::Container;

/// A derive input as written: its kind, name, generics and `#[event]` keys.
pub(crate) struct Input<'a> {
    /// What kind of item the derive is on.
    pub(crate) kind: Kind,
    /// The type's name.
    pub(crate) ident: &'a Ident,
    /// The type's generics (rejected by [`crate::valid`]).
    pub(crate) generics: &'a Generics,
    /// The parsed `#[event(...)]` keys.
    pub(crate) attrs: Attrs<'a>,
    /// The struct's fields (`None` for enums and unions).
    pub(crate) fields: Option<&'a Fields>,
    /// The struct's `#[serde(...)]` attributes that decide its wire form.
    pub(crate) serde: Container,
    /// Problems found while parsing, completed by [`crate::valid`].
    pub(crate) errors: Errors,
}

/// The kind of item a derive input is, with the span of its keyword.
pub(crate) enum Kind {
    /// A struct: the only kind an event can be.
    Struct,
    /// An enum, at its `enum` keyword.
    Enum(Span),
    /// A union, at its `union` keyword.
    Union(Span),
}

impl<'a> Input<'a> {
    /// Reads the input's shape and parses its `#[event]` attributes,
    /// collecting every syntax problem.
    pub(crate) fn from_syn(input: &'a DeriveInput) -> Self {
        let mut errors = Errors::default();
        let attrs = Attrs::parse(&input.attrs, &mut errors);
        let (kind, fields) = match &input.data {
            syn::Data::Struct(data) => (Kind::Struct, Some(&data.fields)),
            syn::Data::Enum(data) => (Kind::Enum(data.enum_token.span), None),
            syn::Data::Union(data) => (Kind::Union(data.union_token.span), None),
        };
        Input {
            kind,
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            fields,
            serde: Container::parse(&input.attrs),
            errors,
        }
    }
}

/// A checked event, ready to expand: every value here is valid.
pub(crate) struct Event<'a> {
    /// The type's name.
    pub(crate) ident: &'a Ident,
    /// The type's generics: always without parameters, maybe with a
    /// `where` clause.
    pub(crate) generics: &'a Generics,
    /// The NATS subject, with the span of its literal (of `schema` when it
    /// comes from the schema).
    pub(crate) subject: (String, Span),
    /// The contract version, with the span of its literal (of `schema` when
    /// it comes from the schema).
    pub(crate) version: (u32, Span),
    /// The event's name (`NAME`): the type's name without `r#`, or the
    /// event's name in the schema.
    pub(crate) name: String,
    /// The absolute paths of the schema files the check read, which the
    /// expansion `include_bytes!`s so that cargo rebuilds when they change.
    pub(crate) schema_files: Vec<PathBuf>,
}
