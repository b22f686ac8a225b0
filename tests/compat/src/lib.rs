//! The compatibility rules of `typebus diff`, checked against reality.
//!
//! Each directory `rules/<rule>/` holds an `old/` and a `new/` schema set
//! and `samples.yaml`. The build script generates both sets' Rust types and
//! compiles them side by side ([`RULES`]); `tests/roundtrip.rs` encodes every
//! sample with one side's types, decodes the bytes with the other side's,
//! and checks that `typebus_codegen::compat::diff` predicted exactly that.

include!(concat!(env!("OUT_DIR"), "/rules.rs"));

/// One fixture: its name, directory, and both sides' codecs.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The directory name under `rules/`.
    pub name: &'static str,
    /// The fixture's absolute directory.
    pub dir: &'static str,
    /// The old schemas' types.
    pub old: Side,
    /// The new schemas' types.
    pub new: Side,
}

/// Encoding and decoding with one side's generated types.
#[derive(Debug, Clone, Copy)]
pub struct Side {
    /// `(subject, sample JSON)` -> the bytes this side writes.
    pub encode: fn(&str, &str) -> Result<Vec<u8>, String>,
    /// `(subject, bytes)` -> whether this side's listener decodes them.
    pub decode: fn(&str, &[u8]) -> Result<(), Failure>,
}

/// Why a side did not decode a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The side has no event on the subject: its listeners never read it.
    UnknownSubject,
    /// The payload does not decode.
    Decode(String),
}
