//! Replays the saved fuzz corpora (`fuzz/corpus/<target>/`, minimised by
//! `scripts/fuzz`) and the hand-made seeds (`fuzz/seeds/<target>/`) through
//! the same functions the cargo-fuzz targets run, so every input the fuzzer
//! kept, including any crash that was fixed, stays a regression test on
//! stable Rust. No input may panic.

use std::fs;
use std::path::{Path, PathBuf};

use typebus_tests::fuzz;

/// The seeds (`seed-*`) and the corpus of `target`, each sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files = files_of("seeds", target);
    files.extend(files_of("corpus", target));
    files
}

/// The files of `fuzz/<kind>/<target>/`, sorted by name.
fn files_of(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = fs::read(&path).expect("a readable corpus file");
            (name, bytes)
        })
        .collect()
}

#[test]
fn the_schema_corpus_never_panics() {
    let files = corpus("schema");
    assert!(files.len() >= 5, "the seeds are missing");
    let mut valid = 0;
    for (name, bytes) in &files {
        let outcome = std::panic::catch_unwind(|| fuzz::schema(bytes));
        match outcome {
            Ok(accepted) => valid += usize::from(accepted),
            Err(_) => panic!("schema corpus file `{name}` panics"),
        }
    }
    // The ticketing schema files that stand alone are valid.
    assert!(valid >= 1, "no corpus file was a valid schema");
}

#[test]
fn the_decode_corpus_never_panics_and_the_reference_payloads_decode() {
    let files = corpus("decode");
    assert!(files.len() >= 6, "the seeds are missing");
    for (name, bytes) in &files {
        let outcome = std::panic::catch_unwind(|| fuzz::decode(bytes));
        let Ok(decoded) = outcome else {
            panic!("decode corpus file `{name}` panics");
        };
        if name.starts_with("seed-") {
            assert!(decoded, "the reference payload `{name}` does not decode");
        }
    }
    // Every subject has a seed.
    for subject in ticketing_events::SUBJECTS {
        let byte = fuzz::subject_byte(subject).expect("a subject byte");
        assert!(
            files
                .iter()
                .any(|(name, bytes)| name.starts_with("seed-") && bytes.first() == Some(&byte)),
            "no seed for `{subject}`"
        );
    }
}

#[test]
fn the_first_byte_picks_the_subject() {
    let payload = br#"{"orderId":"5ebfd6b8a7bd3a001c6a3a1d"}"#;
    let byte = fuzz::subject_byte("expiration:complete").expect("a subject");
    let mut input = vec![byte];
    input.extend_from_slice(payload);
    assert!(fuzz::decode(&input));
    // The same byte plus the number of subjects wraps around to it.
    input[0] = byte + u8::try_from(ticketing_events::SUBJECTS.len()).expect("few subjects");
    assert!(fuzz::decode(&input));
    input[0] = fuzz::subject_byte("payment:created").expect("a subject");
    assert!(!fuzz::decode(&input));
    assert!(!fuzz::decode(&[]));
}
