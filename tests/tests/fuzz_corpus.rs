//! Replays the saved fuzz corpora (`fuzz/corpus/<target>/`, minimised by
//! `scripts/fuzz`) and the hand-made seeds (`fuzz/seeds/<target>/`) through
//! the same functions the cargo-fuzz targets run, so every input the fuzzer
//! kept, including any crash that was fixed, stays a regression test on
//! stable Rust. No input may panic, and none may hang: each is given
//! [`LIMIT`] (the `-timeout` `scripts/fuzz` gives libFuzzer), and a replay
//! that overruns it fails naming the input.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use typebus_tests::fuzz;

/// How long one input may take, as `scripts/fuzz` tells libFuzzer
/// (`-timeout=10`); a debug build replays every corpus input in
/// milliseconds.
const LIMIT: Duration = Duration::from_secs(10);

/// Why a replay stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The named input panicked.
    Panicked(String),
    /// The named input was still running after the limit.
    Hung(String, Duration),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Panicked(name) => write!(f, "corpus file `{name}` panics"),
            Self::Hung(name, limit) => {
                write!(f, "corpus file `{name}` hangs: not done after {limit:?}")
            }
        }
    }
}

/// Runs `body` on every input, in order, on a thread of its own, and waits
/// at most `limit` for each one: the outcome of each input, or the input
/// that panicked or hung. A hung input's thread is left behind (it cannot
/// be stopped); the test fails and its process ends with it.
fn replay<T: Send + 'static>(
    files: Vec<(String, Vec<u8>)>,
    limit: Duration,
    body: fn(&[u8]) -> T,
) -> Result<Vec<T>, Stop> {
    let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    let (sender, outcomes) = mpsc::channel();
    thread::Builder::new()
        .name("corpus-replay".to_owned())
        .spawn(move || {
            for (_, bytes) in &files {
                let outcome = std::panic::catch_unwind(|| body(bytes));
                let panicked = outcome.is_err();
                if sender.send(outcome).is_err() || panicked {
                    return;
                }
            }
        })
        .expect("a replay thread");
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match outcomes.recv_timeout(limit) {
            Ok(Ok(value)) => out.push(value),
            Ok(Err(_)) => return Err(Stop::Panicked(name)),
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(Stop::Hung(name, limit)),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Stop::Panicked(name)),
        }
    }
    Ok(out)
}

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
    let accepted = replay(files, LIMIT, fuzz::schema).unwrap_or_else(|stop| panic!("{stop}"));
    let valid = accepted.into_iter().filter(|&valid| valid).count();
    // The ticketing schema files that stand alone are valid.
    assert!(valid >= 1, "no corpus file was a valid schema");
}

#[test]
fn the_decode_corpus_never_panics_and_the_reference_payloads_decode() {
    let files = corpus("decode");
    assert!(files.len() >= 6, "the seeds are missing");
    let decoded =
        replay(files.clone(), LIMIT, fuzz::decode).unwrap_or_else(|stop| panic!("{stop}"));
    for ((name, _), decoded) in files.iter().zip(decoded) {
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

/// Inputs for the replay's own tests, each named after its content.
fn inputs(names: &[&str]) -> Vec<(String, Vec<u8>)> {
    names
        .iter()
        .map(|name| ((*name).to_owned(), name.as_bytes().to_vec()))
        .collect()
}

#[test]
fn a_hanging_input_fails_the_replay_by_name() {
    // `stuck` sleeps (for longer than the limit, far shorter than a test).
    fn body(data: &[u8]) -> usize {
        if data == b"stuck" {
            thread::sleep(Duration::from_secs(3));
        }
        data.len()
    }
    let limit = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let stop = replay(inputs(&["ok", "stuck", "ok"]), limit, body).expect_err("a hang");
    assert_eq!(stop, Stop::Hung("stuck".to_owned(), limit));
    assert_eq!(
        stop.to_string(),
        "corpus file `stuck` hangs: not done after 200ms"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the replay waited for the hung input"
    );
    // Without the hang every outcome comes back, in order.
    assert_eq!(
        replay(inputs(&["ok", "fine", "fine!"]), limit, body),
        Ok(vec![2, 4, 5])
    );
}

#[test]
fn a_panicking_input_fails_the_replay_by_name() {
    fn body(data: &[u8]) -> bool {
        assert!(data != b"boom", "the body panics");
        true
    }
    let stop = replay(inputs(&["ok", "boom", "ok"]), LIMIT, body).expect_err("a panic");
    assert_eq!(stop, Stop::Panicked("boom".to_owned()));
}
