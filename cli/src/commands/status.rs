//! `typebus status [--json]`: from the schemas, `typebus.toml` and a live
//! server, one report of the streams typebus needs (and whether they are as
//! `typebus provision` leaves them), the durable consumer of each queue
//! group per subject (pending, ack pending, redelivered, ack floor, last
//! active), and the dead letters per group.
//!
//! Exit status 1 (unhealthy) when a stream is missing or differs, a consumer
//! of a `[[listeners]]` group is missing, or a dead letter is stored; 0
//! otherwise.

use std::collections::{BTreeMap, BTreeSet};

use anstream::print;
use async_nats::jetstream::{self, stream::Stream};
use futures_util::TryStreamExt as _;
use typebus::nats::stream_differences;

use crate::bus_config::{DeclaredListener, declared_listeners};
use crate::cli::StatusArgs;
use crate::config::Paths;
use crate::error::CliError;
use crate::output::plural;
use crate::status_report::{ConsumerStatus, DeadLetterStatus, Report, StreamStatus};
use crate::stream_check::{WantedStream, describe, lookup, wanted};

/// Prints the report; exit 1 when it is not healthy.
pub(crate) fn run(args: &StatusArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let model = super::model(&paths.schemas)?;
    let streams = wanted(&paths, &model);
    let listeners = declared_listeners(&paths.listeners, &model)?;
    let report = crate::nats::block_on(async {
        let transport = crate::nats::connect(&args.server).await?;
        let report = gather(transport.jetstream(), &streams, &listeners).await;
        transport.close().await;
        report
    })?;
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|err| CliError::Failed(format!("cannot write the report as JSON: {err}")))?;
        anstream::println!("{text}");
    } else {
        print!("{}", report.render());
    }
    if report.healthy {
        Ok(())
    } else {
        let n = report.problems.len();
        Err(CliError::Failed(format!(
            "unhealthy: {n} problem{}",
            plural(n)
        )))
    }
}

async fn gather(
    js: &jetstream::Context,
    wanted: &[WantedStream; 2],
    listeners: &[DeclaredListener],
) -> Result<Report, CliError> {
    let [events, dead_letters] = wanted;
    let mut problems = Vec::new();
    let (event_stream, events_status) = stream_status(js, events, &mut problems).await?;
    let (dlq_stream, dlq_status) = stream_status(js, dead_letters, &mut problems).await?;
    let consumers = consumers(
        event_stream.as_ref(),
        &events.config.name,
        listeners,
        &mut problems,
    )
    .await?;
    let dead = dead_letters_of(dlq_stream.as_ref(), listeners, &mut problems).await?;
    Ok(Report {
        healthy: problems.is_empty(),
        streams: vec![events_status, dlq_status],
        consumers,
        dead_letters: dead,
        problems,
    })
}

async fn stream_status(
    js: &jetstream::Context,
    wanted: &WantedStream,
    problems: &mut Vec<String>,
) -> Result<(Option<Stream>, StreamStatus), CliError> {
    let name = &wanted.config.name;
    let Some(stream) = lookup(js, name).await? else {
        problems.push(format!(
            "stream `{name}` does not exist: run `typebus provision`"
        ));
        let status = StreamStatus {
            role: wanted.role,
            name: name.clone(),
            exists: false,
            messages: None,
            bytes: None,
            subjects: None,
            duplicate_window_ms: None,
            storage: None,
            replicas: None,
            max_age_ms: None,
            matches: false,
            differences: Vec::new(),
        };
        return Ok((None, status));
    };
    let info = stream.cached_info();
    let differences: Vec<String> = stream_differences(&wanted.config, &info.config)
        .iter()
        .map(|d| describe(wanted.role, d))
        .collect();
    for difference in &differences {
        problems.push(format!(
            "stream `{name}` differs: {difference} (see `typebus provision`)"
        ));
    }
    let status = StreamStatus {
        role: wanted.role,
        name: name.clone(),
        exists: true,
        messages: Some(info.state.messages),
        bytes: Some(info.state.bytes),
        subjects: Some(info.config.subjects.clone()),
        duplicate_window_ms: Some(millis(info.config.duplicate_window)),
        storage: Some(format!("{:?}", info.config.storage).to_lowercase()),
        replicas: Some(info.config.num_replicas.max(1)),
        max_age_ms: Some(millis(info.config.max_age)),
        matches: differences.is_empty(),
        differences,
    };
    Ok((Some(stream), status))
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Every durable consumer of the event stream, and every declared one
/// missing; sorted by group, then subject.
async fn consumers(
    stream: Option<&Stream>,
    stream_name: &str,
    listeners: &[DeclaredListener],
    problems: &mut Vec<String>,
) -> Result<Vec<ConsumerStatus>, CliError> {
    let mut found = BTreeMap::new();
    if let Some(stream) = stream {
        let mut list = stream.consumers();
        while let Some(info) = list.try_next().await.map_err(|err| {
            CliError::Failed(format!(
                "cannot list the consumers of stream `{stream_name}`: {err}"
            ))
        })? {
            // Ephemeral consumers (`typebus listen` without --durable) come and go.
            if info.config.durable_name.is_some() {
                found.insert(info.name.clone(), info);
            }
        }
    }
    let declared: BTreeMap<&str, (&str, &str)> = listeners
        .iter()
        .flat_map(|l| {
            l.consumers
                .iter()
                .map(move |(subject, name)| (name.as_str(), (l.group.as_str(), subject.as_str())))
        })
        .collect();
    let mut out = Vec::new();
    for (name, (group, subject)) in &declared {
        if !found.contains_key(*name) {
            problems.push(format!(
                "listener group `{group}` has no consumer `{name}` for `{subject}` on stream `{stream_name}`: is the service running? (its listener creates it)"
            ));
            out.push(ConsumerStatus {
                group: Some((*group).to_owned()),
                subject: (*subject).to_owned(),
                name: (*name).to_owned(),
                stream: stream_name.to_owned(),
                declared: true,
                exists: false,
                pending: None,
                ack_pending: None,
                redelivered: None,
                waiting: None,
                ack_floor: None,
                last_active: None,
            });
        }
    }
    for (name, info) in found {
        let subject = info.config.filter_subject.clone();
        let group = match declared.get(name.as_str()) {
            Some((group, _)) => Some((*group).to_owned()),
            None => group_of(&name, &subject),
        };
        out.push(ConsumerStatus {
            group,
            declared: declared.contains_key(name.as_str()),
            exists: true,
            pending: Some(info.num_pending),
            ack_pending: Some(info.num_ack_pending as u64),
            redelivered: Some(info.num_redelivered as u64),
            waiting: Some(info.num_waiting as u64),
            ack_floor: Some(info.ack_floor.stream_sequence),
            last_active: info
                .delivered
                .last_active
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            stream: info.stream_name.clone(),
            subject,
            name,
        });
    }
    out.sort_by(|a, b| (&a.group, &a.subject, &a.name).cmp(&(&b.group, &b.subject, &b.name)));
    Ok(out)
}

/// The queue group of a consumer named as the runtime names them
/// (`<group>_<subject>`, [`typebus::consumer_name`]), sanitised as there.
fn group_of(name: &str, subject: &str) -> Option<String> {
    // `_<sanitised subject>`.
    let suffix = typebus::consumer_name("", subject);
    name.strip_suffix(&suffix)
        .filter(|group| !group.is_empty())
        .map(str::to_owned)
}

/// Dead letters per subject of the dead-letter stream: every declared
/// group's (0 when none), and any other subject holding some.
async fn dead_letters_of(
    stream: Option<&Stream>,
    listeners: &[DeclaredListener],
    problems: &mut Vec<String>,
) -> Result<Vec<DeadLetterStatus>, CliError> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(stream) = stream
        && stream.cached_info().state.messages > 0
    {
        let name = &stream.cached_info().config.name;
        let failed = |err: &dyn std::fmt::Display| {
            CliError::Failed(format!(
                "cannot count the dead letters in stream `{name}`: {err}"
            ))
        };
        let mut subjects = stream
            .info_with_subjects(">")
            .await
            .map_err(|e| failed(&e))?;
        while let Some((subject, count)) = subjects.try_next().await.map_err(|e| failed(&e))? {
            counts.insert(subject, count as u64);
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for listener in listeners {
        if seen.insert(listener.dead_letter.clone()) {
            out.push(DeadLetterStatus {
                group: Some(listener.group.clone()),
                subject: listener.dead_letter.clone(),
                messages: counts.get(&listener.dead_letter).copied().unwrap_or(0),
            });
        }
    }
    for (subject, messages) in counts {
        if !seen.contains(&subject) {
            out.push(DeadLetterStatus {
                group: subject.strip_prefix("typebus.dlq.").map(str::to_owned),
                subject,
                messages,
            });
        }
    }
    for dead in &out {
        if dead.messages > 0 {
            problems.push(format!(
                "{} dead letter{} of group `{}` on `{}`",
                dead.messages,
                plural(usize::try_from(dead.messages).unwrap_or(usize::MAX)),
                dead.group.as_deref().unwrap_or("?"),
                dead.subject
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::group_of;

    #[test]
    fn the_group_is_read_back_from_a_runtime_consumer_name() {
        let name = typebus::consumer_name("orders-service", "ticket:created");
        assert_eq!(
            group_of(&name, "ticket:created").as_deref(),
            Some("orders-service")
        );
        // Sanitised as the runtime sanitises it.
        let name = typebus::consumer_name("eu.orders", "audit.v2");
        assert_eq!(group_of(&name, "audit.v2").as_deref(), Some("eu_orders"));
        // Not a typebus name.
        assert_eq!(group_of("my-consumer", "ticket:created"), None);
    }
}
