//! Every export states the same rule for every field: a table of field
//! declarations and what each must mean (required or not, never `null`,
//! the default, integer bounds, the format), checked against
//! the JSON Schema (validating payloads with it), the TypeScript
//! declarations and the AsyncAPI message payload.

use serde_json::{Value, json};

use crate::common::Project;
use crate::export_jsonschema::Exported;

/// What a field declaration must mean in every export.
struct Rule {
    decl: &'static str,
    /// Must be present.
    required: bool,
    /// A value of the field's type, for the payloads.
    sample: Value,
    /// The TypeScript type.
    ts: &'static str,
    default: Option<Value>,
    /// Integer bounds (JSON Schema `minimum`/`maximum`, TypeScript JSDoc).
    bounds: Option<(Value, Value)>,
    format: Option<&'static str>,
}

const fn rule(decl: &'static str, required: bool, ts: &'static str) -> Rule {
    Rule {
        decl,
        required,
        sample: Value::Null,
        ts,
        default: None,
        bounds: None,
        format: None,
    }
}

fn rules() -> Vec<Rule> {
    vec![
        Rule {
            sample: json!("x"),
            ..rule("string", true, "string")
        },
        // Optional: absent when there is no value, never `null`.
        Rule {
            sample: json!("x"),
            ..rule("string?", false, "string")
        },
        Rule {
            sample: json!(3),
            default: Some(json!(1)),
            bounds: Some((json!(0), json!(u32::MAX))),
            ..rule("{ type: u32, default: 1 }", false, "number")
        },
        Rule {
            sample: json!(["a"]),
            default: Some(json!([])),
            ..rule(
                "{ type: list<string>, default: [] }",
                false,
                "Array<string>",
            )
        },
        Rule {
            sample: json!(-3),
            bounds: Some((json!(i32::MIN), json!(i32::MAX))),
            ..rule("i32", true, "number")
        },
        Rule {
            sample: json!(-3),
            bounds: Some((json!(i64::MIN), json!(i64::MAX))),
            ..rule("i64", true, "number")
        },
        Rule {
            sample: json!(3),
            bounds: Some((json!(0), json!(u64::MAX))),
            ..rule("u64?", false, "number")
        },
        Rule {
            sample: json!(2.5),
            ..rule("f64", true, "number")
        },
        Rule {
            sample: json!("2020-05-01T12:00:00.000Z"),
            format: Some("date-time"),
            ..rule("timestamp", true, "string")
        },
        Rule {
            sample: json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            format: Some("uuid"),
            ..rule("uuid?", false, "string")
        },
        // In a list, a missing item is written `null`.
        Rule {
            sample: json!([1.5, null]),
            ..rule("list<f64?>", true, "Array<number | null>")
        },
        Rule {
            sample: json!("red"),
            ..rule("Color", true, "Color")
        },
        // An open enum: any string.
        Rule {
            sample: json!("bored"),
            ..rule("Mood?", false, "Mood")
        },
    ]
}

const TYPES: &str = "\
types:
  Color:
    enum: [red, green]
  Mood:
    enum: [happy, sad]
    open: true
";

#[test]
fn every_export_states_the_same_rule_for_each_field() {
    let rules = rules();
    let mut yaml =
        format!("{TYPES}events:\n  Case:\n    subject: case:made\n    version: 1\n    fields:\n");
    for (n, rule) in rules.iter().enumerate() {
        yaml.push_str(&format!("      f{n}: {}\n", rule.decl));
    }
    let project = Project::new();
    project.write("schemas/cases.yaml", &yaml);
    for (kind, out) in [("jsonschema", "js"), ("typescript", "ts")] {
        project
            .typebus(&["export", kind, "--out", out])
            .assert()
            .code(0);
    }
    project
        .typebus(&["export", "asyncapi", "--out", "asyncapi.json"])
        .assert()
        .code(0);
    let schema: Value = serde_json::from_str(&project.read("js/Case.schema.json")).unwrap();
    let exported = Exported::load(&project.path("js"), &["Case.schema.json"]);
    let typescript = project.read("ts/events.ts");
    let asyncapi: Value = serde_json::from_str(&project.read("asyncapi.json")).unwrap();
    let payload = &asyncapi["components"]["messages"]["Case"]["payload"];

    let full: serde_json::Map<String, Value> = rules
        .iter()
        .enumerate()
        .map(|(n, rule)| (format!("f{n}"), rule.sample.clone()))
        .collect();
    exported
        .check("Case.schema.json", &Value::Object(full.clone()))
        .unwrap_or_else(|e| panic!("the sample payload is rejected: {e}"));
    let required: Vec<&Value> = schema["required"].as_array().unwrap().iter().collect();
    for (n, rule) in rules.iter().enumerate() {
        let name = format!("f{n}");
        let at = format!("`{}` (field {name})", rule.decl);
        let property = &schema["properties"][&name];

        // JSON Schema: required, null, default, bounds, format.
        assert_eq!(
            required.contains(&&json!(name)),
            rule.required,
            "{at}: required"
        );
        let mut without = full.clone();
        without.remove(&name);
        assert_eq!(
            exported
                .check("Case.schema.json", &Value::Object(without))
                .is_ok(),
            !rule.required,
            "{at}: payload without it"
        );
        let mut null = full.clone();
        null.insert(name.clone(), Value::Null);
        // `null` is never a field's value (an item's, in a list).
        assert!(
            exported
                .check("Case.schema.json", &Value::Object(null))
                .is_err(),
            "{at}: payload with it null"
        );
        assert_eq!(
            property.get("default"),
            rule.default.as_ref(),
            "{at}: default"
        );
        let bounds = rule.bounds.as_ref();
        assert_eq!(
            property.get("minimum"),
            bounds.map(|b| &b.0),
            "{at}: minimum"
        );
        assert_eq!(
            property.get("maximum"),
            bounds.map(|b| &b.1),
            "{at}: maximum"
        );
        assert_eq!(
            property.get("format").and_then(Value::as_str),
            rule.format,
            "{at}: format"
        );

        // TypeScript: `?` exactly when not required, the type, and the
        // same default, bounds and format in the field's JSDoc.
        let optional = if rule.required { "" } else { "?" };
        let line = format!("    {name}{optional}: {};\n", rule.ts);
        let end = typescript
            .find(&line)
            .unwrap_or_else(|| panic!("{at}: no `{}` in\n{typescript}", line.trim()));
        let start = typescript[..end].rfind(";\n").unwrap();
        let doc = &typescript[start..end];
        let tag = |tag: &str, value: Option<String>| match value {
            Some(value) => assert!(
                doc.contains(&format!("* @{tag} {value}\n")),
                "{at}: @{tag} {value} in {doc}"
            ),
            None => assert!(
                !doc.contains(&format!("@{tag} ")),
                "{at}: no @{tag} in {doc}"
            ),
        };
        tag("default", rule.default.as_ref().map(Value::to_string));
        tag("minimum", bounds.map(|b| b.0.to_string()));
        tag("maximum", bounds.map(|b| b.1.to_string()));
        tag("format", rule.format.map(str::to_owned));
        assert_eq!(
            doc.contains("@TJS-type integer"),
            bounds.is_some(),
            "{at}: integer"
        );

        // AsyncAPI: the same payload schema (shared types referenced from
        // its components instead of `$defs`).
        let refs = |value: &Value| {
            value
                .to_string()
                .replace("#/components/schemas/", "#/$defs/")
        };
        assert_eq!(
            refs(&payload["properties"][&name]),
            refs(property),
            "{at}: asyncapi"
        );
    }
    assert_eq!(
        payload["required"], schema["required"],
        "asyncapi: required"
    );
}
