//! `src/events.rs` is exactly what typebus-codegen generates from
//! `schemas/` today. When this fails, regenerate it with the command in the
//! message and commit the result.

use std::path::Path;

/// The command that rewrites `src/events.rs`.
const REGENERATE: &str = "cargo run -p typebus-codegen --example generate-ticketing";

#[test]
fn checked_in_code_matches_the_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let generated = typebus_codegen::Builder::new()
        .base_dir(&root)
        .schema_dir("schemas")
        .generate()
        .unwrap_or_else(|err| panic!("schemas/ does not generate:\n{err}"));
    let checked_in =
        std::fs::read_to_string(root.join("generated/src/events.rs")).unwrap_or_else(|err| {
            panic!("cannot read generated/src/events.rs ({err}); run `{REGENERATE}`")
        });
    assert!(
        generated.code() == checked_in,
        "generated/src/events.rs is stale: it differs from what schemas/ generates.\n\
         Regenerate it with:\n\n    {REGENERATE}\n"
    );
}
