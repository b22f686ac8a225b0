//! Event subjects in schema files: the rules are `typebus_names`' (one
//! place for the codegen, the derive and the runtime); this adds the
//! schema diagnostic's wording, message and help.

use typebus_names::SubjectProblemKind;

/// What is wrong with a subject: character offset, message, hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubjectError {
    /// Character offset of the problem in the subject.
    pub(crate) offset: usize,
    /// The message (lowercase, no final period).
    pub(crate) message: String,
    /// A hint.
    pub(crate) help: &'static str,
}

/// Checks one subject and reports its first problem
/// ([`typebus_names::check_subject`]).
pub(crate) fn check(subject: &str) -> Result<(), SubjectError> {
    typebus_names::check_subject(subject).map_err(|problem| SubjectError {
        offset: problem.offset,
        message: match problem.kind {
            SubjectProblemKind::Empty => "empty subject".to_owned(),
            kind => format!("subject `{}` {kind}", subject.escape_debug()),
        },
        help: problem.kind.hint(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(subject: &str) -> usize {
        check(subject).unwrap_err().offset
    }

    #[test]
    fn accepts_plain_subjects() {
        for s in [
            "ticket:created",
            "orders.v1.created",
            "a",
            "expiration:complete",
            "a-b_c",
            "ünï.côdé",
        ] {
            assert_eq!(check(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn refuses_bad_subjects() {
        assert_eq!(at(""), 0);
        assert_eq!(at("ticket created"), 6);
        assert_eq!(at("ticket\tcreated"), 6);
        assert_eq!(at("orders.*"), 7);
        assert_eq!(at("orders.>"), 7);
        assert_eq!(at("a*b"), 1);
        assert_eq!(at(".orders"), 0);
        assert_eq!(at("orders."), 6);
        assert_eq!(at("a..b"), 1);
        assert_eq!(at("$JS.API"), 0);
        assert!(check("a..b").unwrap_err().message.contains("empty token"));
    }
}
