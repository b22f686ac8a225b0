//! `enum Subject` (one variant per event subject) and `SUBJECTS`.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::docs::doc_attrs;
use super::{Context, idents};

/// `enum Subject` with `ALL`, `as_str`, `Display` and `FromStr`, and
/// `SUBJECTS` for stream provisioning; in event order.
pub(super) fn subject(cx: &mut Context<'_>) -> TokenStream {
    let mut variants: Vec<Ident> = Vec::new();
    let mut subjects: Vec<&str> = Vec::new();
    let mut docs: Vec<TokenStream> = Vec::new();
    for event in &cx.model.events {
        match idents::ident(&event.subject_variant, &event.location) {
            Ok(variant) => {
                variants.push(variant);
                subjects.push(&event.subject);
                docs.push(doc_attrs([Some(
                    format!("`{}`: [`{}`].", event.subject, event.ident).as_str(),
                )]));
            }
            Err(diagnostic) => cx.error(diagnostic),
        }
    }
    let as_str_body = if variants.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(Self::#variants => #subjects,)* })
    };
    let from_str_body = if variants.is_empty() {
        quote!(::core::result::Result::Err(::typebus::UnknownSubject::new(
            s
        )))
    } else {
        quote! {
            match s {
                #(#subjects => ::core::result::Result::Ok(Self::#variants),)*
                _ => ::core::result::Result::Err(::typebus::UnknownSubject::new(s)),
            }
        }
    };
    quote! {
        /// Every subject an event of these schemas is published on.
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord
        )]
        #[allow(dead_code, clippy::enum_variant_names, clippy::upper_case_acronyms)]
        pub enum Subject {
            #(#docs #variants,)*
        }

        #[allow(dead_code)]
        impl Subject {
            /// Every subject, in the order of the events' names.
            pub const ALL: &'static [Subject] = &[#(Subject::#variants),*];

            /// The subject as published on NATS.
            pub const fn as_str(&self) -> &'static ::core::primitive::str {
                #as_str_body
            }
        }

        impl ::core::fmt::Display for Subject {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for Subject {
            type Err = ::typebus::UnknownSubject;

            fn from_str(s: &::core::primitive::str) -> ::core::result::Result<Self, Self::Err> {
                #from_str_body
            }
        }

        /// Every subject as a string, for stream provisioning.
        #[allow(dead_code)]
        pub const SUBJECTS: &[&::core::primitive::str] = &[#(#subjects),*];
    }
}
