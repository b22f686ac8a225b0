//! How an existing JetStream stream differs from a [`StreamConfig`]: the one
//! comparison behind provisioning (which adds missing subjects and refuses
//! every other difference) and the `typebus provision` and `typebus status`
//! reports.

use std::time::Duration;

use async_nats::jetstream::stream::{Config, StorageType};

use crate::bus::transport::{Storage, StreamConfig};

/// One way an existing stream differs from the [`StreamConfig`] that
/// provisions it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamDifference {
    /// Subjects of the configuration the stream does not store, in the
    /// configuration's order. Provisioning adds them.
    MissingSubjects(Vec<String>),
    /// Another storage (a stream's storage cannot change).
    Storage {
        /// The stream's.
        have: Storage,
        /// The configuration's.
        want: Storage,
    },
    /// Another number of replicas.
    Replicas {
        /// The stream's.
        have: usize,
        /// The configuration's.
        want: usize,
    },
    /// Another duplicate window.
    DuplicateWindow {
        /// The stream's.
        have: Duration,
        /// The configuration's.
        want: Duration,
    },
    /// Another maximum message age (`Duration::ZERO`: kept until deleted).
    MaxAge {
        /// The stream's.
        have: Duration,
        /// The configuration's.
        want: Duration,
    },
}

impl StreamDifference {
    /// Whether provisioning reconciles it (by adding subjects); every other
    /// difference is a [`Conflict`](crate::ProvisionErrorKind::Conflict).
    pub fn is_additive(&self) -> bool {
        matches!(self, Self::MissingSubjects(_))
    }

    /// The field that differs, its value on the stream and in the
    /// configuration, as provisioning's conflict errors show them; `None`
    /// for missing subjects.
    pub fn field(&self) -> Option<(&'static str, String, String)> {
        let lower = |storage: &Storage| format!("{storage:?}").to_lowercase();
        match self {
            Self::MissingSubjects(_) => None,
            Self::Storage { have, want } => Some(("storage", lower(have), lower(want))),
            Self::Replicas { have, want } => Some(("replicas", have.to_string(), want.to_string())),
            Self::DuplicateWindow { have, want } => {
                Some(("duplicate window", format!("{have:?}"), format!("{want:?}")))
            }
            Self::MaxAge { have, want } => {
                Some(("max age", format!("{have:?}"), format!("{want:?}")))
            }
        }
    }
}

fn storage_of(storage: &StorageType) -> Storage {
    match storage {
        StorageType::File => Storage::File,
        StorageType::Memory => Storage::Memory,
    }
}

/// Every way `existing` (a stream's config as the server reports it)
/// differs from `config`: storage, replicas, duplicate window, max age,
/// then missing subjects. Empty when the stream is as provisioning would
/// leave it. Subjects the stream stores beyond the configuration's are no
/// difference.
///
/// ```
/// use std::time::Duration;
/// use typebus::StreamConfig;
/// use typebus::nats::{StreamDifference, stream_differences};
///
/// let existing = async_nats::jetstream::stream::Config {
///     name: "EVENTS".to_owned(),
///     subjects: vec!["ticket:created".to_owned()],
///     duplicate_window: Duration::from_secs(120),
///     num_replicas: 1,
///     ..Default::default()
/// };
/// let config = StreamConfig::new(["ticket:created", "ticket:updated"]);
/// assert_eq!(
///     stream_differences(&config, &existing),
///     [StreamDifference::MissingSubjects(vec!["ticket:updated".to_owned()])]
/// );
/// ```
pub fn stream_differences(config: &StreamConfig, existing: &Config) -> Vec<StreamDifference> {
    let mut differences = Vec::new();
    let have = storage_of(&existing.storage);
    if have != config.storage {
        differences.push(StreamDifference::Storage {
            have,
            want: config.storage,
        });
    }
    // A single-server stream reports 0 replicas.
    let replicas = existing.num_replicas.max(1);
    if replicas != config.replicas {
        differences.push(StreamDifference::Replicas {
            have: replicas,
            want: config.replicas,
        });
    }
    if existing.duplicate_window != config.duplicate_window {
        differences.push(StreamDifference::DuplicateWindow {
            have: existing.duplicate_window,
            want: config.duplicate_window,
        });
    }
    let max_age = config.max_age.unwrap_or(Duration::ZERO);
    if existing.max_age != max_age {
        differences.push(StreamDifference::MaxAge {
            have: existing.max_age,
            want: max_age,
        });
    }
    let missing: Vec<String> = config
        .subjects
        .iter()
        .filter(|s| !existing.subjects.contains(s))
        .cloned()
        .collect();
    if !missing.is_empty() {
        differences.push(StreamDifference::MissingSubjects(missing));
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing() -> Config {
        Config {
            name: "EVENTS".to_owned(),
            subjects: vec!["a".to_owned(), "b".to_owned()],
            duplicate_window: StreamConfig::DEFAULT_DUPLICATE_WINDOW,
            num_replicas: 0,
            ..Default::default()
        }
    }

    #[test]
    fn a_stream_as_configured_has_no_differences() {
        // Extra subjects on the stream are no difference.
        assert!(stream_differences(&StreamConfig::new(["a"]), &existing()).is_empty());
    }

    #[test]
    fn every_difference_is_listed_in_order() {
        let config = StreamConfig::new(["a", "c"])
            .storage(Storage::Memory)
            .replicas(3)
            .duplicate_window(Duration::from_secs(5))
            .max_age(Duration::from_secs(60));
        let differences = stream_differences(&config, &existing());
        let fields: Vec<_> = differences.iter().map(|d| d.field().map(|f| f.0)).collect();
        assert_eq!(
            fields,
            [
                Some("storage"),
                Some("replicas"),
                Some("duplicate window"),
                Some("max age"),
                None
            ]
        );
        assert_eq!(
            differences[2].field(),
            Some(("duplicate window", "120s".to_owned(), "5s".to_owned()))
        );
        assert_eq!(
            differences[4],
            StreamDifference::MissingSubjects(vec!["c".to_owned()])
        );
        assert!(differences[4].is_additive() && !differences[0].is_additive());
    }
}
