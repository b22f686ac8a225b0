//! Generates the payments service's event types from the shared schemas
//! into `$OUT_DIR/events.rs` (included by `src/events.rs`).

fn main() -> Result<(), typebus_codegen::Error> {
    // Relative to CARGO_MANIFEST_DIR; reruns only when a schema changes.
    typebus_codegen::Builder::new()
        .schema_dir("../../schemas")
        .compile()?;
    Ok(())
}
