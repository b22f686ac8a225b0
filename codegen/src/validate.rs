//! Stage 2: raw schema files -> the validated [`Model`].
//!
//! Every check pushes into one [`Diagnostics`] collector and carries on, so a
//! run reports every problem of the set at once; `validate` never returns
//! early. Checks: names (valid, not too long, unique across files and across
//! types and events, distinct Rust names, not clashing with generated items),
//! type expressions (syntax, unknown types with a "did you mean"), subjects
//! (NATS syntax, unique, distinct `Subject` variants), versions, enums
//! (values present, non-empty, unique, distinct variants), fields (Rust names
//! derivable and distinct), defaults (fit their type), aggregates (fields
//! exist and have the right types), and recursive structs without
//! indirection.

mod default;
mod events;
mod fields;
mod names;
mod recursion;
mod subject;
mod suggest;
mod type_expr;
mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::load::ParsedFile;
use crate::model::{Location, Model, RustIdent};

pub(crate) use suggest::closest;

/// The longest name (type, event, field, enum value, subject) accepted, in
/// characters.
pub(crate) const MAX_NAME_CHARS: usize = 256;

/// What is known about a declared type before its contents are checked: what
/// field types and defaults need to resolve names.
#[derive(Debug)]
enum Shape {
    /// An enum with these wire values.
    Enum(Vec<String>),
    /// A struct.
    Struct,
    /// Declared with both or neither of `enum` and `fields` (already
    /// reported); references to it resolve without further complaints.
    Broken,
}

/// The declared types by name (the first declaration of a name wins).
#[derive(Debug, Default)]
pub(crate) struct TypeTable {
    shapes: BTreeMap<String, Shape>,
    events: BTreeMap<String, Location>,
}

impl TypeTable {
    /// The wire values of an enum type.
    pub(crate) fn enum_values(&self, name: &str) -> Option<&[String]> {
        match self.shapes.get(name) {
            Some(Shape::Enum(values)) => Some(values),
            _ => None,
        }
    }

    fn is_struct(&self, name: &str) -> bool {
        matches!(self.shapes.get(name), Some(Shape::Struct))
    }

    fn is_broken(&self, name: &str) -> bool {
        matches!(self.shapes.get(name), Some(Shape::Broken))
    }
}

/// Whether a declaration is a type or an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Type,
    Event,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Type => "type",
            Kind::Event => "event",
        }
    }
}

/// Validates the parsed files (sorted by name) into a model, pushing every
/// problem into `diagnostics`. The model is meaningful only when no
/// diagnostic was pushed.
pub(crate) fn validate(
    files: &[ParsedFile],
    names: &[Arc<str>],
    display_root: &str,
    diagnostics: &mut Diagnostics,
) -> Model {
    let mut cx = Cx {
        display_root,
        diagnostics,
        suggester: suggest::Suggester::default(),
    };
    let table = cx.declarations(files);
    let mut types = Vec::new();
    let mut events = Vec::new();
    for file in files {
        if let Some(map) = &file.raw.types {
            for (name, raw) in &map.entries {
                types.push(cx.type_def(file, name, raw, &table));
            }
        }
    }
    let mut subjects = Subjects::default();
    let mut aggregates = BTreeMap::new();
    let mut evolution = BTreeMap::new();
    for file in files {
        if let Some(map) = &file.raw.events {
            for (name, raw) in &map.entries {
                let event = cx.event_def(file, name, raw, &table, &mut subjects, &mut aggregates);
                if let Some(declared) = cx.evolution(file, raw, event.version, &event.fields) {
                    evolution.insert(event.name.clone(), declared);
                }
                events.push(event);
            }
        }
    }
    cx.recursion(&types, &table);
    types.sort_by(|a, b| a.name.cmp(&b.name));
    events.sort_by(|a, b| a.name.cmp(&b.name));
    Model {
        files: names.to_vec(),
        types,
        events,
        history: Vec::new(),
        evolution,
    }
}

/// Subjects seen so far: for duplicates and `Subject` variant clashes.
#[derive(Default)]
struct Subjects {
    by_subject: BTreeMap<String, (String, Location)>,
    by_variant: BTreeMap<String, (String, Location)>,
}

/// The validation context: the collector, how locations are shown in help
/// texts, and the run's budget for "did you mean" suggestions.
struct Cx<'a> {
    display_root: &'a str,
    diagnostics: &'a mut Diagnostics,
    suggester: suggest::Suggester,
}

/// The model location of a saphyr location in `file`.
fn at(file: &ParsedFile, l: &serde_saphyr::Location) -> Location {
    Location {
        file: file.name.clone(),
        line: u32::try_from(l.line()).unwrap_or(u32::MAX).max(1),
        column: u32::try_from(l.column()).unwrap_or(u32::MAX).max(1),
    }
}

/// The location of the character `offset` inside the scalar `value` written
/// at `l`: exact for plain and simply quoted scalars; the scalar's start when
/// the source text does not spell the value verbatim (escapes, block scalars).
fn inside(file: &ParsedFile, l: &serde_saphyr::Location, value: &str, offset: usize) -> Location {
    let mut location = at(file, l);
    if offset == 0 {
        return location;
    }
    let Some(start) = l
        .span()
        .byte_offset()
        .and_then(|b| usize::try_from(b).ok())
        .filter(|&b| file.text.is_char_boundary(b))
    else {
        return location;
    };
    let rest = &file.text[start..];
    let skip = if rest.starts_with(value) {
        Some(0)
    } else if (rest.starts_with('"') || rest.starts_with('\'')) && rest[1..].starts_with(value) {
        Some(1)
    } else {
        None
    };
    if let Some(skip) = skip
        && !value[..value
            .char_indices()
            .nth(offset)
            .map_or(value.len(), |(i, _)| i)]
            .contains('\n')
    {
        location.column = location
            .column
            .saturating_add(u32::try_from(skip + offset).unwrap_or(u32::MAX));
    }
    location
}

fn trimmed(description: &Option<Spanned<String>>) -> Option<String> {
    description.as_ref().map(|d| d.value.trim_end().to_owned())
}

impl Cx<'_> {
    fn error(&mut self, location: Location, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(location, message));
    }

    fn error_help(
        &mut self,
        location: Location,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::new(location, message).with_help(help));
    }

    /// A location as the user sees it (with the display root).
    fn show(&self, location: &Location) -> String {
        if self.display_root.is_empty() || self.display_root == "." {
            location.to_string()
        } else {
            format!("{}/{location}", self.display_root)
        }
    }

    /// Too long? Reports and says so.
    fn too_long(&mut self, location: &Location, what: &str, text: &str) -> bool {
        if text.len() <= MAX_NAME_CHARS {
            return false;
        }
        let n = text.chars().count();
        if n > MAX_NAME_CHARS {
            self.error(
                location.clone(),
                format!("{what} is too long ({n} characters, at most {MAX_NAME_CHARS})"),
            );
            return true;
        }
        false
    }
}

/// The identifier kept in the model of a node that already has a
/// diagnostic (the model is then never used).
fn placeholder() -> RustIdent {
    RustIdent {
        name: "invalid".to_owned(),
        raw: false,
    }
}
