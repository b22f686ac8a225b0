//! Declarations: type and event names, unique across files and across
//! kinds, valid as names, distinct as Rust types, not clashing with the
//! generated items; and the table of declared types.

use std::collections::BTreeMap;

use super::{Cx, Kind, Shape, TypeTable, at};
use crate::ident;
use crate::load::ParsedFile;
use crate::load::raw::RawType;
use crate::model::{Location, Scalar};

impl Cx<'_> {
    /// Collects the declared names, reports duplicates and bad names, and
    /// returns the shapes of the types.
    pub(super) fn declarations(&mut self, files: &[ParsedFile]) -> TypeTable {
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
        // A type left out after a syntax error in it (already reported):
        // references to it resolve without further complaints.
        for skipped in files.iter().filter_map(|file| file.skipped.as_ref()) {
            if skipped.is_type {
                table
                    .shapes
                    .entry(skipped.name.clone())
                    .or_insert(Shape::Broken);
            }
        }
        table
    }
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

/// Whether `name` is a built-in type name.
fn is_builtin(name: &str) -> bool {
    name == "list" || name == "map" || Scalar::ALL.iter().any(|s| s.schema_name() == name)
}
