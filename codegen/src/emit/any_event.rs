//! `enum AnyEvent`: one variant per event, decodable from a subject and a
//! JSON body.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use super::docs::doc_attrs;
use super::{Context, idents};

/// `enum AnyEvent` with `decode`, `subject`, `encode` and a `From` impl per
/// event; in event order.
pub(super) fn any_event(cx: &mut Context<'_>) -> TokenStream {
    let mut types: Vec<Ident> = Vec::new();
    let mut variants: Vec<Ident> = Vec::new();
    let mut subjects: Vec<&str> = Vec::new();
    let mut docs: Vec<TokenStream> = Vec::new();
    for event in &cx.model.events {
        // Problems with these names are reported where they are emitted.
        if let (Ok(ty), Ok(variant)) = (
            idents::ident(&event.ident, &event.location),
            idents::ident(&event.subject_variant, &event.location),
        ) {
            docs.push(doc_attrs([Some(
                format!("[`{ty}`], published on `{}`.", event.subject).as_str(),
            )]));
            types.push(ty);
            variants.push(variant);
            subjects.push(&event.subject);
        }
    }
    let (subject_body, encode_body) = if types.is_empty() {
        (quote!(match *self {}), quote!(match *self {}))
    } else {
        (
            quote!(match self { #(Self::#types(_) => Subject::#variants,)* }),
            quote! {
                match self {
                    #(Self::#types(event) => ::typebus::__private::serde_json::to_vec(event),)*
                }
            },
        )
    };
    let decode_body = if types.is_empty() {
        quote! {
            let _ = payload;
            ::core::result::Result::Err(::typebus::DecodeError::from(
                ::typebus::UnknownSubject::new(subject),
            ))
        }
    } else {
        quote! {
            match subject {
                #(#subjects => ::typebus::from_json::<#types>(subject, payload).map(Self::#types),)*
                _ => ::core::result::Result::Err(::typebus::DecodeError::from(
                    ::typebus::UnknownSubject::new(subject),
                )),
            }
        }
    };
    quote! {
        /// Any event of these schemas: what a message on one of [`SUBJECTS`]
        /// decodes into.
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
        #[allow(
            dead_code,
            clippy::large_enum_variant,
            clippy::enum_variant_names,
            clippy::upper_case_acronyms
        )]
        pub enum AnyEvent {
            #(#docs #types(#types),)*
        }

        #[allow(dead_code)]
        impl AnyEvent {
            /// Decodes a message body published on `subject`. Fails with the
            /// JSON path of the offending value, or when no event is
            /// published on `subject`.
            pub fn decode(
                subject: &::core::primitive::str,
                payload: &[::core::primitive::u8],
            ) -> ::core::result::Result<Self, ::typebus::DecodeError> {
                #decode_body
            }

            /// The subject this event is published on.
            pub const fn subject(&self) -> Subject {
                #subject_body
            }

            /// The message body: the event's JSON and nothing else.
            pub fn encode(
                &self,
            ) -> ::core::result::Result<
                ::std::vec::Vec<::core::primitive::u8>,
                ::typebus::__private::serde_json::Error,
            > {
                #encode_body
            }
        }

        #(
            impl ::core::convert::From<#types> for AnyEvent {
                fn from(event: #types) -> Self {
                    Self::#types(event)
                }
            }
        )*
    }
}
