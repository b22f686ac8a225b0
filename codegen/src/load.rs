//! Stage 1: schema files -> raw structs with source locations.
//!
//! [`SchemaSet`] reads every `*.yaml` / `*.yml` file of a schema directory
//! (or in-memory sources) with serde-saphyr. Every file is read before any
//! problem is reported, so a run lists the load problems of all files at once:
//! YAML syntax errors, wrong shapes, unknown or duplicate keys, empty files,
//! files that are not UTF-8 or too large, and inputs that exceed the parser's
//! budget (alias bombs, deep nesting). Each becomes a [`Diagnostic`] with
//! `file:line:col`; nothing here panics on any input. serde-saphyr stops at
//! the first problem of a file; when that problem is inside one entry of
//! `types:` or `events:` and the file parses without that entry
//! ([`recover`]), the rest of the file is validated too (references to a type
//! left out resolve without complaint) and every problem is reported in one
//! run. Otherwise the set is not validated (names are global, so a set
//! missing a file would only add spurious "unknown type" errors).
//!
//! Files are ordered by their path relative to the schema directory (`/`
//! separators), never by directory listing order. Hidden files and
//! directories (names starting with `.`) are skipped; symbolic links are
//! followed, each directory at most once.

pub(crate) mod raw;
#[cfg(feature = "schema-format")]
mod raw_schema;
pub(crate) mod recover;

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::error::Error;
use crate::lock::Lock;
use crate::model::{Location, Model};

use raw::RawFile;

/// The largest schema file read, in bytes (8 MiB).
pub(crate) const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// The deepest nesting of YAML collections accepted in a schema file.
const MAX_DEPTH: usize = 32;

/// A set of schema files, read and parsed but not yet validated.
///
/// ```
/// let set = typebus_codegen::SchemaSet::from_sources(
///     "schemas",
///     [("tickets.yaml", "events:\n  TicketCreated:\n    subject: ticket:created\n    version: 1\n    fields:\n      id: string\n")],
/// )?;
/// let model = set.validate()?;
/// assert_eq!(model.events[0].subject, "ticket:created");
/// # Ok::<(), typebus_codegen::Error>(())
/// ```
#[derive(Debug)]
pub struct SchemaSet {
    display_root: String,
    dir: Option<PathBuf>,
    files: Vec<Arc<str>>,
    paths: Vec<PathBuf>,
    parsed: Vec<ParsedFile>,
    /// Syntax errors of files parsed without the entry they were in
    /// (reported by [`SchemaSet::validate`] with everything else).
    recovered: Vec<Diagnostic>,
    /// The recorded shapes of released versions (`typebus.lock` in the
    /// schema directory; empty without one): older versions become types.
    lock: Lock,
}

/// One parsed file: its relative name, its text (for column arithmetic inside
/// scalars) and its raw content.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    pub(crate) name: Arc<str>,
    pub(crate) text: String,
    pub(crate) raw: RawFile,
    /// The entry left out after a syntax error in it, if any.
    pub(crate) skipped: Option<recover::Skipped>,
}

impl SchemaSet {
    /// Reads every `*.yaml` / `*.yml` file under `dir`, recursively, sorted by
    /// relative path. Diagnostics show paths as `dir/relative.yaml`.
    ///
    /// Returns [`Error::Read`] when the directory or a file cannot be read (or
    /// holds no schema file), and [`Error::Schema`] with the problems of every
    /// file when some cannot be parsed.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<SchemaSet, Error> {
        let dir = dir.as_ref();
        Self::from_dir_as(dir, &dir.to_string_lossy())
    }

    /// Like [`SchemaSet::from_dir`], with `display_root` in front of the
    /// relative file names in diagnostics instead of `dir` (for example the
    /// directory as the user wrote it, when `dir` was made absolute).
    pub fn from_dir_as(dir: impl AsRef<Path>, display_root: &str) -> Result<SchemaSet, Error> {
        let dir = dir.as_ref();
        let mut found = Vec::new();
        let mut visited = BTreeSet::new();
        walk(dir, dir, &mut visited, &mut found)?;
        if found.is_empty() {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    "no schema files (`*.yaml` or `*.yml`) in this directory",
                ),
            });
        }
        found.sort();
        let mut sources = Vec::with_capacity(found.len());
        let mut paths = Vec::with_capacity(found.len());
        for (rel, path) in found {
            let bytes = read_limited(&path)?;
            paths.push(std::path::absolute(&path).unwrap_or(path));
            sources.push((rel, bytes));
        }
        let mut set = Self::parse_all(display_root, sources)?;
        set.lock = Lock::read(&dir.join(crate::lock::LOCK_FILE_NAME))?;
        set.dir = Some(std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
        set.paths = paths;
        Ok(set)
    }

    /// Parses in-memory sources: `(relative file name, contents)`.
    /// `display_root` goes in front of the names in diagnostics (for example
    /// `"schemas"`); it may be empty. The sources are sorted by name.
    pub fn from_sources<N: Into<String>, C: Into<String>>(
        display_root: &str,
        sources: impl IntoIterator<Item = (N, C)>,
    ) -> Result<SchemaSet, Error> {
        let mut sources: Vec<(String, Vec<u8>)> = sources
            .into_iter()
            .map(|(name, text)| (name.into().replace('\\', "/"), text.into().into_bytes()))
            .collect();
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        Self::parse_all(display_root, sources)
    }

    fn parse_all(display_root: &str, sources: Vec<(String, Vec<u8>)>) -> Result<SchemaSet, Error> {
        let mut diagnostics = Diagnostics::new();
        let mut files: Vec<Arc<str>> = Vec::with_capacity(sources.len());
        let mut unique = Vec::with_capacity(sources.len());
        for (name, bytes) in sources {
            let name: Arc<str> = Arc::from(name);
            if files.last() == Some(&name) {
                diagnostics.push(Diagnostic::new(
                    Location {
                        file: name.clone(),
                        line: 1,
                        column: 1,
                    },
                    "schema file given twice",
                ));
                continue;
            }
            files.push(name.clone());
            unique.push((name, bytes));
        }
        let mut parsed = Vec::with_capacity(unique.len());
        let mut recovered = Vec::new();
        for (name, bytes) in unique {
            match parse_file(&name, bytes) {
                Parsed::File(file) => parsed.push(file),
                Parsed::Recovered(file, diagnostic) => {
                    recovered.push(diagnostic);
                    parsed.push(file);
                }
                Parsed::Failed(diagnostic) => diagnostics.push(diagnostic),
            }
        }
        let display_root = display_root.trim_end_matches(['/', '\\']).to_owned();
        if !diagnostics.is_empty() {
            for diagnostic in recovered {
                diagnostics.push(diagnostic);
            }
            return Err(schema_error(&display_root, diagnostics));
        }
        Ok(SchemaSet {
            display_root,
            dir: None,
            files,
            paths: Vec::new(),
            parsed,
            recovered,
            lock: Lock::new(),
        })
    }

    /// The schema files read, relative to the schema directory with `/`
    /// separators, sorted (for `@generated` headers).
    pub fn files(&self) -> &[Arc<str>] {
        &self.files
    }

    /// The absolute paths of the files read (for `cargo:rerun-if-changed`),
    /// in the order of [`SchemaSet::files`]; empty for in-memory sources.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The absolute schema directory, when the set was read from one (for
    /// `cargo:rerun-if-changed`, so that new files are noticed).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// What diagnostics put in front of the relative file names.
    pub fn display_root(&self) -> &str {
        &self.display_root
    }

    /// The set with `lock` as its record of released versions (for sets
    /// made from sources; [`SchemaSet::from_dir`] reads the directory's
    /// `typebus.lock` itself). Every version it records below an event's
    /// current one is generated as a type of its own, which listeners of
    /// the newest version decode and upcast.
    pub fn with_lock(mut self, lock: Lock) -> SchemaSet {
        self.lock = lock;
        self
    }

    /// The record of released versions the set was read with.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Resolves and validates the whole set: returns the [`Model`], or
    /// [`Error::Schema`] with every problem found, sorted by file, line and
    /// column.
    pub fn validate(&self) -> Result<Model, Error> {
        let mut diagnostics = Diagnostics::new();
        for diagnostic in &self.recovered {
            diagnostics.push(diagnostic.clone());
        }
        let model = crate::validate::validate(
            &self.parsed,
            &self.files,
            &self.display_root,
            &mut diagnostics,
        );
        if diagnostics.is_empty() {
            let history = crate::history::released(&model, &self.lock, &mut diagnostics);
            if diagnostics.is_empty() {
                return Ok(Model { history, ..model });
            }
        }
        Err(schema_error(&self.display_root, diagnostics))
    }
}

/// Sorts the diagnostics and puts `display_root` in front of their files.
fn schema_error(display_root: &str, diagnostics: Diagnostics) -> Error {
    let diagnostics = diagnostics
        .into_sorted()
        .into_iter()
        .map(|d| {
            if display_root.is_empty() || display_root == "." {
                return d;
            }
            let location = Location {
                file: Arc::from(format!("{display_root}/{}", d.file())),
                ..d.location().clone()
            };
            let mut shown = Diagnostic::new(location, d.message());
            if let Some(help) = d.help() {
                shown = shown.with_help(help);
            }
            shown
        })
        .collect();
    Error::Schema(diagnostics)
}

/// Collects `(relative name, path)` of every schema file under `dir`.
fn walk(
    root: &Path,
    dir: &Path,
    visited: &mut BTreeSet<PathBuf>,
    found: &mut Vec<(String, PathBuf)>,
) -> Result<(), Error> {
    let read_error = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let real = fs::canonicalize(dir).map_err(read_error)?;
    if !visited.insert(real) {
        return Ok(());
    }
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            // Not UTF-8: cannot be named in a header; only an error when it
            // looks like a schema file.
            let lossy = name.to_string_lossy();
            if is_schema_name(&lossy) {
                return Err(Error::Read {
                    path,
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the file name is not valid UTF-8",
                    ),
                });
            }
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // `metadata` follows symbolic links.
        let meta = fs::metadata(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(root, &path, visited, found)?;
        } else if meta.is_file() && is_schema_name(name) {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            found.push((rel, path));
        }
    }
    Ok(())
}

/// Reads a file, but no more than one byte past [`MAX_FILE_BYTES`]: enough
/// to tell that it is too large without reading all of a huge file.
fn read_limited(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok(bytes)
}

fn is_schema_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// What parsing one file gave.
enum Parsed {
    /// The whole file.
    File(ParsedFile),
    /// The file without the entry its syntax error is in, and that error.
    Recovered(ParsedFile, Diagnostic),
    /// Nothing usable: the problem.
    Failed(Diagnostic),
}

/// Parses one file, or says why it cannot be: with the file parsed without
/// the entry a syntax error is in, when that parses (see [`recover`]).
fn parse_file(name: &Arc<str>, bytes: Vec<u8>) -> Parsed {
    let at = |line: u32, column: u32| Location {
        file: name.clone(),
        line,
        column,
    };
    if bytes.len() > MAX_FILE_BYTES {
        return Parsed::Failed(Diagnostic::new(
            at(1, 1),
            format!(
                "schema file is too large (more than {} MiB)",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let (line, column) = line_column(valid);
            return Parsed::Failed(
                Diagnostic::new(at(line, column), "schema file is not valid UTF-8")
                    .with_help("save the file as UTF-8"),
            );
        }
    };
    if text
        .trim_start_matches('\u{feff}')
        .lines()
        .all(is_blank_line)
    {
        return Parsed::Failed(
            Diagnostic::new(at(1, 1), "schema file is empty")
                .with_help("declare `events:` or `types:`, or delete the file"),
        );
    }
    match serde_saphyr::from_str_with_options::<RawFile>(&text, options()) {
        Ok(raw) => Parsed::File(ParsedFile {
            name: name.clone(),
            text,
            raw,
            skipped: None,
        }),
        Err(e) => {
            let diagnostic = crate::load::yaml_error::diagnostic(name, &e);
            if let Some(n) = overlong_key(&text, diagnostic.line(), diagnostic.column()) {
                let diagnostic = Diagnostic::new(
                    diagnostic.location().clone(),
                    format!(
                        "key is too long ({n} characters, names are at most {})",
                        crate::validate::MAX_NAME_CHARS
                    ),
                )
                .with_help("YAML reads a key of more than 1024 characters as a plain value");
                return Parsed::Failed(diagnostic);
            }
            // One entry left out, and only when that makes the rest parse:
            // an error reported away from its cause (an unclosed bracket)
            // must not cost the entries after it a spurious error each.
            let recovered =
                recover::without_entry(&text, diagnostic.line()).and_then(|(rest, skipped)| {
                    let raw =
                        serde_saphyr::from_str_with_options::<RawFile>(&rest, options()).ok()?;
                    Some(ParsedFile {
                        name: name.clone(),
                        text,
                        raw,
                        skipped: Some(skipped),
                    })
                });
            match recovered {
                Some(file) => Parsed::Recovered(file, diagnostic),
                None => Parsed::Failed(diagnostic),
            }
        }
    }
}

/// YAML keys are at most 1024 characters: a longer `name:` is read as a
/// value, and the parser's complaint ("expected a mapping") hides why. The
/// length of such a key starting at `line`:`column`, if there is one.
fn overlong_key(text: &str, line: u32, column: u32) -> Option<usize> {
    let line = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let start = line
        .char_indices()
        .nth(usize::try_from(column).ok()?.checked_sub(1)?)?
        .0;
    let key = line[start..].split_once(':')?.0;
    let n = key.chars().count();
    (n > 1024).then_some(n)
}

/// Whether a line holds nothing but blanks or a comment.
fn is_blank_line(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

/// The 1-based line and column (in characters) just after `valid`.
fn line_column(valid: &[u8]) -> (u32, u32) {
    let text = String::from_utf8_lossy(valid);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (saturate(line), saturate(column))
}

pub(crate) fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Parser options: strict booleans (only `true`/`false`), duplicate keys
/// rejected, no snippets in errors (we render our own), and a budget that
/// stops alias bombs and deep nesting early.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_nodes = 1_000_000;
    budget.max_events = 4_000_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.strict_booleans = true;
    options.with_snippet = false;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.alias_limits.max_total_replayed_events = 100_000;
    options
}

mod yaml_error;
