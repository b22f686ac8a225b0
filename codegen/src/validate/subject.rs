//! NATS subject syntax for event subjects: dot-separated tokens, no empty
//! token, no wildcards (`*`, `>`), no whitespace or control characters, not
//! in the `$` namespace NATS reserves for itself. `:` and other printable
//! characters are allowed (`ticket:created`).

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

/// Checks one subject.
pub(crate) fn check(subject: &str) -> Result<(), SubjectError> {
    let error = |offset, message: String, help| {
        Err(SubjectError {
            offset,
            message,
            help,
        })
    };
    if subject.is_empty() {
        return error(
            0,
            "empty subject".to_owned(),
            "write the subject events are published on, e.g. `ticket:created`",
        );
    }
    for (i, c) in subject.chars().enumerate() {
        if c.is_whitespace() || c.is_control() {
            return error(
                i,
                format!(
                    "subject `{}` contains whitespace or a control character",
                    subject.escape_debug()
                ),
                "NATS subjects cannot contain blanks; use `.` or `:` between words",
            );
        }
        if c == '*' || c == '>' {
            return error(
                i,
                format!("subject `{subject}` contains the wildcard `{c}`"),
                "an event is published on one exact subject; wildcards are for subscriptions",
            );
        }
    }
    let mut offset: usize = 0;
    for token in subject.split('.') {
        if token.is_empty() {
            // Point at the dot next to the empty token.
            return error(
                offset.saturating_sub(1),
                format!("subject `{subject}` has an empty token"),
                "tokens are separated by single dots and cannot be empty: `orders.created`",
            );
        }
        offset += token.chars().count() + 1;
    }
    if subject.starts_with('$') {
        return error(
            0,
            format!("subject `{subject}` is in the `$` namespace reserved by NATS"),
            "`$JS`, `$SYS` and other `$` subjects belong to the server; choose another prefix",
        );
    }
    Ok(())
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
