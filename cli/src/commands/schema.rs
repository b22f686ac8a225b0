//! `typebus schema`: the JSON Schema of the schema-file format itself.

use anstream::eprintln;

use crate::cli::SchemaFormatArgs;
use crate::error::CliError;
use crate::output::OK;

/// Prints the schema, or writes it to `--out` when it changed.
pub(crate) fn run(args: &SchemaFormatArgs) -> Result<(), CliError> {
    let schema = typebus_codegen::schema_format::json_schema();
    match &args.out {
        Some(out) => {
            let changed = typebus_codegen::write_if_changed(out, &schema)?;
            let what = if changed { "wrote" } else { "up to date" };
            eprintln!("{OK}{what}{OK:#} {}", out.display());
        }
        None => anstream::print!("{schema}"),
    }
    Ok(())
}
