//! `enum AnyEvent`, one variant per event marked with its subject, under
//! `#[::typebus::__private::catalog]`, which expands the rest of what is one
//! row per event: `enum Subject` (`ALL`, `as_str`, `Display`, `FromStr`),
//! `SUBJECTS`, `AnyEvent::{decode, subject, encode}` and the `From` impls.
//! Two lines per event in the output, where the expanded items are a dozen
//! match arms per event to build, parse and format.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Context, idents};

/// The catalog of every event of the model, in event order.
pub(super) fn catalog(cx: &mut Context<'_>) -> TokenStream {
    let mut variants = Vec::with_capacity(cx.model.events.len());
    for event in &cx.model.events {
        let ty = idents::ident(&event.ident, &event.location);
        let subject_variant = idents::ident(&event.subject_variant, &event.location);
        match (ty, subject_variant) {
            (Ok(ty), Ok(subject_variant)) => {
                let subject = &event.subject;
                variants.push(quote! {
                    #[subject(#subject, #subject_variant)]
                    #ty(#ty),
                });
            }
            // A bad type name is reported where its struct is emitted.
            (Err(_), Ok(_)) => {}
            (_, Err(diagnostic)) => cx.error(diagnostic),
        }
    }
    quote! {
        /// Any event of these schemas: what a message on one of [`SUBJECTS`]
        /// decodes into. `catalog` adds `decode`, `subject`, `encode`, a
        /// `From` impl per event, `enum Subject` and `SUBJECTS`.
        #[::typebus::__private::catalog]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
        #[allow(
            dead_code,
            clippy::large_enum_variant,
            clippy::enum_variant_names,
            clippy::upper_case_acronyms
        )]
        pub enum AnyEvent {
            #(#variants)*
        }
    }
}
