//! Type expressions: a tiny hand parser for `string`, `list<T>`, `map<T>`,
//! `T?` and type names, reporting the column of a problem inside the
//! expression.
//!
//! Grammar (whitespace allowed between tokens, and around the expression as
//! a block scalar leaves it):
//!
//! ```text
//! expr := base '?'?
//! base := 'list' '<' expr '>' | 'map' '<' expr '>' | NAME
//! NAME := one or more characters other than `<`, `>`, `?`, `,` and blanks
//! ```
//!
//! `?` may apply to any expression (`list<string?>?` is a list of optional
//! strings that may itself be absent); `T??` is an error.

/// A parsed, not yet resolved, type expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// A scalar or a type name, with its character offset in the expression.
    Name(String, usize),
    /// `list<T>`.
    List(Box<Syntax>),
    /// `map<T>`.
    Map(Box<Syntax>),
    /// `T?`.
    Optional(Box<Syntax>),
}

/// A syntax error: where (character offset in the expression), what, and
/// an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Character offset of the problem in the expression.
    pub(crate) offset: usize,
    /// The message (lowercase, no final period).
    pub(crate) message: String,
    /// A hint.
    pub(crate) help: Option<String>,
}

/// Nesting beyond this is refused, so a hostile expression cannot exhaust
/// the stack.
const MAX_NESTING: usize = 32;

/// Parses one type expression.
pub(crate) fn parse(text: &str) -> Result<Syntax, SyntaxError> {
    let mut parser = Parser { text, pos: 0 };
    parser.skip_blanks();
    if parser.at_end() {
        return Err(SyntaxError {
            offset: 0,
            message: "empty type expression".to_owned(),
            help: Some(
                "write a type such as `string`, `u64`, `list<string>` or a name from `types:`"
                    .to_owned(),
            ),
        });
    }
    let syntax = parser.expr(0)?;
    parser.skip_blanks();
    if let Some(c) = parser.peek() {
        let help = match c {
            '>' => Some("this `>` closes nothing".to_owned()),
            '<' => Some("only `list<T>` and `map<T>` take a type parameter".to_owned()),
            _ => None,
        };
        return Err(SyntaxError {
            offset: parser.char_offset(parser.pos),
            message: format!("unexpected `{}` after the type", c.escape_debug()),
            help,
        });
    }
    Ok(syntax)
}

/// The parser's state: the text and a byte position in it (offsets in
/// results and errors are converted to characters).
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Moves past `c`, the character at the position.
    fn bump(&mut self, c: char) {
        self.pos += c.len_utf8();
    }

    /// The character offset of the byte position `byte`.
    fn char_offset(&self, byte: usize) -> usize {
        self.text[..byte].chars().count()
    }

    fn skip_blanks(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.bump(c);
        }
    }

    /// An error at the byte position `offset`.
    fn error(&self, offset: usize, message: impl Into<String>, help: Option<&str>) -> SyntaxError {
        SyntaxError {
            offset: self.char_offset(offset),
            message: message.into(),
            help: help.map(str::to_owned),
        }
    }

    fn expr(&mut self, depth: usize) -> Result<Syntax, SyntaxError> {
        if depth > MAX_NESTING {
            return Err(self.error(
                self.pos,
                format!("type expression nests deeper than {MAX_NESTING} levels"),
                None,
            ));
        }
        self.skip_blanks();
        let start = self.pos;
        while let Some(c) = self
            .peek()
            .filter(|&c| !matches!(c, '<' | '>' | '?' | ',') && !c.is_whitespace())
        {
            self.bump(c);
        }
        let name = self.text[start..self.pos].to_owned();
        if name.is_empty() {
            return Err(match self.peek() {
                None => self.error(
                    self.pos,
                    "missing type",
                    Some("write the element type, e.g. `list<string>`"),
                ),
                Some(c) => self.error(
                    self.pos,
                    format!("expected a type, found `{}`", c.escape_debug()),
                    None,
                ),
            });
        }
        self.skip_blanks();
        let mut syntax = if self.peek() == Some('<') {
            let open = self.pos;
            let generic = name.as_str();
            if generic != "list" && generic != "map" {
                return Err(self.error(
                    start,
                    format!("`{name}` takes no type parameter"),
                    Some("only `list<T>` and `map<T>` take a type parameter"),
                ));
            }
            self.pos += 1;
            let inner = self.expr(depth + 1)?;
            self.skip_blanks();
            match self.peek() {
                Some('>') => self.pos += 1,
                Some(',') if generic == "map" => {
                    return Err(self.error(
                        self.pos,
                        "`map<T>` takes one type parameter",
                        Some("map keys are always strings; write the value type only, e.g. `map<u32>`"),
                    ));
                }
                Some(c) => {
                    return Err(self.error(
                        self.pos,
                        format!("expected `>`, found `{}`", c.escape_debug()),
                        None,
                    ));
                }
                None => {
                    return Err(self.error(
                        open,
                        format!("unclosed `<` of `{generic}<`"),
                        Some("add the closing `>`"),
                    ));
                }
            }
            if generic == "list" {
                Syntax::List(Box::new(inner))
            } else {
                Syntax::Map(Box::new(inner))
            }
        } else if name == "list" || name == "map" {
            return Err(self.error(
                start,
                format!("`{name}` needs an element type"),
                Some(&format!("write `{name}<string>` or another element type")),
            ));
        } else {
            Syntax::Name(name, self.char_offset(start))
        };
        self.skip_blanks();
        if self.peek() == Some('?') {
            self.pos += 1;
            syntax = Syntax::Optional(Box::new(syntax));
            self.skip_blanks();
            if self.peek() == Some('?') {
                return Err(self.error(
                    self.pos,
                    "`?` written twice",
                    Some("a type is either optional or not: write one `?`"),
                ));
            }
        }
        Ok(syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str, at: usize) -> Syntax {
        Syntax::Name(n.to_owned(), at)
    }

    fn err(text: &str) -> (usize, String) {
        let e = parse(text).unwrap_err();
        (e.offset, e.message)
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("string"), Ok(name("string", 0)));
        assert_eq!(
            parse("u64?"),
            Ok(Syntax::Optional(Box::new(name("u64", 0))))
        );
        assert_eq!(
            parse("list<TicketRef>"),
            Ok(Syntax::List(Box::new(name("TicketRef", 5))))
        );
        assert_eq!(
            parse("map<list<string?>>?"),
            Ok(Syntax::Optional(Box::new(Syntax::Map(Box::new(
                Syntax::List(Box::new(Syntax::Optional(Box::new(name("string", 9)))))
            )))))
        );
        assert_eq!(
            parse(" list< u32 > "),
            Ok(Syntax::List(Box::new(name("u32", 7))))
        );
    }

    #[test]
    fn reports_where_it_fails() {
        assert_eq!(err(""), (0, "empty type expression".to_owned()));
        assert_eq!(err("string??"), (7, "`?` written twice".to_owned()));
        assert_eq!(
            err("list<string"),
            (4, "unclosed `<` of `list<`".to_owned())
        );
        assert_eq!(err("list<>"), (5, "expected a type, found `>`".to_owned()));
        assert_eq!(err("list<"), (5, "missing type".to_owned()));
        assert_eq!(err("list"), (0, "`list` needs an element type".to_owned()));
        assert_eq!(
            err("map<string, u32>"),
            (10, "`map<T>` takes one type parameter".to_owned())
        );
        assert_eq!(
            err("string<u32>"),
            (0, "`string` takes no type parameter".to_owned())
        );
        assert_eq!(
            err("string u32"),
            (7, "unexpected `u` after the type".to_owned())
        );
        assert_eq!(
            err("list<u32>>"),
            (9, "unexpected `>` after the type".to_owned())
        );
        assert_eq!(err("?"), (0, "expected a type, found `?`".to_owned()));
        assert_eq!(err("list<été"), (4, "unclosed `<` of `list<`".to_owned()));
        assert_eq!(err("été??"), (4, "`?` written twice".to_owned()));
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = format!("{}string{}", "list<".repeat(10_000), ">".repeat(10_000));
        assert!(err(&deep).1.contains("nests deeper"));
    }
}
