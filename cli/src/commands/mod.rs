//! One module per subcommand, and what they share: loading the schemas and
//! showing locations the way codegen diagnostics do.

pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod dlq;
pub(crate) mod export;
pub(crate) mod generate;
pub(crate) mod init;
pub(crate) mod listen;
pub(crate) mod lock;
pub(crate) mod provision;
pub(crate) mod publish;
pub(crate) mod schema;
pub(crate) mod status;

use typebus_codegen::model::{Location, Model};
use typebus_codegen::{Generated, SchemaSet};

use crate::config::UserPath;
use crate::error::CliError;
use crate::output::NOTE;

/// Loads and validates the schema directory.
pub(crate) fn load(schemas: &UserPath) -> Result<SchemaSet, CliError> {
    Ok(SchemaSet::from_dir_as(&schemas.path, &schemas.shown)?)
}

/// Loads, validates and emits; warns as [`model`] does.
pub(crate) fn generate(schemas: &UserPath) -> Result<Generated, CliError> {
    let generated = Generated::from_set(&load(schemas)?)?;
    warn_renamed(schemas, generated.model());
    Ok(generated)
}

/// Loads and validates only. Warns (standard error) of every event or type
/// whose Rust name is not its schema name.
pub(crate) fn model(schemas: &UserPath) -> Result<Model, CliError> {
    let model = load(schemas)?.validate()?;
    warn_renamed(schemas, &model);
    Ok(model)
}

fn warn_renamed(schemas: &UserPath, model: &Model) {
    for renamed in model.renamed() {
        anstream::eprintln!(
            "{}: {NOTE}warning:{NOTE:#} {}",
            at(&schemas.shown, renamed.location),
            renamed.message()
        );
    }
}

/// `root/file:line:col`, as codegen diagnostics show locations.
pub(crate) fn at(root: &str, location: &Location) -> String {
    if root.is_empty() || root == "." {
        location.to_string()
    } else {
        format!(
            "{}/{}:{}:{}",
            root.trim_end_matches('/'),
            location.file,
            location.line,
            location.column
        )
    }
}
