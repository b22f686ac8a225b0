//! One module per subcommand, and what they share: loading the schemas and
//! showing locations the way codegen diagnostics do.

pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod export;
pub(crate) mod generate;
pub(crate) mod init;
pub(crate) mod listen;
pub(crate) mod lock;
pub(crate) mod publish;
pub(crate) mod schema;

use typebus_codegen::model::{Location, Model};
use typebus_codegen::{Generated, SchemaSet};

use crate::config::UserPath;
use crate::error::CliError;

/// Loads and validates the schema directory.
pub(crate) fn load(schemas: &UserPath) -> Result<SchemaSet, CliError> {
    Ok(SchemaSet::from_dir_as(&schemas.path, &schemas.shown)?)
}

/// Loads, validates and emits.
pub(crate) fn generate(schemas: &UserPath) -> Result<Generated, CliError> {
    Ok(Generated::from_set(&load(schemas)?)?)
}

/// Loads and validates only.
pub(crate) fn model(schemas: &UserPath) -> Result<Model, CliError> {
    Ok(load(schemas)?.validate()?)
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
