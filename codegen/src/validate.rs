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
mod recursion;
mod subject;
mod suggest;
mod type_expr;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::ident;
use crate::load::ParsedFile;
use crate::load::raw::{OrderedMap, RawAggregate, RawDeprecated, RawEvent, RawField, RawType};
use crate::model::{
    Aggregate, EnumValue, EventDef, Field, Location, Model, RustIdent, Scalar, TypeDef, TypeExpr,
    TypeKind,
};

pub(crate) use suggest::closest;
use type_expr::Syntax;

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
    for file in files {
        if let Some(map) = &file.raw.events {
            for (name, raw) in &map.entries {
                events.push(cx.event_def(file, name, raw, &table, &mut subjects, &mut aggregates));
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
    }
}

/// Subjects seen so far: for duplicates and `Subject` variant clashes.
#[derive(Default)]
struct Subjects {
    by_subject: BTreeMap<String, (String, Location)>,
    by_variant: BTreeMap<String, (String, Location)>,
}

/// The validation context: the collector and how locations are shown in
/// help texts.
struct Cx<'a> {
    display_root: &'a str,
    diagnostics: &'a mut Diagnostics,
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

/// Whether `name` is usable as a type or event name: an identifier-like
/// word (letters, digits, `_`; not starting with a digit).
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || unicode_ident::is_xid_start(c))
        && chars.all(unicode_ident::is_xid_continue)
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

    /// Collects the declared names, reports duplicates and bad names, and
    /// returns the shapes of the types.
    fn declarations(&mut self, files: &[ParsedFile]) -> TypeTable {
        let mut decls: Vec<(Location, Kind, &str, Option<&RawType>)> = Vec::new();
        for file in files {
            if let Some(map) = &file.raw.types {
                for (name, raw) in &map.entries {
                    decls.push((
                        at(file, &name.referenced),
                        Kind::Type,
                        &name.value,
                        Some(raw),
                    ));
                }
            }
            if let Some(map) = &file.raw.events {
                for (name, _) in &map.entries {
                    decls.push((at(file, &name.referenced), Kind::Event, &name.value, None));
                }
            }
        }
        decls.sort_by(|a, b| a.0.cmp(&b.0));
        let mut table = TypeTable::default();
        let mut seen: BTreeMap<&str, (Kind, Location)> = BTreeMap::new();
        let mut rust_names: BTreeMap<String, (String, Location)> = BTreeMap::new();
        for (location, kind, name, raw) in decls {
            let word = kind.word();
            if let Some((first_kind, first)) = seen.get(name) {
                let message = if *first_kind == kind {
                    format!("duplicate {word} name `{name}`")
                } else {
                    format!(
                        "{word} `{name}` has the same name as a {}",
                        first_kind.word()
                    )
                };
                let help = if *first_kind == kind {
                    format!("`{name}` is first declared at {}", self.show(first))
                } else {
                    format!(
                        "the {} is declared at {}; types and events share one namespace",
                        first_kind.word(),
                        self.show(first)
                    )
                };
                self.error_help(location, message, help);
                continue;
            }
            seen.insert(name, (kind, location.clone()));
            if kind == Kind::Event {
                table.events.insert(name.to_owned(), location.clone());
            }
            if name.is_empty() {
                self.error(location, format!("empty {word} name"));
                continue;
            }
            if self.too_long(&location, &format!("{word} name"), name) {
                continue;
            }
            if !is_name(name) {
                self.error_help(
                    location,
                    format!("{word} name `{}` is not a valid name", name.escape_debug()),
                    "names start with a letter and hold only letters, digits and `_`, e.g. `TicketCreated`",
                );
                continue;
            }
            if kind == Kind::Type && (is_builtin(name)) {
                self.error_help(
                    location.clone(),
                    format!("type name `{name}` is a built-in type"),
                    "choose another name, e.g. in UpperCamelCase",
                );
            }
            match ident::type_ident(name) {
                Ok(ident) => {
                    if ident::GENERATED_TYPE_NAMES.contains(&ident.name.as_str()) {
                        self.error_help(
                            location.clone(),
                            format!(
                                "{word} name `{name}` clashes with the generated `{}`",
                                ident.name
                            ),
                            format!(
                                "the generated module defines {}; rename the {word}",
                                ident::GENERATED_TYPE_NAMES
                                    .iter()
                                    .map(|n| format!("`{n}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    } else if let Some((first_name, first)) = rust_names.get(&ident.name) {
                        let help = format!("`{first_name}` is declared at {}", self.show(first));
                        self.error_help(
                            location.clone(),
                            format!(
                                "`{first_name}` and `{name}` both become the Rust type `{}`",
                                ident.name
                            ),
                            help,
                        );
                    } else {
                        rust_names.insert(ident.name, (name.to_owned(), location.clone()));
                    }
                }
                Err(e) => self.error(
                    location.clone(),
                    format!("cannot derive a Rust type name from `{name}`: {e}"),
                ),
            }
            if let Some(raw) = raw {
                let shape = match (&raw.values, &raw.fields) {
                    (Some(values), None) => {
                        let mut seen = std::collections::BTreeSet::new();
                        let wires = values
                            .value
                            .iter()
                            .filter(|v| seen.insert(v.value.as_str()))
                            .map(|v| v.value.clone())
                            .collect();
                        Shape::Enum(wires)
                    }
                    (None, Some(_)) => Shape::Struct,
                    _ => Shape::Broken,
                };
                table.shapes.insert(name.to_owned(), shape);
            }
        }
        table
    }

    /// Checks one `types:` entry.
    fn type_def(
        &mut self,
        file: &ParsedFile,
        name: &Spanned<String>,
        raw: &RawType,
        table: &TypeTable,
    ) -> TypeDef {
        let location = at(file, &name.referenced);
        let ident = ident::type_ident(&name.value).unwrap_or_else(|_| placeholder());
        let kind = match (&raw.values, &raw.fields) {
            (Some(values), Some(fields)) => {
                self.error_help(
                    at(file, &fields.referenced),
                    format!("type `{}` has both `enum` and `fields`", name.value),
                    "a type is either an enum (`enum: [...]`) or a struct (`fields: {...}`)",
                );
                self.enum_values(file, &name.value, values);
                TypeKind::Struct {
                    fields: self.fields(file, &name.value, &fields.value, table),
                }
            }
            (None, None) => {
                self.error_help(
                    location.clone(),
                    format!("type `{}` has neither `enum` nor `fields`", name.value),
                    "declare its values with `enum: [...]` or its fields with `fields: {...}`",
                );
                TypeKind::Struct { fields: Vec::new() }
            }
            (Some(values), None) => TypeKind::Enum {
                open: raw.open.as_ref().is_some_and(|o| o.value),
                values: self.enum_values(file, &name.value, values),
            },
            (None, Some(fields)) => {
                if let Some(open) = &raw.open {
                    self.error_help(
                        at(file, &open.referenced),
                        format!(
                            "`open` applies only to enums, and `{}` is a struct",
                            name.value
                        ),
                        "remove `open`",
                    );
                }
                TypeKind::Struct {
                    fields: self.fields(file, &name.value, &fields.value, table),
                }
            }
        };
        TypeDef {
            name: name.value.clone(),
            ident,
            description: trimmed(&raw.description),
            kind,
            location,
        }
    }

    /// Checks an enum's values.
    fn enum_values(
        &mut self,
        file: &ParsedFile,
        owner: &str,
        values: &Spanned<Vec<Spanned<String>>>,
    ) -> Vec<EnumValue> {
        if values.value.is_empty() {
            self.error_help(
                at(file, &values.referenced),
                format!("enum `{owner}` has no values"),
                "list its wire values, e.g. `enum: [created, cancelled]`",
            );
        }
        let mut out = Vec::with_capacity(values.value.len());
        let mut wires: BTreeMap<&str, Location> = BTreeMap::new();
        let mut variants: BTreeMap<String, (&str, Location)> = BTreeMap::new();
        for value in &values.value {
            let location = at(file, &value.referenced);
            let wire = value.value.as_str();
            let ident = if wire.is_empty() {
                self.error_help(
                    location.clone(),
                    format!("empty value in enum `{owner}`"),
                    "enum values are non-empty strings",
                );
                None
            } else if self.too_long(&location, "enum value", wire) {
                None
            } else if let Some(first) = wires.get(wire) {
                let help = format!("`{wire}` is first listed at {}", self.show(first));
                self.error_help(
                    location.clone(),
                    format!("duplicate value `{wire}` in enum `{owner}`"),
                    help,
                );
                None
            } else {
                wires.insert(wire, location.clone());
                match ident::type_ident(wire) {
                    Ok(ident) => Some(ident),
                    Err(e) => {
                        self.error(
                            location.clone(),
                            format!(
                                "cannot derive a Rust variant name from enum value `{}`: {e}",
                                wire.escape_debug()
                            ),
                        );
                        None
                    }
                }
            };
            if let Some(ident) = &ident {
                if let Some((first_wire, first)) = variants.get(&ident.name) {
                    let help = format!("`{first_wire}` is listed at {}", self.show(first));
                    self.error_help(
                        location.clone(),
                        format!(
                            "enum values `{first_wire}` and `{wire}` both become the variant `{}::{}`",
                            ident::type_ident(owner).map_or_else(|_| owner.to_owned(), |i| i.name),
                            ident.name
                        ),
                        help,
                    );
                } else {
                    variants.insert(ident.name.clone(), (wire, location.clone()));
                }
            }
            out.push(EnumValue {
                wire: wire.to_owned(),
                ident: ident.unwrap_or_else(placeholder),
                location,
            });
        }
        out
    }

    /// Checks the fields of a struct or an event.
    fn fields(
        &mut self,
        file: &ParsedFile,
        owner: &str,
        map: &OrderedMap<Spanned<RawField>>,
        table: &TypeTable,
    ) -> Vec<Field> {
        let mut out = Vec::with_capacity(map.entries.len());
        let mut rust_names: BTreeMap<String, (&str, Location)> = BTreeMap::new();
        for (key, value) in &map.entries {
            let wire = key.value.as_str();
            let location = at(file, &key.referenced);
            let mut ident = None;
            if wire.is_empty() {
                self.error(location.clone(), format!("empty field name in `{owner}`"));
            } else if !self.too_long(&location, "field name", wire) {
                match ident::field_ident(wire) {
                    Ok(i) => ident = Some(i),
                    Err(e) => self.error_help(
                        location.clone(),
                        format!(
                            "cannot derive a Rust field name from `{}`: {e}",
                            wire.escape_debug()
                        ),
                        "a field name needs a letter or a digit",
                    ),
                }
            }
            if let Some(i) = &ident {
                if let Some((first_wire, first)) = rust_names.get(&i.name) {
                    let help = format!("`{first_wire}` is at {}", self.show(first));
                    self.error_help(
                        location.clone(),
                        format!(
                            "fields `{first_wire}` and `{wire}` of `{owner}` both become the Rust field `{i}`"
                        ),
                        help,
                    );
                } else {
                    rust_names.insert(i.name.clone(), (wire, location.clone()));
                }
            }
            let (text, text_at, spec) = match &value.value {
                RawField::Short(text) => (text.as_str(), &value.referenced, None),
                RawField::Long(spec) => match &spec.ty {
                    Some(ty) => (ty.value.as_str(), &ty.referenced, Some(spec)),
                    None => {
                        self.error_help(
                            location.clone(),
                            format!("field `{wire}` of `{owner}` has no `type`"),
                            "write `{ type: string, ... }`",
                        );
                        ("", &key.referenced, None)
                    }
                },
            };
            let type_location = at(file, text_at);
            let missing_type = matches!(&value.value, RawField::Long(spec) if spec.ty.is_none());
            let ty = if missing_type {
                None
            } else {
                self.type_expr(file, text_at, text, table)
            };
            let mut default = None;
            let mut description = None;
            let mut deprecated = None;
            if let Some(spec) = spec {
                description = trimmed(&spec.description);
                deprecated = match spec.deprecated.as_ref().map(|d| &d.value) {
                    None | Some(RawDeprecated::Flag(false)) => None,
                    Some(RawDeprecated::Flag(true)) => Some(String::new()),
                    Some(RawDeprecated::Note(note)) => Some(note.trim_end().to_owned()),
                };
                if let (Some(value), Some(ty)) = (&spec.default, &ty)
                    && !names_broken_type(ty, table)
                {
                    match default::check(&value.value, ty, table) {
                        Ok(v) => default = Some(v),
                        Err((message, help)) => {
                            let location = at(file, &value.referenced);
                            match help {
                                Some(help) => self.error_help(location, message, help),
                                None => self.error(location, message),
                            }
                        }
                    }
                }
            }
            out.push(Field {
                wire: wire.to_owned(),
                ident: ident.unwrap_or_else(placeholder),
                ty: ty.unwrap_or(TypeExpr::Scalar(Scalar::Json)),
                description,
                default,
                deprecated,
                location,
                type_location,
            });
        }
        out
    }

    /// Parses and resolves a type expression; `None` when it has problems
    /// (all reported).
    fn type_expr(
        &mut self,
        file: &ParsedFile,
        l: &serde_saphyr::Location,
        text: &str,
        table: &TypeTable,
    ) -> Option<TypeExpr> {
        if text.chars().count() > MAX_NAME_CHARS * 4 {
            self.error(
                at(file, l),
                format!(
                    "type expression is too long (at most {} characters)",
                    MAX_NAME_CHARS * 4
                ),
            );
            return None;
        }
        match type_expr::parse(text) {
            Ok(syntax) => self.resolve(file, l, text, &syntax, table),
            Err(e) => {
                let location = inside(file, l, text, e.offset);
                match e.help {
                    Some(help) => self.error_help(location, e.message, help),
                    None => self.error(location, e.message),
                }
                None
            }
        }
    }

    fn resolve(
        &mut self,
        file: &ParsedFile,
        l: &serde_saphyr::Location,
        text: &str,
        syntax: &Syntax,
        table: &TypeTable,
    ) -> Option<TypeExpr> {
        Some(match syntax {
            Syntax::List(inner) => {
                TypeExpr::List(Box::new(self.resolve(file, l, text, inner, table)?))
            }
            Syntax::Map(inner) => {
                TypeExpr::Map(Box::new(self.resolve(file, l, text, inner, table)?))
            }
            Syntax::Optional(inner) => {
                TypeExpr::Optional(Box::new(self.resolve(file, l, text, inner, table)?))
            }
            Syntax::Name(name, offset) => {
                if let Some(scalar) = scalar_named(name) {
                    TypeExpr::Scalar(scalar)
                } else if table.shapes.contains_key(name.as_str()) {
                    TypeExpr::Named(name.clone())
                } else {
                    self.unknown_type(inside(file, l, text, *offset), name, table);
                    return None;
                }
            }
        })
    }

    fn unknown_type(&mut self, location: Location, name: &str, table: &TypeTable) {
        if let Some(event) = table.events.get(name) {
            let help = format!(
                "`{name}` is declared at {}; declare the shared shape under `types:` and use it in the event",
                self.show(event)
            );
            self.error_help(location, format!("`{name}` is an event, not a type"), help);
            return;
        }
        let candidates = Scalar::ALL
            .iter()
            .map(|s| s.schema_name())
            .chain(["list", "map"])
            .chain(table.shapes.keys().map(String::as_str));
        let help = match suggest::closest(name, candidates) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "declare it under `types:`, or use a built-in type such as `string`, `u64`, `timestamp` or `list<T>`".to_owned(),
        };
        self.error_help(
            location,
            format!("unknown type `{}`", name.escape_debug()),
            help,
        );
    }

    /// Checks one `events:` entry.
    fn event_def(
        &mut self,
        file: &ParsedFile,
        name: &Spanned<String>,
        raw: &RawEvent,
        table: &TypeTable,
        subjects: &mut Subjects,
        aggregates: &mut BTreeMap<String, (TypeExpr, String, Location)>,
    ) -> EventDef {
        let location = at(file, &name.referenced);
        let event = name.value.as_str();
        let ident = ident::type_ident(event).unwrap_or_else(|_| placeholder());
        let subject_variant = match &raw.subject {
            Some(subject) => self.subject(file, event, subject, subjects),
            None => {
                self.error_help(
                    location.clone(),
                    format!("event `{event}` has no `subject`"),
                    "add `subject: ...`, the NATS subject it is published on",
                );
                placeholder()
            }
        };
        let version = match &raw.version {
            Some(version) => self.version(file, version),
            None => {
                self.error_help(
                    location.clone(),
                    format!("event `{event}` has no `version`"),
                    "add `version: 1`",
                );
                1
            }
        };
        let fields = match &raw.fields {
            Some(fields) => self.fields(file, event, &fields.value, table),
            None => {
                self.error_help(
                    location.clone(),
                    format!("event `{event}` has no `fields`"),
                    "list its payload under `fields:`, or write `fields: {}` for an empty payload",
                );
                Vec::new()
            }
        };
        let aggregate = raw
            .aggregate
            .as_ref()
            .and_then(|agg| self.aggregate(file, event, agg, &fields, aggregates));
        EventDef {
            name: event.to_owned(),
            ident,
            subject: raw
                .subject
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
            subject_variant,
            version,
            description: trimmed(&raw.description),
            aggregate,
            fields,
            location,
        }
    }

    /// Checks a version: an integer from 1 to `u32::MAX`.
    fn version(&mut self, file: &ParsedFile, version: &Spanned<i64>) -> u32 {
        let location = at(file, &version.referenced);
        match u32::try_from(version.value) {
            Ok(v) if v >= 1 => v,
            _ if version.value < 1 => {
                self.error_help(
                    location,
                    format!("version must be at least 1, found {}", version.value),
                    "contract versions start at 1",
                );
                1
            }
            _ => {
                self.error(
                    location,
                    format!(
                        "version {} is too large (at most {})",
                        version.value,
                        u32::MAX
                    ),
                );
                1
            }
        }
    }

    /// Checks `aggregate:` against the event's fields.
    fn aggregate(
        &mut self,
        file: &ParsedFile,
        event: &str,
        agg: &Spanned<RawAggregate>,
        fields: &[Field],
        aggregates: &mut BTreeMap<String, (TypeExpr, String, Location)>,
    ) -> Option<Aggregate> {
        let location = at(file, &agg.referenced);
        let agg_name = match &agg.value.name {
            Some(n) if n.value.trim().is_empty() => {
                self.error(at(file, &n.referenced), "empty aggregate name");
                event.to_owned()
            }
            Some(n) => {
                self.too_long(&at(file, &n.referenced), "aggregate name", &n.value);
                n.value.clone()
            }
            None => event.to_owned(),
        };
        let role = |cx: &mut Self, named: &Option<Spanned<String>>, role: &str| match named {
            Some(named) => cx
                .aggregate_field(file, event, fields, named, role)
                .map(|i| (i, at(file, &named.referenced))),
            None => {
                cx.error_help(
                    location.clone(),
                    format!("aggregate of `{event}` has no `{role}`"),
                    "write `aggregate: { id: FIELD, sequence: FIELD }`",
                );
                None
            }
        };
        let id = role(self, &agg.value.id, "id");
        let sequence = role(self, &agg.value.sequence, "sequence");
        if let Some((i, id_at)) = &id {
            let field = &fields[*i];
            let ty = &field.ty;
            if !matches!(ty, TypeExpr::Scalar(Scalar::String | Scalar::Uuid)) {
                self.error_help(
                    id_at.clone(),
                    format!(
                        "aggregate id `{}` must be a `string` or `uuid` field, not `{ty}`",
                        field.wire
                    ),
                    "the record id identifies the record and is always present",
                );
            } else if let Some((first_ty, first_event, first)) = aggregates.get(&agg_name) {
                if first_ty != ty {
                    let help = format!("`{first_event}` at {} uses `{first_ty}`", self.show(first));
                    self.error_help(
                        id_at.clone(),
                        format!(
                            "events of aggregate `{agg_name}` disagree on the id type: `{ty}` here"
                        ),
                        help,
                    );
                }
            } else {
                aggregates.insert(
                    agg_name.clone(),
                    (ty.clone(), event.to_owned(), location.clone()),
                );
            }
        }
        if let Some((s, sequence_at)) = &sequence {
            let field = &fields[*s];
            let ty = &field.ty;
            if !matches!(ty, TypeExpr::Scalar(Scalar::U32 | Scalar::U64)) {
                self.error_help(
                    sequence_at.clone(),
                    format!(
                        "aggregate sequence `{}` must be a `u32` or `u64` field, not `{ty}`",
                        field.wire
                    ),
                    "the per-record sequence number is an unsigned integer that is always present",
                );
            }
            if let Some((i, _)) = &id
                && i == s
            {
                self.error(
                    sequence_at.clone(),
                    format!(
                        "aggregate id and sequence are the same field `{}`",
                        field.wire
                    ),
                );
            }
        }
        Some(Aggregate {
            name: agg_name,
            id_field: id?.0,
            sequence_field: sequence?.0,
            location,
        })
    }

    /// The index of the field an aggregate names, or a diagnostic.
    fn aggregate_field(
        &mut self,
        file: &ParsedFile,
        event: &str,
        fields: &[Field],
        named: &Spanned<String>,
        role: &str,
    ) -> Option<usize> {
        let found = fields.iter().position(|f| f.wire == named.value);
        if found.is_none() {
            let help = match suggest::closest(&named.value, fields.iter().map(|f| f.wire.as_str()))
            {
                Some(near) => format!("did you mean `{near}`?"),
                None if fields.is_empty() => format!("`{event}` has no fields"),
                None => format!(
                    "the fields of `{event}` are {}",
                    default::list(&fields.iter().map(|f| f.wire.clone()).collect::<Vec<_>>())
                ),
            };
            self.error_help(
                at(file, &named.referenced),
                format!(
                    "aggregate {role} `{}` is not a field of `{event}`",
                    named.value
                ),
                help,
            );
        }
        found
    }

    /// Checks a subject and returns its `Subject` variant.
    fn subject(
        &mut self,
        file: &ParsedFile,
        event: &str,
        subject: &Spanned<String>,
        subjects: &mut Subjects,
    ) -> RustIdent {
        let location = at(file, &subject.referenced);
        let text = subject.value.as_str();
        if self.too_long(&location, "subject", text) {
            return placeholder();
        }
        if let Err(e) = subject::check(text) {
            self.error_help(
                inside(file, &subject.referenced, text, e.offset),
                e.message,
                e.help,
            );
            return placeholder();
        }
        if let Some((first_event, first)) = subjects.by_subject.get(text) {
            let help = format!("`{first_event}` uses it at {}", self.show(first));
            self.error_help(location, format!("duplicate subject `{text}`"), help);
            return placeholder();
        }
        subjects
            .by_subject
            .insert(text.to_owned(), (event.to_owned(), location.clone()));
        match ident::type_ident(text) {
            Ok(variant) => {
                if let Some((first_subject, first)) = subjects.by_variant.get(&variant.name) {
                    let help = format!("`{first_subject}` is at {}", self.show(first));
                    self.error_help(
                        location,
                        format!(
                            "subjects `{first_subject}` and `{text}` both become the variant `Subject::{}`",
                            variant.name
                        ),
                        help,
                    );
                } else {
                    subjects
                        .by_variant
                        .insert(variant.name.clone(), (text.to_owned(), location));
                }
                variant
            }
            Err(e) => {
                self.error(
                    location,
                    format!("cannot derive a `Subject` variant from `{text}`: {e}"),
                );
                placeholder()
            }
        }
    }

    /// Reports structs that contain themselves by value.
    fn recursion(&mut self, types: &[TypeDef], table: &TypeTable) {
        let mut graph: BTreeMap<String, Vec<recursion::Edge>> = BTreeMap::new();
        for def in types {
            let TypeKind::Struct { fields } = &def.kind else {
                continue;
            };
            if !table.is_struct(&def.name) || graph.contains_key(&def.name) {
                continue;
            }
            let edges = fields
                .iter()
                .filter_map(|f| {
                    let target = recursion::by_value_target(&f.ty, |n| table.is_struct(n))?;
                    Some(recursion::Edge {
                        field: f.wire.clone(),
                        location: f.location.clone(),
                        target: target.to_owned(),
                    })
                })
                .collect();
            graph.insert(def.name.clone(), edges);
        }
        for (location, name, path) in recursion::cycles(&graph) {
            self.error_help(
                location,
                format!("type `{name}` contains itself without indirection: {path}"),
                "a value cannot hold itself; make the recursive field a `list<...>` or a `map<...>`",
            );
        }
    }
}

/// Whether a type expression names a type whose declaration is broken (so
/// its default cannot be judged).
fn names_broken_type(ty: &TypeExpr, table: &TypeTable) -> bool {
    match ty {
        TypeExpr::Named(name) => table.is_broken(name),
        TypeExpr::Optional(inner) | TypeExpr::List(inner) | TypeExpr::Map(inner) => {
            names_broken_type(inner, table)
        }
        TypeExpr::Scalar(_) => false,
    }
}

/// The scalar a type name denotes.
fn scalar_named(name: &str) -> Option<Scalar> {
    Some(match name {
        "string" => Scalar::String,
        "bool" => Scalar::Bool,
        "i32" => Scalar::I32,
        "i64" => Scalar::I64,
        "u32" => Scalar::U32,
        "u64" => Scalar::U64,
        "f32" => Scalar::F32,
        "f64" => Scalar::F64,
        "timestamp" => Scalar::Timestamp,
        "uuid" => Scalar::Uuid,
        "json" => Scalar::Json,
        _ => return None,
    })
}

/// Whether `name` is a built-in type name.
fn is_builtin(name: &str) -> bool {
    name == "list" || name == "map" || Scalar::ALL.iter().any(|s| s.schema_name() == name)
}

/// The identifier kept in the model of a node that already has a
/// diagnostic (the model is then never used).
fn placeholder() -> RustIdent {
    RustIdent {
        name: "invalid".to_owned(),
        raw: false,
    }
}
