//! `#[contract]`: the derives every typebus contract type carries, in one
//! attribute.
//!
//! ```ignore
//! #[typebus::contract(subject = "ticket:created", version = 1)]
//! pub struct TicketCreated { pub id: String }
//! ```
//!
//! expands to the struct under
//!
//! ```ignore
//! #[derive(
//!     ::core::fmt::Debug,
//!     ::core::clone::Clone,
//!     ::core::cmp::PartialEq,
//!     ::typebus::__private::serde::Serialize,
//!     ::typebus::__private::serde::Deserialize,
//!     ::typebus::Event
//! )]
//! #[serde(crate = "::typebus::__private::serde")]
//! #[event(subject = "ticket:created", version = 1)]
//! ```
//!
//! Without arguments it is a contract type that is not an event (a nested
//! type): the same derives without `Event` and `#[event]`. The arguments are
//! `#[event(...)]`'s, passed on with their spans, so `#[derive(Event)]`
//! checks and reports them. The item is passed on untouched, after the
//! derives, so its own `#[serde(...)]` attributes follow the derive that
//! introduces them.

use proc_macro2::TokenStream;
use quote::quote;

/// The expansion of `#[contract(args)]` on `item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let event = if args.is_empty() {
        None
    } else {
        Some(quote! {
            #[event(#args)]
        })
    };
    let event_derive = event.as_ref().map(|_| quote!(, ::typebus::Event));
    quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            ::typebus::__private::serde::Serialize,
            ::typebus::__private::serde::Deserialize
            #event_derive
        )]
        #[serde(crate = "::typebus::__private::serde")]
        #event
        #item
    }
}
