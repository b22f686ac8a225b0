//! Create-or-verify of a JetStream stream.

use std::time::Duration;

use async_nats::jetstream::{self, context::GetStreamErrorKind, stream::StorageType};

use super::stream_diff::{StreamDifference, stream_differences};
use crate::bus::transport::{ProvisionOutcome, Storage, StreamConfig};
use crate::error::{ProvisionError, ProvisionErrorKind, chain};

fn storage_type(storage: Storage) -> StorageType {
    match storage {
        Storage::File => StorageType::File,
        Storage::Memory => StorageType::Memory,
    }
}

fn request_error(
    name: &str,
    what: &str,
    err: &(dyn std::error::Error + 'static),
) -> ProvisionError {
    ProvisionError::new(ProvisionErrorKind::Request)
        .with_detail(format!("{what} stream `{name}`"))
        .with_source(chain(err))
}

fn rejected(name: &str, what: &str, err: &(dyn std::error::Error + 'static)) -> ProvisionError {
    ProvisionError::new(ProvisionErrorKind::Rejected)
        .with_detail(format!("{what} stream `{name}`"))
        .with_source(chain(err))
}

/// Creates the stream or verifies (and extends) the existing one.
pub(crate) async fn provision(
    js: &jetstream::Context,
    config: &StreamConfig,
) -> Result<ProvisionOutcome, ProvisionError> {
    crate::bus::subject::check_stream(config)?;
    let name = config.name.as_str();
    let existing = match js.get_stream(name).await {
        Ok(stream) => Some(stream.cached_info().config.clone()),
        Err(err) => match err.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                None
            }
            GetStreamErrorKind::JetStream(_) => return Err(rejected(name, "looking up", &err)),
            _ => return Err(request_error(name, "looking up", &err)),
        },
    };
    let Some(mut existing) = existing else {
        let stream_config = jetstream::stream::Config {
            name: name.to_owned(),
            subjects: config.subjects.clone(),
            storage: storage_type(config.storage),
            num_replicas: config.replicas,
            duplicate_window: config.duplicate_window,
            max_age: config.max_age.unwrap_or(Duration::ZERO),
            ..Default::default()
        };
        return match js.create_stream(stream_config).await {
            Ok(_) => {
                tracing::info!(stream = name, subjects = ?config.subjects, "stream created");
                Ok(ProvisionOutcome::Created)
            }
            // Another instance created it first: verify that one.
            Err(err) if matches!(err.kind(), jetstream::context::CreateStreamErrorKind::JetStream(ref e) if e.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST) => {
                Box::pin(provision(js, config)).await
            }
            Err(err) => Err(rejected(name, "creating", &err)),
        };
    };
    let mut missing = Vec::new();
    for difference in stream_differences(config, &existing) {
        if let Some((field, have, want)) = difference.field() {
            return Err(
                ProvisionError::new(ProvisionErrorKind::Conflict).with_detail(format!(
                    "stream `{name}` has {field} {have}, the configuration asks for {want}"
                )),
            );
        }
        if let StreamDifference::MissingSubjects(subjects) = difference {
            missing = subjects;
        }
    }
    if missing.is_empty() {
        return Ok(ProvisionOutcome::Unchanged);
    }
    existing.subjects.extend(missing.iter().cloned());
    js.update_stream(&existing)
        .await
        .map_err(|err| rejected(name, "adding subjects to", &err))?;
    tracing::info!(stream = name, added = ?missing, "stream extended");
    Ok(ProvisionOutcome::Extended(missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_configs_are_refused_before_sending() {
        assert!(crate::bus::subject::check_stream(&StreamConfig::new(["a"])).is_ok());
        for bad in [
            StreamConfig::new(["a"]).name("A.B"),
            StreamConfig::new(["a"]).name(""),
            StreamConfig::new(Vec::<String>::new()),
            StreamConfig::new(["a..b"]),
            StreamConfig::new(["a"]).replicas(0),
        ] {
            let err = crate::bus::subject::check_stream(&bad).unwrap_err();
            assert_eq!(err.kind(), ProvisionErrorKind::InvalidConfig, "{err}");
        }
    }
}
