//! Events and struct types -> `pub struct`s with serde attributes, and the
//! functions that supply field defaults.

use proc_macro2::{Delimiter, Group, Ident, Literal, TokenStream, TokenTree};
use quote::quote;

use super::docs::{self, doc_attrs};
use super::types::{type_tokens, write_type};
use super::{Context, idents};
use crate::diagnostic::Diagnostic;
use crate::model::{DefaultValue, EventDef, Field, Scalar, TypeDef, TypeExpr, TypeKind};
use crate::serde_case::RenameRule;

/// The struct for an event, under `#[::typebus::contract(subject, version)]`
/// (which derives `typebus::Event`), or under a plain `#[::typebus::contract]`
/// when `derive_event` is false (an event with older versions, whose
/// `Event` impl is written out to decode them).
pub(super) fn event(cx: &mut Context<'_>, event: &EventDef, derive_event: bool) -> TokenStream {
    let ident = match idents::ident(&event.ident, &event.location) {
        Ok(ident) => ident,
        Err(diagnostic) => {
            cx.error(diagnostic);
            return TokenStream::new();
        }
    };
    let published = format!(
        "Published on `{}`, contract version {}.",
        event.subject, event.version
    );
    let docs = doc_attrs([event.description.as_deref(), Some(&published)]);
    let subject = &event.subject;
    let version = Literal::u32_unsuffixed(event.version);
    let allow = docs::markdown_allow(
        std::iter::once(event.description.as_deref())
            .chain(event.fields.iter().map(|f| f.description.as_deref())),
    );
    let mut head = docs;
    if derive_event {
        head.extend(quote!(#[::typebus::contract(subject = #subject, version = #version)]));
    } else {
        head.extend(quote!(#[::typebus::contract]));
    }
    struct_item(cx, &ident, None, head, allow, &event.fields)
}

/// The struct for a `types:` entry with fields.
pub(super) fn type_struct(cx: &mut Context<'_>, def: &TypeDef, fields: &[Field]) -> TokenStream {
    let ident = match idents::ident(&def.ident, &def.location) {
        Ok(ident) => ident,
        Err(diagnostic) => {
            cx.error(diagnostic);
            return TokenStream::new();
        }
    };
    let fallback = format!("The `{}` type of the schemas.", def.name);
    let docs = doc_attrs([Some(docs::or(&def.description, &fallback))]);
    let allow = docs::markdown_allow(
        std::iter::once(def.description.as_deref())
            .chain(fields.iter().map(|f| f.description.as_deref())),
    );
    let mut head = docs;
    head.extend(quote!(#[::typebus::contract]));
    struct_item(cx, &ident, Some(&def.name), head, allow, fields)
}

/// A struct with its fields and serde attributes, followed by an inherent
/// impl holding the default functions its fields need. `head` is its docs
/// and `#[::typebus::contract(...)]` (which adds the derives); `attrs` come
/// after the struct's own serde attribute.
fn struct_item(
    cx: &mut Context<'_>,
    ident: &Ident,
    owner: Option<&str>,
    head: TokenStream,
    attrs: Option<TokenStream>,
    fields: &[Field],
) -> TokenStream {
    let camel_case = renames_camel_case(fields);
    // Built by appending owned streams: interpolating a stream into `quote!`
    // copies every token of it, and fields are most of the output.
    let mut body = TokenStream::new();
    let mut default_fns = Vec::new();
    for field in fields {
        if let Some(default_fn) = field_item(cx, ident, owner, field, camel_case, &mut body) {
            default_fns.extend(default_fn);
        }
    }
    let rename_all = camel_case.then(|| quote!(#[serde(rename_all = "camelCase")]));
    // serde_derive copies `#[allow(deprecated)]` onto its impls, which read
    // every field; users who touch a deprecated field still get the warning.
    // Unused generated items must not warn in a binary that includes them,
    // nor fields without a description in a crate that wants docs.
    let deprecated = fields
        .iter()
        .any(|f| f.deprecated.is_some())
        .then(|| quote!(deprecated,));
    let missing_docs = fields
        .iter()
        .any(|f| !has_text(&f.description))
        .then(|| quote!(missing_docs,));
    let mut out = head;
    out.extend(rename_all);
    out.extend(attrs);
    out.extend(quote! {
        #[allow(dead_code, #deprecated #missing_docs clippy::upper_case_acronyms)]
        pub struct #ident
    });
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, body))]);
    if !default_fns.is_empty() {
        out.extend(quote! {
            #[allow(dead_code)]
            impl #ident {
                #(#default_fns)*
            }
        });
    }
    out
}

/// Whether a description has something to say.
fn has_text(description: &Option<String>) -> bool {
    description
        .as_deref()
        .is_some_and(|text| !text.trim().is_empty())
}

/// Whether the struct says `rename_all = "camelCase"`: when that spells
/// more wire names than it costs (a field whose wire name is not the camel
/// case of its Rust name then carries its own `rename`), and serde can
/// apply it to every field.
fn renames_camel_case(fields: &[Field]) -> bool {
    let mut with_rule = 1;
    let mut without_rule = 0;
    for field in fields {
        let Some(camel) = serde_camel_case(&field.ident.name) else {
            return false;
        };
        with_rule += usize::from(camel != field.wire);
        without_rule += usize::from(field.ident.name != field.wire);
    }
    with_rule < without_rule
}

/// The name serde's `rename_all = "camelCase"` gives a field named `name`,
/// `None` where serde_derive would not cope with the rule (it slices off
/// the first byte): an empty result or a non-ASCII first character.
fn serde_camel_case(name: &str) -> Option<String> {
    let camel = RenameRule::Camel.apply_to_field(name);
    camel
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii())
        .then_some(camel)
}

/// Appends one field (`pub user_id: String,` with its attributes) to `out`;
/// returns the default function it needs, if any (`None` when the field
/// could not be written: its problem is recorded).
fn field_item(
    cx: &mut Context<'_>,
    owner_ident: &Ident,
    owner: Option<&str>,
    field: &Field,
    camel_case: bool,
    out: &mut TokenStream,
) -> Option<Option<TokenStream>> {
    let ident = match idents::ident(&field.ident, &field.location) {
        Ok(ident) => ident,
        Err(diagnostic) => {
            cx.error(diagnostic);
            return None;
        }
    };
    let docs = doc_attrs([field.description.as_deref()]);

    let mut serde_args: Vec<TokenStream> = Vec::new();
    let serde_name = if camel_case {
        serde_camel_case(&field.ident.name)
    } else {
        None
    };
    if serde_name.as_deref().unwrap_or(&field.ident.name) != field.wire {
        let wire = &field.wire;
        serde_args.push(quote!(rename = #wire));
    }
    let mut default_fn = None;
    match &field.default {
        None if matches!(field.ty, TypeExpr::Optional(_)) => serde_args.push(quote!(default)),
        None => {}
        Some(value) => match default_value(cx, &field.ty, value, field)? {
            Default::Empty => serde_args.push(quote!(default)),
            Default::Value(expr, allow) => {
                let fn_ident = idents::derived(
                    &format!("__typebus_default_{}", field.ident.name),
                    &field.location,
                )
                .map_err(|d| cx.error(d))
                .ok()?;
                let path = format!("{owner_ident}::{fn_ident}");
                serde_args.push(quote!(default = #path));
                let ty = type_tokens(cx, &field.ty, owner, &field.type_location);
                default_fn = Some(quote! {
                    #allow
                    fn #fn_ident() -> #ty {
                        #expr
                    }
                });
            }
        },
    }
    if matches!(field.ty, TypeExpr::Optional(_)) {
        serde_args.push(quote!(
            skip_serializing_if = "::core::option::Option::is_none"
        ));
    }
    let serde = (!serde_args.is_empty()).then(|| quote!(#[serde(#(#serde_args),*)]));
    let deprecated = field.deprecated.as_deref().map(|note| {
        if note.trim().is_empty() {
            quote!(#[deprecated])
        } else {
            quote!(#[deprecated = #note])
        }
    });
    out.extend([docs]);
    out.extend(serde);
    out.extend(deprecated);
    out.extend(quote!(pub #ident:));
    write_type(cx, &field.ty, owner, &field.type_location, out);
    out.extend(quote!(,));
    Some(default_fn)
}

/// How a field's default is written.
pub(super) enum Default {
    /// `#[serde(default)]`: the type's own empty value (`None`, `[]`, `{}`).
    Empty,
    /// `#[serde(default = "path")]` with a function returning this
    /// expression, and lint allowances for its literal.
    Value(TokenStream, Option<TokenStream>),
}

/// The default of `field` as an expression of type `ty`, or a diagnostic
/// when the value does not fit the type.
pub(super) fn default_value(
    cx: &mut Context<'_>,
    ty: &TypeExpr,
    value: &DefaultValue,
    field: &Field,
) -> Option<Default> {
    let mismatch = |cx: &mut Context<'_>| {
        cx.error(Diagnostic::new(
            field.location.clone(),
            format!(
                "the default of `{}` does not fit its type `{}`",
                field.wire, field.ty
            ),
        ));
        None
    };
    let expr = match (ty, value) {
        (TypeExpr::Optional(_) | TypeExpr::List(_) | TypeExpr::Map(_), DefaultValue::Empty) => {
            return Some(Default::Empty);
        }
        (TypeExpr::Optional(inner), value) => {
            return match default_value(cx, inner, value, field)? {
                Default::Value(expr, allow) => Some(Default::Value(
                    quote!(::core::option::Option::Some(#expr)),
                    allow,
                )),
                Default::Empty => mismatch(cx),
            };
        }
        (TypeExpr::Scalar(Scalar::Bool), DefaultValue::Bool(b)) => quote!(#b),
        (
            TypeExpr::Scalar(s @ (Scalar::I32 | Scalar::I64 | Scalar::U32 | Scalar::U64)),
            DefaultValue::Int(i),
        ) => {
            let Some(lit) = int_literal(*s, *i) else {
                return mismatch(cx);
            };
            return Some(Default::Value(
                lit,
                Some(quote!(#[allow(clippy::unreadable_literal)])),
            ));
        }
        (
            TypeExpr::Scalar(s @ (Scalar::F32 | Scalar::F64)),
            DefaultValue::Int(_) | DefaultValue::Float(_),
        ) => {
            let f = match value {
                DefaultValue::Int(i) => *i as f64,
                DefaultValue::Float(f) => *f,
                _ => return mismatch(cx),
            };
            let Some(lit) = float_literal(*s, f) else {
                return mismatch(cx);
            };
            return Some(Default::Value(
                lit,
                Some(quote!(#[allow(clippy::approx_constant, clippy::unreadable_literal)])),
            ));
        }
        (TypeExpr::Scalar(Scalar::String), DefaultValue::String(s)) => {
            quote!(::std::string::String::from(#s))
        }
        (TypeExpr::Scalar(Scalar::Timestamp), DefaultValue::String(s)) => quote! {
            match <::typebus::Timestamp as ::core::str::FromStr>::from_str(#s) {
                ::core::result::Result::Ok(timestamp) => timestamp,
                ::core::result::Result::Err(_) => {
                    ::core::unreachable!("typebus-codegen checked this default timestamp")
                }
            }
        },
        (TypeExpr::Scalar(Scalar::Uuid), DefaultValue::String(s)) => {
            let Some(lit) = uuid_literal(s) else {
                return mismatch(cx);
            };
            quote!(::typebus::Uuid::from_u128(#lit))
        }
        (TypeExpr::Named(name), DefaultValue::EnumValue(wire) | DefaultValue::String(wire)) => {
            let Some(def) = cx.type_def(name) else {
                return mismatch(cx);
            };
            let TypeKind::Enum { values, .. } = &def.kind else {
                return mismatch(cx);
            };
            let Some(value) = values.iter().find(|v| &v.wire == wire) else {
                return mismatch(cx);
            };
            let ty = idents::ident(&def.ident, &def.location).ok()?;
            let variant = idents::ident(&value.ident, &value.location).ok()?;
            quote!(#ty::#variant)
        }
        _ => return mismatch(cx),
    };
    Some(Default::Value(expr, None))
}

/// A suffixed integer literal of the scalar's type, `None` when `value` is
/// out of its range. Negative values are a negation of the magnitude.
fn int_literal(scalar: Scalar, value: i128) -> Option<TokenStream> {
    let (min, max, suffix): (i128, i128, &str) = match scalar {
        Scalar::I32 => (i32::MIN.into(), i32::MAX.into(), "i32"),
        Scalar::I64 => (i64::MIN.into(), i64::MAX.into(), "i64"),
        Scalar::U32 => (0, u32::MAX.into(), "u32"),
        Scalar::U64 => (0, u64::MAX.into(), "u64"),
        _ => return None,
    };
    if value < min || value > max {
        return None;
    }
    let magnitude: Literal = format!("{}{suffix}", value.unsigned_abs()).parse().ok()?;
    Some(if value < 0 {
        quote!(-#magnitude)
    } else {
        quote!(#magnitude)
    })
}

/// A suffixed float literal, `None` when the value is not finite in the
/// scalar's type.
fn float_literal(scalar: Scalar, value: f64) -> Option<TokenStream> {
    let magnitude = match scalar {
        Scalar::F32 => {
            let v = value as f32;
            if !v.is_finite() {
                return None;
            }
            Literal::f32_suffixed(v.abs())
        }
        Scalar::F64 if value.is_finite() => Literal::f64_suffixed(value.abs()),
        _ => return None,
    };
    Some(if value.is_sign_negative() && value != 0.0 {
        quote!(-#magnitude)
    } else {
        quote!(#magnitude)
    })
}

/// `Uuid::from_u128` argument for a UUID string (hyphenated or 32 hex
/// digits, optionally braced or as a URN), grouped like the UUID.
fn uuid_literal(text: &str) -> Option<Literal> {
    let text = text.strip_prefix("urn:uuid:").unwrap_or(text);
    let text = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let hex: String = match text.len() {
        32 => text.to_owned(),
        36 => {
            let dashes = [8, 13, 18, 23];
            if !text
                .char_indices()
                .all(|(i, c)| (c == '-') == dashes.contains(&i))
            {
                return None;
            }
            text.chars().filter(|&c| c != '-').collect()
        }
        _ => return None,
    };
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = u128::from_str_radix(&hex, 16).ok()?;
    format!(
        "0x{:08x}_{:04x}_{:04x}_{:04x}_{:012x}",
        value >> 96,
        (value >> 80) & 0xffff,
        (value >> 64) & 0xffff,
        (value >> 48) & 0xffff,
        value & 0xffff_ffff_ffff
    )
    .parse()
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of the one event declared with these `fields:` lines.
    fn fields(lines: &str) -> Vec<Field> {
        let yaml = format!("events:\n  E:\n    subject: e\n    version: 1\n    fields:\n{lines}");
        let model = crate::SchemaSet::from_sources("schemas", [("e.yaml", yaml)])
            .unwrap()
            .validate()
            .unwrap();
        model.events[0].fields.clone()
    }

    #[test]
    fn rename_all_only_where_it_saves_attributes() {
        // Two camelCase wire names: one `rename_all` instead of two renames.
        assert!(renames_camel_case(&fields(
            "      id: string\n      userId: string\n      expiresAt: string\n"
        )));
        // One: a `rename` is as short.
        assert!(!renames_camel_case(&fields(
            "      id: string\n      orderId: string\n"
        )));
        // Wire names serde's rule would change cost a `rename` each.
        assert!(!renames_camel_case(&fields(
            "      userId: string\n      stripeId: string\n      snake_one: string\n      snake_two: string\n"
        )));
        // A field serde_derive cannot camel-case rules it out.
        assert!(!renames_camel_case(&fields(
            "      userId: string\n      stripeId: string\n      ÉtéPrix: f64\n"
        )));
    }

    #[test]
    fn camel_case_is_serdes() {
        assert_eq!(serde_camel_case("user_id").as_deref(), Some("userId"));
        assert_eq!(serde_camel_case("_2nd_place").as_deref(), Some("2ndPlace"));
        assert_eq!(serde_camel_case("self_").as_deref(), Some("self"));
        assert_eq!(serde_camel_case("été_prix"), None);
    }

    #[test]
    fn integer_literals_respect_ranges() {
        assert_eq!(int_literal(Scalar::U32, 7).unwrap().to_string(), "7u32");
        assert_eq!(int_literal(Scalar::I64, -3).unwrap().to_string(), "- 3i64");
        assert_eq!(
            int_literal(Scalar::I64, i64::MIN.into())
                .unwrap()
                .to_string(),
            "- 9223372036854775808i64"
        );
        assert!(int_literal(Scalar::U32, -1).is_none());
        assert!(int_literal(Scalar::I32, i128::from(i32::MAX) + 1).is_none());
        assert!(int_literal(Scalar::U64, i128::from(u64::MAX)).is_some());
    }

    #[test]
    fn float_literals_are_finite() {
        assert_eq!(
            float_literal(Scalar::F64, 9.99).unwrap().to_string(),
            "9.99f64"
        );
        assert_eq!(
            float_literal(Scalar::F64, -0.5).unwrap().to_string(),
            "- 0.5f64"
        );
        assert_eq!(float_literal(Scalar::F32, 1.0).unwrap().to_string(), "1f32");
        assert!(float_literal(Scalar::F32, 1e300).is_none());
        assert!(float_literal(Scalar::F64, f64::NAN).is_none());
    }

    #[test]
    fn uuid_literals() {
        let lit = uuid_literal("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        assert_eq!(lit.to_string(), "0x67e55044_10b1_426f_9247_bb680e5fe0c8");
        assert_eq!(
            uuid_literal("{67E5504410B1426F9247BB680E5FE0C8}")
                .unwrap()
                .to_string(),
            "0x67e55044_10b1_426f_9247_bb680e5fe0c8"
        );
        assert!(uuid_literal("67e55044-10b1-426f-9247-bb680e5fe0c").is_none());
        assert!(uuid_literal("67e5504410b1-426f-9247-bb680e5fe0c8-").is_none());
        assert!(uuid_literal("zze55044-10b1-426f-9247-bb680e5fe0c8").is_none());
    }
}
