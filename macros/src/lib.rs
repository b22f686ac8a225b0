//! `#[derive(Event)]` for typebus. Use it through the re-export `typebus::Event`.

use proc_macro::TokenStream;

/// Implements `typebus::Event` for a struct.
///
/// `#[event(subject = "ticket:created", version = 1)]` names the subject and
/// the contract version.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let ident = &input.ident;
    let name = ident.to_string();
    let mut subject = None;
    let mut version = None;
    for attr in &input.attrs {
        if attr.path().is_ident("event") {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("subject") {
                    subject = Some(meta.value()?.parse::<syn::LitStr>()?);
                } else if meta.path.is_ident("version") {
                    version = Some(meta.value()?.parse::<syn::LitInt>()?);
                }
                Ok(())
            });
            if let Err(err) = result {
                return err.to_compile_error().into();
            }
        }
    }
    let (Some(subject), Some(version)) = (subject, version) else {
        return syn::Error::new_spanned(ident, "missing #[event(subject = \"...\", version = N)]")
            .to_compile_error()
            .into();
    };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote::quote! {
        impl #impl_generics ::typebus::Event for #ident #ty_generics #where_clause {
            const SUBJECT: &'static str = #subject;
            const VERSION: u32 = #version;
            const NAME: &'static str = #name;
        }
    }
    .into()
}
