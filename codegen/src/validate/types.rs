//! Shared types: struct or enum, enum values, and recursive structs.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::{Cx, TypeTable, at, placeholder, recursion, trimmed};
use crate::ident;
use crate::load::ParsedFile;
use crate::load::raw::RawType;
use crate::model::{EnumValue, Location, TypeDef, TypeKind};

impl Cx<'_> {
    /// Checks one `types:` entry.
    pub(super) fn type_def(
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

    /// Reports structs that contain themselves by value.
    pub(super) fn recursion(&mut self, types: &[TypeDef], table: &TypeTable) {
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
