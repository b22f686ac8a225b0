//! `#[derive(Event)]` for typebus. Use it through the re-export `typebus::Event`.
//!
//! The derive is four small stages, each in its own file: [`ast`] reads the
//! input's shape, [`attr`] parses `#[event(...)]`, [`valid`] checks the
//! result as a whole, and [`expand`] writes the `impl`. Every problem of one
//! input is collected and reported in one compile, each at its own span.

mod ast;
mod attr;
mod case;
mod conform;
mod errors;
mod expand;
mod schema;
mod serde_attr;
mod ty;
mod valid;

use proc_macro::TokenStream;

/// Implements `typebus::Event` for a struct.
///
/// ```ignore
/// #[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
/// #[event(subject = "ticket:created", version = 1)]
/// struct TicketCreated { id: String }
/// ```
///
/// `subject` is the NATS subject the event travels on (no wildcards, no
/// whitespace, no empty tokens); `version` is the contract version, an
/// integer from 1 to `u32::MAX`. The event's `NAME` is the struct's name.
///
/// Every mistake is a compile error at its span, all of them in one
/// compile: a missing attribute or key, a malformed or repeated key, an
/// unknown key (with a suggestion for a typo), a subject NATS cannot
/// publish on, a version out of range, an enum or union, a second
/// `#[event]` attribute. Generic types are rejected too: a (subject,
/// version) pair names exactly one payload shape, which `Envelope<T>` would
/// not.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let checked = valid::check(ast::Input::from_syn(&input));
    expand::derive(&input, checked).into()
}
