//! `#[derive(Event)]` for typebus, and the attribute macros generated code
//! uses. Use them through the re-exports in `typebus`.
//!
//! The derive is four small stages, each in its own (private) module:
//! `src/ast.rs` reads the input's shape, `src/attr.rs` parses
//! `#[event(...)]`, `src/valid.rs` checks the result as a whole, and
//! `src/expand.rs` writes the `impl`. Every problem of one input is collected
//! and reported in one compile, each at its own span.

mod ast;
mod attr;
mod catalog;
mod conform;
mod contract;
mod errors;
mod expand;
mod schema;
mod serde_attr;
mod ty;
mod valid;

use proc_macro::TokenStream;

/// Implements `typebus::Event` for a struct.
///
/// Either the subject and version are written out:
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
/// Or they come from a schema, and the struct is checked against it at
/// compile time:
///
/// ```ignore
/// #[derive(serde::Serialize, serde::Deserialize, typebus::Event)]
/// #[event(schema = "../schemas/tickets.yaml", name = "TicketCreated")]
/// struct TicketCreated {
///     id: String,
///     version: u64,
///     title: String,
///     price: f64,
///     #[serde(rename = "userId")]
///     user_id: String,
/// }
/// ```
///
/// # Checking a struct against its schema
///
/// - `schema` is relative to the crate's directory (`CARGO_MANIFEST_DIR`).
///   The whole directory holding that file is loaded and validated with
///   typebus-codegen, recursively, as `Builder::schema_dir` would load it:
///   shared types declared in sibling files resolve, and a problem anywhere
///   in the directory is reported. The event must be declared in the named
///   file. `name` is the event's name in the schema and defaults to the
///   struct's name; `NAME` is that schema name. `subject` and `version`
///   cannot be combined with `schema`.
/// - Every schema field must be a struct field under its wire name, after
///   serde's `rename` (serialize and deserialize names must agree) and
///   `rename_all` (all eight rules); a field marked `skip`,
///   `skip_serializing` or `skip_deserializing` is not in the JSON, so it
///   neither counts as present nor as extra. Every other struct field must
///   be declared by the schema.
/// - Types, matched by the last segment of their path (`::std::string::String`
///   is `String`), recursively; `Box<T>` is taken as `T`: `string` is
///   `String`, `bool`, `i32`, `i64`, `u32`, `u64`, `f32`, `f64` are exactly
///   those, `timestamp` is `Timestamp`, `uuid` is `Uuid`, `json` is
///   `Value`, `list<T>` is `Vec<T>`, `map<T>` is `BTreeMap<String, T>` or
///   `HashMap<String, T>`, `T?` is `Option<T>` (and only `T?` is), and a
///   named type is the type of that name (its own fields are not checked
///   here). A field with `with`, `serialize_with` or `deserialize_with`
///   keeps its name check but not its type check.
/// - `#[serde(flatten)]` on a field, and `transparent`, `from`, `try_from`,
///   `into` or `remote` on the struct, are errors: the struct's fields must
///   be the event's JSON object.
/// - A schema that cannot be loaded or validated is reported at `schema =
///   "..."`, one error per problem with the schema's own `file:line:col`;
///   an unknown `name` lists the file's events, with a suggestion for a
///   typo. Files are named as the attribute writes them, never by absolute
///   path.
/// - The expansion `include_bytes!`s every schema file it read, so cargo
///   rebuilds the crate when one of them changes. A file added to the
///   directory later is noticed at the next rebuild for another reason.
///
/// Every mistake is a compile error at its span, all of them in one
/// compile: a missing attribute or key, a malformed or repeated key, an
/// unknown key (with a suggestion for a typo), a subject NATS cannot
/// publish on, a version out of range, an enum or union, a second
/// `#[event]` attribute, and each mismatch with the schema. Generic types
/// are rejected too: a (subject, version) pair names exactly one payload
/// shape, which `Envelope<T>` would not.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let checked = valid::check(ast::Input::from_syn(&input));
    expand::derive(&input, checked).into()
}

/// Completes a generated `enum AnyEvent` with `enum Subject`, `SUBJECTS`,
/// `decode`, `subject`, `encode` and `From` impls: one
/// `#[subject("subject", SubjectVariant)] Name(Name),` variant per event.
/// Not public API; generated code uses it as
/// `::typebus::__private::catalog`.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn catalog(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(input as syn::DeriveInput);
    catalog::expand(args.into(), item).into()
}

/// The derives of a typebus contract type in one attribute: `Debug`,
/// `Clone`, `PartialEq`, serde's `Serialize` and `Deserialize` (through
/// typebus's own serde, so the crate needs no serde dependency) and, with
/// arguments, `Event` with those arguments as its `#[event(...)]`.
///
/// ```ignore
/// #[typebus::contract(subject = "ticket:created", version = 1)]
/// pub struct TicketCreated {
///     pub id: String,
///     #[serde(rename = "userId")]
///     pub user_id: String,
/// }
///
/// /// A nested type: no arguments, no `Event`.
/// #[typebus::contract]
/// pub struct TicketRef { pub id: String }
/// ```
///
/// The arguments are checked by `#[derive(Event)]` (see its docs), errors
/// at their own spans. Generated code writes every struct this way.
#[proc_macro_attribute]
pub fn contract(args: TokenStream, input: TokenStream) -> TokenStream {
    contract::expand(args.into(), input.into()).into()
}
