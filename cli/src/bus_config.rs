//! The `[streams.*]` and `[[listeners]]` sections of `typebus.toml`: the
//! streams `typebus provision` creates and `typebus status` checks, and the
//! listeners whose consumers `typebus status` expects.
//!
//! ```toml
//! # Every subject of the schemas; defaults as the runtime's StreamConfig.
//! [streams.events]
//! name = "EVENTS"
//! storage = "file"          # or "memory"
//! replicas = 1
//! duplicate_window = "2m"
//! max_age = "30d"           # default: kept until deleted
//!
//! # `typebus.dlq.>`: where listeners dead-letter by default.
//! [streams.dead_letters]
//! name = "TYPEBUS_DLQ"
//!
//! [[listeners]]
//! group = "orders-service"
//! events = ["TicketCreated", "ticket:updated"]   # event names or subjects
//! dead_letter = "typebus.dlq.orders-service"      # the default
//! ```

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use typebus::{Bus, Storage, StreamConfig};
use typebus_codegen::model::Model;

use crate::config::CONFIG_FILE;
use crate::error::CliError;

/// `[streams]`: the event stream and the dead-letter stream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamsSection {
    #[serde(default)]
    events: StreamSection,
    #[serde(default)]
    dead_letters: StreamSection,
}

/// `[streams.<role>]`: every key optional, defaults as [`StreamConfig::new`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamSection {
    name: Option<String>,
    storage: Option<StorageSetting>,
    replicas: Option<usize>,
    #[serde(default, deserialize_with = "duration")]
    duplicate_window: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    max_age: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StorageSetting {
    File,
    Memory,
}

/// `[[listeners]]`: one queue group of a service and the events it handles.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerSection {
    group: String,
    events: Vec<String>,
    dead_letter: Option<String>,
}

/// A declared listener resolved against the schemas.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredListener {
    /// The queue group.
    pub(crate) group: String,
    /// `(subject, durable consumer name)` per event, in the order declared.
    pub(crate) consumers: Vec<(String, String)>,
    /// Where it dead-letters.
    pub(crate) dead_letter: String,
}

impl StreamsSection {
    /// The stream storing every subject of the schemas.
    pub(crate) fn events(&self, model: &Model) -> StreamConfig {
        let mut subjects: Vec<&str> = model.events.iter().map(|e| e.subject.as_str()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        self.events.apply(StreamConfig::new(subjects))
    }

    /// The stream storing dead letters (`typebus.dlq.>`).
    pub(crate) fn dead_letters(&self) -> StreamConfig {
        self.dead_letters.apply(Bus::default_dead_letter_stream())
    }
}

impl StreamSection {
    fn apply(&self, mut config: StreamConfig) -> StreamConfig {
        if let Some(name) = &self.name {
            config = config.name(name.clone());
        }
        if let Some(storage) = self.storage {
            config = config.storage(match storage {
                StorageSetting::File => Storage::File,
                StorageSetting::Memory => Storage::Memory,
            });
        }
        if let Some(replicas) = self.replicas {
            config = config.replicas(replicas);
        }
        if let Some(window) = self.duplicate_window {
            config = config.duplicate_window(window);
        }
        if let Some(age) = self.max_age {
            config = config.max_age(age);
        }
        config
    }
}

/// Resolves `[[listeners]]` against the schemas: every event named (by
/// event name or subject) must exist.
pub(crate) fn declared_listeners(
    sections: &[ListenerSection],
    model: &Model,
) -> Result<Vec<DeclaredListener>, CliError> {
    sections
        .iter()
        .map(|section| {
            let consumers = section
                .events
                .iter()
                .map(|wanted| {
                    let event = model
                        .events
                        .iter()
                        .find(|e| e.name == *wanted || e.subject == *wanted)
                        .ok_or_else(|| {
                            let known: Vec<&str> =
                                model.events.iter().map(|e| e.name.as_str()).collect();
                            CliError::Usage(format!(
                                "{CONFIG_FILE}: listener group `{}` names event `{wanted}`, which no schema declares (known: {})",
                                section.group,
                                known.join(", ")
                            ))
                        })?;
                    Ok((
                        event.subject.clone(),
                        typebus::consumer_name(&section.group, &event.subject),
                    ))
                })
                .collect::<Result<Vec<_>, CliError>>()?;
            Ok(DeclaredListener {
                group: section.group.clone(),
                consumers,
                dead_letter: section
                    .dead_letter
                    .clone()
                    .unwrap_or_else(|| Bus::dead_letter_subject(&section.group)),
            })
        })
        .collect()
}

/// A duration written as a number and a unit: `500ms`, `30s`, `2m`, `1h`,
/// `7d`.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Parses `500ms`, `30s`, `2m`, `1h`, `7d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || {
        format!(
            "`{text}` is not a duration: write a number and a unit (ms, s, m, h, d), e.g. \"2m\""
        )
    };
    let n: u64 = number.parse().map_err(|_| invalid())?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid()),
    };
    n.checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(invalid)
}

/// A duration as [`parse_duration`] reads it, in the largest unit that
/// shows it exactly: `2m`, `90s`, `1500ms`.
pub(crate) fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_show_in_the_same_units() {
        for (text, secs) in [
            ("500ms", 0.5),
            ("30s", 30.0),
            ("2m", 120.0),
            ("1h", 3600.0),
            ("7d", 604_800.0),
        ] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(duration.as_secs_f64(), secs, "{text}");
            assert_eq!(format_duration(duration), text);
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        for bad in ["", "2", "m", "2 m", "1.5s", "-1s", "2w"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
