//! String enums -> Rust enums with `as_str`, `Display`, `FromStr` and
//! hand-written serde impls (a JSON string in, the same string out).
//!
//! A closed enum fails to decode an unknown value and is `Copy`; an open one
//! (`open: true`) has an extra variant that keeps any unknown value verbatim
//! and writes it back unchanged.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::docs::{self, doc_attrs};
use super::{Context, idents};
use crate::model::{EnumValue, TypeDef};

/// The enum for a `types:` entry with `enum:` values.
pub(super) fn string_enum(
    cx: &mut Context<'_>,
    def: &TypeDef,
    open: bool,
    values: &[EnumValue],
) -> TokenStream {
    let ident = match idents::ident(&def.ident, &def.location) {
        Ok(ident) => ident,
        Err(diagnostic) => {
            cx.error(diagnostic);
            return TokenStream::new();
        }
    };
    let mut variants = Vec::with_capacity(values.len());
    let mut wires = Vec::with_capacity(values.len());
    for value in values {
        match idents::ident(&value.ident, &value.location) {
            Ok(variant) => {
                variants.push(variant);
                wires.push(value.wire.as_str());
            }
            Err(diagnostic) => cx.error(diagnostic),
        }
    }
    let fallback = format!("The `{}` values of the schemas.", def.name);
    let docs = doc_attrs([
        Some(docs::or(&def.description, &fallback)),
        open.then_some(
            "Open: a value this version of the schema does not list decodes into the \
             catch-all variant and is written back unchanged.",
        ),
    ]);
    let allow = docs::markdown_allow([def.description.as_deref()]);
    let variant_docs: Vec<TokenStream> = wires
        .iter()
        .map(|wire| {
            let text = format!("`{wire}` on the wire.");
            doc_attrs([Some(text.as_str())])
        })
        .collect();
    let docs = quote! {
        #docs
        #allow
    };
    let name = def.name.as_str();
    if open {
        let unknown = unknown_variant(&variants);
        open_enum(
            &ident,
            name,
            &docs,
            &variants,
            &variant_docs,
            &wires,
            &unknown,
        )
    } else {
        closed_enum(&ident, name, &docs, &variants, &variant_docs, &wires)
    }
}

/// The catch-all variant's name: `Unknown`, unless a listed value already
/// uses it (then `Other`, `UnknownValue`, `Unknown2`, ...).
pub(super) fn unknown_variant(variants: &[Ident]) -> Ident {
    let taken = |name: &str| variants.iter().any(|v| *v == name);
    let name = ["Unknown", "Other", "UnknownValue"]
        .into_iter()
        .map(str::to_owned)
        .chain((2..=variants.len() + 2).map(|n| format!("Unknown{n}")))
        .find(|name| !taken(name))
        // One of the `variants.len() + 4` candidates above is always free.
        .unwrap_or_else(|| String::from("Unknown"));
    Ident::new(&name, proc_macro2::Span::call_site())
}

fn closed_enum(
    ident: &Ident,
    name: &str,
    docs: &TokenStream,
    variants: &[Ident],
    variant_docs: &[TokenStream],
    wires: &[&str],
) -> TokenStream {
    let expecting = format!("a `{name}` value");
    let core = closed_string_enum(&ClosedStringEnum {
        ident,
        attrs: docs,
        variants,
        variant_docs,
        wires,
        all_doc: "Every value, in schema order.",
        as_str_doc: "The value as written on the wire.",
        error: &quote!(::typebus::UnknownValue),
        unknown: &quote!(::typebus::UnknownValue::new(#name, s)),
    });
    let visit_body = if variants.is_empty() {
        quote!(::core::result::Result::Err(__E::unknown_variant(
            value,
            &[]
        )))
    } else {
        quote! {
            match value {
                #(#wires => ::core::result::Result::Ok(#ident::#variants),)*
                _ => ::core::result::Result::Err(__E::unknown_variant(value, &[#(#wires),*])),
            }
        }
    };
    let serde = string_serde(ident, &expecting, &visit_body);
    quote! {
        #core
        #serde
    }
}

fn open_enum(
    ident: &Ident,
    name: &str,
    docs: &TokenStream,
    variants: &[Ident],
    variant_docs: &[TokenStream],
    wires: &[&str],
    unknown: &Ident,
) -> TokenStream {
    let expecting = format!("a `{name}` value (any string)");
    let head = enum_head(false);
    let display = display_as_str(ident);
    let serde = string_serde(
        ident,
        &expecting,
        &quote!(::core::result::Result::Ok(<#ident as ::core::convert::From<&::core::primitive::str>>::from(value))),
    );
    quote! {
        #docs
        #head
        pub enum #ident {
            #(#variant_docs #variants,)*
            /// A value this version of the schema does not list, kept verbatim.
            /// Listed values always decode into their own variant.
            #unknown(::std::string::String),
        }

        #[allow(dead_code)]
        impl #ident {
            /// Every listed value, in schema order.
            pub const ALL: &'static [#ident] = &[#(#ident::#variants),*];

            /// The value as written on the wire.
            pub fn as_str(&self) -> &::core::primitive::str {
                match self {
                    #(Self::#variants => #wires,)*
                    Self::#unknown(value) => value.as_str(),
                }
            }

            /// Whether the value is one the schema lists.
            pub const fn is_known(&self) -> ::core::primitive::bool {
                !::core::matches!(self, Self::#unknown(_))
            }
        }

        #display

        impl ::core::convert::From<&::core::primitive::str> for #ident {
            fn from(value: &::core::primitive::str) -> Self {
                match value {
                    #(#wires => Self::#variants,)*
                    _ => Self::#unknown(::std::string::String::from(value)),
                }
            }
        }

        impl ::core::str::FromStr for #ident {
            type Err = ::core::convert::Infallible;

            fn from_str(s: &::core::primitive::str) -> ::core::result::Result<Self, Self::Err> {
                ::core::result::Result::Ok(<Self as ::core::convert::From<&::core::primitive::str>>::from(s))
            }
        }

        #serde
    }
}

/// The derives and lint allowances of a string enum (`Copy` when it has
/// no catch-all variant holding a `String`).
fn enum_head(copy: bool) -> TokenStream {
    let copy = copy.then(|| quote!(::core::marker::Copy,));
    quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            #copy
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord
        )]
        #[allow(dead_code, clippy::enum_variant_names, clippy::upper_case_acronyms)]
    }
}

/// `Display` as the value's string (`as_str`).
fn display_as_str(ident: &Ident) -> TokenStream {
    quote! {
        impl ::core::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    }
}

/// `Serialize` as the value's string (`as_str`) and `Deserialize` from a
/// string by `visit_body` (an expression of `value: &str`, with `__E` the
/// error type), `expecting` naming what it wants.
fn string_serde(ident: &Ident, expecting: &str, visit_body: &TokenStream) -> TokenStream {
    quote! {
        impl ::typebus::__private::serde::Serialize for #ident {
            fn serialize<__S>(&self, serializer: __S) -> ::core::result::Result<__S::Ok, __S::Error>
            where
                __S: ::typebus::__private::serde::Serializer,
            {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::typebus::__private::serde::Deserialize<'de> for #ident {
            fn deserialize<__D>(deserializer: __D) -> ::core::result::Result<Self, __D::Error>
            where
                __D: ::typebus::__private::serde::Deserializer<'de>,
            {
                struct __TypebusVisitor;

                impl ::typebus::__private::serde::de::Visitor<'_> for __TypebusVisitor {
                    type Value = #ident;

                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(#expecting)
                    }

                    fn visit_str<__E>(self, value: &::core::primitive::str) -> ::core::result::Result<#ident, __E>
                    where
                        __E: ::typebus::__private::serde::de::Error,
                    {
                        #visit_body
                    }
                }

                deserializer.deserialize_str(__TypebusVisitor)
            }
        }
    }
}

/// What [`closed_string_enum`] writes: a fieldless enum whose variants stand
/// for fixed strings.
pub struct ClosedStringEnum<'a> {
    /// The enum's name.
    pub ident: &'a Ident,
    /// Attributes (docs) in front of the enum.
    pub attrs: &'a TokenStream,
    /// The variants, in order.
    pub variants: &'a [Ident],
    /// Each variant's doc attributes, in the order of `variants`.
    pub variant_docs: &'a [TokenStream],
    /// Each variant's string, in the order of `variants`.
    pub wires: &'a [&'a str],
    /// The doc of `ALL`.
    pub all_doc: &'a str,
    /// The doc of `as_str`.
    pub as_str_doc: &'a str,
    /// `FromStr::Err`.
    pub error: &'a TokenStream,
    /// The `FromStr` error for an unknown `s: &str`.
    pub unknown: &'a TokenStream,
}

/// A closed string enum: the `Copy` enum with its derives, `ALL`,
/// `as_str`, `Display` and `FromStr`. Schema enums (with serde impls added)
/// and `#[catalog]`'s `enum Subject` are both written by it. An enum
/// without variants still compiles.
pub fn closed_string_enum(def: &ClosedStringEnum<'_>) -> TokenStream {
    let ClosedStringEnum {
        ident,
        attrs,
        variants,
        variant_docs,
        wires,
        all_doc,
        as_str_doc,
        error,
        unknown,
    } = *def;
    let all_doc = doc_attrs([Some(all_doc)]);
    let as_str_doc = doc_attrs([Some(as_str_doc)]);
    let head = enum_head(true);
    let display = display_as_str(ident);
    let as_str_body = if variants.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(Self::#variants => #wires,)* })
    };
    let from_str_body = if variants.is_empty() {
        quote!(::core::result::Result::Err(#unknown))
    } else {
        quote! {
            match s {
                #(#wires => ::core::result::Result::Ok(Self::#variants),)*
                _ => ::core::result::Result::Err(#unknown),
            }
        }
    };
    quote! {
        #attrs
        #head
        pub enum #ident {
            #(#variant_docs #variants,)*
        }

        #[allow(dead_code)]
        impl #ident {
            #all_doc
            pub const ALL: &'static [#ident] = &[#(#ident::#variants),*];

            #as_str_doc
            pub const fn as_str(&self) -> &'static ::core::primitive::str {
                #as_str_body
            }
        }

        #display

        impl ::core::str::FromStr for #ident {
            type Err = #error;

            fn from_str(s: &::core::primitive::str) -> ::core::result::Result<Self, Self::Err> {
                #from_str_body
            }
        }
    }
}
