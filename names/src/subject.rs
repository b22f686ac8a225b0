//! Literal subjects: the one exact subject an event or a dead letter is
//! published on, and the filter a typebus consumer listens to.

use std::fmt;

/// One problem of a subject: where it is and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectProblem {
    /// The character (not byte) offset of the problem in the subject: the
    /// first offending character, or, for an empty token, the dot next to
    /// it.
    pub offset: usize,
    /// What is wrong; its `Display` is the message, [`hint`] says how to
    /// fix it.
    ///
    /// [`hint`]: SubjectProblemKind::hint
    pub kind: SubjectProblemKind,
}

/// What can be wrong with a literal subject.
///
/// A literal subject is dot-separated tokens, with
/// - no empty token (it neither starts nor ends with `.`, nor holds `..`);
/// - no wildcard: an event is published on one exact subject, `*` and `>`
///   are for subscriptions;
/// - no whitespace or control character;
/// - not in the `$` namespace: subjects starting with `$` (`$JS`, `$KV`,
///   `$SYS`, ...) are the server's API. typebus never publishes an event or
///   a dead letter there, nor listens there, wherever the subject comes
///   from (a schema, a derive, a listener's dead-letter subject).
///
/// Any other character is allowed: `ticket:created`, `orders.v1.created`,
/// `ünï.côdé`.
///
/// `Display` gives the message as a predicate of the subject (`has an
/// empty token`), lowercase without a final period, so that a caller can
/// write `subject {subject} {kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectProblemKind {
    /// The subject is empty (no other problem is reported then).
    Empty,
    /// A whitespace or control character.
    Blank,
    /// A wildcard, `*` or `>`.
    Wildcard(char),
    /// An empty token: a leading or trailing `.`, or `..`.
    EmptyToken,
    /// The subject starts with `$`.
    Reserved,
}

impl SubjectProblemKind {
    /// How to fix the subject (one sentence, lowercase, no final period).
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Empty => "write the subject events are published on, e.g. `ticket:created`",
            Self::Blank => "NATS subjects cannot contain blanks; use `.` or `:` between words",
            Self::Wildcard(_) => {
                "an event is published on one exact subject; wildcards are for subscriptions"
            }
            Self::EmptyToken => {
                "tokens are separated by single dots and cannot be empty: `orders.created`"
            }
            Self::Reserved => {
                "`$JS`, `$SYS` and other `$` subjects belong to the server; choose another prefix"
            }
        }
    }
}

impl fmt::Display for SubjectProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::Blank => f.write_str("contains whitespace or a control character"),
            Self::Wildcard(c) => write!(f, "contains the wildcard `{c}`"),
            Self::EmptyToken => f.write_str("has an empty token"),
            Self::Reserved => f.write_str("is in the `$` namespace reserved by NATS"),
        }
    }
}

/// Every problem of `subject` as a literal subject, in the order of their
/// offsets; empty when the subject is valid.
///
/// Each kind is reported once, where it first occurs (`*` and `>` count
/// as two kinds), so that `a b c` gives one [`Blank`] at offset 1. An empty
/// subject gives [`Empty`] alone.
///
/// [`Blank`]: SubjectProblemKind::Blank
/// [`Empty`]: SubjectProblemKind::Empty
pub fn subject_problems(subject: &str) -> Vec<SubjectProblem> {
    use SubjectProblemKind::{Blank, Empty, EmptyToken, Reserved, Wildcard};

    let mut problems: Vec<SubjectProblem> = Vec::new();
    let mut report = |offset: usize, kind: SubjectProblemKind| {
        if !problems.iter().any(|seen| seen.kind == kind) {
            problems.push(SubjectProblem { offset, kind });
        }
    };
    if subject.is_empty() {
        report(0, Empty);
        return problems;
    }
    if subject.starts_with('$') {
        report(0, Reserved);
    }
    // Character offset of the current token's first character.
    let mut token_start = 0;
    let mut count = 0;
    for (i, c) in subject.chars().enumerate() {
        count = i + 1;
        if c == '.' {
            if i == token_start {
                // Point at the dot next to the empty token.
                report(i.saturating_sub(1), EmptyToken);
            }
            token_start = i + 1;
        } else if c == '*' || c == '>' {
            report(i, Wildcard(c));
        } else if c.is_whitespace() || c.is_control() {
            report(i, Blank);
        }
    }
    if token_start == count {
        // A trailing dot.
        report(count.saturating_sub(1), EmptyToken);
    }
    problems.sort_by_key(|problem| problem.offset);
    problems
}

/// The first of [`subject_problems`], if any: `Ok` for a valid literal
/// subject.
pub fn check_subject(subject: &str) -> Result<(), SubjectProblem> {
    // The common case, decided in one pass over the bytes: printable ASCII
    // without wildcards, no empty token, not `$`. The NATS transport checks
    // every message it publishes: 368 instructions per publish through
    // `subject_problems`, which only a subject with a problem needs
    // (callgrind, `TYPEBUS_BENCH_PUBLISH_ONLY=typebus cargo bench -p
    // typebus --bench throughput`).
    if is_plain_literal(subject) {
        return Ok(());
    }
    match subject_problems(subject).first() {
        Some(problem) => Err(*problem),
        None => Ok(()),
    }
}

/// Whether `subject` is a valid literal subject of printable ASCII:
/// non-empty, not starting with `$`, no `*` or `>`, no empty token.
fn is_plain_literal(subject: &str) -> bool {
    let bytes = subject.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first != b'$'
        && first != b'.'
        && last != b'.'
        && bytes
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'*' && b != b'>')
        && !bytes.windows(2).any(|pair| pair == b"..")
}

#[cfg(test)]
mod tests {
    use super::SubjectProblemKind::{Blank, Empty, EmptyToken, Reserved, Wildcard};
    use super::*;

    fn found(subject: &str) -> Vec<(usize, SubjectProblemKind)> {
        subject_problems(subject)
            .into_iter()
            .map(|problem| (problem.offset, problem.kind))
            .collect()
    }

    #[test]
    fn literal_subjects_are_valid() {
        for subject in [
            "ticket:created",
            "orders.v1.created",
            "a",
            "a-b_c",
            "ünï.côdé",
            "typebus.dlq.orders-service",
            "a.$b",
            "ticket#1",
        ] {
            assert_eq!(found(subject), [], "{subject}");
            assert_eq!(check_subject(subject), Ok(()), "{subject}");
        }
    }

    #[test]
    fn the_quick_check_agrees_with_the_full_one() {
        let subjects = [
            "ticket:created",
            "a",
            "a.b.c",
            "a-b_c#1~",
            "a.$b",
            "ünï.côdé",
            "",
            ".",
            "..",
            "a.",
            ".a",
            "a..b",
            "a.*",
            "a.>",
            "*",
            ">",
            "a*b",
            "a>b",
            "$",
            "$JS.API",
            "a b",
            "a\tb",
            "a\u{7}b",
            "a\u{7f}b",
            "a\u{a0}b",
            "ü..x",
        ];
        for subject in subjects {
            let plain = is_plain_literal(subject);
            let valid = subject_problems(subject).is_empty();
            assert!(
                !plain || valid,
                "{subject:?} passed the quick check but has a problem"
            );
            assert_eq!(check_subject(subject).is_ok(), valid, "{subject:?}");
            if subject.is_ascii() {
                assert_eq!(plain, valid, "{subject:?}");
            }
        }
    }

    #[test]
    fn each_problem_has_its_offset() {
        assert_eq!(found(""), [(0, Empty)]);
        assert_eq!(found("ticket created"), [(6, Blank)]);
        assert_eq!(found("ticket\tcreated"), [(6, Blank)]);
        assert_eq!(found("ticket\u{7}created"), [(6, Blank)]);
        assert_eq!(found("ticket\u{a0}created"), [(6, Blank)]);
        assert_eq!(found("orders.*"), [(7, Wildcard('*'))]);
        assert_eq!(found("orders.>"), [(7, Wildcard('>'))]);
        assert_eq!(found(">"), [(0, Wildcard('>'))]);
        assert_eq!(found("a*b"), [(1, Wildcard('*'))]);
        assert_eq!(found(".orders"), [(0, EmptyToken)]);
        assert_eq!(found("orders."), [(6, EmptyToken)]);
        assert_eq!(found("a..b"), [(1, EmptyToken)]);
        assert_eq!(found("."), [(0, EmptyToken)]);
        assert_eq!(found("$JS.API"), [(0, Reserved)]);
        assert_eq!(found("$"), [(0, Reserved)]);
        // Offsets count characters, not bytes.
        assert_eq!(found("ünï côdé"), [(3, Blank)]);
        assert_eq!(found("ü..x"), [(1, EmptyToken)]);
    }

    #[test]
    fn every_kind_is_reported_once_in_offset_order() {
        assert_eq!(
            found(". *"),
            [(0, EmptyToken), (1, Blank), (2, Wildcard('*'))]
        );
        assert_eq!(found("a b c"), [(1, Blank)]);
        assert_eq!(found("a..b..c."), [(1, EmptyToken)]);
        assert_eq!(
            found("$a.>.*. x"),
            [
                (0, Reserved),
                (3, Wildcard('>')),
                (5, Wildcard('*')),
                (7, Blank)
            ]
        );
        assert_eq!(found("$.."), [(0, Reserved), (1, EmptyToken)]);
        assert_eq!(
            found("x y.."),
            [(1, Blank), (3, EmptyToken)],
            "the empty token points at the dot before it"
        );
    }

    #[test]
    fn check_gives_the_first_problem() {
        let problem = check_subject("a..b c").unwrap_err();
        assert_eq!((problem.offset, problem.kind), (1, EmptyToken));
        let problem = check_subject("$JS.*").unwrap_err();
        assert_eq!((problem.offset, problem.kind), (0, Reserved));
    }

    #[test]
    fn messages_and_hints() {
        let cases = [
            (Empty, "is empty", "e.g. `ticket:created`"),
            (
                Blank,
                "contains whitespace or a control character",
                "blanks",
            ),
            (Wildcard('>'), "contains the wildcard `>`", "subscriptions"),
            (EmptyToken, "has an empty token", "single dots"),
            (
                Reserved,
                "is in the `$` namespace reserved by NATS",
                "server",
            ),
        ];
        for (kind, message, hint) in cases {
            assert_eq!(kind.to_string(), message);
            assert!(kind.hint().contains(hint), "{kind:?}: {}", kind.hint());
            assert!(!kind.hint().ends_with('.'), "{kind:?}");
        }
    }
}
