//! serde-saphyr errors -> diagnostics with `file:line:col`, reworded in the
//! codegen's voice (lowercase, names in backticks, a help where one helps).

use std::sync::Arc;

use serde_saphyr::{Error as YamlError, MessageFormatter, UserMessageFormatter};

use crate::diagnostic::Diagnostic;
use crate::model::Location;

use super::saturate;

/// The diagnostic for a file serde-saphyr could not read.
pub(super) fn diagnostic(file: &Arc<str>, error: &YamlError) -> Diagnostic {
    let (line, column) = error
        .location()
        .filter(|l| l.line() > 0)
        .map_or((1, 1), |l| {
            (
                saturate(usize::try_from(l.line()).unwrap_or(usize::MAX)),
                saturate(usize::try_from(l.column()).unwrap_or(usize::MAX)).max(1),
            )
        });
    let location = Location {
        file: file.clone(),
        line,
        column,
    };
    let (message, help) = describe(original(error), line == 1 && column == 1);
    let diagnostic = Diagnostic::new(location, message);
    match help {
        Some(help) => diagnostic.with_help(help),
        None => diagnostic,
    }
}

/// The error under alias and snippet wrappers.
fn original(mut error: &YamlError) -> &YamlError {
    loop {
        match error {
            YamlError::WithSnippet { error: inner, .. }
            | YamlError::AliasError { error: inner, .. } => {
                error = inner;
            }
            _ => return error,
        }
    }
}

/// Message and help for one error. `at_start`: the error is at 1:1, where a
/// wrong shape means the whole file is not a mapping.
fn describe(error: &YamlError, at_start: bool) -> (String, Option<String>) {
    match error {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let help = match closest(field, expected) {
                Some(near) => format!("did you mean `{near}`?"),
                None if expected.is_empty() => "no keys are allowed here".to_owned(),
                None => format!("expected one of {}", quoted(expected)),
            };
            (
                format!("unknown key `{}`", field.escape_debug()),
                Some(help),
            )
        }
        YamlError::SerdeMissingField { field, .. } => (format!("missing key `{field}`"), None),
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => (
            format!("expected {expected}, found {}", found(unexpected)),
            None,
        ),
        YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            format!("expected {expected}, found {}", found(unexpected)),
            None,
        ),
        YamlError::Unexpected { expected, .. } => {
            let what = match *expected {
                "mapping start" => "a mapping",
                "sequence start" => "a list",
                "string scalar" => "a string",
                other => other,
            };
            let help = (at_start && what == "a mapping")
                .then(|| "a schema file is a mapping with `types:` and/or `events:`".to_owned());
            (format!("expected {what}"), help)
        }
        YamlError::InvalidScalar { ty, .. } => {
            let what = match *ty {
                "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128"
                | "isize" | "usize" => "a whole number".to_owned(),
                "bool" => "`true` or `false`".to_owned(),
                other => format!("a valid `{other}`"),
            };
            (format!("expected {what}"), None)
        }
        YamlError::InvalidBooleanStrict { .. } => ("expected `true` or `false`".to_owned(), None),
        YamlError::NullIntoString { .. } => (
            "expected a string, found `null`".to_owned(),
            Some("quote it to use the text \"null\"".to_owned()),
        ),
        YamlError::DuplicateMappingKey { key, .. } => (
            match key {
                Some(key) => format!("duplicate key `{}`", key.escape_debug()),
                None => "duplicate key".to_owned(),
            },
            Some("a key may appear only once in a mapping".to_owned()),
        ),
        YamlError::MultipleDocuments { .. } => (
            "a schema file holds one YAML document".to_owned(),
            Some("remove the `---` separator, or put each document in its own file".to_owned()),
        ),
        YamlError::Eof { .. } => ("unexpected end of file".to_owned(), None),
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => (
            "aliases expand to too much data".to_owned(),
            Some("schema files cannot use alias bombs; write the values out".to_owned()),
        ),
        YamlError::Budget { .. } => (
            format!("the file exceeds a parser limit: {}", plain(error)),
            Some(
                "schema files cannot use alias bombs, nest deeper than 32 levels, or be that large"
                    .to_owned(),
            ),
        ),
        _ => {
            let text = plain(error);
            if text == "recursion limit exceeded" {
                (
                    format!("the file nests deeper than {} levels", super::MAX_DEPTH),
                    None,
                )
            } else {
                (text, None)
            }
        }
    }
}

/// serde-saphyr's own wording, made lowercase and without a final period.
fn plain(error: &YamlError) -> String {
    let text = UserMessageFormatter.format_message(error);
    let text = text.trim().trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        // Lowercase a capitalised first word, but not an acronym (`YAML`).
        Some(first) if first.is_uppercase() && !chars.next().is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text.to_owned(),
    }
}

/// How serde names a found value, reworded: `unit value` -> `` `null` ``.
fn found(unexpected: &str) -> String {
    match unexpected {
        "unit value" => "`null`".to_owned(),
        "map" => "a mapping".to_owned(),
        "sequence" => "a list".to_owned(),
        other => other.to_owned(),
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    crate::validate::closest(word, candidates.iter().copied())
}
