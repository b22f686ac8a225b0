//! [`RustIdent`] -> `proc_macro2::Ident`, checked first: `Ident::new` panics
//! on text that is not an identifier, and a model can be built by hand.

use proc_macro2::{Ident, Span};

use crate::diagnostic::Diagnostic;
use crate::model::{Location, RustIdent};

/// Every Rust keyword (strict, reserved, and those of edition 2024), which
/// cannot be a plain identifier.
const KEYWORDS: &[&str] = &[
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers either.
const NOT_RAW: &[&str] = &["Self", "crate", "self", "super", "_"];

/// Why `ident` cannot be written in Rust, if it cannot.
fn problem(ident: &RustIdent) -> Option<&'static str> {
    let name = ident.name.as_str();
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Some("is empty");
    };
    if !(first == '_' || unicode_ident::is_xid_start(first))
        || !chars.all(unicode_ident::is_xid_continue)
    {
        return Some("is not a valid identifier");
    }
    if name == "_" {
        return Some("is the wildcard `_`");
    }
    let keyword = KEYWORDS.contains(&name);
    if ident.raw && NOT_RAW.contains(&name) {
        return Some("cannot be a raw identifier");
    }
    if keyword && !ident.raw {
        return Some("is a keyword and must be raw");
    }
    None
}

/// The identifier, or a diagnostic at `location` when the model holds text
/// Rust cannot spell.
pub(super) fn ident(ident: &RustIdent, location: &Location) -> Result<Ident, Diagnostic> {
    match problem(ident) {
        None if ident.raw => Ok(Ident::new_raw(&ident.name, Span::call_site())),
        None => Ok(Ident::new(&ident.name, Span::call_site())),
        Some(problem) => Err(Diagnostic::new(
            location.clone(),
            format!("the rust name `{ident}` {problem}"),
        )),
    }
}

/// A plain identifier made by the emitter itself from checked parts.
pub(super) fn derived(name: &str, location: &Location) -> Result<Ident, Diagnostic> {
    ident(
        &RustIdent {
            name: name.to_owned(),
            raw: false,
        },
        location,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> Location {
        Location {
            file: "a.yaml".into(),
            line: 3,
            column: 5,
        }
    }

    fn check(name: &str, raw: bool) -> Result<String, String> {
        ident(
            &RustIdent {
                name: name.into(),
                raw,
            },
            &loc(),
        )
        .map(|i| i.to_string())
        .map_err(|d| d.to_string())
    }

    #[test]
    fn valid_identifiers_pass() {
        assert_eq!(check("user_id", false).unwrap(), "user_id");
        assert_eq!(check("type", true).unwrap(), "r#type");
        assert_eq!(check("gen", true).unwrap(), "r#gen");
        assert_eq!(check("_x", false).unwrap(), "_x");
        assert_eq!(check("prix_été", false).unwrap(), "prix_été");
    }

    #[test]
    fn what_rust_cannot_spell_is_a_diagnostic_not_a_panic() {
        for (name, raw, why) in [
            ("", false, "is empty"),
            ("1st", false, "is not a valid identifier"),
            ("user id", false, "is not a valid identifier"),
            ("a-b", false, "is not a valid identifier"),
            ("_", false, "is the wildcard `_`"),
            ("self", true, "cannot be a raw identifier"),
            ("Self", true, "cannot be a raw identifier"),
            ("crate", true, "cannot be a raw identifier"),
            ("super", true, "cannot be a raw identifier"),
            ("match", false, "is a keyword and must be raw"),
            ("self", false, "is a keyword and must be raw"),
        ] {
            let err = check(name, raw).unwrap_err();
            assert!(
                err.starts_with("a.yaml:3:5: error: the rust name `"),
                "{err}"
            );
            assert!(err.ends_with(why), "{name}: {err}");
        }
    }
}
