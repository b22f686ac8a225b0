//! Subject checks: typebus only publishes on and listens to literal
//! subjects. The rules are `typebus_names`' (one place for the codegen, the
//! derive and the runtime, the `$` namespace among them); this gives them
//! the runtime's wording.

use typebus_names::SubjectProblemKind;

/// Checks that `subject` is a literal NATS subject
/// ([`typebus_names::check_subject`]): not empty, no empty `.`-separated
/// token, no wildcard (`*`, `>`), no whitespace or control character, not
/// in the `$` namespace. Returns what is wrong first.
pub(crate) fn check_literal(subject: &str) -> Result<(), &'static str> {
    typebus_names::check_subject(subject).map_err(|problem| match problem.kind {
        SubjectProblemKind::Empty => "the subject is empty",
        SubjectProblemKind::EmptyToken => "the subject has an empty token",
        SubjectProblemKind::Wildcard(_) => "the subject contains a wildcard",
        SubjectProblemKind::Blank => "the subject contains whitespace or a control character",
        SubjectProblemKind::Reserved => "the subject is in the `$` namespace reserved by NATS",
    })
}

/// [`check_literal`] as a publish error ([`PublishErrorKind::InvalidSubject`]).
///
/// [`PublishErrorKind::InvalidSubject`]: crate::PublishErrorKind::InvalidSubject
#[cfg(feature = "bus")]
pub(crate) fn check_publish(subject: &str) -> Result<(), crate::PublishError> {
    check_literal(subject).map_err(|problem| {
        crate::PublishError::new(crate::PublishErrorKind::InvalidSubject)
            .with_detail(format!("`{subject}`: {problem}"))
    })
}

/// [`check_literal`] as a listen error ([`ListenErrorKind::InvalidSubject`]);
/// `what` names the subject's role (`subject`, `dead-letter subject`).
///
/// [`ListenErrorKind::InvalidSubject`]: crate::ListenErrorKind::InvalidSubject
#[cfg(feature = "bus")]
pub(crate) fn check_consume(what: &str, subject: &str) -> Result<(), crate::ListenError> {
    check_literal(subject).map_err(|problem| {
        crate::ListenError::new(crate::ListenErrorKind::InvalidSubject)
            .with_detail(format!("{what} `{subject}`: {problem}"))
    })
}

#[cfg(test)]
mod tests {
    use super::check_literal;

    #[test]
    fn accepts_literal_subjects_only() {
        assert_eq!(check_literal("ticket:created"), Ok(()));
        assert_eq!(check_literal("typebus.dlq.orders-service"), Ok(()));
        assert!(check_literal("").is_err());
        assert!(check_literal("a..b").is_err());
        assert!(check_literal("ticket.*").is_err());
        assert!(check_literal("ticket.>").is_err());
        assert!(check_literal("ticket created").is_err());
        assert!(check_literal("a.").is_err());
    }

    #[test]
    fn refuses_the_dollar_namespace() {
        assert_eq!(
            check_literal("$JS.API.INFO"),
            Err("the subject is in the `$` namespace reserved by NATS")
        );
        assert_eq!(check_literal("ticket.$x"), Ok(()));
    }
}
