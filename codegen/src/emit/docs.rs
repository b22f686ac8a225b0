//! Descriptions -> `#[doc = "..."]` attributes.
//!
//! Each line becomes its own `#[doc]` attribute holding a string literal that
//! `quote!` escapes, so a description cannot close a comment (`*/`), end a
//! string (`"#`), or inject code whatever it holds. prettyplease prints them
//! as `///` lines. Characters rustc refuses in doc comments (a bare carriage
//! return, other control characters, bidirectional overrides) are written as
//! visible `\u{..}` escapes instead, and a tab as four spaces.
//!
//! Descriptions are the schema author's prose, never code to run: rustdoc
//! would compile a fenced block without a language, or an indented block,
//! as a doctest of the service's crate, which then fails `cargo test` in a
//! file its authors cannot edit. A description that may hold a code block
//! is written as `#[cfg_attr(not(doctest), doc = "...")]`: the same docs
//! everywhere but in rustdoc's doctest collection. Links and HTML that
//! rustdoc cannot resolve stay text, and the item allows the rustdoc lints
//! that would say so ([`markdown_allow`]).

use proc_macro2::TokenStream;
use quote::quote;

/// The doc attributes for `paragraphs`, separated by an empty doc line;
/// `None` entries and blank paragraphs are skipped.
pub(super) fn doc_attrs<'a>(paragraphs: impl IntoIterator<Item = Option<&'a str>>) -> TokenStream {
    let mut lines: Vec<(String, bool)> = Vec::new();
    for paragraph in paragraphs.into_iter().flatten() {
        let text =
            paragraph.trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ' || c == '\t');
        if text.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push((String::new(), false));
        }
        let code = may_hold_code(text);
        lines.extend(text.lines().map(|line| (doc_line(line), code)));
        if let Some(fence) = unclosed_fence(text) {
            // Or it would take in what follows (the next paragraph, the
            // docs of the next field in rustdoc's view of a struct).
            lines.push((doc_line(&fence), code));
        }
    }
    lines
        .iter()
        .map(|(line, code)| match code {
            false => quote!(#[doc = #line]),
            true => quote!(#[cfg_attr(not(doctest), doc = #line)]),
        })
        .collect()
}

/// The fence that closes a code block left open at the end of `text`
/// (three or more backticks or tildes, opened at most three spaces in).
fn unclosed_fence(text: &str) -> Option<String> {
    let mut open: Option<(char, usize)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let line = line.trim();
        let Some(mark) = line.chars().next().filter(|c| matches!(c, '`' | '~')) else {
            continue;
        };
        let run = line.len() - line.trim_start_matches(mark).len();
        if run < 3 {
            continue;
        }
        open = match open {
            None => Some((mark, run)),
            Some((open_mark, open_run))
                if mark == open_mark && run >= open_run && line.len() == run =>
            {
                None
            }
            still => still,
        };
    }
    open.map(|(mark, run)| mark.to_string().repeat(run))
}

/// Whether rustdoc might read a code block in `text`: a fence (three
/// backticks or tildes anywhere) or a line indented by four spaces or a
/// tab, also inside block quotes. A superset of Markdown's code blocks: a
/// false positive costs nothing but plainer generated source.
fn may_hold_code(text: &str) -> bool {
    text.lines().any(|line| {
        let mut rest = line;
        // Block quote markers (`>`, `> >`) may stand before an indented block.
        while let Some(quoted) = rest.trim_start_matches(' ').strip_prefix('>') {
            rest = quoted.strip_prefix(' ').unwrap_or(quoted);
        }
        line.contains("```")
            || line.contains("~~~")
            || rest.starts_with('\t')
            || rest.starts_with("    ")
    })
}

/// `#[allow(...)]` for the lints that judge the Markdown of descriptions,
/// which is the schema author's and must not fail a user's `clippy -D
/// warnings` or `RUSTDOCFLAGS=-D warnings cargo doc`: clippy's layout lints
/// when a description holds a list or a quote (a lazily continued item),
/// rustdoc's when it holds brackets (`[not a link]`), angle brackets
/// (`<b>`, `a<b`), a URL or a code block (which rustdoc parses as Rust
/// unless it names another language). `None` for descriptions with none of
/// them.
pub(super) fn markdown_allow<'a>(
    descriptions: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<TokenStream> {
    let (mut blocks, mut links, mut html, mut urls, mut code) = (false, false, false, false, false);
    for text in descriptions.into_iter().flatten() {
        code |= may_hold_code(text);
        blocks |= text.lines().nth(1).is_some() && text.lines().any(starts_block);
        links |= text.contains('[') || text.contains(']');
        html |= text.contains('<');
        urls |= text.contains("://") || text.contains("www.");
    }
    let mut lints = Vec::new();
    if blocks {
        lints.push(quote!(clippy::doc_lazy_continuation));
        lints.push(quote!(clippy::doc_overindented_list_items));
    }
    if links {
        lints.push(quote!(rustdoc::broken_intra_doc_links));
    }
    if html {
        lints.push(quote!(rustdoc::invalid_html_tags));
    }
    if urls {
        lints.push(quote!(rustdoc::bare_urls));
    }
    if code {
        lints.push(quote!(rustdoc::invalid_rust_codeblocks));
    }
    (!lints.is_empty()).then(|| quote!(#[allow(#(#lints),*)]))
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
    fn descriptions_that_may_hold_code_are_kept_from_doctests() {
        for text in [
            "Example:\n```\nnot rust\n```",
            "~~~\nprose\n~~~",
            "JSON:\n```json\n{}\n```",
            "Indented:\n\n    let x = 1;",
            "Tab:\n\n\tcode",
            "> Quoted:\n>\n>     code",
            "inline ``` fence",
        ] {
            assert!(may_hold_code(text), "{text:?}");
            let tokens = doc_attrs([Some(text), Some("Published on `x`.")]).to_string();
            let hidden = tokens.matches("cfg_attr (not (doctest) , doc =").count();
            assert_eq!(hidden, text.lines().count(), "{text:?}: {tokens}");
            assert!(
                tokens.ends_with("# [doc = \" Published on `x`.\"]"),
                "the generated paragraph stays a plain doc: {tokens}"
            );
        }
        for text in [
            "plain",
            "a `code span` and ``two``",
            "   three spaces",
            "> quote",
        ] {
            assert!(!may_hold_code(text), "{text:?}");
        }
    }

    #[test]
    fn a_fence_left_open_is_closed_at_the_end_of_its_description() {
        assert_eq!(unclosed_fence("a\n```\ncode"), Some("```".into()));
        assert_eq!(unclosed_fence("~~~~ text\ncode\n~~~"), Some("~~~~".into()));
        assert_eq!(unclosed_fence("````\n```\n````"), None);
        assert_eq!(unclosed_fence("```\ncode\n```"), None);
        assert_eq!(unclosed_fence("```\n~~~\n"), Some("```".into()));
        assert_eq!(unclosed_fence("    ```\nindented, no fence"), None);
        assert_eq!(unclosed_fence("no fence ``` inside a line"), None);
        let tokens = doc_attrs([Some("```\nopen"), Some("next")]).to_string();
        assert!(
            tokens.ends_with("doc = \" open\")] # [cfg_attr (not (doctest) , doc = \" ```\")] # [doc = \"\"] # [doc = \" next\"]"),
            "{tokens}"
        );
    }

    #[test]
    fn rustdoc_lints_are_allowed_where_markdown_needs_them() {
        let lints = |text: &str| {
            markdown_allow([Some(text)]).map_or_else(String::new, |tokens| tokens.to_string())
        };
        assert_eq!(lints("plain text"), "");
        assert!(lints("see [Foo] or a[0]").contains("rustdoc :: broken_intra_doc_links"));
        assert!(lints("<b>bold, a<b").contains("rustdoc :: invalid_html_tags"));
        assert!(lints("at https://example.com").contains("rustdoc :: bare_urls"));
        assert!(lints("```\nnot rust {").contains("rustdoc :: invalid_rust_codeblocks"));
        let list = lints("intro\n- item\n[x]");
        assert!(list.contains("clippy :: doc_lazy_continuation"), "{list}");
        assert!(list.contains("rustdoc :: broken_intra_doc_links"), "{list}");
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
