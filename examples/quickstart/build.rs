//! Generates the event types of `schemas/` into `$OUT_DIR/events.rs`.
fn main() -> Result<(), typebus_codegen::Error> {
    // Relative to CARGO_MANIFEST_DIR; reruns only when a schema changes.
    typebus_codegen::Builder::new()
        .schema_dir("schemas")
        .compile()?;
    Ok(())
}
