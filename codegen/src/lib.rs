//! typebus-codegen: YAML event schemas -> validated model -> Rust.
//!
//! The pipeline has four typed stages, each in its own module:
//!
//! 1. `load`: schema files -> raw structs with source locations
//!    ([`SchemaSet`]). YAML is read with serde-saphyr; unknown keys,
//!    duplicate keys, alias bombs and deep nesting are errors.
//! 2. `validate`: names, types, subjects, versions, defaults, aggregates; every
//!    problem is collected as a [`Diagnostic`] with `file:line:col`.
//! 3. [`model`]: the validated IR, every node with its [`model::Location`].
//! 4. `emit`: IR -> `TokenStream` with `quote!`, formatted by prettyplease,
//!    with an `@generated` header; deterministic bytes.
//!
//! The [`Builder`] drives them for build scripts, the CLI and tests.
// (Module list: `ident`, `load`, `validate` are the front half; `emit`,
// `builder` the back half. See each module's docs.)

mod builder;
pub mod compat;
pub mod diagnostic;
pub mod emit;
mod error;
#[cfg(feature = "export")]
pub mod export;
mod history;
pub mod ident;
#[cfg(any(feature = "export", feature = "schema-format"))]
mod json_text;
mod load;
pub mod lock;
pub mod model;
#[cfg(feature = "schema-format")]
pub mod schema_format;
pub mod serde_case;
mod validate;
mod write;

pub use builder::{Builder, Generated};
pub use diagnostic::Diagnostic;
pub use emit::emit;
pub use error::Error;
pub use load::SchemaSet;
pub use write::write_if_changed;
