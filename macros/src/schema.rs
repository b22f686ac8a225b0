//! Loading the schema named by `#[event(schema = "...", name = "...")]`
//! with typebus-codegen's loader, and finding the event in it.
//!
//! The path is relative to the crate's directory (`CARGO_MANIFEST_DIR`),
//! like `include_str!` paths in build scripts. The whole directory that
//! holds the named file is loaded and validated (recursively, exactly as
//! `typebus_codegen::Builder::schema_dir` would load it), so shared types
//! declared in sibling files resolve and the set is checked as a whole; the
//! event itself must be declared in the named file.
//!
//! Diagnostics name files as the attribute wrote them (`../schemas/x.yaml`),
//! never by absolute path, so compiler output is the same on every machine.

use std::path::{Path, PathBuf};

use syn::LitStr;
use typebus_codegen::model::{EventDef, Location, Model};

use crate::errors::Errors;

/// A loaded, validated schema set and where the named file sits in it.
pub(crate) struct Schema {
    /// The validated model of the whole directory.
    pub(crate) model: Model,
    /// The directory as the attribute wrote it (`../schemas`), or empty.
    display_root: String,
    /// The named file, relative to its directory (`tickets.yaml`).
    file: String,
    /// The absolute path of every file loaded, for `include_bytes!`.
    pub(crate) paths: Vec<PathBuf>,
}

impl Schema {
    /// Loads the directory of the file `lit` names; every problem is pushed
    /// into `errors` at `lit`.
    pub(crate) fn load(lit: &LitStr, errors: &mut Errors) -> Option<Schema> {
        let written = lit.value();
        let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
            errors.spanned(
                lit,
                "`CARGO_MANIFEST_DIR` is not set: `schema = \"...\"` is relative to the crate's directory, which only cargo provides",
            );
            return None;
        };
        let path = Path::new(&manifest_dir).join(&written);
        let file_name = Path::new(&written)
            .file_name()
            .and_then(|name| name.to_str())
            .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"));
        let Some(file) = file_name else {
            errors.spanned(
                lit,
                format_args!(
                    "schema `{written}` is not a schema file: name the `.yaml` or `.yml` file that declares the event"
                ),
            );
            return None;
        };
        if !path.is_file() {
            let why = if path.exists() {
                "is not a file"
            } else {
                "not found"
            };
            errors.spanned(
                lit,
                format_args!(
                    "schema file `{written}` {why} (the path is relative to the crate's directory, where its Cargo.toml is)"
                ),
            );
            return None;
        }
        let display_root = Path::new(&written)
            .parent()
            .map(|dir| dir.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let loaded = typebus_codegen::SchemaSet::from_dir_as(&dir, &display_root)
            .and_then(|set| Ok((set.validate()?, set.paths().to_vec())));
        match loaded {
            Ok((model, paths)) => Some(Schema {
                model,
                display_root,
                file: file.to_owned(),
                paths,
            }),
            Err(error) => {
                report(lit, &dir, &display_root, &error, errors);
                None
            }
        }
    }

    /// A location as the user should read it: `../schemas/tickets.yaml:3:3`.
    pub(crate) fn show(&self, location: &Location) -> String {
        if self.display_root.is_empty() {
            location.to_string()
        } else {
            format!("{}/{location}", self.display_root)
        }
    }

    /// The named file as the attribute wrote it.
    fn shown_file(&self) -> String {
        if self.display_root.is_empty() {
            self.file.clone()
        } else {
            format!("{}/{}", self.display_root, self.file)
        }
    }

    /// The event `name` declared in the named file, or an error at `at` that
    /// says where it is instead, or which events the file declares.
    pub(crate) fn event(&self, name: &str, at: &LitStr, errors: &mut Errors) -> Option<&EventDef> {
        let file = self.shown_file();
        if let Some(event) = self.model.events.iter().find(|event| event.name == name) {
            if *event.location.file == *self.file {
                return Some(event);
            }
            errors.spanned(
                at,
                format_args!(
                    "event `{name}` is declared in {}, not in `{file}`: name the file that declares it",
                    self.show(&event.location)
                ),
            );
            return None;
        }
        let here: Vec<&str> = self
            .model
            .events
            .iter()
            .filter(|event| *event.location.file == *self.file)
            .map(|event| event.name.as_str())
            .collect();
        let mut message = match self.model.types.iter().find(|def| def.name == name) {
            Some(def) => format!(
                "`{name}` is a type ({}), not an event: `name` names an event under `events:`",
                self.show(&def.location)
            ),
            None => format!("no event `{name}` in `{file}`"),
        };
        if let Some(close) = crate::attr::closest(name, here.iter().copied()) {
            message.push_str(&format!("; did you mean `{close}`?"));
        }
        if here.is_empty() {
            message.push_str(&format!(" (`{file}` declares no events)"));
        } else {
            let list = here
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ");
            message.push_str(&format!(" (`{file}` declares {list})"));
        }
        errors.spanned(at, message);
        None
    }
}

/// Pushes a loader error: one compile error per schema diagnostic, with its
/// own `file:line:col`, all at the attribute.
fn report(
    lit: &LitStr,
    dir: &Path,
    display_root: &str,
    error: &typebus_codegen::Error,
    errors: &mut Errors,
) {
    match error {
        typebus_codegen::Error::Schema(diagnostics) => {
            for diagnostic in diagnostics {
                let mut message = format!(
                    "{}:{}:{}: {}",
                    diagnostic.file(),
                    diagnostic.line(),
                    diagnostic.column(),
                    diagnostic.message()
                );
                if let Some(help) = diagnostic.help() {
                    message.push_str(&format!("\n  help: {help}"));
                }
                errors.spanned(lit, message);
            }
        }
        typebus_codegen::Error::Read { path, source } => {
            let shown = match path.strip_prefix(dir) {
                Ok(rel) if display_root.is_empty() => rel.display().to_string(),
                Ok(rel) if rel.as_os_str().is_empty() => display_root.to_owned(),
                Ok(rel) => format!("{display_root}/{}", rel.display()),
                Err(_) => path.display().to_string(),
            };
            errors.spanned(lit, format_args!("cannot read schema `{shown}`: {source}"));
        }
        other => errors.spanned(lit, format_args!("cannot load the schema: {other}")),
    }
}
