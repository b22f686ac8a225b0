//! Parsing of `#[event(subject = "...", version = N)]` and
//! `#[event(schema = "...", name = "...")]`.
//!
//! This stage checks the syntax of each `key = value` pair and the kind of
//! each value (a string literal for `subject`, `schema` and `name`, an
//! integer literal for `version`); what the values mean, and which keys go
//! together, is checked in [`crate::valid`].

use proc_macro2::{TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, Lit, LitInt, LitStr, Meta, Token};

use crate::errors::Errors;

/// The keys `#[event(...)]` accepts, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &["subject", "version", "schema", "name"];

/// The expected forms, quoted in messages about a malformed attribute.
pub(crate) const FORM: &str = "#[event(subject = \"...\", version = N)]` or `#[event(schema = \"path/to/file.yaml\", name = \"Event\")]";

/// What the `#[event(...)]` attributes of one input say.
pub(crate) struct Attrs<'a> {
    /// Every `#[event]` attribute, in source order.
    pub(crate) attributes: Vec<&'a Attribute>,
    /// `subject = "..."`, once a string literal was given.
    pub(crate) subject: Option<LitStr>,
    /// `version = N`, once an integer literal was given.
    pub(crate) version: Option<LitInt>,
    /// `schema = "..."`, once a string literal was given.
    pub(crate) schema: Option<LitStr>,
    /// `name = "..."`, once a string literal was given.
    pub(crate) name: Option<LitStr>,
    /// Keys seen so far (also those whose value was rejected), to report
    /// duplicates once and not report a rejected key as missing.
    seen: Vec<Ident>,
    /// Known keys whose absence an error already explains.
    explained: Vec<&'static str>,
    /// Whether an attribute could not be read as `key = value` pairs at
    /// all; then nothing is reported missing, as the keys may be in it.
    malformed: bool,
}

impl<'a> Attrs<'a> {
    /// Parses every `#[event]` attribute of `attrs`, pushing each problem
    /// into `errors` and keeping what is usable.
    pub(crate) fn parse(attrs: &'a [Attribute], errors: &mut Errors) -> Self {
        let mut parsed = Attrs {
            attributes: Vec::new(),
            subject: None,
            version: None,
            schema: None,
            name: None,
            seen: Vec::new(),
            explained: Vec::new(),
            malformed: false,
        };
        for attr in attrs.iter().filter(|attr| attr.path().is_ident("event")) {
            parsed.attributes.push(attr);
            match &attr.meta {
                Meta::List(_) => {
                    if let Err(error) = attr
                        .parse_args_with(|input: ParseStream<'_>| parsed.parse_pairs(input, errors))
                    {
                        parsed.malformed = true;
                        errors.push(error);
                    }
                }
                Meta::Path(_) | Meta::NameValue(_) => {
                    parsed.malformed = true;
                    errors.spanned(attr, format_args!("expected `{FORM}`"));
                }
            }
        }
        parsed
    }

    /// The key `key` as written, when it appeared (whatever its value).
    pub(crate) fn key(&self, key: &str) -> Option<&Ident> {
        self.seen.iter().find(|seen| *seen == key)
    }

    /// Whether `key` appeared, whatever its value.
    fn has_key(&self, key: &str) -> bool {
        self.seen.iter().any(|seen| seen == key)
    }

    /// Whether `key` should be reported as missing: it is absent, and no
    /// error already explains its absence (a misspelling, a malformed pair).
    pub(crate) fn is_missing(&self, key: &str) -> bool {
        !self.malformed && !self.has_key(key) && !self.explained.contains(&key)
    }

    /// Parses `key = value, ...`. A problem with one pair is pushed and the
    /// next pair is still read; only tokens that are not a key at all end
    /// the attribute early (returned as `Err`).
    fn parse_pairs(&mut self, input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<()> {
        while !input.is_empty() {
            if !input.peek(Ident::peek_any) {
                return Err(input.error(format_args!("expected a key such as `subject`: `{FORM}`")));
            }
            let key = input.call(Ident::parse_any)?;
            if input.peek(Token![=]) {
                let eq: Token![=] = input.parse()?;
                let value = value_tokens(input)?;
                if value.is_empty() {
                    errors.spanned(
                        quote::quote!(#key #eq),
                        format_args!("expected a value after `{key} =`"),
                    );
                    self.explain_absence(&key);
                } else {
                    self.set(key, value, errors);
                }
            } else {
                // Skip whatever stands where `=` should be, up to the next pair.
                value_tokens(input)?;
                errors.spanned(&key, format_args!("expected `{key} = ...`"));
                self.explain_absence(&key);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    }

    /// Notes that an error about `key` explains why a known key is absent:
    /// `key` itself, or the known key a misspelt `key` is close to.
    fn explain_absence(&mut self, key: &Ident) {
        let name = key.unraw().to_string();
        let known = KEYS
            .iter()
            .copied()
            .find(|known| *known == name)
            .or_else(|| did_you_mean(&name));
        if let Some(known) = known {
            self.explained.push(known);
        }
    }

    /// Records one `key = value` pair.
    fn set(&mut self, key: Ident, value: TokenStream, errors: &mut Errors) {
        let name = key.unraw().to_string();
        if !KEYS.contains(&name.as_str()) {
            errors.spanned(&key, unknown_key_message(&name));
            self.explain_absence(&key);
            return;
        }
        if self.has_key(&name) {
            errors.spanned(
                &key,
                format_args!("duplicate key `{name}` in `#[event]`: each key is given once"),
            );
            return;
        }
        self.seen.push(Ident::new(&name, key.span()));
        match name.as_str() {
            "subject" => match single_literal(&value) {
                Some(Lit::Str(lit)) => self.subject = Some(lit),
                _ => errors.spanned(&value, "expected a string literal for `subject`, e.g. `subject = \"ticket:created\"`"),
            },
            "schema" => match single_literal(&value) {
                Some(Lit::Str(lit)) => self.schema = Some(lit),
                _ => errors.spanned(&value, "expected a string literal for `schema`: the schema file relative to the crate's Cargo.toml, e.g. `schema = \"../schemas/tickets.yaml\"`"),
            },
            "name" => match single_literal(&value) {
                Some(Lit::Str(lit)) => self.name = Some(lit),
                _ => errors.spanned(&value, "expected a string literal for `name`: the event's name in the schema, e.g. `name = \"TicketCreated\"`"),
            },
            _ => match single_literal(&value) {
                Some(Lit::Int(lit)) => self.version = Some(lit),
                Some(Lit::Str(lit)) if lit.value().trim().parse::<u64>().is_ok() => errors.spanned(
                    &value,
                    format_args!("expected an integer literal for `version`, without quotes: `version = {}`", lit.value().trim()),
                ),
                _ => errors.spanned(&value, "expected an integer literal from 1 to 4294967295 for `version`, e.g. `version = 1`"),
            },
        }
    }
}

/// The tokens of one value: everything up to the next top-level comma.
fn value_tokens(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        tokens.extend([input.parse::<TokenTree>()?]);
    }
    Ok(tokens)
}

/// The value as a literal when it is exactly one literal token.
fn single_literal(value: &TokenStream) -> Option<Lit> {
    let mut tokens = value.clone().into_iter();
    let only = tokens.next()?;
    if tokens.next().is_some() {
        return None;
    }
    match only {
        TokenTree::Literal(literal) => Some(Lit::new(literal)),
        // A literal produced by a `macro_rules!` expansion arrives wrapped in
        // an invisible group.
        TokenTree::Group(group) if group.delimiter() == proc_macro2::Delimiter::None => {
            single_literal(&group.stream())
        }
        _ => None,
    }
}

/// "unknown key" with a suggestion when a known key is close.
fn unknown_key_message(name: &str) -> String {
    match did_you_mean(name) {
        Some(known) => format!("unknown key `{name}` in `#[event]`: did you mean `{known}`?"),
        None => {
            let keys = KEYS
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("unknown key `{name}` in `#[event]`: expected one of {keys}")
        }
    }
}

/// The known key closest to `name`, when it is close enough to be a typo.
fn did_you_mean(name: &str) -> Option<&'static str> {
    closest(name, KEYS.iter().copied())
}

/// The candidate closest to `name` (ignoring ASCII case), when it is close
/// enough to be a typo: at most a third of its length in edits.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = edit_distance(&lower, &candidate.to_ascii_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| *distance <= (candidate.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two short ASCII-ish strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, edit_distance};

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("subject", "subject"), 0);
        assert_eq!(edit_distance("subjet", "subject"), 1);
        assert_eq!(edit_distance("sbujcet", "subject"), 4);
        assert_eq!(edit_distance("", "version"), 7);
    }

    #[test]
    fn typos_get_a_suggestion_and_other_words_do_not() {
        assert_eq!(did_you_mean("subjet"), Some("subject"));
        assert_eq!(did_you_mean("Subject"), Some("subject"));
        assert_eq!(did_you_mean("versoin"), Some("version"));
        assert_eq!(did_you_mean("vresion"), Some("version"));
        assert_eq!(did_you_mean("schmea"), Some("schema"));
        assert_eq!(did_you_mean("nme"), Some("name"));
        assert_eq!(did_you_mean("topic"), None);
        assert_eq!(did_you_mean("path"), None);
    }
}
