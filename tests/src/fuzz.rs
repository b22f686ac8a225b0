//! The bodies of the cargo-fuzz targets in `fuzz/`, as plain functions, so
//! that a regular test (`tests/fuzz_corpus.rs`) replays the saved corpus
//! through exactly the code the fuzzer runs. Each returns whether the input
//! was accepted; any panic is a bug.

use ticketing_events::{AnyEvent, SUBJECTS};
use typebus_codegen::{Error, SchemaSet};

/// Arbitrary bytes as a schema file: loaded and validated by
/// typebus-codegen, which must answer with a model or with diagnostics.
///
/// Returns whether the file was a valid schema set.
pub fn schema(data: &[u8]) -> bool {
    // The in-memory entry point takes text: invalid UTF-8 becomes U+FFFD
    // (the directory loader's own UTF-8 check is covered by the error corpus).
    let text = String::from_utf8_lossy(data).into_owned();
    let outcome = SchemaSet::from_sources("schemas", [("fuzz.yaml", text)])
        .and_then(|set| set.validate().map(drop));
    match outcome {
        Ok(()) => true,
        Err(Error::Schema(diagnostics)) => {
            assert!(
                !diagnostics.is_empty(),
                "a schema error without a diagnostic"
            );
            for diagnostic in &diagnostics {
                assert!(diagnostic.line() >= 1 && diagnostic.column() >= 1);
                assert!(!diagnostic.message().is_empty());
            }
            false
        }
        Err(other) => panic!("a schema file gave a non-schema error: {other}"),
    }
}

/// A message for `AnyEvent::decode`: the first byte picks the subject from
/// [`SUBJECTS`] (modulo their number), the rest is the payload. An empty
/// input decodes nothing.
///
/// Returns whether the payload decoded (into the event of that subject).
pub fn decode(data: &[u8]) -> bool {
    let Some((&pick, payload)) = data.split_first() else {
        return false;
    };
    let subject = SUBJECTS[usize::from(pick) % SUBJECTS.len()];
    match AnyEvent::decode(subject, payload) {
        Ok(event) => {
            assert_eq!(event.subject().as_str(), subject);
            true
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            false
        }
    }
}

/// The byte that makes [`decode`] pick `subject`, if it is one of [`SUBJECTS`].
pub fn subject_byte(subject: &str) -> Option<u8> {
    let index = SUBJECTS.iter().position(|s| *s == subject)?;
    u8::try_from(index).ok()
}
