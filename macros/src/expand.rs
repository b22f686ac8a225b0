//! The code `#[derive(Event)]` expands to.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use syn::DeriveInput;

use crate::ast::Event;

/// The `impl ::typebus::Event` for a checked event; for an input with
/// errors, the errors plus a placeholder impl (when the input is a plain
/// type), so that uses of the type elsewhere do not add follow-up errors
/// about the missing trait.
pub(crate) fn derive(input: &DeriveInput, checked: syn::Result<Event<'_>>) -> TokenStream {
    match checked {
        Ok(event) => impl_event(&event),
        Err(errors) => {
            let errors = errors.into_compile_error();
            let fallback = fallback(input);
            quote! { #errors #fallback }
        }
    }
}

/// The impl for a valid event. Every path is fully qualified so that user
/// items named `str`, `u32` or `typebus` cannot change its meaning.
fn impl_event(event: &Event<'_>) -> TokenStream {
    let ident = event.ident;
    let (_, _, where_clause) = event.generics.split_for_impl();
    let (subject, subject_span) = &event.subject;
    let subject = with_span(Literal::string(subject), *subject_span);
    let (version, version_span) = event.version;
    let version = with_span(Literal::u32_unsuffixed(version), version_span);
    let name = Literal::string(&event.name);
    let tracked = track_schema_files(event);
    quote_spanned! {ident.span()=>
        #[automatically_derived]
        impl ::typebus::Event for #ident #where_clause {
            const SUBJECT: &'static ::core::primitive::str = #subject;
            const VERSION: ::core::primitive::u32 = #version;
            const NAME: &'static ::core::primitive::str = #name;
        }
        #tracked
    }
}

/// One hidden `include_bytes!` per schema file the check read: cargo then
/// knows the crate depends on them and rebuilds it when one changes
/// (`proc_macro::tracked_path` is not stable). The bytes are never used, so
/// nothing ends up in the binary. A file added to the schema directory
/// later is not noticed until something else rebuilds the crate.
fn track_schema_files(event: &Event<'_>) -> TokenStream {
    event
        .schema_files
        .iter()
        .filter_map(|path| path.to_str())
        .map(|path| {
            let path = Literal::string(path);
            quote! {
                const _: &[::core::primitive::u8] = ::core::include_bytes!(#path);
            }
        })
        .collect()
}

/// A placeholder impl emitted next to the errors of a non-generic struct.
/// It never compiles into a program (the errors stop the build); it only
/// keeps the type usable as an event in the rest of the crate.
fn fallback(input: &DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() || !matches!(input.data, syn::Data::Struct(_)) {
        return TokenStream::new();
    }
    let ident = &input.ident;
    let (_, _, where_clause) = input.generics.split_for_impl();
    let name = Literal::string(&syn::ext::IdentExt::unraw(ident).to_string());
    quote! {
        #[automatically_derived]
        impl ::typebus::Event for #ident #where_clause {
            const SUBJECT: &'static ::core::primitive::str = "";
            const VERSION: ::core::primitive::u32 = 0;
            const NAME: &'static ::core::primitive::str = #name;
        }
    }
}

fn with_span(mut literal: Literal, span: proc_macro2::Span) -> Literal {
    literal.set_span(span);
    literal
}
