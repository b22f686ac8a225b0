//! The fingerprint line under the `@generated` header:
//!
//! ```text
//! // typebus-fingerprint: model=7d0a1c9e2f3b4a5c code=0f1e2d3c4b5a6978
//! ```
//!
//! `model` hashes what the output is a function of: the codegen version, the
//! emitter's [`OUTPUT_REVISION`] and the whole validated [`Model`] (every
//! name, type, doc, default and location); `code` hashes the text after the fingerprint line. A file
//! whose line matches both was produced by this version of the emitter from
//! this model and was not edited since, so (the emitter being deterministic)
//! it is byte for byte what [`emit`](super::emit) would return: `typebus
//! check` decides that without emitting. A mismatch proves nothing; the
//! caller emits and compares.
//!
//! The hash is 64-bit FNV-1a: stable across platforms and Rust versions, and
//! fast on the megabytes a large schema set generates. It guards against
//! accidents (a stale file, a hand edit), not against an adversary who
//! writes a colliding file on purpose.

use std::fmt::{self, Write as _};

use crate::model::Model;

const PREFIX: &str = "// typebus-fingerprint: ";

/// The revision of the emitter's output for a given model, part of the
/// model hash: a file written by an emitter that wrote other bytes for the
/// same model is never taken as current, even within one crate version.
/// Bump it with every change to the output (a test holds the hash of a
/// sample output and says when).
const OUTPUT_REVISION: u32 = 3;

/// 64-bit FNV-1a, fed through `fmt::Write` so a `Debug` rendering is hashed
/// without being allocated.
struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv(Self::OFFSET)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        let mut hash = self.0;
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(Self::PRIME);
        }
        self.0 = hash;
    }
}

impl fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

/// The hash of everything the output depends on.
fn model_hash(model: &Model) -> u64 {
    let mut hash = Fnv::new();
    hash.bytes(b"typebus-codegen ");
    hash.bytes(env!("CARGO_PKG_VERSION").as_bytes());
    hash.bytes(format!(" output {OUTPUT_REVISION}\n").as_bytes());
    // Writing into the hasher cannot fail. The text is the model's derived
    // `Debug` as it was before `history` existed, with the history after it
    // only when there is one, so code generated without older versions
    // keeps its fingerprint.
    let Model {
        files,
        types,
        events,
        history,
        evolution,
    } = model;
    let _ = write!(
        hash,
        "Model {{ files: {files:?}, types: {types:?}, events: {events:?} }}"
    );
    if !history.is_empty() {
        let _ = write!(hash, "{history:?}");
    }
    // Of the declared evolution, only renames shape the code (the generated
    // upcasts move renamed fields).
    let renames: Vec<_> = evolution
        .iter()
        .filter(|(_, e)| !e.renames.is_empty())
        .map(|(name, e)| (name, &e.renames))
        .collect();
    if !renames.is_empty() {
        let _ = write!(hash, "{renames:?}");
    }
    hash.0
}

fn code_hash(code: &str) -> u64 {
    let mut hash = Fnv::new();
    hash.bytes(code.as_bytes());
    hash.0
}

/// The fingerprint line (with its newline) for `body`, emitted from `model`.
pub(super) fn line(model: &Model, body: &str) -> String {
    format!(
        "{PREFIX}model={:016x} code={:016x}\n",
        model_hash(model),
        code_hash(body)
    )
}

/// Whether `code` (a whole generated file) is exactly what
/// [`emit`](super::emit) returns for `model`, decided from its fingerprint
/// line: `true` only when the line records this model and version and the
/// text after it is unchanged. `false` means "not known to be current":
/// emit and compare to find out (and to show the difference).
///
/// ```
/// let set = typebus_codegen::SchemaSet::from_sources(
///     "schemas",
///     [("t.yaml", "events:\n  TicketCreated:\n    subject: ticket:created\n    version: 1\n    fields:\n      id: string\n")],
/// )?;
/// let model = set.validate()?;
/// let code = typebus_codegen::emit(&model)?;
/// assert!(typebus_codegen::emit::is_current(&model, &code));
/// assert!(!typebus_codegen::emit::is_current(&model, &code.replace("id", "ID")));
/// # Ok::<(), typebus_codegen::Error>(())
/// ```
pub fn is_current(model: &Model, code: &str) -> bool {
    let Some(start) = code.find(PREFIX) else {
        return false;
    };
    let Some(end) = code[start..].find('\n').map(|i| start + i + 1) else {
        return false;
    };
    // The header line (and nothing else) comes before the fingerprint.
    let header_ok = code[..start].starts_with("// @generated ")
        && code[..start].matches('\n').count() == 1
        && code[..start].ends_with('\n');
    header_ok
        && code[..start] == super::header::header(&model.files)
        && code[start..end] == line(model, &code[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> Model {
        crate::SchemaSet::from_sources("schemas", [("t.yaml", yaml)])
            .unwrap()
            .validate()
            .unwrap()
    }

    const YAML: &str = "events:\n  TicketCreated:\n    subject: ticket:created\n    version: 1\n    fields:\n      id: string\n      price: f64\n";

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let hash = |s: &str| code_hash(s);
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn emitted_code_is_current_and_any_change_is_not() {
        let m = model(YAML);
        let code = crate::emit(&m).unwrap();
        assert!(is_current(&m, &code));
        // An edit anywhere after the header, a changed model, a changed
        // header, a missing or duplicated line: never current.
        assert!(!is_current(
            &m,
            &code.replacen("pub price", "pub prices", 1)
        ));
        assert!(!is_current(&m, &format!("{code}\n")));
        assert!(!is_current(&model(&YAML.replace("f64", "f32")), &code));
        assert!(!is_current(
            &model(&YAML.replace("version: 1", "version: 2")),
            &code
        ));
        assert!(!is_current(
            &m,
            &code.replacen("typebus-codegen from", "typebus-codegen  from", 1)
        ));
        let without: String = code
            .lines()
            .filter(|l| !l.starts_with(PREFIX))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!is_current(&m, &without));
        assert!(!is_current(&m, &format!("// x\n{code}")));
    }

    /// The output of a sample model, pinned with the revision it belongs to.
    #[test]
    fn output_changes_bump_the_revision() {
        let sample = YAML.replace(
            "      price: f64\n",
            "      price: f64\n      userId: { type: string, description: \"who [id]\\n\\n    indented\" }\n      note: string?\n",
        );
        let code = crate::emit(&model(&sample)).unwrap();
        let body = &code[code.find("\n\n").unwrap()..];
        let pinned: (u32, u64) = (3, 0x9922_07a1_e6af_0d44);
        assert_eq!(
            (OUTPUT_REVISION, code_hash(body)),
            pinned,
            "the emitter's output changed: bump OUTPUT_REVISION and pin ({}, {:#018x})",
            OUTPUT_REVISION + u32::from(pinned.0 == OUTPUT_REVISION),
            code_hash(body)
        );
    }

    #[test]
    fn a_description_change_changes_the_model_hash() {
        let a = model(&YAML.replace(
            "      price: f64\n",
            "      price: { type: f64, description: a }\n",
        ));
        let b = model(&YAML.replace(
            "      price: f64\n",
            "      price: { type: f64, description: b }\n",
        ));
        assert_ne!(model_hash(&a), model_hash(&b));
    }
}
