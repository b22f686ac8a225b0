//! Checks on a parsed input as a whole: the kind of item, generics, missing
//! or repeated attributes, subject syntax and version range; or, for
//! `#[event(schema = ...)]`, the schema and the struct's conformance to it.

use syn::ext::IdentExt;
use syn::{Fields, Generics, Ident};
use typebus_names::SubjectProblemKind;

use crate::ast::{Event, Input, Kind};
use crate::attr::{Attrs, FORM};
use crate::conform;
use crate::errors::Errors;
use crate::schema::Schema;
use crate::serde_attr::Container;

/// Checks `input` and returns the event to expand, or every problem found
/// (together with those found while parsing).
pub(crate) fn check(input: Input<'_>) -> syn::Result<Event<'_>> {
    let Input {
        kind,
        ident,
        generics,
        attrs,
        fields,
        serde,
        mut errors,
    } = input;

    match kind {
        Kind::Struct => {}
        Kind::Enum(span) => errors.push(syn::Error::new(
            span,
            "`#[derive(Event)]` needs a struct: an event is one payload shape, and enums are not supported",
        )),
        Kind::Union(span) => errors.push(syn::Error::new(
            span,
            "`#[derive(Event)]` needs a struct: unions cannot be serialized as event payloads",
        )),
    }

    if !generics.params.is_empty() {
        errors.spanned(
            generics,
            "an event cannot be generic: its subject and version name exactly one payload shape; declare one struct per event",
        );
    }

    for extra in attrs.attributes.iter().skip(1) {
        errors.spanned(
            extra,
            "more than one `#[event]` attribute: put every key in one `#[event(...)]`",
        );
    }

    let Some(first) = attrs.attributes.first() else {
        errors.spanned(
            ident,
            format_args!("missing `{FORM}` on `{}`", ident.unraw()),
        );
        return errors.finish_err();
    };

    if attrs.key("schema").is_some() {
        return check_schema_form(ident, generics, &attrs, fields, &serde, errors);
    }
    if let Some(name) = attrs.key("name") {
        errors.spanned(
            name,
            "`name` needs `schema = \"path/to/file.yaml\"`: it names an event in that schema file",
        );
    }

    if attrs.is_missing("subject") {
        errors.spanned(first, "missing `subject = \"...\"` in `#[event(...)]`");
    }
    if attrs.is_missing("version") {
        errors.spanned(first, "missing `version = N` in `#[event(...)]`");
    }

    let subject = attrs.subject.as_ref().and_then(|lit| {
        let problems = subject_problems(&lit.value());
        let valid = problems.is_empty();
        for problem in problems {
            errors.spanned(lit, problem);
        }
        valid.then(|| (lit.value(), lit.span()))
    });

    let version = attrs
        .version
        .as_ref()
        .and_then(|lit| match version_value(lit) {
            Ok(value) => Some((value, lit.span())),
            Err(message) => {
                errors.spanned(lit, message);
                None
            }
        });

    match (subject, version) {
        (Some(subject), Some(version)) => errors.finish(Event {
            ident,
            generics,
            subject,
            version,
            name: ident.unraw().to_string(),
            schema_files: Vec::new(),
        }),
        _ => errors.finish_err(),
    }
}

/// `#[event(schema = "...", name = "...")]`: subject and version come from
/// the schema, and the struct must match the event field for field.
fn check_schema_form<'a>(
    ident: &'a Ident,
    generics: &'a Generics,
    attrs: &Attrs<'_>,
    fields: Option<&Fields>,
    serde: &Container,
    mut errors: Errors,
) -> syn::Result<Event<'a>> {
    for key in ["subject", "version"] {
        if let Some(written) = attrs.key(key) {
            errors.spanned(
                written,
                format_args!(
                    "`{key}` cannot be combined with `schema`: the schema gives the event's subject and version; remove `{key} = ...`"
                ),
            );
        }
    }
    let Some(schema_lit) = &attrs.schema else {
        // `schema` was given, but not as a string literal: already reported.
        return errors.finish_err();
    };
    let event_name = match &attrs.name {
        Some(lit) => lit.value(),
        None if attrs.key("name").is_some() => return errors.finish_err(),
        None => ident.unraw().to_string(),
    };
    let name_at = attrs.name.as_ref().unwrap_or(schema_lit);

    let Some(schema) = Schema::load(schema_lit, &mut errors) else {
        return errors.finish_err();
    };
    let Some(event) = schema.event(&event_name, name_at, &mut errors) else {
        return errors.finish_err();
    };
    if let Some(fields) = fields {
        conform::check(ident, fields, serde, event, &schema, &mut errors);
    }
    let span = schema_lit.span();
    errors.finish(Event {
        ident,
        generics,
        subject: (event.subject.clone(), span),
        version: (event.version, span),
        name: event.name.clone(),
        schema_files: schema.paths.clone(),
    })
}

/// Every reason `subject` is not a valid subject to publish on
/// ([`typebus_names::subject_problems`]); empty when it is valid. Tokens
/// are separated by `.`; `:` and other characters are allowed inside a
/// token. Each message says what is wrong and why, in one line, as a
/// compile error has no separate help.
pub(crate) fn subject_problems(subject: &str) -> Vec<String> {
    typebus_names::subject_problems(subject)
        .into_iter()
        .map(|problem| {
            let why = match problem.kind {
                SubjectProblemKind::Empty => {
                    return "subject is empty: an event needs a subject such as `ticket:created`"
                        .to_owned();
                }
                SubjectProblemKind::Blank => ", which a NATS subject cannot hold",
                SubjectProblemKind::Wildcard(_) => {
                    ": an event is published on one concrete subject"
                }
                SubjectProblemKind::EmptyToken => {
                    ": `.` separates tokens, so it cannot start or end the subject or appear twice in a row"
                }
                SubjectProblemKind::Reserved => {
                    ": `$JS`, `$SYS` and other `$` subjects belong to the server"
                }
            };
            format!("subject `{}` {}{why}", subject.escape_debug(), problem.kind)
        })
        .collect()
}

/// The version as a `u32` >= 1, or why it is not one.
fn version_value(lit: &syn::LitInt) -> Result<u32, String> {
    if !matches!(lit.suffix(), "" | "u32") {
        return Err(format!(
            "version is a `u32`: remove the `{}` suffix",
            lit.suffix()
        ));
    }
    match lit.base10_digits().parse::<u128>() {
        Ok(0) => Err("version must be at least 1: contract versions start at 1".to_owned()),
        Ok(value) => u32::try_from(value)
            .map_err(|_| format!("version {value} is out of range: at most {}", u32::MAX)),
        Err(_) => Err(format!(
            "version {} is out of range: at most {}",
            lit.base10_digits(),
            u32::MAX
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::subject_problems;

    #[test]
    fn ticketing_and_dotted_subjects_are_valid() {
        for subject in [
            "ticket:created",
            "order:cancelled",
            "a",
            "orders.v1.created",
            "awaiting:payment",
            "a-b_c",
        ] {
            assert_eq!(subject_problems(subject), Vec::<String>::new(), "{subject}");
        }
    }

    #[test]
    fn each_bad_subject_is_reported_with_its_reason() {
        let cases = [
            ("", "is empty"),
            ("ticket created", "whitespace"),
            ("ticket\tcreated", "whitespace"),
            ("ticket\u{7}created", "control character"),
            ("ticket.*", "wildcard `*`"),
            ("ticket.>", "wildcard `>`"),
            ("a..b", "empty token"),
            (".a", "empty token"),
            ("a.", "empty token"),
            (".", "empty token"),
        ];
        for (subject, expected) in cases {
            let problems = subject_problems(subject);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{subject:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn several_problems_of_one_subject_are_all_reported() {
        assert_eq!(subject_problems(". *").len(), 3);
    }

    #[test]
    fn subjects_in_the_dollar_namespace_are_refused() {
        assert_eq!(
            subject_problems("$JS.API"),
            [
                "subject `$JS.API` is in the `$` namespace reserved by NATS: `$JS`, `$SYS` and other `$` subjects belong to the server"
            ]
        );
        assert_eq!(subject_problems("a.$b"), Vec::<String>::new());
    }
}
