//! Descriptions -> `#[doc = "..."]` attributes.
//!
//! Each line becomes its own `#[doc]` attribute holding a string literal that
//! `quote!` escapes, so a description cannot close a comment (`*/`), end a
//! string (`"#`), or inject code whatever it holds. prettyplease prints them
//! as `///` lines. Characters rustc refuses in doc comments (a bare carriage
//! return, other control characters, bidirectional overrides) are written as
//! visible `\u{..}` escapes instead, and a tab as four spaces.

use proc_macro2::TokenStream;
use quote::quote;

/// The doc attributes for `paragraphs`, separated by an empty doc line;
/// `None` entries and blank paragraphs are skipped.
pub(super) fn doc_attrs<'a>(paragraphs: impl IntoIterator<Item = Option<&'a str>>) -> TokenStream {
    let mut lines: Vec<String> = Vec::new();
    for paragraph in paragraphs.into_iter().flatten() {
        let text =
            paragraph.trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ' || c == '\t');
        if text.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(text.lines().map(doc_line));
    }
    lines.iter().map(|line| quote!(#[doc = #line])).collect()
}

/// `#[allow(...)]` for clippy's Markdown-layout lints when a description
/// holds a list or a quote: descriptions are the schema author's Markdown,
/// and a lazily continued list item there must not fail a user's
/// `clippy -D warnings`. `None` for descriptions without block markers.
pub(super) fn markdown_allow<'a>(
    descriptions: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<TokenStream> {
    descriptions
        .into_iter()
        .flatten()
        .any(|text| text.lines().nth(1).is_some() && text.lines().any(starts_block))
        .then(
            || quote!(#[allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]),
        )
}

/// Whether a line starts a Markdown list item or block quote.
fn starts_block(line: &str) -> bool {
    let line = line.trim_start();
    if line.starts_with('>') || ["- ", "* ", "+ "].iter().any(|m| line.starts_with(m)) {
        return true;
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0
        && matches!(line[digits..].chars().next(), Some('.' | ')'))
        && matches!(line[digits + 1..].chars().next(), None | Some(' '))
}

/// The description, or `fallback` when there is none or it is blank.
pub(super) fn or<'a>(description: &'a Option<String>, fallback: &'a str) -> &'a str {
    match description.as_deref() {
        Some(text) if !text.trim().is_empty() => text,
        _ => fallback,
    }
}

/// One doc line: a leading space (the `/// text` convention, and it keeps a
/// line that starts with `/` or `!` from reading as another comment kind),
/// escapes for characters rustc rejects, no trailing whitespace.
fn doc_line(line: &str) -> String {
    let line = line.trim_end();
    if line.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(line.len() + 1);
    out.push(' ');
    for c in line.chars() {
        if c == '\t' {
            // rustdoc and clippy want spaces, not tabs, in doc comments.
            out.push_str("    ");
        } else if c.is_control() || is_bidi_control(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The code points rustc's `text_direction_codepoint_in_comment` lint denies.
pub(super) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<String> {
        let tokens = doc_attrs([Some(text)]);
        let file: syn::File = syn::parse2(
            tokens
                .into_iter()
                .chain(quote!(
                    struct S;
                ))
                .collect(),
        )
        .unwrap();
        let syn::Item::Struct(item) = &file.items[0] else {
            panic!()
        };
        item.attrs
            .iter()
            .map(|a| match &a.meta {
                syn::Meta::NameValue(nv) => match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => s.value(),
                    _ => panic!("not a doc string"),
                },
                _ => panic!("not a doc string"),
            })
            .collect()
    }

    #[test]
    fn lines_and_paragraphs() {
        assert_eq!(
            docs("one\ntwo  \n\nthree\n"),
            [" one", " two", "", " three"]
        );
        assert_eq!(docs("  \n"), Vec::<String>::new());
        let two = doc_attrs([Some("first"), None, Some("second")]);
        assert_eq!(
            two.to_string(),
            quote!(#[doc = " first"] #[doc = ""] #[doc = " second"]).to_string()
        );
    }

    #[test]
    fn lists_and_quotes_in_multi_line_descriptions_get_an_allow() {
        let allow = |text: &str| markdown_allow([None, Some(text)]).is_some();
        assert!(allow("intro\n- item\ncontinued"));
        assert!(allow("intro\n> quote\nlazy"));
        assert!(allow("1. first\n2) second"));
        assert!(!allow("- a single line is never continued"));
        assert!(!allow(
            "plain\ntext over lines\nwith 20.5 numbers and -dashes"
        ));
        assert!(!allow("version 2.\nno list"));
    }

    #[test]
    fn hostile_text_stays_text() {
        let text = "ends */ here \"# and \\ `tick` /// x\n/ slash\r\n! bang\rcr \u{202e}rev\u{7}";
        assert_eq!(
            docs(text),
            [
                " ends */ here \"# and \\ `tick` /// x",
                " / slash",
                " ! bang\\u{d}cr \\u{202e}rev\\u{7}",
            ]
        );
    }
}
