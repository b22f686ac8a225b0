//! Whether a Rust field type fits a schema type expression.
//!
//! A macro sees syntax, not resolved types, so types are matched by the
//! last segment of their path (`String`, `::std::string::String` and
//! `alloc::string::String` all read as `String`), with the generic
//! arguments matched recursively. `Box<T>` is transparent, as it is to
//! serde.

use quote::ToTokens as _;
use syn::{GenericArgument, PathArguments, Type};
use typebus_codegen::model::{Model, Scalar, TypeExpr};

/// Whether `ty` is the Rust type for `expr`.
pub(crate) fn fits(ty: &Type, expr: &TypeExpr, model: &Model) -> bool {
    let ty = peel(ty);
    if let Some(inner) = generic_one(ty, &["Box"]) {
        return fits(inner, expr, model);
    }
    match expr {
        TypeExpr::Scalar(scalar) => plain_named(ty, scalar_names(*scalar)),
        TypeExpr::List(item) => generic_one(ty, &["Vec"]).is_some_and(|t| fits(t, item, model)),
        TypeExpr::Map(value) => map_args(ty)
            .is_some_and(|(key, v)| plain_named(key, &["String"]) && fits(v, value, model)),
        TypeExpr::Optional(inner) => {
            generic_one(ty, &["Option"]).is_some_and(|t| fits(t, inner, model))
        }
        TypeExpr::Named(name) => {
            let ident = model
                .types
                .iter()
                .find(|def| def.name == *name)
                .map(|def| def.ident.name.as_str());
            match ident {
                Some(ident) if ident != name => plain_named(ty, &[ident, name]),
                _ => plain_named(ty, &[name]),
            }
        }
    }
}

/// The type inside `Option<..>` (through parentheses and `Box`), if `ty` is one.
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    let ty = peel(ty);
    match generic_one(ty, &["Box"]) {
        Some(inner) => option_inner(inner),
        None => generic_one(ty, &["Option"]),
    }
}

/// The Rust type the derive expects for `expr`, for messages.
pub(crate) fn expected(expr: &TypeExpr, model: &Model) -> String {
    match expr {
        TypeExpr::Scalar(scalar) => match scalar {
            Scalar::String => "String".to_owned(),
            Scalar::Timestamp => "typebus::Timestamp".to_owned(),
            Scalar::Uuid => "typebus::Uuid".to_owned(),
            Scalar::Json => "serde_json::Value".to_owned(),
            other => other.schema_name().to_owned(),
        },
        TypeExpr::List(item) => format!("Vec<{}>", expected(item, model)),
        TypeExpr::Map(value) => format!("BTreeMap<String, {}>", expected(value, model)),
        TypeExpr::Optional(inner) => format!("Option<{}>", expected(inner, model)),
        TypeExpr::Named(name) => model
            .types
            .iter()
            .find(|def| def.name == *name)
            .map_or_else(|| name.clone(), |def| def.ident.to_string()),
    }
}

/// `ty` as the user wrote it, without the spaces token printing adds.
pub(crate) fn render(ty: &Type) -> String {
    let text = ty.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut previous = '\0';
    while let Some(ch) = chars.next() {
        if ch == ' ' {
            let next = chars.peek().copied().unwrap_or(' ');
            let glue = matches!(next, '<' | '>' | ',' | ':' | ')' | ']' | ';')
                || matches!(previous, '<' | ':' | '&' | '(' | '[');
            if glue {
                continue;
            }
        }
        out.push(ch);
        previous = ch;
    }
    out
}

/// The names a scalar's Rust type goes by (the last path segment).
fn scalar_names(scalar: Scalar) -> &'static [&'static str] {
    match scalar {
        Scalar::String => &["String"],
        Scalar::Bool => &["bool"],
        Scalar::I32 => &["i32"],
        Scalar::I64 => &["i64"],
        Scalar::U32 => &["u32"],
        Scalar::U64 => &["u64"],
        Scalar::F32 => &["f32"],
        Scalar::F64 => &["f64"],
        Scalar::Timestamp => &["Timestamp"],
        Scalar::Uuid => &["Uuid"],
        Scalar::Json => &["Value"],
    }
}

/// `ty` without parentheses or the invisible groups of macro expansions.
fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(paren) => peel(&paren.elem),
        Type::Group(group) => peel(&group.elem),
        other => other,
    }
}

/// The last segment of a plain path type (no `<T as Trait>::` part), with
/// no generic arguments on the segments before it.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    let Type::Path(path) = peel(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let segments = &path.path.segments;
    let last = segments.last()?;
    segments
        .iter()
        .take(segments.len() - 1)
        .all(|segment| segment.arguments.is_none())
        .then_some(last)
}

/// Whether `ty` is a path ending in one of `names`, without arguments.
fn plain_named(ty: &Type, names: &[&str]) -> bool {
    last_segment(ty).is_some_and(|segment| {
        segment.arguments.is_none() && names.iter().any(|name| segment.ident == name)
    })
}

/// The type arguments of a path ending in one of `names`.
fn type_args<'a>(ty: &'a Type, names: &[&str]) -> Option<Vec<&'a Type>> {
    let segment = last_segment(ty)?;
    if !names.iter().any(|name| segment.ident == name) {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args
        .iter()
        .map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect()
}

/// The one type argument of `Name<T>`, for `Name` in `names`.
fn generic_one<'a>(ty: &'a Type, names: &[&str]) -> Option<&'a Type> {
    match type_args(ty, names)?.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// The key and value types of `BTreeMap<K, V>` or `HashMap<K, V[, S]>`.
fn map_args(ty: &Type) -> Option<(&Type, &Type)> {
    if let Some(args) = type_args(ty, &["BTreeMap"]) {
        return match args.as_slice() {
            [key, value] => Some((*key, *value)),
            _ => None,
        };
    }
    match type_args(ty, &["HashMap"])?.as_slice() {
        [key, value] | [key, value, _] => Some((*key, *value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{expected, fits, render};
    use typebus_codegen::model::{Model, Scalar, TypeExpr};

    fn model() -> Model {
        typebus_codegen::SchemaSet::from_sources(
            "",
            [(
                "t.yaml",
                "types:\n  TicketRef:\n    fields:\n      id: string\n  order_status:\n    enum: [a, b]\n",
            )],
        )
        .unwrap()
        .validate()
        .unwrap()
    }

    fn ty(text: &str) -> syn::Type {
        syn::parse_str(text).unwrap()
    }

    fn scalar(s: Scalar) -> TypeExpr {
        TypeExpr::Scalar(s)
    }

    #[test]
    fn scalars_fit_their_rust_types_by_any_path() {
        let m = model();
        let cases = [
            ("String", Scalar::String),
            ("::std::string::String", Scalar::String),
            ("alloc::string::String", Scalar::String),
            ("bool", Scalar::Bool),
            ("i32", Scalar::I32),
            ("::core::primitive::i64", Scalar::I64),
            ("u32", Scalar::U32),
            ("u64", Scalar::U64),
            ("f32", Scalar::F32),
            ("f64", Scalar::F64),
            ("typebus::Timestamp", Scalar::Timestamp),
            ("Timestamp", Scalar::Timestamp),
            ("::typebus::Uuid", Scalar::Uuid),
            ("uuid::Uuid", Scalar::Uuid),
            ("serde_json::Value", Scalar::Json),
            ("(String)", Scalar::String),
        ];
        for (text, s) in cases {
            assert!(fits(&ty(text), &scalar(s), &m), "{text} for {s:?}");
        }
        for (text, s) in [
            ("u32", Scalar::U64),
            ("i64", Scalar::I32),
            ("f32", Scalar::F64),
            ("&str", Scalar::String),
            ("String<u8>", Scalar::String),
            ("Option<String>", Scalar::String),
            ("Vec<u8>", Scalar::String),
            ("<X as Y>::String", Scalar::String),
            ("foo<u8>::String", Scalar::String),
        ] {
            assert!(!fits(&ty(text), &scalar(s), &m), "{text} for {s:?}");
        }
    }

    #[test]
    fn containers_and_named_types_fit_recursively() {
        let m = model();
        let list = TypeExpr::List(Box::new(scalar(Scalar::String)));
        let map = TypeExpr::Map(Box::new(TypeExpr::Optional(Box::new(scalar(Scalar::U32)))));
        let named = TypeExpr::Named("TicketRef".to_owned());
        let renamed = TypeExpr::Named("order_status".to_owned());
        assert!(fits(&ty("Vec<String>"), &list, &m));
        assert!(fits(
            &ty("alloc::vec::Vec<::std::string::String>"),
            &list,
            &m
        ));
        assert!(!fits(&ty("Vec<u32>"), &list, &m));
        assert!(!fits(&ty("String"), &list, &m));
        assert!(fits(&ty("BTreeMap<String, Option<u32>>"), &map, &m));
        assert!(fits(
            &ty("std::collections::HashMap<String, Option<u32>, S>"),
            &map,
            &m
        ));
        assert!(!fits(&ty("BTreeMap<u32, Option<u32>>"), &map, &m));
        assert!(!fits(&ty("BTreeMap<String, u32>"), &map, &m));
        assert!(fits(&ty("crate::model::TicketRef"), &named, &m));
        assert!(fits(&ty("Box<TicketRef>"), &named, &m));
        assert!(!fits(&ty("TicketRefs"), &named, &m));
        assert!(fits(&ty("OrderStatus"), &renamed, &m));
        assert_eq!(expected(&renamed, &m), "OrderStatus");
        assert_eq!(expected(&map, &m), "BTreeMap<String, Option<u32>>");
    }

    #[test]
    fn types_render_as_written() {
        for text in [
            "Vec<String>",
            "::std::collections::BTreeMap<String, Option<u32>>",
            "&'static str",
            "(u32, String)",
            "[u8; 4]",
        ] {
            assert_eq!(render(&ty(text)), text);
        }
    }
}
