//! `JsonSchema` for the raw types whose serde shape is hand-written
//! (`OrderedMap`, `RawField`, `RawDeprecated`, `RawValue`) and for type
//! expressions, so that the schema-file format's JSON Schema is derived from
//! the very types the loader reads (feature `schema-format`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::raw::{OrderedMap, RawDeprecated, RawField, RawFieldSpec, RawValue};
use crate::model::Scalar;

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "additionalProperties": generator.subschema_for::<V>(),
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// A type expression: `string bool i32 i64 u32 u64 f32 f64 timestamp uuid
/// json`, a shared type's name, `list<T>`, `map<T>` (string keys), and `T?`
/// for an optional value.
pub(crate) struct TypeExpr;

impl JsonSchema for TypeExpr {
    fn schema_name() -> Cow<'static, str> {
        "TypeExpr".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let scalars: Vec<&str> = Scalar::ALL.iter().map(|s| s.schema_name()).collect();
        json_schema!({
            "description": "A type expression: a scalar (`string bool i32 i64 u32 u64 f32 f64 timestamp uuid json`), a shared type's name, `list<T>`, `map<T>` (string keys), and `T?` for an optional value.",
            "anyOf": [
                { "enum": scalars },
                {
                    "type": "string",
                    "minLength": 1,
                    "pattern": "^[A-Za-z_][A-Za-z0-9_<>? ]*$",
                },
            ],
        })
    }
}

impl JsonSchema for RawField {
    fn schema_name() -> Cow<'static, str> {
        "Field".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A field: its type expression (`userId: string`), or a mapping with `type` and optionally `description`, `default` and `deprecated`.",
            "anyOf": [
                generator.subschema_for::<TypeExpr>(),
                generator.subschema_for::<RawFieldSpec>(),
            ],
        })
    }
}

impl JsonSchema for RawDeprecated {
    fn schema_name() -> Cow<'static, str> {
        "Deprecated".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`true`, `false`, or a note saying what to use instead (implies deprecated).",
            "type": ["boolean", "string"],
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

impl JsonSchema for RawValue {
    fn schema_name() -> Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Any value that fits the field's type (`null` for an optional field).",
        })
    }

    fn inline_schema() -> bool {
        true
    }
}
