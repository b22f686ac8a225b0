//! The JSON Schema (2020-12) of the schema-file format itself, derived with
//! schemars from the loader's own types, so editors complete and check
//! schema files exactly as typebus reads them. Reference it from a schema
//! file with a modeline:
//!
//! ```yaml
//! # yaml-language-server: $schema=typebus-schema.json
//! events:
//!   ...
//! ```

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;

use crate::load::raw::RawFile;

/// The `$id` of the schema-file format's JSON Schema.
pub const SCHEMA_ID: &str = "https://typebus.dev/schema-file.json";

/// The JSON Schema of a typebus schema file, pretty-printed with a trailing
/// newline; the same bytes on every run.
///
/// ```
/// let schema = typebus_codegen::schema_format::json_schema();
/// let value: serde_json::Value = serde_json::from_str(&schema)?;
/// assert_eq!(value["title"], "typebus schema file");
/// assert!(value["properties"]["events"].is_object());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn json_schema() -> String {
    // `#[serde(default)]` on an `Option` field would show as `"default":
    // null`, which editors offer as a (wrong) value: drop those.
    let drop_null_defaults = RecursiveTransform(|schema: &mut Schema| {
        if schema
            .get("default")
            .is_some_and(serde_json::Value::is_null)
        {
            schema.remove("default");
        }
    });
    let mut schema = SchemaSettings::draft2020_12()
        .for_deserialize()
        .with_transform(drop_null_defaults)
        .into_generator()
        .into_root_schema_for::<RawFile>();
    schema.insert("$id".to_owned(), SCHEMA_ID.into());
    // Keys sorted: the same text whether or not serde_json keeps insertion
    // order (the CLI turns `preserve_order` on).
    crate::json_text::pretty(schema.as_value())
}
