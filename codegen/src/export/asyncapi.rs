//! An AsyncAPI 3.0 document for the whole schema set: one channel per
//! subject (address = the NATS subject), one message per event with its
//! payload schema (the [`jsonschema`](super::jsonschema) export) and its
//! contract version, and a `receive` operation per channel. Shared types
//! are `components/schemas`. Queue groups belong to the listening service,
//! not to the schemas: [`document_for`] describes one service, whose receive
//! operations carry a NATS `queue` binding with its queue group.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ExportedFile;
use super::jsonschema::{event_schema, type_schema};
use crate::model::{Model, TypeDef};

/// The file name used when writing into a directory.
pub const FILE_NAME: &str = "asyncapi.json";

/// The AsyncAPI document, as one file.
pub fn export(model: &Model) -> Vec<ExportedFile> {
    export_for(model, None)
}

/// The AsyncAPI document of the service listening in `queue_group` (see
/// [`document_for`]), as one file.
pub fn export_for(model: &Model, queue_group: Option<&str>) -> Vec<ExportedFile> {
    vec![ExportedFile {
        path: FILE_NAME.to_owned(),
        contents: crate::json_text::pretty(&document_for(model, queue_group)),
    }]
}

/// The AsyncAPI 3.0 document of a model.
pub fn document(model: &Model) -> Value {
    document_for(model, None)
}

/// The AsyncAPI 3.0 document of a model as the service listening in
/// `queue_group` sees it: every receive operation has the NATS binding
/// `{ "queue": queue_group }` (the group every instance of the service
/// shares, as `typebus::Listener::queue_group`).
pub fn document_for(model: &Model, queue_group: Option<&str>) -> Value {
    let types: BTreeMap<&str, &TypeDef> =
        model.types.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut channels = BTreeMap::new();
    let mut operations = BTreeMap::new();
    let mut messages = BTreeMap::new();
    for event in &model.events {
        let name = &event.name;
        let payload = component(event_schema(event, &types));
        let mut message = json!({
            "name": name,
            "title": format!("{name} v{}", event.version),
            "contentType": "application/json",
            "payload": payload,
            "x-typebus-subject": event.subject,
            "x-typebus-version": event.version,
        });
        if let Some(description) = &event.description {
            message["description"] = json!(description.trim_end());
        }
        messages.insert(name.clone(), message);
        channels.insert(
            name.clone(),
            json!({
                "address": event.subject,
                "messages": { name.clone(): { "$ref": format!("#/components/messages/{name}") } },
            }),
        );
        operations.insert(
            format!("receive{name}"),
            receive_operation(name, queue_group),
        );
    }
    let schemas: BTreeMap<String, Value> = model
        .types
        .iter()
        .map(|ty| (ty.name.clone(), component(type_schema(ty, &types))))
        .collect();
    crate::json_text::sorted(&json!({
        "asyncapi": "3.0.0",
        "info": { "title": "typebus events", "version": "1.0.0" },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": { "messages": messages, "schemas": schemas },
    }))
}

/// The receive operation of the channel and message named `name`.
fn receive_operation(name: &str, queue_group: Option<&str>) -> Value {
    let mut operation = json!({
        "action": "receive",
        "channel": { "$ref": format!("#/channels/{name}") },
        "messages": [{ "$ref": format!("#/channels/{name}/messages/{name}") }],
    });
    if let Some(group) = queue_group {
        operation["bindings"] = json!({ "nats": { "queue": group, "bindingVersion": "0.1.0" } });
    }
    operation
}

/// A standalone schema made a component: no `$schema`, no `$defs`, and
/// `#/$defs/X` references pointing at `#/components/schemas/X`.
fn component(schema: Value) -> Value {
    let mut schema = rewrite_refs(schema);
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.remove("$defs");
    }
    schema
}

fn rewrite_refs(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        let target = match target.strip_prefix("#/$defs/") {
                            Some(name) => format!("#/components/schemas/{name}"),
                            None => target,
                        };
                        (key, Value::String(target))
                    }
                    (_, value) => (key, rewrite_refs(value)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(rewrite_refs).collect()),
        other => other,
    }
}
