//! Stream names, consumer names and subject tokens made of arbitrary text.

use std::fmt;

/// Whether NATS forbids `c` in a stream or consumer name: `.`, `*`, `>`
/// (they would make the name's API subject, `$JS.API.STREAM.INFO.<name>`,
/// wrong), `/` and `\` (the server stores a stream under a directory of
/// its name), whitespace and control characters.
///
/// The same set is what typebus replaces in a subject token it builds from
/// text (the queue group in `typebus.dlq.<group>`): a token may hold `/`
/// and `\`, but one character set for both keeps a queue group's consumer
/// name and dead-letter token alike.
pub fn is_forbidden_in_name(c: char) -> bool {
    matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control()
}

/// `text` with every character NATS forbids in a name
/// ([`is_forbidden_in_name`]) replaced by `_`. The result is a valid stream
/// or consumer name, and a valid subject token, unless it is empty.
///
/// ```
/// assert_eq!(typebus_names::sanitise("orders-service_ticket:created"), "orders-service_ticket:created");
/// assert_eq!(typebus_names::sanitise("a.b*c>d/e\\f g\th"), "a_b_c_d_e_f_g_h");
/// ```
pub fn sanitise(text: &str) -> String {
    text.chars()
        .map(|c| if is_forbidden_in_name(c) { '_' } else { c })
        .collect()
}

/// Why a text is not a valid stream or consumer name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name holds a character NATS forbids ([`is_forbidden_in_name`]).
    Forbidden {
        /// The character offset of the first one.
        offset: usize,
        /// The character.
        found: char,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::Forbidden { found, .. } => write!(
                f,
                "holds `{}`: a name cannot hold `.`, `*`, `>`, `/`, `\\`, whitespace or control characters",
                found.escape_debug()
            ),
        }
    }
}

/// Checks a stream or consumer name: not empty, no character NATS forbids
/// ([`is_forbidden_in_name`]).
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    match name
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden_in_name(*c))
    {
        Some((offset, found)) => Err(NameProblem::Forbidden { offset, found }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for name in [
            "EVENTS",
            "orders-service_ticket:created",
            "TYPEBUS_SEQ_x",
            "ü$#",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
        assert_eq!(check_name(""), Err(NameProblem::Empty));
        for (name, offset, found) in [
            ("a.b", 1, '.'),
            ("a*", 1, '*'),
            (">", 0, '>'),
            ("a/b", 1, '/'),
            ("a\\b", 1, '\\'),
            ("ü b", 1, ' '),
            ("a\tb", 1, '\t'),
            ("a\u{7}", 1, '\u{7}'),
        ] {
            assert_eq!(
                check_name(name),
                Err(NameProblem::Forbidden { offset, found }),
                "{name:?}"
            );
        }
        assert_eq!(
            check_name("a\tb").unwrap_err().to_string(),
            "holds `\\t`: a name cannot hold `.`, `*`, `>`, `/`, `\\`, whitespace or control characters"
        );
    }

    #[test]
    fn sanitised_text_is_a_name_and_a_token() {
        for text in ["orders service", "a.b*c>d/e\\f g\th\u{0}", "$JS.API", "x"] {
            let name = sanitise(text);
            assert_eq!(check_name(&name), Ok(()), "{text:?}");
            assert_eq!(name.chars().count(), text.chars().count(), "{text:?}");
            let subject = format!("typebus.dlq.{name}");
            assert_eq!(crate::check_subject(&subject), Ok(()), "{text:?}");
        }
        assert_eq!(sanitise(""), "");
    }
}
