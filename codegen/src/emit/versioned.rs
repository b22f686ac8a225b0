//! `impl ::typebus::Versioned` for events that declare `aggregate`: the
//! aggregate's name, the record id and the per-record sequence number the
//! runtime's ordering guard reads.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{Context, idents};
use crate::diagnostic::Diagnostic;
use crate::model::{EventDef, Field, Scalar, TypeExpr};

/// The `Versioned` impl of `event`, or nothing when it declares no
/// aggregate. A model whose aggregate points at a missing field or at a
/// field of the wrong type (possible only for a hand-built model: the
/// validator rejects both) is reported at the aggregate's location.
pub(super) fn versioned(cx: &mut Context<'_>, event: &EventDef) -> TokenStream {
    let Some(aggregate) = &event.aggregate else {
        return TokenStream::new();
    };
    // A bad event name is reported where the struct is emitted.
    let Ok(ty) = idents::ident(&event.ident, &event.location) else {
        return TokenStream::new();
    };
    let problem = |what: String| Diagnostic::new(aggregate.location.clone(), what);
    let id = match field(cx, event, aggregate.id_field, "id") {
        Some(field) => field,
        None => return TokenStream::new(),
    };
    let sequence = match field(cx, event, aggregate.sequence_field, "sequence") {
        Some(field) => field,
        None => return TokenStream::new(),
    };
    let (id_ident, sequence_ident) = match (
        idents::ident(&id.ident, &id.location),
        idents::ident(&sequence.ident, &sequence.location),
    ) {
        (Ok(id), Ok(sequence)) => (id, sequence),
        // Reported where the struct's fields are emitted.
        _ => return TokenStream::new(),
    };
    let id_body = match &id.ty {
        TypeExpr::Scalar(Scalar::String) => {
            quote!(::std::borrow::Cow::Borrowed(::std::string::String::as_str(&self.#id_ident)))
        }
        TypeExpr::Scalar(Scalar::Uuid) => {
            quote!(::std::borrow::Cow::Owned(::std::string::ToString::to_string(&self.#id_ident)))
        }
        other => {
            cx.error(problem(format!(
                "aggregate id `{}` of `{}` must be a `string` or `uuid` field, not `{other}`",
                id.wire, event.name
            )));
            return TokenStream::new();
        }
    };
    let sequence_body = match &sequence.ty {
        TypeExpr::Scalar(Scalar::U64) => quote!(self.#sequence_ident),
        TypeExpr::Scalar(Scalar::U32) => {
            quote!(<::core::primitive::u64 as ::core::convert::From<::core::primitive::u32>>::from(self.#sequence_ident))
        }
        other => {
            cx.error(problem(format!(
                "aggregate sequence `{}` of `{}` must be a `u32` or `u64` field, not `{other}`",
                sequence.wire, event.name
            )));
            return TokenStream::new();
        }
    };
    let name = Literal::string(&aggregate.name);
    quote! {
        impl ::typebus::Versioned for #ty {
            const AGGREGATE: &'static ::core::primitive::str = #name;

            fn id(&self) -> ::std::borrow::Cow<'_, ::core::primitive::str> {
                #id_body
            }

            fn sequence(&self) -> ::core::primitive::u64 {
                #sequence_body
            }
        }
    }
}

/// The field at `index`, or a diagnostic when the model has no such field.
fn field<'e>(
    cx: &mut Context<'_>,
    event: &'e EventDef,
    index: usize,
    role: &str,
) -> Option<&'e Field> {
    let found = event.fields.get(index);
    if found.is_none()
        && let Some(aggregate) = &event.aggregate
    {
        cx.error(Diagnostic::new(
            aggregate.location.clone(),
            format!(
                "aggregate {role} of `{}` names field {index}, but the event has {} fields",
                event.name,
                event.fields.len()
            ),
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Aggregate, Location, Model, RustIdent};

    fn loc() -> Location {
        Location {
            file: "a.yaml".into(),
            line: 4,
            column: 16,
        }
    }

    fn field(wire: &str, ty: TypeExpr) -> Field {
        Field {
            wire: wire.to_owned(),
            ident: RustIdent {
                name: wire.to_owned(),
                raw: false,
            },
            ty,
            description: None,
            default: None,
            deprecated: None,
            location: loc(),
            type_location: loc(),
        }
    }

    fn event(fields: Vec<Field>, id_field: usize, sequence_field: usize) -> EventDef {
        EventDef {
            name: "Moved".to_owned(),
            ident: RustIdent {
                name: "Moved".to_owned(),
                raw: false,
            },
            subject: "thing:moved".to_owned(),
            subject_variant: RustIdent {
                name: "ThingMoved".to_owned(),
                raw: false,
            },
            version: 1,
            description: None,
            aggregate: Some(Aggregate {
                name: "thing".to_owned(),
                id_field,
                sequence_field,
                location: loc(),
            }),
            fields,
            location: loc(),
        }
    }

    fn run(event: &EventDef) -> (String, Vec<String>) {
        let model = Model {
            files: vec![],
            types: vec![],
            events: vec![],
            history: vec![],
            evolution: Default::default(),
        };
        let mut cx = Context::new(&model);
        let tokens = versioned(&mut cx, event);
        let messages = match cx.finish() {
            Ok(()) => vec![],
            Err(err) => err.diagnostics().iter().map(|d| d.to_string()).collect(),
        };
        (tokens.to_string(), messages)
    }

    #[test]
    fn uuid_ids_and_u32_sequences_are_converted() {
        let (code, problems) = run(&event(
            vec![
                field("id", TypeExpr::Scalar(Scalar::Uuid)),
                field("rev", TypeExpr::Scalar(Scalar::U32)),
            ],
            0,
            1,
        ));
        assert!(problems.is_empty(), "{problems:?}");
        assert!(
            code.contains("ToString :: to_string (& self . id)"),
            "{code}"
        );
        assert!(
            code.contains("From < :: core :: primitive :: u32 >"),
            "{code}"
        );
        assert!(code.contains("\"thing\""), "{code}");
    }

    #[test]
    fn a_hand_built_model_with_bad_fields_is_reported_not_emitted() {
        let (code, problems) = run(&event(
            vec![field("id", TypeExpr::Scalar(Scalar::I64))],
            0,
            0,
        ));
        assert!(code.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("aggregate id `id` of `Moved` must be a `string` or `uuid`"),
            "{problems:?}"
        );
        let (code, problems) = run(&event(
            vec![field("id", TypeExpr::Scalar(Scalar::String))],
            0,
            3,
        ));
        assert!(code.is_empty());
        assert!(
            problems[0].contains("aggregate sequence of `Moved` names field 3"),
            "{problems:?}"
        );
    }
}
