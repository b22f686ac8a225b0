//! `typebus export`: the schemas for other languages and tools, written
//! file by file, each only when its content changed.

use anstream::eprintln;
use typebus_codegen::export::{ExportedFile, jsonschema};

use crate::cli::{ExportCommand, ExportDirArgs};
use crate::config::Paths;
use crate::error::CliError;
use crate::output::OK;

/// Runs one export.
pub(crate) fn run(command: &ExportCommand) -> Result<(), CliError> {
    match command {
        ExportCommand::Jsonschema(args) => write_dir(args, jsonschema::export),
    }
}

/// Loads the model, exports it and writes every file under `--out`.
fn write_dir(
    args: &ExportDirArgs,
    export: fn(&typebus_codegen::model::Model) -> Vec<ExportedFile>,
) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let model = super::model(&paths.schemas)?;
    let files = export(&model);
    let mut written = 0usize;
    for file in &files {
        if typebus_codegen::write_if_changed(&args.out.join(&file.path), &file.contents)? {
            written += 1;
        }
    }
    eprintln!(
        "{OK}exported{OK:#} {} files to {} ({written} changed)",
        files.len(),
        args.out.display()
    );
    Ok(())
}
