//! Typed errors: one [`Error`] type parameterised by a kind enum per
//! operation ([`PublishError`], [`ProvisionError`], [`ListenError`],
//! [`AckError`], [`ConnectError`], [`StreamError`], [`DeadLetterError`]).
//!
//! Match on [`Error::kind`]; the cause, when there is one, is chained through
//! [`std::error::Error::source`]. Messages are short and lowercase, and never
//! contain credentials: transports put only subjects, stream and consumer
//! names and server-reported reasons into the detail.

use std::error::Error as StdError;
use std::fmt;

/// The boxed cause of an [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error of one operation, classified by the kind `K`.
pub struct Error<K> {
    kind: K,
    detail: Option<String>,
    source: Option<BoxError>,
}

impl<K> Error<K> {
    /// An error of `kind` without further detail.
    pub fn new(kind: K) -> Self {
        Self {
            kind,
            detail: None,
            source: None,
        }
    }

    /// Adds a detail shown after the kind's message (`publish timed out: ticket:created`).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Chains the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong, to match on.
    pub fn kind(&self) -> K
    where
        K: Copy,
    {
        self.kind
    }

    /// The detail given when the error was made, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl<K: fmt::Display> fmt::Display for Error<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{}: {detail}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for Error<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

impl<K: fmt::Debug + fmt::Display> StdError for Error<K> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

impl<K> From<K> for Error<K> {
    fn from(kind: K) -> Self {
        Self::new(kind)
    }
}

/// Renders an error with its chain of sources: `a: b: c`, for logs.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

macro_rules! kinds {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $msg:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $msg,)*
                })
            }
        }
    };
}

kinds! {
    /// Why a publish failed.
    PublishErrorKind {
        /// The event could not be serialised to JSON.
        Serialize => "event does not serialise to json",
        /// The subject is not a literal NATS subject (wildcards, spaces, empty tokens).
        InvalidSubject => "invalid subject",
        /// The message is larger than the server accepts; nothing was sent.
        MaxPayloadExceeded => "message exceeds the server's max payload",
        /// No stream stores the subject (JetStream "no responders").
        NoStream => "no stream stores the subject",
        /// No ack arrived in time; the message may or may not be stored.
        /// Retrying with the same message id is safe.
        TimedOut => "publish timed out",
        /// The connection is closed for good (an outage only delays a publish,
        /// which then times out).
        Disconnected => "connection closed",
        /// The stream refused the message (e.g. a wrong expectation, a full stream).
        Rejected => "stream rejected the message",
        /// Anything else the transport reported.
        Other => "publish failed",
    }
}

impl PublishErrorKind {
    /// Whether publishing the same message again (same message id) may succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::NoStream | Self::TimedOut | Self::Other)
    }
}

kinds! {
    /// Why provisioning a stream failed.
    ProvisionErrorKind {
        /// The requested configuration is invalid (empty name, bad subject...).
        InvalidConfig => "invalid stream configuration",
        /// A stream of that name exists with a configuration that conflicts.
        Conflict => "existing stream conflicts",
        /// The server refused the request.
        Rejected => "server rejected the stream request",
        /// The request could not be made (connection, timeout).
        Request => "stream request failed",
    }
}

kinds! {
    /// Why binding a consumer or running a listener failed.
    ListenErrorKind {
        /// The listener's options are invalid (e.g. concurrency above max_ack_pending).
        InvalidConfig => "invalid listener configuration",
        /// The subject to consume from (or the dead-letter subject) is not a
        /// literal NATS subject (wildcards, spaces, empty tokens): a listener
        /// never reaches beyond its own subject.
        InvalidSubject => "invalid subject",
        /// No stream stores the listener's subject.
        NoStream => "no stream stores the subject",
        /// The durable consumer could not be created or bound.
        Consumer => "consumer could not be bound",
        /// The message source ended for good (the connection was closed).
        Closed => "message source closed",
        /// The listener task panicked or was aborted.
        Aborted => "listener task aborted",
        /// Anything else the transport reported.
        Other => "listen failed",
    }
}

kinds! {
    /// Why an acknowledgement could not be sent.
    AckErrorKind {
        /// The connection is closed or could not take the acknowledgement.
        Disconnected => "acknowledgement not sent",
        /// The message was already settled (acked, nakked or termed).
        AlreadySettled => "message already settled",
        /// Anything else the transport reported.
        Other => "acknowledgement failed",
    }
}

kinds! {
    /// Why connecting failed.
    ConnectErrorKind {
        /// The options are invalid (no server URL, an unreadable URL).
        InvalidOptions => "invalid connect options",
        /// A credentials file or key could not be read or parsed.
        Credentials => "credentials could not be loaded",
        /// TLS could not be set up.
        Tls => "tls setup failed",
        /// The server refused the credentials.
        Authorization => "authorization failed",
        /// No server could be reached.
        Io => "could not reach a server",
        /// Timed out while connecting.
        TimedOut => "connect timed out",
        /// Anything else the client reported.
        Other => "connect failed",
    }
}

kinds! {
    /// Why reading or deleting a stored message failed
    /// ([`Transport::next_message`](crate::Transport::next_message) and friends).
    StreamErrorKind {
        /// No stream of that name exists.
        NoStream => "no such stream",
        /// The transport cannot read or delete stored messages.
        Unsupported => "the transport cannot read or delete stored messages",
        /// The server refused the request.
        Rejected => "server rejected the stream request",
        /// The request could not be made (connection, timeout).
        Request => "stream request failed",
    }
}

kinds! {
    /// Why a dead-letter operation ([`DeadLetters`](crate::DeadLetters))
    /// failed, as a whole or for one dead letter.
    DeadLetterErrorKind {
        /// No dead letter of the group is stored at that sequence.
        NotFound => "no such dead letter",
        /// The message lacks the `Typebus-Dlq-*` headers a dead letter carries.
        Malformed => "not a typebus dead letter",
        /// The dead letter holds only part of its original (cut to fit the
        /// broker's max payload) and the original is no longer in its stream.
        Incomplete => "dead letter is incomplete and its original is gone",
        /// The filter is invalid (an empty group, an unknown reason kind).
        InvalidFilter => "invalid dead-letter filter",
        /// Reading or deleting in the dead-letter stream failed.
        Stream => "dead-letter stream request failed",
        /// Republishing to the original subject failed; the dead letter is kept.
        Publish => "republishing failed",
    }
}

/// A publish that failed; see [`PublishErrorKind`].
pub type PublishError = Error<PublishErrorKind>;
/// A stream that could not be provisioned; see [`ProvisionErrorKind`].
pub type ProvisionError = Error<ProvisionErrorKind>;
/// A listener that could not start or stopped; see [`ListenErrorKind`].
pub type ListenError = Error<ListenErrorKind>;
/// An acknowledgement that could not be sent; see [`AckErrorKind`].
pub type AckError = Error<AckErrorKind>;
/// A connection that could not be made; see [`ConnectErrorKind`].
pub type ConnectError = Error<ConnectErrorKind>;
/// A stored message that could not be read or deleted; see [`StreamErrorKind`].
pub type StreamError = Error<StreamErrorKind>;
/// A dead-letter operation that failed; see [`DeadLetterErrorKind`].
pub type DeadLetterError = Error<DeadLetterErrorKind>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_kind_and_detail_and_source_is_chained() {
        let io = std::io::Error::other("connection reset");
        let err = PublishError::new(PublishErrorKind::TimedOut)
            .with_detail("ticket:created")
            .with_source(io);
        assert_eq!(err.to_string(), "publish timed out: ticket:created");
        assert_eq!(err.kind(), PublishErrorKind::TimedOut);
        assert_eq!(
            err.source().map(|s| s.to_string()).as_deref(),
            Some("connection reset")
        );
        assert_eq!(
            chain(&err),
            "publish timed out: ticket:created: connection reset"
        );
    }
}
