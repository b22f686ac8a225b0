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
