//! [`Timestamp`]: the schema type `timestamp`, RFC 3339 on the wire.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in UTC, the schema type `timestamp`.
///
/// It reads any RFC 3339 date-time (any offset, any fraction of a second) and
/// writes RFC 3339 in UTC with a `Z`, with milliseconds exactly as
/// JavaScript's `Date.prototype.toISOString()` does
/// (`2020-05-01T12:00:00.000Z`) unless the instant has a finer fraction, which
/// is kept (micro- or nanoseconds). So a timestamp written by a Node service
/// round-trips to the same string.
///
/// ```
/// let t: typebus::Timestamp = "2020-05-01T14:00:00.5+02:00".parse().unwrap();
/// assert_eq!(t.to_string(), "2020-05-01T12:00:00.500Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(Utc::now())
    }

    /// The wrapped `chrono` value.
    pub fn as_datetime(&self) -> &DateTime<Utc> {
        &self.0
    }

    /// Unwraps into the `chrono` value.
    pub fn into_datetime(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(value: Timestamp) -> Self {
        value.0
    }
}

impl std::ops::Deref for Timestamp {
    type Target = DateTime<Utc>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A string that is not an RFC 3339 date-time.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid RFC 3339 timestamp `{input}`: {reason}")]
pub struct ParseTimestampError {
    input: String,
    reason: chrono::ParseError,
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| Self(t.with_timezone(&Utc)))
            .map_err(|reason| ParseTimestampError {
                input: s.to_owned(),
                reason,
            })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = if self.0.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
            SecondsFormat::Millis
        } else {
            SecondsFormat::AutoSi
        };
        f.write_str(&self.0.to_rfc3339_opts(format, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp such as 2020-05-01T12:00:00.000Z")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_iso_strings_round_trip() {
        for s in ["2020-05-01T12:00:00.000Z", "1999-12-31T23:59:59.999Z"] {
            let t: Timestamp = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        }
    }

    #[test]
    fn offsets_become_utc_and_fine_fractions_are_kept() {
        let t: Timestamp = "2020-05-01T14:00:00+02:00".parse().unwrap();
        assert_eq!(t.to_string(), "2020-05-01T12:00:00.000Z");
        let t: Timestamp = "2020-05-01T12:00:00.123456Z".parse().unwrap();
        assert_eq!(t.to_string(), "2020-05-01T12:00:00.123456Z");
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        let err = serde_json::from_str::<Timestamp>("\"2020-05-01\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid RFC 3339 timestamp `2020-05-01`"),
            "{err}"
        );
        assert!(serde_json::from_str::<Timestamp>("12").is_err());
    }
}
