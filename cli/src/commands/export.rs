//! `typebus export`: the schemas for other languages and tools, written
//! file by file, each only when its content changed.

use anstream::eprintln;
use std::path::Path;

use typebus_codegen::export::{ExportedFile, jsonschema, typescript};

use crate::cli::{ExportCommand, SchemaArgs};
use crate::config::Paths;
use crate::error::CliError;
use crate::output::OK;

/// Runs one export.
pub(crate) fn run(command: &ExportCommand) -> Result<(), CliError> {
    match command {
        ExportCommand::Jsonschema(args) => write_dir(&args.schemas, &args.out, jsonschema::export),
        ExportCommand::Typescript(args) => write_dir(&args.schemas, &args.out, typescript::export),
    }
}

/// Loads the model, exports it and writes every file under `--out`.
fn write_dir(
    schemas: &SchemaArgs,
    out: &Path,
    export: fn(&typebus_codegen::model::Model) -> Vec<ExportedFile>,
) -> Result<(), CliError> {
    let paths = Paths::resolve(schemas.schemas.as_deref(), None)?;
    let model = super::model(&paths.schemas)?;
    let files = export(&model);
    let mut written = 0usize;
    for file in &files {
        if typebus_codegen::write_if_changed(&out.join(&file.path), &file.contents)? {
            written += 1;
        }
    }
    eprintln!(
        "{OK}exported{OK:#} {} files to {} ({written} changed)",
        files.len(),
        out.display()
    );
    Ok(())
}
