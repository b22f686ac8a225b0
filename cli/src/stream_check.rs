//! What `provision` and `status` share about streams: the streams the
//! schemas and `typebus.toml` ask for, looking one up on the server, and
//! saying how it differs (through the runtime's
//! [`stream_differences`](typebus::nats::stream_differences)).

use async_nats::jetstream::{self, context::GetStreamErrorKind, stream};
use typebus::StreamConfig;
use typebus::nats::StreamDifference;
use typebus_codegen::model::Model;

use crate::bus_config::format_duration;
use crate::config::Paths;
use crate::error::CliError;

/// A stream typebus needs, and its key in `typebus.toml`.
#[derive(Debug)]
pub(crate) struct WantedStream {
    /// `events` or `dead_letters` (`[streams.<role>]`).
    pub(crate) role: &'static str,
    /// What provisioning asks for.
    pub(crate) config: StreamConfig,
}

/// The event stream (every subject of the schemas) and the dead-letter
/// stream, as configured.
pub(crate) fn wanted(paths: &Paths, model: &Model) -> [WantedStream; 2] {
    [
        WantedStream {
            role: "events",
            config: paths.streams.events(model),
        },
        WantedStream {
            role: "dead_letters",
            config: paths.streams.dead_letters(),
        },
    ]
}

/// The stream's info, `None` when the server has no stream of that name.
pub(crate) async fn lookup(
    js: &jetstream::Context,
    name: &str,
) -> Result<Option<stream::Stream>, CliError> {
    match js.get_stream(name).await {
        Ok(stream) => Ok(Some(stream)),
        Err(err) => match err.kind() {
            GetStreamErrorKind::JetStream(e)
                if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            _ => Err(CliError::Failed(format!(
                "cannot look up stream `{name}`: {err}"
            ))),
        },
    }
}

/// One difference in words, naming the `typebus.toml` key when it is a
/// setting: `missing subjects a, b` or `duplicate window 2m on the server,
/// 5s configured (`streams.events.duplicate_window` in typebus.toml)`.
pub(crate) fn describe(role: &str, difference: &StreamDifference) -> String {
    match difference {
        StreamDifference::MissingSubjects(subjects) => {
            format!("missing subjects {}", subjects.join(", "))
        }
        StreamDifference::DuplicateWindow { have, want } => setting(
            role,
            "duplicate window",
            "duplicate_window",
            &format_duration(*have),
            &format_duration(*want),
        ),
        StreamDifference::MaxAge { have, want } => {
            let age = |d: &std::time::Duration| {
                if d.is_zero() {
                    "unlimited".to_owned()
                } else {
                    format_duration(*d)
                }
            };
            setting(role, "max age", "max_age", &age(have), &age(want))
        }
        other => match other.field() {
            Some((field, have, want)) => setting(role, field, field, &have, &want),
            None => format!("{other:?}"),
        },
    }
}

fn setting(role: &str, field: &str, key: &str, have: &str, want: &str) -> String {
    format!(
        "{field} {have} on the server, {want} configured (`streams.{role}.{key}` in {})",
        crate::config::CONFIG_FILE
    )
}
