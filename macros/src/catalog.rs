//! `#[catalog]`: completes the generated `enum AnyEvent` with everything
//! that is one row per event: `enum Subject` (with `ALL`, `as_str`,
//! `Display`, `FromStr`), `SUBJECTS`, `AnyEvent::{decode, subject,
//! encode}` and a `From` impl per event.
//!
//! Generated code writes one variant per event, marked with its subject and
//! the name of its `Subject` variant:
//!
//! ```ignore
//! #[::typebus::__private::catalog]
//! pub enum AnyEvent {
//!     #[subject("ticket:created", TicketCreated)]
//!     TicketCreated(TicketCreated),
//! }
//! ```
//!
//! Two lines per event in the generated file instead of a dozen match arms
//! spread over six impls: the file stays readable and typebus-codegen has
//! far fewer tokens to build and format. Every path in the expansion is
//! fully qualified.
//!
//! `decode` and `encode` are `#[inline]`: rustc then compiles them (and the
//! JSON decoder and encoder of every event they dispatch to) only in a
//! crate that calls them, not in the contracts crate. A service that only
//! listens to its own events never pays for the catalog's thousands of
//! decoders (`cargo bench -p typebus-codegen --bench compile`). Where it
//! is called, each event's decoder is compiled once
//! (`typebus::__private::from_json_tracked`), not twice as `from_json`'s
//! fast path plus its path-finding one would be.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr, Token, Type};

use typebus_codegen::emit::{ClosedStringEnum, closed_string_enum};

use crate::errors::Errors;

/// One event of the catalog.
struct Row {
    /// The `AnyEvent` variant, named like the event's type.
    variant: Ident,
    /// The event's type.
    ty: Type,
    /// The subject it is published on.
    subject: LitStr,
    /// The `Subject` variant for that subject.
    subject_variant: Ident,
}

/// `#[subject("ticket:created", TicketCreated)]`'s arguments.
struct SubjectArgs {
    subject: LitStr,
    variant: Ident,
}

impl Parse for SubjectArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let subject = input.parse()?;
        input.parse::<Token![,]>()?;
        let variant = input.parse()?;
        input.parse::<Option<Token![,]>>()?;
        Ok(Self { subject, variant })
    }
}

/// Expands `#[catalog]` on `item` (with `args`, which must be empty).
pub(crate) fn expand(args: TokenStream, mut item: DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.spanned(&args, "`#[catalog]` takes no arguments");
    }
    let Data::Enum(data) = &mut item.data else {
        return syn::Error::new_spanned(&item.ident, "`#[catalog]` goes on an enum")
            .into_compile_error();
    };
    let mut rows = Vec::with_capacity(data.variants.len());
    for variant in &mut data.variants {
        let (subject_attrs, attrs): (Vec<Attribute>, Vec<Attribute>) =
            std::mem::take(&mut variant.attrs)
                .into_iter()
                .partition(|attr| attr.path().is_ident("subject"));
        variant.attrs = attrs;
        let ty = match &variant.fields {
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                fields.unnamed.first().map(|field| field.ty.clone())
            }
            _ => None,
        };
        let Some(ty) = ty else {
            errors.spanned(
                &*variant,
                "a catalog variant holds exactly one event: `Name(Name)`",
            );
            continue;
        };
        let mut subject_attrs = subject_attrs.into_iter();
        let Some(attr) = subject_attrs.next() else {
            errors.spanned(
                &variant.ident,
                "a catalog variant needs `#[subject(\"subject\", SubjectVariant)]`",
            );
            continue;
        };
        for extra in subject_attrs {
            errors.spanned(extra, "a second `#[subject]` on one variant");
        }
        match attr.parse_args::<SubjectArgs>() {
            Ok(args) => {
                if variant.attrs.iter().all(|a| !a.path().is_ident("doc")) {
                    let doc = format!(
                        "[`{}`], published on `{}`.",
                        variant.ident,
                        args.subject.value()
                    );
                    variant.attrs.push(syn::parse_quote!(#[doc = #doc]));
                }
                rows.push(Row {
                    variant: variant.ident.clone(),
                    ty,
                    subject: args.subject,
                    subject_variant: args.variant,
                });
            }
            Err(err) => errors.push(err),
        }
    }
    match errors.finish(()) {
        Ok(()) => items(&item, &rows),
        Err(err) => {
            let err = err.into_compile_error();
            quote!(#item #err)
        }
    }
}

/// The enum itself, then `Subject` (written by typebus-codegen's
/// [`closed_string_enum`], as schema enums are), `SUBJECTS` and the impls.
fn items(item: &DeriveInput, rows: &[Row]) -> TokenStream {
    let vis = &item.vis;
    let any = &item.ident;
    let variants: Vec<&Ident> = rows.iter().map(|r| &r.variant).collect();
    let types: Vec<&Type> = rows.iter().map(|r| &r.ty).collect();
    let subjects: Vec<&LitStr> = rows.iter().map(|r| &r.subject).collect();
    let subject_values: Vec<String> = rows.iter().map(|r| r.subject.value()).collect();
    let subject_strs: Vec<&str> = subject_values.iter().map(String::as_str).collect();
    let subject_variants: Vec<Ident> = rows.iter().map(|r| r.subject_variant.clone()).collect();
    let subject_docs: Vec<TokenStream> = rows
        .iter()
        .zip(&subject_values)
        .map(|(r, subject)| {
            let doc = format!("`{subject}`: [`{}`].", r.variant);
            quote!(#[doc = #doc])
        })
        .collect();
    let subject = Ident::new("Subject", Span::call_site());
    let subject_enum = closed_string_enum(&ClosedStringEnum {
        ident: &subject,
        attrs: &quote!(#[doc = "Every subject an event of these schemas is published on."]),
        variants: &subject_variants,
        variant_docs: &subject_docs,
        wires: &subject_strs,
        all_doc: "Every subject, in the order of the events' names.",
        as_str_doc: "The subject as published on NATS.",
        error: &quote!(::typebus::UnknownSubject),
        unknown: &quote!(::typebus::UnknownSubject::new(s)),
    });
    quote! {
        #item

        #subject_enum

        /// Every subject as a string, for stream provisioning.
        #[allow(dead_code)]
        #vis const SUBJECTS: &[&::core::primitive::str] = &[#(#subjects),*];

        #[allow(dead_code)]
        impl #any {
            /// Decodes a message body published on `subject`. Fails with the
            /// JSON path of the offending value, or when no event is
            /// published on `subject`.
            #[inline]
            pub fn decode(
                subject: &::core::primitive::str,
                payload: &[::core::primitive::u8],
            ) -> ::core::result::Result<Self, ::typebus::DecodeError> {
                let _ = payload;
                match subject {
                    #(#subjects => ::typebus::__private::from_json_tracked::<#types>(subject, payload).map(Self::#variants),)*
                    _ => ::core::result::Result::Err(::typebus::DecodeError::from(
                        ::typebus::UnknownSubject::new(subject),
                    )),
                }
            }

            /// Decodes a message body published on `subject` as contract
            /// version `version` (its `Typebus-Version` header): an older
            /// version recorded in `typebus.lock` is decoded as its own type
            /// and upcast to the newest, as a listener does
            /// ([`::typebus::Event::decode_version`]). Fails like
            /// [`Self::decode`].
            #[inline]
            pub fn decode_version(
                subject: &::core::primitive::str,
                version: ::core::primitive::u32,
                payload: &[::core::primitive::u8],
            ) -> ::core::result::Result<Self, ::typebus::DecodeError> {
                let _ = (version, payload);
                match subject {
                    #(#subjects => <#types as ::typebus::Event>::decode_version(version, subject, payload).map(Self::#variants),)*
                    _ => ::core::result::Result::Err(::typebus::DecodeError::from(
                        ::typebus::UnknownSubject::new(subject),
                    )),
                }
            }

            /// The subject this event is published on.
            pub const fn subject(&self) -> #subject {
                match *self {
                    #(Self::#variants(_) => #subject::#subject_variants,)*
                }
            }

            /// The message body: the event's JSON and nothing else.
            #[inline]
            pub fn encode(
                &self,
            ) -> ::core::result::Result<
                ::std::vec::Vec<::core::primitive::u8>,
                ::typebus::__private::serde_json::Error,
            > {
                match *self {
                    #(Self::#variants(ref event) => ::typebus::to_json(event),)*
                }
            }
        }

        #(
            impl ::core::convert::From<#types> for #any {
                fn from(event: #types) -> Self {
                    Self::#variants(event)
                }
            }
        )*
    }
}
