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
pub(crate) fn check_consume(what: &str, subject: &str) -> Result<(), crate::ListenError> {
    check_literal(subject).map_err(|problem| {
        crate::ListenError::new(crate::ListenErrorKind::InvalidSubject)
            .with_detail(format!("{what} `{subject}`: {problem}"))
    })
}

/// The checks `nats-server` makes on a stream configuration, made before
/// anything is sent (the NATS transport) or stored (the memory broker): a
/// valid name, at least one subject, each a valid pattern (no empty token,
/// no whitespace, `*` and `>` only as whole tokens, `>` only last), no two
/// overlapping, 1 to 5 replicas, and a duplicate window within `max_age`.
pub(crate) fn check_stream(
    config: &crate::StreamConfig,
) -> Result<(), crate::error::ProvisionError> {
    let name = &config.name;
    let invalid = |detail: String| {
        crate::error::ProvisionError::new(crate::error::ProvisionErrorKind::InvalidConfig)
            .with_detail(detail)
    };
    if let Err(problem) = typebus_names::check_name(name) {
        return Err(invalid(format!("stream name `{name}` {problem}")));
    }
    if config.subjects.is_empty() {
        return Err(invalid(format!("stream `{name}` has no subjects")));
    }
    if let Some(pattern) = config
        .subjects
        .iter()
        .find(|pattern| !valid_pattern(pattern))
    {
        return Err(invalid(format!(
            "stream `{name}`: invalid subject `{pattern}`"
        )));
    }
    if let Some((a, b)) = config
        .subjects
        .iter()
        .enumerate()
        .flat_map(|(i, a)| config.subjects[i + 1..].iter().map(move |b| (a, b)))
        .find(|(a, b)| overlaps(a, b))
    {
        return Err(invalid(format!(
            "stream `{name}`: subjects `{a}` and `{b}` overlap"
        )));
    }
    if config.replicas == 0 || config.replicas > 5 {
        return Err(invalid(format!(
            "stream `{name}`: replicas must be 1 to 5, not {}",
            config.replicas
        )));
    }
    if let Some(max_age) = config.max_age
        && config.duplicate_window > max_age
    {
        return Err(invalid(format!(
            "stream `{name}`: duplicate_window {:?} exceeds max_age {max_age:?}",
            config.duplicate_window
        )));
    }
    Ok(())
}

/// Whether `pattern` is a subject a stream may hold: tokens not empty, no
/// whitespace or control character, `*` and `>` only as whole tokens and
/// `>` only last.
fn valid_pattern(pattern: &str) -> bool {
    let tokens: Vec<&str> = pattern.split('.').collect();
    !pattern.chars().any(|c| c.is_whitespace() || c.is_control())
        && tokens.iter().enumerate().all(|(index, token)| {
            !token.is_empty()
                && (!token.contains(['*', '>']) || *token == "*" || *token == ">")
                && (*token != ">" || index + 1 == tokens.len())
        })
}

/// Whether some subject could match both patterns (two streams may not
/// share a subject).
pub(crate) fn overlaps(a: &str, b: &str) -> bool {
    let a_tokens: Vec<&str> = a.split('.').collect();
    let b_tokens: Vec<&str> = b.split('.').collect();
    let mut i = 0;
    loop {
        match (a_tokens.get(i), b_tokens.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) => {
                if *x != "*" && *y != "*" && x != y {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
        i += 1;
    }
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
