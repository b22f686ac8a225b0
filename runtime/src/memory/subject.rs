//! NATS subject matching: `*` matches one token, `>` one or more trailing
//! tokens. Stream subject lists may hold wildcards (`typebus.dlq.>`);
//! published subjects are literal.

/// Whether the literal `subject` matches `pattern`.
pub(crate) fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    let mut pattern_tokens = pattern.split('.').peekable();
    while let Some(token) = pattern_tokens.next() {
        if token == ">" && pattern_tokens.peek().is_none() {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(subject_token) if token == "*" || token == subject_token => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::matches;
    use crate::bus::subject::overlaps;

    #[test]
    fn literal_and_wildcard_matching() {
        assert!(matches("ticket:created", "ticket:created"));
        assert!(!matches("ticket:created", "ticket:updated"));
        assert!(matches("typebus.dlq.>", "typebus.dlq.orders-service"));
        assert!(matches("typebus.dlq.>", "typebus.dlq.a.b"));
        assert!(!matches("typebus.dlq.>", "typebus.dlq"));
        assert!(matches("a.*.c", "a.b.c"));
        assert!(!matches("a.*.c", "a.b.d"));
        assert!(!matches("a.*", "a.b.c"));
        assert!(matches(">", "anything.at.all"));
        assert!(!matches("a.b", "a.b.c"));
    }

    #[test]
    fn overlapping_subject_patterns() {
        assert!(overlaps("a.b", "a.b"));
        assert!(overlaps("a.*", "a.b"));
        assert!(overlaps(">", "typebus.dlq.x"));
        assert!(overlaps("typebus.dlq.>", "typebus.*.x"));
        assert!(!overlaps("a.b", "a.c"));
        assert!(!overlaps("a.*", "a.b.c"));
        assert!(!overlaps("ticket:created", "typebus.dlq.>"));
    }
}
