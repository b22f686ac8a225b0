//! Fields of events and structs: Rust names, type expressions (parsed and
//! resolved), defaults, deprecation.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::{Cx, TypeTable, at, default, inside, placeholder, trimmed, type_expr};
use crate::ident;
use crate::load::ParsedFile;
use crate::load::raw::{OrderedMap, RawDeprecated, RawField};
use crate::model::{Field, Location, Scalar, TypeExpr};
use type_expr::Syntax;

impl Cx<'_> {
    /// Checks the fields of a struct or an event.
    pub(super) fn fields(
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
        // Fast path: a bare scalar or type name (most fields).
        if let Some(scalar) = scalar_named(text) {
            return Some(TypeExpr::Scalar(scalar));
        }
        if table.shapes.contains_key(text) {
            return Some(TypeExpr::Named(text.to_owned()));
        }
        if text.len() > super::MAX_NAME_CHARS * 4
            && text.chars().count() > super::MAX_NAME_CHARS * 4
        {
            self.error(
                at(file, l),
                format!(
                    "type expression is too long (at most {} characters)",
                    super::MAX_NAME_CHARS * 4
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
        let near = match other_languages_name(name) {
            Some(alias) => Some(alias),
            None => self.suggester.closest(name, candidates),
        };
        let help = match near {
            Some(near) => format!("did you mean `{near}`?"),
            None => "declare it under `types:`, or use a built-in type such as `string`, `u64`, `timestamp` or `list<T>`".to_owned(),
        };
        self.error_help(
            location,
            format!("unknown type `{}`", name.escape_debug()),
            help,
        );
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

/// typebus's name for a type other schema languages name otherwise
/// (`float`, `datetime`, `integer`...), which edit distance would not find.
fn other_languages_name(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "float" | "double" | "number" | "float64" => "f64",
        "float32" | "single" => "f32",
        "int" | "int32" => "i32",
        "integer" | "long" | "int64" | "bigint" => "i64",
        "uint" | "uint32" => "u32",
        "uint64" | "ulong" => "u64",
        "boolean" => "bool",
        "str" | "text" | "varchar" => "string",
        "datetime" | "date-time" | "date" | "time" | "instant" | "timestamptz" => "timestamp",
        "guid" => "uuid",
        "object" | "any" | "value" => "json",
        "array" | "vec" | "sequence" => "list<T>",
        "dict" | "hash" | "hashmap" | "record" => "map<T>",
        _ => return None,
    })
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
