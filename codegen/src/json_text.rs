//! JSON text that does not depend on serde_json's map type: keys sorted at
//! every level, pretty-printed, with a final newline. With serde_json's
//! `preserve_order` feature on (a crate elsewhere in the build may turn it
//! on; the CLI does), a `Value` keeps insertion order, so an export or the
//! schema-file format would otherwise change with the build.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// `value` with the keys of every object in sorted order.
pub(crate) fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let entries: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// [`sorted`] `value` as pretty JSON with a final newline.
pub(crate) fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value))
        .unwrap_or_else(|_| unreachable!("a JSON value always serializes"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level_whatever_the_map_type() {
        let mut inner = Map::new();
        inner.insert("b".into(), Value::Null);
        inner.insert("a".into(), Value::Bool(true));
        let mut outer = Map::new();
        outer.insert("z".into(), Value::Array(vec![Value::Object(inner)]));
        outer.insert("y".into(), Value::from(1));
        assert_eq!(
            pretty(&Value::Object(outer)),
            "{\n  \"y\": 1,\n  \"z\": [\n    {\n      \"a\": true,\n      \"b\": null\n    }\n  ]\n}\n"
        );
    }
}
