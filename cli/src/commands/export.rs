//! `typebus export`: the schemas for other languages and tools, written
//! file by file, each only when its content changed.

use anstream::eprintln;
use std::path::Path;

use typebus_codegen::export::{ExportedFile, asyncapi, jsonschema, typescript};

use crate::cli::{ExportAsyncapiArgs, ExportCommand, SchemaArgs};
use crate::config::Paths;
use crate::error::CliError;
use crate::output::OK;

/// Runs one export.
pub(crate) fn run(command: &ExportCommand) -> Result<(), CliError> {
    match command {
        ExportCommand::Jsonschema(args) => write_dir(&args.schemas, &args.out, jsonschema::export),
        ExportCommand::Typescript(args) => write_dir(&args.schemas, &args.out, typescript::export),
        ExportCommand::Asyncapi(args) => asyncapi_document(args),
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
        "{OK}exported{OK:#} {} file{} to {} ({written} changed)",
        files.len(),
        crate::output::plural(files.len()),
        out.display()
    );
    Ok(())
}

/// `export asyncapi`: one document, to `--out` or standard output.
fn asyncapi_document(args: &ExportAsyncapiArgs) -> Result<(), CliError> {
    let queue_group = args.queue_group.as_deref();
    let args = &args.file;
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let model = super::model(&paths.schemas)?;
    let contents: String = asyncapi::export_for(&model, queue_group)
        .into_iter()
        .map(|file| file.contents)
        .collect();
    match &args.out {
        Some(out) => {
            let changed = typebus_codegen::write_if_changed(out, &contents)?;
            let what = if changed { "wrote" } else { "up to date" };
            eprintln!("{OK}{what}{OK:#} {}", out.display());
        }
        None => anstream::print!("{contents}"),
    }
    Ok(())
}
