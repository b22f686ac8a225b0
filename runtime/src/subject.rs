//! Subject checks: typebus only publishes on and listens to literal subjects.

/// Checks that `subject` is a literal NATS subject: not empty, no empty
/// `.`-separated token, no wildcard (`*`, `>`), no whitespace or control
/// character. Returns what is wrong.
pub(crate) fn check_literal(subject: &str) -> Result<(), &'static str> {
    if subject.is_empty() {
        return Err("the subject is empty");
    }
    if subject.split('.').any(str::is_empty) {
        return Err("the subject has an empty token");
    }
    if subject.contains(['*', '>']) {
        return Err("the subject contains a wildcard");
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the subject contains whitespace");
    }
    Ok(())
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
}
