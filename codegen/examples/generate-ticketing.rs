//! Regenerates `generated/src/events.rs` (the `ticketing-events` crate) from
//! `schemas/`:
//!
//! ```text
//! cargo run -p typebus-codegen --example generate-ticketing
//! ```
//!
//! Prints whether the file changed; exits non-zero with every diagnostic
//! when the schemas have problems (nothing is written then).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let result = typebus_codegen::Builder::new()
        .base_dir(&root)
        .schema_dir("schemas")
        .write_to("generated/src/events.rs");
    match result {
        Ok(true) => {
            println!("generated/src/events.rs updated");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("generated/src/events.rs is up to date");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}
