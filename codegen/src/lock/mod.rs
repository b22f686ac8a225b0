//! The lock file (`schemas/typebus.lock`): the wire shape of every released
//! (subject, version), so "a released version never changes shape" is
//! checkable without git history.
//!
//! The shape is stored as canonical text rather than a hash, so a lock diff
//! in review shows what changed and a violation can say precisely how
//! (`ticket:updated v1 changed: field `price` f64 -> string; bump `version`
//! to 2`). It holds what decoding depends on: field wire names, types,
//! optionality, defaults, and every named type reached (struct fields, enum
//! values, open or closed); not descriptions, field order or Rust names.
//!
//! Entries are never removed: a version that left the schemas stays
//! recorded, so it cannot come back with another shape.

mod format;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::compat::{Change, Shape, compare_shapes};
use crate::model::{EventDef, Location, Model};

/// The lock file's name inside the schema directory.
pub const LOCK_FILE_NAME: &str = "typebus.lock";

const HEADER: &str = "\
# typebus.lock: the payload shape of every released (subject, version).
# Written by `typebus lock` and checked by `typebus check`; do not edit.
# A recorded shape never changes: to change a payload, bump its `version`.
";

/// Why a lock file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The file exists but could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The lock file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a lock file.
    #[error("{file}: invalid lock file: {source}")]
    Syntax {
        /// The lock file, as given.
        file: String,
        /// The YAML error, with its line and column.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// An entry does not make sense.
    #[error("{file}: invalid lock entry {subject} v{version}: {message}")]
    Entry {
        /// The lock file, as given.
        file: String,
        /// The entry's subject.
        subject: String,
        /// The entry's version.
        version: u32,
        /// What is wrong.
        message: String,
    },
    /// The file was written by a newer typebus.
    #[error(
        "{file}: lock file format {found} is not supported (this typebus reads format {})",
        format::FORMAT
    )]
    Format {
        /// The lock file, as given.
        file: String,
        /// The format it declares.
        found: u32,
    },
}

/// The recorded shapes, by subject then version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lock {
    entries: BTreeMap<String, BTreeMap<u32, Shape>>,
}

impl Lock {
    /// An empty lock (no file yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `path`; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock, LockError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Lock::parse(&path.display().to_string(), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::new()),
            Err(source) => Err(LockError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses lock file text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Lock, LockError> {
        let doc: format::Doc =
            serde_saphyr::from_str(text).map_err(|source| LockError::Syntax {
                file: file.to_owned(),
                source: Box::new(source),
            })?;
        if doc.format != format::FORMAT {
            return Err(LockError::Format {
                file: file.to_owned(),
                found: doc.format,
            });
        }
        let mut lock = Lock::new();
        for event in &doc.events {
            let entry = |message: String| LockError::Entry {
                file: file.to_owned(),
                subject: event.subject.clone(),
                version: event.version,
                message,
            };
            let shape = format::shape_from_doc(event).map_err(entry)?;
            let versions = lock.entries.entry(event.subject.clone()).or_default();
            if versions.insert(event.version, shape).is_some() {
                return Err(entry("recorded twice".to_owned()));
            }
        }
        Ok(lock)
    }

    /// The lock file text: a header comment, then every entry sorted by
    /// subject then version. Deterministic.
    pub fn render(&self) -> String {
        self.render_with(&BTreeMap::new())
    }

    /// Renders, taking the text of entries found in `cache` from there.
    fn render_with(&self, cache: &BTreeMap<(&str, u32), &str>) -> String {
        if self.entries.is_empty() {
            let mut out = String::from(HEADER);
            format::render(
                &format::Doc {
                    format: format::FORMAT,
                    events: Vec::new(),
                },
                &mut out,
            );
            return out;
        }
        let mut out = preamble();
        for (subject, version, shape) in self.iter() {
            match cache.get(&(subject, version)) {
                Some(text) => out.push_str(text),
                None => out.push_str(&entry_text(subject, version, shape)),
            }
        }
        out
    }

    /// Reads lock file text and reconciles it with `model` in one go,
    /// returning also the text the lock file should hold. The same result
    /// as `Lock::parse` then [`Lock::reconcile`] then [`Lock::render`], but
    /// entries whose text is exactly what the current schemas render are
    /// taken as read without parsing them again (a lock file renders and
    /// reads back losslessly), so checking a large, up-to-date lock costs
    /// little more than rendering it. `text` is `None` for a missing file.
    pub fn check_text(
        file: &str,
        text: Option<&str>,
        model: &Model,
    ) -> Result<(Reconciled, String), LockError> {
        let located: Vec<Shape> = model
            .events
            .iter()
            .map(|e| Shape::of_event(model, e))
            .collect();
        let current: Vec<(&EventDef, Shape, String)> = model
            .events
            .iter()
            .zip(&located)
            .map(|(e, shape)| {
                let shape = strip_locations(shape);
                let text = entry_text(&e.subject, e.version, &shape);
                (e, shape, text)
            })
            .collect();
        let lock = match text {
            None => Lock::new(),
            Some(text) => match Self::parse_known(file, text, &current)? {
                Some(lock) => lock,
                None => Lock::parse(file, text)?,
            },
        };
        // Located shapes too, so violations point at the changed fields.
        let reconciled = lock.reconcile_shapes(
            current
                .iter()
                .zip(located)
                .map(|((e, stripped, _), located)| (*e, located, stripped.clone()))
                .collect(),
        );
        let cache: BTreeMap<(&str, u32), &str> = current
            .iter()
            .map(|(e, _, text)| ((e.subject.as_str(), e.version), text.as_str()))
            .collect();
        // Only entries recorded with exactly the current shape may take the
        // current text.
        let cache = cache
            .into_iter()
            .filter(|((subject, version), _)| {
                !reconciled
                    .violations
                    .iter()
                    .any(|v| v.subject == *subject && v.version == *version)
            })
            .collect();
        let expected = reconciled.lock.render_with(&cache);
        Ok((reconciled, expected))
    }

    /// The fast path of [`Lock::check_text`]: entries equal to a current
    /// rendering are taken from the model, the others parsed. `Ok(None)`
    /// when the text does not have the rendered layout, or the rest does
    /// not parse (the caller then parses the whole text, for errors with
    /// the right line numbers).
    fn parse_known(
        file: &str,
        text: &str,
        current: &[(&EventDef, Shape, String)],
    ) -> Result<Option<Lock>, LockError> {
        let Some(body) = text.strip_prefix(preamble().as_str()) else {
            return Ok(None);
        };
        let known: std::collections::HashMap<&str, usize> = current
            .iter()
            .enumerate()
            .map(|(i, (_, _, text))| (text.as_str(), i))
            .collect();
        let mut rest = String::from("format: 1\nevents:\n");
        let mut rest_entries = 0usize;
        let mut matched = Vec::new();
        for entry in split_entries(body) {
            match known.get(entry) {
                Some(&i) => matched.push(i),
                None => {
                    rest.push_str(entry);
                    rest_entries += 1;
                }
            }
        }
        let mut lock = if rest_entries == 0 {
            Lock::new()
        } else {
            match Lock::parse(file, &rest) {
                Ok(lock) => lock,
                Err(_) => return Ok(None),
            }
        };
        for i in matched {
            let (event, shape, _) = &current[i];
            let versions = lock.entries.entry(event.subject.clone()).or_default();
            if versions.insert(event.version, shape.clone()).is_some() {
                return Err(LockError::Entry {
                    file: file.to_owned(),
                    subject: event.subject.clone(),
                    version: event.version,
                    message: "recorded twice".to_owned(),
                });
            }
        }
        Ok(Some(lock))
    }

    /// The recorded shape of `subject` at `version`.
    pub fn get(&self, subject: &str, version: u32) -> Option<&Shape> {
        self.entries.get(subject)?.get(&version)
    }

    /// Every entry, sorted by subject then version.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32, &Shape)> {
        self.entries
            .iter()
            .flat_map(|(s, vs)| vs.iter().map(move |(v, shape)| (s.as_str(), *v, shape)))
    }

    /// Forgets the recorded shape of `subject` at `version`, for a version
    /// that was recorded but never released (the one explicit way to change
    /// a recorded shape). Returns whether it was recorded.
    pub fn forget(&mut self, subject: &str, version: u32) -> bool {
        let Some(versions) = self.entries.get_mut(subject) else {
            return false;
        };
        let removed = versions.remove(&version).is_some();
        if versions.is_empty() {
            self.entries.remove(subject);
        }
        removed
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Compares the model with what is recorded. The result's lock is this
    /// one plus every (subject, version) not recorded yet; a recorded entry
    /// whose wire shape changed is kept as recorded and reported, one whose
    /// text differs without a wire change (a renamed nested type) is
    /// refreshed.
    pub fn reconcile(&self, model: &Model) -> Reconciled {
        self.clone().reconcile_shapes(
            model
                .events
                .iter()
                .map(|e| {
                    let located = Shape::of_event(model, e);
                    let stripped = strip_locations(&located);
                    (e, located, stripped)
                })
                .collect(),
        )
    }

    /// Reconciles with each current event's shape, with and without
    /// locations.
    fn reconcile_shapes(self, current: Vec<(&EventDef, Shape, Shape)>) -> Reconciled {
        let mut lock = self;
        let mut violations = Vec::new();
        let mut added = Vec::new();
        for (event, shape, stripped) in current {
            match lock.get(&event.subject, event.version) {
                None => {
                    added.push((event.subject.clone(), event.version));
                    lock.insert(&event.subject, event.version, stripped);
                }
                Some(recorded) if *recorded == stripped => {}
                Some(recorded) => {
                    let changes = compare_shapes(recorded, &shape);
                    if changes.is_empty() {
                        lock.insert(&event.subject, event.version, stripped);
                    } else {
                        let highest = lock
                            .entries
                            .get(&event.subject)
                            .and_then(|vs| vs.keys().next_back().copied())
                            .unwrap_or(event.version)
                            .max(event.version);
                        violations.push(LockViolation {
                            subject: event.subject.clone(),
                            version: event.version,
                            event: event.name.clone(),
                            location: event.location.clone(),
                            changes,
                            next_version: highest.saturating_add(1),
                        });
                    }
                }
            }
        }
        Reconciled {
            lock,
            violations,
            added,
        }
    }

    /// Records `shape` (already without locations).
    fn insert(&mut self, subject: &str, version: u32, shape: Shape) {
        self.entries
            .entry(subject.to_owned())
            .or_default()
            .insert(version, shape);
    }
}

/// The header comment, the format line and the `events:` key.
fn preamble() -> String {
    format!("{HEADER}format: {}\nevents:\n", format::FORMAT)
}

/// The text of one entry.
fn entry_text(subject: &str, version: u32, shape: &Shape) -> String {
    let mut out = String::new();
    format::render_event(&format::event_doc(subject, version, shape), &mut out);
    out
}

/// Splits the `events:` list into entries, each from a `- subject:` line to
/// the line before the next one.
fn split_entries(body: &str) -> impl Iterator<Item = &str> {
    let mut starts: Vec<usize> = body.match_indices("\n- ").map(|(i, _)| i + 1).collect();
    starts.insert(0, 0);
    starts.push(body.len());
    starts
        .windows(2)
        .map(|w| &body[w[0]..w[1]])
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// Locations are not part of a recorded shape.
pub(crate) fn strip_locations(shape: &Shape) -> Shape {
    let mut shape = shape.clone();
    let strip = |fields: &mut Vec<crate::compat::FieldShape>| {
        for f in fields {
            f.location = None;
        }
    };
    strip(&mut shape.fields);
    for ty in shape.types.values_mut() {
        ty.location = None;
        match &mut ty.kind {
            crate::compat::TypeShapeKind::Struct(fields) => strip(fields),
            crate::compat::TypeShapeKind::Enum { values, .. } => {
                for v in values {
                    v.1 = None;
                }
            }
        }
    }
    shape
}

/// What [`Lock::reconcile`] found.
#[derive(Debug, Clone)]
pub struct Reconciled {
    /// The lock to write: what was recorded, plus new versions.
    pub lock: Lock,
    /// Recorded versions whose shape changed.
    pub violations: Vec<LockViolation>,
    /// (subject, version) pairs not recorded before.
    pub added: Vec<(String, u32)>,
}

/// A released (subject, version) whose payload changed shape.
#[derive(Debug, Clone)]
pub struct LockViolation {
    /// The subject.
    pub subject: String,
    /// The version that is recorded with another shape.
    pub version: u32,
    /// The event's name.
    pub event: String,
    /// Where the event is written.
    pub location: Location,
    /// What changed from the recorded shape (locations on the new side).
    pub changes: Vec<Change>,
    /// The version to bump to: one above every recorded version.
    pub next_version: u32,
}

impl fmt::Display for LockViolation {
    /// `ticket:updated v1 changed: field `price` f64 -> string; bump
    /// `version` to 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{} changed: ", self.subject, self.version)?;
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", change.kind)?;
        }
        write!(f, "; bump `version` to {}", self.next_version)
    }
}

#[cfg(test)]
mod tests;
