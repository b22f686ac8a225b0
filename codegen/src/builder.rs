//! [`Builder`]: the entry point for build scripts, the CLI and tests. It
//! drives the stages (load -> validate -> emit) and writes the result only
//! when it changed.

use std::env;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::load::SchemaSet;
use crate::model::Model;
use crate::write::write_if_changed;

/// Turns a directory of schema files into Rust: an event's current
/// version from the YAML, and its older versions from the directory's
/// `typebus.lock` (see the README's "Changing an event").
///
/// In a build script (the prost-build pattern):
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), typebus_codegen::Error> {
///     typebus_codegen::Builder::new().schema_dir("../schemas").compile()?;
///     Ok(())
/// }
/// ```
///
/// and in the crate, `mod events { typebus::include_events!(); }`.
///
/// To check generated code into the repository instead:
///
/// ```no_run
/// let changed = typebus_codegen::Builder::new()
///     .schema_dir("schemas")
///     .write_to("generated/src/events.rs")?;
/// # Ok::<(), typebus_codegen::Error>(())
/// ```
///
/// Relative paths are resolved against [`Builder::base_dir`] when set, else
/// against `CARGO_MANIFEST_DIR` when that is set (build scripts, `cargo
/// run`, `cargo test`), else against the current directory.
#[derive(Debug, Clone)]
pub struct Builder {
    schema_dir: PathBuf,
    base_dir: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    file_name: String,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder reading `schemas/` and writing `events.rs`.
    pub fn new() -> Self {
        Self {
            schema_dir: PathBuf::from("schemas"),
            base_dir: None,
            out_dir: None,
            file_name: String::from("events.rs"),
        }
    }

    /// The directory holding the schema files (`*.yaml`, `*.yml`, read
    /// recursively). Default: `schemas`.
    pub fn schema_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.schema_dir = dir.as_ref().to_path_buf();
        self
    }

    /// The directory relative paths are resolved against, instead of
    /// `CARGO_MANIFEST_DIR` or the current directory. Command-line tools
    /// pass the current directory here.
    pub fn base_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.base_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Where [`Builder::compile`] writes. Default: `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The file name [`Builder::compile`] writes in the output directory.
    /// Default: `events.rs` (what `typebus::include_events!()` includes;
    /// another name is included with `typebus::include_events!("name.rs")`).
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = name.into();
        self
    }

    /// Loads, validates and emits: the generated code, or every problem of
    /// the schemas.
    pub fn generate(&self) -> Result<Generated, Error> {
        let dir = self.resolve(&self.schema_dir)?;
        let display = self.schema_dir.to_string_lossy();
        let set = SchemaSet::from_dir_as(&dir, &display)?;
        Generated::from_set(&set)
    }

    /// For build scripts: generates, writes `$OUT_DIR/events.rs` (or the
    /// configured directory and name) if it changed, and tells cargo to
    /// rerun the build script when the schema directory or any schema file
    /// changes. Nothing is written when the schemas have problems. Returns
    /// the path of the generated file.
    pub fn compile(&self) -> Result<PathBuf, Error> {
        let dir = self.resolve(&self.schema_dir)?;
        // Printed first, so a failed build is retried when the schemas change.
        println!("cargo:rerun-if-changed={}", dir.display());
        let display = self.schema_dir.to_string_lossy();
        let set = SchemaSet::from_dir_as(&dir, &display)?;
        for path in set.paths() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        // Older versions are generated from the lock file (a path that does
        // not exist would rerun the script on every build).
        let lock = dir.join(crate::lock::LOCK_FILE_NAME);
        if lock.exists() {
            println!("cargo:rerun-if-changed={}", lock.display());
        }
        let generated = Generated::from_set(&set)?;
        for renamed in generated.model().renamed() {
            println!(
                "cargo:warning={display}/{}: {}",
                renamed.location,
                renamed.message()
            );
        }
        let out_dir = match &self.out_dir {
            Some(dir) => self.resolve(dir)?,
            None => env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::MissingEnv("OUT_DIR"))?,
        };
        let out = out_dir.join(&self.file_name);
        write_if_changed(&out, generated.code())?;
        Ok(out)
    }

    /// Generates and writes the code to `path` (resolved like the schema
    /// directory) if its content changed. Returns whether the file changed.
    /// Nothing is written when the schemas have problems.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<bool, Error> {
        let generated = self.generate()?;
        let path = self.resolve(path.as_ref())?;
        write_if_changed(&path, generated.code())
    }

    /// `path` made absolute against the base directory.
    fn resolve(&self, path: &Path) -> Result<PathBuf, Error> {
        if path.is_absolute() {
            return Ok(path.to_path_buf());
        }
        let base = match &self.base_dir {
            Some(base) => base.clone(),
            None => match env::var_os("CARGO_MANIFEST_DIR") {
                Some(dir) => PathBuf::from(dir),
                None => env::current_dir().map_err(|source| Error::Read {
                    path: PathBuf::from("."),
                    source,
                })?,
            },
        };
        Ok(base.join(path))
    }
}

/// The output of a run: the code and what it was made from.
#[derive(Debug, Clone)]
pub struct Generated {
    code: String,
    model: Model,
    paths: Vec<PathBuf>,
}

impl Generated {
    /// Validates and emits a loaded schema set.
    pub fn from_set(set: &SchemaSet) -> Result<Self, Error> {
        let model = set.validate()?;
        let code = crate::emit::emit(&model)?;
        Ok(Self {
            code,
            model,
            paths: set.paths().to_vec(),
        })
    }

    /// The formatted Rust source, `@generated` header first.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Takes the source.
    pub fn into_code(self) -> String {
        self.code
    }

    /// The validated model the code was emitted from.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The schema files read, relative to the schema directory, sorted.
    pub fn files(&self) -> &[Arc<str>] {
        &self.model.files
    }

    /// The schema files read, as paths on disk (for `rerun-if-changed`);
    /// empty for in-memory sources.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}
