//! Rust identifiers derived from schema names.
//!
//! - Fields: `snake_case` ([`field_ident`]), leading underscores of the wire
//!   name kept (`_id` stays `_id`).
//! - Types, enum variants and subject variants: `UpperCamelCase`
//!   ([`type_ident`]): `awaiting:payment` -> `AwaitingPayment`.
//!
//! Words are split with heck (case changes and any character that is not a
//! letter or digit), so `userId`, `user_id` and `user-id` all become
//! `user_id`.
//!
//! Keywords (strict and reserved, edition 2024) become raw identifiers
//! (`r#type`, `r#gen`); the keywords that cannot be raw (`self`, `Self`,
//! `super`, `crate`) and `_` get a trailing underscore (`self_`, `Self_`). A
//! name starting with a digit gets a leading underscore (`1st` -> `_1st`,
//! `2fa` -> `_2fa` as a type too). Non-ASCII letters are kept as they are
//! (Rust accepts Unicode identifiers); a name that still is not a valid
//! identifier after conversion (no letter or digit at all, or a character
//! outside Unicode `XID_Continue` such as `²`) is refused with
//! [`IdentError`].

use std::fmt;

use heck::{ToSnakeCase, ToUpperCamelCase};

use crate::model::RustIdent;

/// Strict and reserved keywords of Rust 2024 that can be written as raw
/// identifiers (`r#type`).
pub const RAW_KEYWORDS: &[&str] = &[
    // strict
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", // reserved
    "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers, and `_`; these get a trailing
/// underscore.
pub const NON_RAW_KEYWORDS: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Type names the generated module defines itself; a schema type or event
/// whose Rust name is one of these is refused.
pub const GENERATED_TYPE_NAMES: &[&str] = &["Subject", "AnyEvent"];

/// Why no Rust identifier can be derived from a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentError {
    /// The name has no letter or digit.
    NoLetters,
    /// The name keeps a character that Rust does not accept in identifiers.
    InvalidChar(char),
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentError::NoLetters => f.write_str("it has no letter or digit"),
            IdentError::InvalidChar(c) => {
                write!(
                    f,
                    "`{}` cannot appear in a Rust identifier",
                    c.escape_debug()
                )
            }
        }
    }
}

/// The Rust field name for a wire name: `userId` -> `user_id`,
/// `type` -> `r#type`, `self` -> `self_`, `1st` -> `_1st`, `_id` -> `_id`.
pub fn field_ident(wire: &str) -> Result<RustIdent, IdentError> {
    let underscores = wire.len() - wire.trim_start_matches('_').len();
    let rest = &wire[underscores..];
    let body = if is_plain_snake(rest) {
        rest.to_owned()
    } else if let Some(snake) = plain_camel_to_snake(rest) {
        snake
    } else {
        rest.to_snake_case()
    };
    if body.is_empty() && underscores == 0 {
        return Err(IdentError::NoLetters);
    }
    if underscores == 0 {
        return finish(body);
    }
    finish(format!("{}{body}", &wire[..underscores]))
}

/// The Rust type or variant name for a schema name or value:
/// `ticket:created` -> `TicketCreated`, `self` -> `Self_`, `1st` -> `_1st`.
pub fn type_ident(name: &str) -> Result<RustIdent, IdentError> {
    let body = if is_plain_camel(name) {
        name.to_owned()
    } else if let Some(camel) = lower_words_to_camel(name) {
        camel
    } else {
        name.to_upper_camel_case()
    };
    if body.is_empty() {
        return Err(IdentError::NoLetters);
    }
    finish(body)
}

/// Whether heck's `snake_case` leaves `s` as it is: ASCII lowercase words
/// of letters and digits joined by single underscores. (A fast path: most
/// wire names are like this.)
fn is_plain_snake(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.starts_with('_')
        && !s.ends_with('_')
        && !s.contains("__")
}

/// heck's `snake_case` of a plain ASCII camelCase name (`userId`,
/// `field1Name`), without heck's per-character formatting; `None` for other
/// names (acronyms such as `HTTPStatus`, separators, non-ASCII), which go
/// through heck.
fn plain_camel_to_snake(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_lowercase)
        || !b.iter().all(u8::is_ascii_alphanumeric)
        || b.windows(2)
            .any(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase())
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 4);
    // Whether the last letter seen was lowercase (digits do not count).
    let mut after_lower = false;
    for &c in b {
        if c.is_ascii_uppercase() {
            if !after_lower {
                // An uppercase letter after another one (through digits,
                // `B1C`): heck's acronym rules apply.
                return None;
            }
            out.push('_');
            out.push(char::from(c.to_ascii_lowercase()));
            after_lower = false;
        } else {
            if c.is_ascii_lowercase() {
                after_lower = true;
            }
            out.push(char::from(c));
        }
    }
    Some(out)
}

/// heck's `UpperCamelCase` of lowercase ASCII words joined by ASCII
/// separators (`ticket:created`, `orders.v2.created`, `awaiting-payment`):
/// each word capitalised; `None` for other names, which go through heck.
fn lower_words_to_camel(s: &str) -> Option<String> {
    if !s.bytes().all(|b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || (b.is_ascii() && !b.is_ascii_alphanumeric())
    }) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
    }
    Some(out)
}

/// Whether heck's `UpperCamelCase` leaves `s` as it is: ASCII letters and
/// digits, starting with an uppercase letter, with no uppercase letter right
/// after another uppercase letter or a digit (`TicketCreated`, `Event12`).
fn is_plain_camel(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_uppercase)
        && b.iter().all(u8::is_ascii_alphanumeric)
        && b.windows(2).all(|w| {
            !(w[1].is_ascii_uppercase() && (w[0].is_ascii_uppercase() || w[0].is_ascii_digit()))
        })
}

/// Makes a converted name a valid identifier: digit prefix, keyword escape,
/// and the Unicode check.
fn finish(mut name: String) -> Result<RustIdent, IdentError> {
    if name.starts_with(|c: char| c.is_numeric()) {
        name.insert(0, '_');
    }
    let mut chars = name.chars();
    if let Some(first) = chars.next()
        && first != '_'
        && !unicode_ident::is_xid_start(first)
    {
        return Err(IdentError::InvalidChar(first));
    }
    if let Some(bad) = chars.find(|&c| !unicode_ident::is_xid_continue(c)) {
        return Err(IdentError::InvalidChar(bad));
    }
    // Keywords are short and lowercase (but `Self`): skip the lookups for
    // other names.
    let maybe_keyword = name.len() <= 8
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'S');
    if maybe_keyword && NON_RAW_KEYWORDS.contains(&name.as_str()) {
        name.push('_');
        return Ok(RustIdent { name, raw: false });
    }
    let raw = maybe_keyword && RAW_KEYWORDS.contains(&name.as_str());
    Ok(RustIdent { name, raw })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every identifier must parse as one Rust identifier token, and as a
    /// field name / type name in real syntax.
    fn assert_parses(ident: &RustIdent) {
        let text = ident.to_string();
        let parsed: syn::Ident = syn::parse_str(&text)
            .unwrap_or_else(|e| panic!("`{text}` does not parse as an identifier: {e}"));
        assert_eq!(parsed.to_string(), text);
        syn::parse_str::<syn::ItemStruct>(&format!("struct S {{ {text}: u8 }}"))
            .unwrap_or_else(|e| panic!("`{text}` is not a valid field name: {e}"));
    }

    fn field(wire: &str) -> String {
        let ident = field_ident(wire).unwrap();
        assert_parses(&ident);
        ident.to_string()
    }

    fn ty(name: &str) -> String {
        let ident = type_ident(name).unwrap();
        assert_parses(&ident);
        syn::parse_str::<syn::ItemEnum>(&format!("enum E {{ {ident} }}"))
            .unwrap_or_else(|e| panic!("`{ident}` is not a valid variant name: {e}"));
        ident.to_string()
    }

    #[test]
    fn fast_paths_agree_with_heck() {
        // Every string of up to 5 characters over an alphabet that exercises
        // case changes, digits, separators and non-ASCII.
        let alphabet = ['a', 'B', 'c', 'D', '1', '_', '-', ':', 'é'];
        let mut words = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = words
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            words.extend(longer);
            words.dedup();
        }
        for w in &words {
            if is_plain_snake(w) {
                assert_eq!(w.to_snake_case(), *w, "snake {w:?}");
            }
            if is_plain_camel(w) {
                assert_eq!(w.to_upper_camel_case(), *w, "camel {w:?}");
            }
            if let Some(snake) = plain_camel_to_snake(w) {
                assert_eq!(w.to_snake_case(), snake, "camel to snake {w:?}");
            }
            if let Some(camel) = lower_words_to_camel(w) {
                assert_eq!(w.to_upper_camel_case(), camel, "words to camel {w:?}");
            }
        }
        for w in ["TicketCreated", "Event12", "OrderStatus", "A1b", "Ab1c"] {
            assert!(is_plain_camel(w), "{w}");
            assert_eq!(w.to_upper_camel_case(), w);
        }
        for w in ["user_id", "expires_at", "v2", "a1_b2"] {
            assert!(is_plain_snake(w), "{w}");
        }
        // Acronym-like runs go through heck.
        assert_eq!(plain_camel_to_snake("aB1C"), None);
        assert_eq!(plain_camel_to_snake("HTTPStatus"), None);
        for (camel, snake) in [
            ("userId", "user_id"),
            ("field1Name", "field1_name"),
            ("a1B", "a1_b"),
        ] {
            assert_eq!(plain_camel_to_snake(camel).as_deref(), Some(snake));
            assert_eq!(camel.to_snake_case(), snake);
        }
    }

    #[test]
    fn every_derived_identifier_parses() {
        // Every short name over an alphabet of letters, digits, separators,
        // keywords' pieces and non-ASCII: whatever is accepted must be a
        // valid Rust identifier, and whatever is refused has a reason.
        let alphabet = ["a", "S", "1", "_", "-", "é", "²", "self", "🎉"];
        let mut words = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = words
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            words.extend(longer);
        }
        words.sort();
        words.dedup();
        for w in &words {
            if let Ok(ident) = field_ident(w) {
                assert_parses(&ident);
            }
            if let Ok(ident) = type_ident(w) {
                assert_parses(&ident);
                syn::parse_str::<syn::ItemEnum>(&format!("enum E {{ {ident} }}"))
                    .unwrap_or_else(|e| panic!("{w:?} -> `{ident}` is not a variant: {e}"));
            }
        }
    }

    #[test]
    fn fields_are_snake_case() {
        assert_eq!(field("userId"), "user_id");
        assert_eq!(field("user_id"), "user_id");
        assert_eq!(field("user-id"), "user_id");
        assert_eq!(field("UserID"), "user_id");
        assert_eq!(field("expiresAt"), "expires_at");
        assert_eq!(field("stripeId"), "stripe_id");
        assert_eq!(field("id"), "id");
        assert_eq!(field("HTTPStatus"), "http_status");
        assert_eq!(field("a.b"), "a_b");
        assert_eq!(field("@type"), "r#type");
    }

    #[test]
    fn types_and_variants_are_upper_camel_case() {
        assert_eq!(ty("TicketCreated"), "TicketCreated");
        assert_eq!(ty("ticket:created"), "TicketCreated");
        assert_eq!(ty("awaiting:payment"), "AwaitingPayment");
        assert_eq!(ty("expiration:complete"), "ExpirationComplete");
        assert_eq!(ty("order_status"), "OrderStatus");
        assert_eq!(ty("orders.v2.created"), "OrdersV2Created");
        assert_eq!(ty("created"), "Created");
    }

    #[test]
    fn every_raw_able_keyword_becomes_raw_as_a_field() {
        for kw in RAW_KEYWORDS {
            let ident = field_ident(kw).unwrap();
            assert_eq!(
                ident,
                RustIdent {
                    name: (*kw).to_owned(),
                    raw: true
                },
                "{kw}"
            );
            assert_eq!(ident.to_string(), format!("r#{kw}"));
            assert_parses(&ident);
        }
    }

    #[test]
    fn edition_2024_keywords_are_covered() {
        for kw in [
            "gen", "async", "await", "dyn", "try", "match", "type", "yield", "become",
        ] {
            assert!(RAW_KEYWORDS.contains(&kw), "{kw}");
        }
        // The ones that get an underscore really cannot be raw identifiers.
        for kw in NON_RAW_KEYWORDS {
            assert!(
                syn::parse_str::<syn::Ident>(&format!("r#{kw}")).is_err(),
                "r#{kw} parsed"
            );
        }
    }

    #[test]
    fn keywords_that_cannot_be_raw_get_a_trailing_underscore() {
        assert_eq!(field("self"), "self_");
        assert_eq!(field("Self"), "self_");
        assert_eq!(field("super"), "super_");
        assert_eq!(field("crate"), "crate_");
        assert_eq!(field("_"), "__");
        assert_eq!(ty("self"), "Self_");
        assert_eq!(ty("Self"), "Self_");
        // As types, the others are not keywords once capitalised.
        assert_eq!(ty("super"), "Super");
        assert_eq!(ty("crate"), "Crate");
        assert_eq!(ty("type"), "Type");
        assert_eq!(ty("gen"), "Gen");
        for kw in NON_RAW_KEYWORDS {
            let ident = field_ident(kw).unwrap();
            assert!(!ident.raw);
            assert_parses(&ident);
        }
    }

    #[test]
    fn leading_underscores_of_fields_are_kept() {
        assert_eq!(field("_id"), "_id");
        assert_eq!(field("__typename"), "__typename");
        assert_eq!(field("__"), "__");
        assert_eq!(field("_self"), "_self");
    }

    #[test]
    fn leading_digits_get_an_underscore() {
        assert_eq!(field("1st"), "_1st");
        assert_eq!(field("2ndPlace"), "_2nd_place");
        assert_eq!(field("404"), "_404");
        assert_eq!(ty("1st"), "_1st");
        assert_eq!(ty("3d:model"), "_3dModel");
        assert_eq!(ty("404"), "_404");
    }

    #[test]
    fn unicode_letters_are_kept() {
        assert_eq!(field("prénom"), "prénom");
        assert_eq!(field("Größe"), "größe");
        assert_eq!(field("名前"), "名前");
        assert_eq!(ty("café:ouvert"), "CaféOuvert");
        assert_eq!(ty("статус"), "Статус");
    }

    #[test]
    fn names_without_letters_are_refused() {
        for name in ["", "-", "***", "@", "::", "🎉", " "] {
            assert_eq!(field_ident(name), Err(IdentError::NoLetters), "{name:?}");
            assert_eq!(type_ident(name), Err(IdentError::NoLetters), "{name:?}");
        }
        // Only underscores: a field keeps them, a type has nothing left.
        assert_eq!(type_ident("_"), Err(IdentError::NoLetters));
        assert_eq!(type_ident("__"), Err(IdentError::NoLetters));
    }

    #[test]
    fn symbols_are_word_boundaries() {
        assert_eq!(field("price$"), "price");
        assert_eq!(field("a🎉b"), "a_b");
        assert_eq!(ty("a🎉b"), "AB");
        assert_eq!(field("x y"), "x_y");
    }

    #[test]
    fn characters_outside_xid_are_refused() {
        // `²` is numeric (heck keeps it) but not XID_Continue.
        assert_eq!(field_ident("x²"), Err(IdentError::InvalidChar('²')));
        assert_eq!(type_ident("²"), Err(IdentError::InvalidChar('²')));
        assert_eq!(
            IdentError::InvalidChar('²').to_string(),
            "`²` cannot appear in a Rust identifier"
        );
    }
}
