//! Exports of a validated [`Model`](crate::model::Model) for other languages
//! and tools, behind the `export` feature so build scripts don't pay for it.
//!
//! - [`jsonschema`]: a JSON Schema (2020-12) per event and shared type,
//!   agreeing with what the generated Rust accepts.
//! - [`typescript`]: TypeScript interfaces for Node services.
//! - [`asyncapi`]: an AsyncAPI 3.0 document (channels = subjects).
//!
//! Every export is a list of [`ExportedFile`]s with deterministic contents
//! (keys sorted, no hash order); writing them is the caller's business
//! (see [`write_if_changed`](crate::write_if_changed)).

pub mod asyncapi;
pub mod jsonschema;
pub mod typescript;

/// One file of an export: a relative path and its full contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    /// The file name, relative to the export directory (`/`-separated).
    pub path: String,
    /// The complete contents, ending with a newline.
    pub contents: String,
}
