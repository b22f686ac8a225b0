//! Errors of decoding a message into a typed event.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::contract::strict::Strict;

/// A subject that no event of a schema set is published on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown subject `{subject}`")]
pub struct UnknownSubject {
    subject: String,
}

impl UnknownSubject {
    /// Creates the error for `subject`.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
        }
    }

    /// The subject that was not recognised.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// A string that is not one of the values of a closed schema enum (the
/// `FromStr` error of generated enums).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown `{enum_name}` value `{value}`")]
pub struct UnknownValue {
    enum_name: &'static str,
    value: String,
}

impl UnknownValue {
    /// Creates the error for `value`, which is not a value of `enum_name`.
    pub fn new(enum_name: &'static str, value: impl Into<String>) -> Self {
        Self {
            enum_name,
            value: value.into(),
        }
    }

    /// The schema name of the enum, e.g. `OrderStatus`.
    pub fn enum_name(&self) -> &'static str {
        self.enum_name
    }

    /// The value that was not recognised.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A message whose subject or body does not decode into a known event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No event is published on this subject.
    #[error(transparent)]
    UnknownSubject(#[from] UnknownSubject),
    /// The body is not the JSON of the subject's event.
    #[error("invalid `{subject}` payload at {path}: {message}")]
    Payload {
        /// The message subject.
        subject: String,
        /// The JSON path of the offending value (`$.ticket.price`), `$` for the root.
        path: String,
        /// What was wrong, as serde_json reported it.
        message: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl DecodeError {
    /// Builds a payload error for `subject` from a serde_json error.
    pub fn payload(
        subject: impl Into<String>,
        path: impl fmt::Display,
        source: serde_json::Error,
    ) -> Self {
        Self::Payload {
            subject: subject.into(),
            path: path.to_string(),
            message: source.to_string(),
            source,
        }
    }

    /// The JSON path of the offending value, for payload errors.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Payload { path, .. } => Some(path),
            Self::UnknownSubject(_) => None,
        }
    }
}

/// Decodes the JSON body of a message on `subject` into `E`, reporting the
/// JSON path of the first offending value (`$.ticket.price`).
///
/// Stricter than plain serde_json where serde would misread quietly: structs,
/// at any depth, read only from JSON objects (serde's derive would also take
/// an array of the field values in order, which no publisher means), and an
/// `f32` beyond `f32::MAX` is an error instead of infinity.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// struct Ticket { price: f64 }
///
/// let err = typebus::from_json::<Ticket>("ticket:created", br#"{"price":"free"}"#).unwrap_err();
/// assert_eq!(err.path(), Some("$.price"));
/// let err = typebus::from_json::<Ticket>("ticket:created", b"[20]").unwrap_err();
/// assert!(err.to_string().contains("invalid type: array, expected a JSON object"));
/// ```
pub fn from_json<E: DeserializeOwned>(subject: &str, payload: &[u8]) -> Result<E, DecodeError> {
    // The fast path: no path tracking. Only a payload that fails is decoded
    // again with it, to say where it failed.
    let mut de = serde_json::Deserializer::from_slice(payload);
    if let Ok(value) = E::deserialize(Strict(&mut de))
        && de.end().is_ok()
    {
        return Ok(value);
    }
    from_json_tracked(subject, payload)
}

/// [`from_json`] in one pass that always tracks the JSON path: the same
/// values, errors and paths, with one instantiation of `E`'s decoder where
/// [`from_json`] has two (its fast path and the one that finds the path).
/// A catalog (`AnyEvent::decode`) dispatches to every event type through
/// this, halving the decoders it compiles; listeners keep [`from_json`],
/// which decodes faster.
#[doc(hidden)]
pub fn from_json_tracked<E: DeserializeOwned>(
    subject: &str,
    payload: &[u8],
) -> Result<E, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|err| {
        let path = json_path(err.path());
        DecodeError::payload(subject, path, err.into_inner())
    })?;
    de.end()
        .map_err(|err| DecodeError::payload(subject, "$", err))?;
    Ok(value)
}

/// Renders a serde_path_to_error path as a JSON path rooted at `$`.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::from("$");
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.push('.');
                    out.push_str(key);
                } else {
                    out.push_str(&format!("[{key:?}]"));
                }
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    out
}
