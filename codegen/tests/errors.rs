//! The bad-schema corpus: every case under `tests/errors/` is a schema file
//! (`<case>.yaml`) or a schema directory (`<case>/`) named after the
//! mistake, with the exact rendered diagnostics next to it in
//! `<case>.stderr`. Each case is loaded and validated as `schemas/`, and the
//! error text must match byte for byte.
//!
//! `TYPEBUS_BLESS=1 cargo test -p typebus-codegen --test errors` rewrites the
//! expectations; review every changed `.stderr` before committing it.
//!
//! The second half feeds garbage and hostile inputs (truncations, random
//! bytes, alias bombs, deep nesting, huge names) and requires an `Ok` or an
//! `Err` for each, never a panic.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use typebus_codegen::{Error, SchemaSet};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors")
}

/// Loads and validates one case as the directory `schemas`.
fn run_case(case: &Path) -> Result<(), Error> {
    let set = if case.is_dir() {
        SchemaSet::from_dir_as(case, "schemas")?
    } else {
        let dir = tempfile::tempdir().map_err(|source| Error::Read {
            path: case.to_path_buf(),
            source,
        })?;
        let name = case.file_name().unwrap_or_default();
        fs::copy(case, dir.path().join(name)).map_err(|source| Error::Read {
            path: case.to_path_buf(),
            source,
        })?;
        SchemaSet::from_dir_as(dir.path(), "schemas")?
    };
    set.validate().map(drop)
}

/// A line diff, good enough to see what changed.
fn diff(expected: &str, actual: &str) -> String {
    let mut out = String::new();
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => writeln!(out, "  {x}").unwrap_or(()),
            (x, y) => {
                if let Some(x) = x {
                    writeln!(out, "- {x}").unwrap_or(());
                }
                if let Some(y) = y {
                    writeln!(out, "+ {y}").unwrap_or(());
                }
            }
        }
    }
    out
}

#[test]
fn corpus() {
    let bless = std::env::var_os("TYPEBUS_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let expected_path = case.with_file_name(format!("{name}.stderr"));
        let actual = match run_case(case) {
            Ok(()) => {
                failures.push(format!("{name}: validated without errors"));
                continue;
            }
            Err(e @ Error::Schema(_)) => format!("{e}\n"),
            Err(e) => {
                failures.push(format!("{name}: not a schema error: {e}"));
                continue;
            }
        };
        if bless {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{name}: output differs from {}\n{}",
                expected_path.display(),
                diff(&expected, &actual)
            ));
        }
    }
    // Every expectation belongs to a case.
    for entry in fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "stderr") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !cases
                .iter()
                .any(|c| c.file_stem().unwrap().to_string_lossy() == stem)
            {
                failures.push(format!("{}: no case for this expectation", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (TYPEBUS_BLESS=1 rewrites the expectations):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The rendered diagnostics are also available one by one, with the
/// location as the user sees it.
#[test]
fn diagnostics_carry_file_line_and_column() {
    let src = "events:\n  A:\n    subject: a\n    version: 1\n    fields:\n      x: strng\n";
    let err = SchemaSet::from_sources("schemas", [("a.yaml", src)])
        .unwrap()
        .validate()
        .unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!((d.file(), d.line(), d.column()), ("schemas/a.yaml", 6, 10));
    assert_eq!(d.message(), "unknown type `strng`");
    assert_eq!(d.help(), Some("did you mean `string`?"));
    // Without a display root the relative name is shown as is.
    let err = SchemaSet::from_sources("", [("a.yaml", src)])
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(err.diagnostics()[0].file(), "a.yaml");
}

/// Load problems of every file are reported together.
#[test]
fn load_problems_of_all_files_are_collected() {
    let err = SchemaSet::from_sources(
        "schemas",
        [
            ("b.yaml", "events: [\n"),
            ("a.yaml", "typos:\n"),
            ("c.yaml", "types:\n  T: {enum: [a]}\n"),
        ],
    )
    .unwrap_err();
    let files: Vec<&str> = err.diagnostics().iter().map(|d| d.file()).collect();
    assert_eq!(files, ["schemas/a.yaml", "schemas/b.yaml"]);
}

// ---------------------------------------------------------------------------
// No input panics.

/// Loads and validates `text` as one file; returns whether it was valid.
fn outcome(text: &str) -> bool {
    match SchemaSet::from_sources("schemas", [("fuzz.yaml", text)]) {
        Ok(set) => set.validate().is_ok(),
        Err(Error::Schema(d)) => {
            assert!(!d.is_empty());
            false
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

const SEED: &str = "\
types:
  OrderStatus:
    description: Where an order is.
    enum: [created, cancelled, \"awaiting:payment\", complete]
    open: true
  TicketRef:
    fields:
      id: string
      price: { type: f64, default: 1.5 }
      tags: list<map<string?>>
events:
  OrderCreated:
    subject: order:created
    version: 1
    aggregate: { id: id, sequence: version, name: order }
    fields:
      id: string
      version: u64
      status: { type: OrderStatus, default: created, deprecated: use x }
      ticket: TicketRef
      expiresAt: timestamp
";

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn the_seed_is_valid() {
    assert!(outcome(SEED));
}

#[test]
fn every_truncation_is_handled() {
    for end in 0..=SEED.len() {
        if SEED.is_char_boundary(end) {
            outcome(&SEED[..end]);
        }
    }
}

#[test]
fn random_mutations_are_handled() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet: Vec<char> = "ab:{}[]<>?,&*!|>-'\"#\n\t .~%@`\\0123456789é\u{0}\u{feff}"
        .chars()
        .collect();
    for _ in 0..2_000 {
        let mut chars: Vec<char> = SEED.chars().collect();
        for _ in 0..=rng.below(6) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = alphabet[rng.below(alphabet.len())],
                _ => chars.insert(at, alphabet[rng.below(alphabet.len())]),
            }
        }
        outcome(&chars.into_iter().collect::<String>());
    }
}

#[test]
fn random_bytes_are_handled() {
    let mut rng = Rng(42);
    let dir = tempfile::tempdir().unwrap();
    for i in 0..200 {
        let len = rng.below(400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let path = dir.path().join("fuzz.yaml");
        fs::write(&path, &bytes).unwrap();
        match SchemaSet::from_dir(dir.path()) {
            Ok(set) => drop(set.validate()),
            Err(Error::Schema(_)) => {}
            Err(e) => panic!("case {i}: unexpected error kind: {e}"),
        }
    }
}

#[test]
fn alias_bombs_are_refused() {
    let mut bomb = String::from(
        "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        writeln!(
            bomb,
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
        )
        .unwrap();
    }
    assert!(!outcome(&bomb));
    // The same inside a field default, where values are read.
    let mut bomb = String::from(
        "types:\n  T:\n    fields:\n      x:\n        type: json\n        description: &a0 \"lol\"\n        default: [",
    );
    for _ in 0..100_000 {
        bomb.push_str("*a0,");
    }
    bomb.push_str("]\n");
    assert!(!outcome(&bomb));
}

#[test]
fn deep_nesting_is_refused() {
    for depth in [100, 10_000] {
        let flow = format!("types: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(!outcome(&flow));
        let mut block = String::from("types:\n");
        for level in 0..depth.min(2_000) {
            block.push_str(&" ".repeat(level + 2));
            block.push_str("k:\n");
        }
        assert!(!outcome(&block));
        let expr = format!(
            "types:\n  T:\n    fields:\n      x: {}string{}\n",
            "list<".repeat(depth),
            ">".repeat(depth)
        );
        assert!(!outcome(&expr));
    }
}

#[test]
fn huge_names_and_files_are_refused() {
    let name = "A".repeat(100_000);
    assert!(!outcome(&format!("types:\n  {name}:\n    enum: [a]\n")));
    assert!(!outcome(&format!("types:\n  T:\n    enum: [{name}]\n")));
    assert!(!outcome(&format!(
        "events:\n  E:\n    subject: {}\n    version: 1\n    fields: {{}}\n",
        "a".repeat(100_000)
    )));
    assert!(!outcome(&format!(
        "types:\n  T:\n    fields:\n      {}: string\n",
        "f".repeat(100_000)
    )));
    // Bigger than the 8 MiB limit.
    let big = format!(
        "# {}\ntypes:\n  T: {{enum: [a]}}\n",
        "x".repeat(9 * 1024 * 1024)
    );
    let err = SchemaSet::from_sources("schemas", [("big.yaml", big)]).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
}

#[test]
fn many_entries_are_fine() {
    let mut src = String::from("types:\n");
    for i in 0..2_000 {
        writeln!(src, "  T{i}: {{fields: {{a: u32, b: list<T{}>}}}}", i + 1).unwrap();
    }
    src.push_str("  T2000: {enum: [x]}\n");
    assert!(outcome(&src));
    // A by-value chain through 2,000 structs back to the first.
    let mut chain = String::from("types:\n");
    for i in 0..2_000 {
        writeln!(chain, "  T{i}: {{fields: {{next: T{}}}}}", (i + 1) % 2_000).unwrap();
    }
    let err = SchemaSet::from_sources("schemas", [("chain.yaml", chain)])
        .unwrap()
        .validate()
        .unwrap_err();
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert!(
        err.diagnostics()[0]
            .message()
            .starts_with("type `T0` contains itself")
    );
}
