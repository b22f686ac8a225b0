//! `typebus listen [SUBJECT...]`: every event on the subjects, decoded
//! against the schemas and pretty-printed with its delivery info. A message
//! that does not decode (not JSON, does not fit its schema, a subject or
//! contract version the schemas do not know) is shown as undecodable with
//! its raw body; it never stops the listener.
//!
//! Without `--durable`, each stream gets an ephemeral consumer (removed by
//! the server a minute after the listener goes away) that starts at new
//! messages, or at the oldest with `--all`. With `--durable GROUP`, the
//! listener binds the durable consumers a typebus listener in queue group
//! GROUP would (`typebus::consumer_name`), which keep their position across
//! runs.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use anstream::{eprintln, println};
use async_nats::jetstream::{self, consumer::pull};
use futures_util::StreamExt as _;
use typebus::headers::names;

use crate::cli::ListenArgs;
use crate::config::Paths;
use crate::error::CliError;
use crate::output::{BOLD, ERROR, NOTE, OK};
use crate::payload::Payloads;

/// Listens until `--count` messages were shown, or Ctrl-C.
pub(crate) fn run(args: &ListenArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let payloads = Payloads::new(&super::model(&paths.schemas)?)?;
    let subjects: Vec<String> = if args.subjects.is_empty() {
        payloads.subjects().map(str::to_owned).collect()
    } else {
        for subject in &args.subjects {
            if payloads.event(subject).is_none() {
                return Err(payloads.unknown_subject(subject));
            }
        }
        args.subjects.clone()
    };
    crate::nats::block_on(async {
        let transport = crate::nats::connect(&args.server).await?;
        let js = transport.jetstream();
        let mut streams = BTreeSet::new();
        let mut sources = Vec::with_capacity(subjects.len());
        for subject in &subjects {
            let stream = js
                .stream_by_subject(subject.as_str())
                .await
                .map_err(|err| {
                    let hint =
                        if err.kind() == jetstream::context::GetStreamByNameErrorKind::NotFound {
                            super::publish::no_stream_hint(&paths)
                        } else {
                            String::new()
                        };
                    CliError::Failed(format!("no stream stores subject `{subject}`: {err}{hint}"))
                })?;
            let durable = args
                .durable
                .as_ref()
                .map(|group| typebus::consumer_name(group, subject));
            sources.push(consume(js, &stream, subject, durable, args.all).await?);
            streams.insert(stream);
        }
        eprintln!(
            "{NOTE}listening{NOTE:#} on {} ({})",
            subjects.join(", "),
            streams.into_iter().collect::<Vec<_>>().join(", ")
        );
        let mut shown = 0u64;
        // Pull requests of at most what is still to be shown, one round at
        // a time: with `--count`, nothing is fetched that is not shown, or
        // released (nak) when two subjects' rounds bring more; nothing is
        // left unacknowledged for a durable's next run to wait for.
        'rounds: loop {
            let want = args.count.map_or(ROUND_BATCH, |count| {
                usize::try_from(count - shown).map_or(ROUND_BATCH, |left| left.min(ROUND_BATCH))
            });
            if want == 0 {
                break;
            }
            let mut round = Vec::with_capacity(sources.len());
            for consumer in &sources {
                round.push(pull_round(consumer, want).await?);
            }
            let mut messages = futures_util::stream::select_all(round);
            loop {
                let next = tokio::select! {
                    next = messages.next() => next,
                    _ = tokio::signal::ctrl_c() => break 'rounds,
                };
                let message = match next {
                    None => break,
                    Some(Ok(message)) => message,
                    Some(Err(err)) => {
                        eprintln!("{ERROR}warning:{ERROR:#} {err}");
                        continue;
                    }
                };
                let ack = if args.count.is_none_or(|count| shown < count) {
                    println!("{}", render(&message, &payloads));
                    shown += 1;
                    jetstream::AckKind::Ack
                } else {
                    jetstream::AckKind::Nak(None)
                };
                if let Err(err) = message.ack_with(ack).await {
                    eprintln!("{ERROR}warning:{ERROR:#} cannot acknowledge: {err}");
                }
            }
        }
        transport.close().await;
        Ok(())
    })
}

/// Creates (or, with a durable name, binds to) the consumer of one subject
/// (nats-server 2.9 filters a consumer on one subject).
async fn consume(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
    durable: Option<String>,
    all: bool,
) -> Result<jetstream::consumer::PullConsumer, CliError> {
    let failed = |err: &dyn std::fmt::Display| {
        CliError::Failed(format!(
            "cannot listen on {subject} (stream {stream}): {err}"
        ))
    };
    let stream_handle = js.get_stream(stream).await.map_err(|e| failed(&e))?;
    let config = pull::Config {
        durable_name: durable.clone(),
        name: durable.clone(),
        filter_subject: subject.to_owned(),
        deliver_policy: if all {
            jetstream::consumer::DeliverPolicy::All
        } else {
            jetstream::consumer::DeliverPolicy::New
        },
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        inactive_threshold: if durable.is_some() {
            Duration::ZERO
        } else {
            Duration::from_secs(60)
        },
        description: Some("typebus listen".to_owned()),
        ..Default::default()
    };
    if let Some(name) = &durable
        && all
        && stream_handle.consumer_info(name).await.is_ok()
    {
        eprintln!(
            "{NOTE}note:{NOTE:#} durable consumer `{name}` exists: it goes on from its position, and --all applies only to a new one (delete it with `nats consumer rm {stream} {name}`, or use another --durable)"
        );
    }
    match &durable {
        Some(name) => stream_handle.get_or_create_consumer(name, config).await,
        None => stream_handle.create_consumer(config).await,
    }
    .map_err(|e| failed(&e))
}

/// How many messages one pull request asks for at most.
const ROUND_BATCH: usize = 100;

/// How long one pull request waits for messages before the next round.
const ROUND_WAIT: Duration = Duration::from_secs(1);

/// One pull request for up to `want` messages: it ends when they came or
/// after [`ROUND_WAIT`], so the listener never holds more than it asked for.
async fn pull_round(
    consumer: &jetstream::consumer::PullConsumer,
    want: usize,
) -> Result<pull::Batch, CliError> {
    consumer
        .batch()
        .max_messages(want)
        .expires(ROUND_WAIT)
        .messages()
        .await
        .map_err(|err| {
            CliError::Failed(format!(
                "cannot pull from consumer `{}`: {err}",
                consumer.cached_info().name
            ))
        })
}

/// One message: a heading with subject, event, version and delivery info,
/// then the payload pretty-printed (or the raw body of an undecodable one).
fn render(message: &jetstream::Message, payloads: &Payloads) -> String {
    let subject = message.subject.as_str();
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let mut delivery = String::new();
    if let Ok(info) = message.info() {
        let _ = write!(
            delivery,
            "{} #{}, delivery {}, published {}",
            info.stream,
            info.stream_sequence,
            info.delivered,
            info.published
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }
    if let Some(id) = header(names::MSG_ID) {
        let _ = write!(delivery, ", msg-id {id}");
    }
    let decoded = decode(
        subject,
        header(names::VERSION).as_deref(),
        &message.payload,
        payloads,
    );
    match decoded {
        Ok((heading, pretty)) => {
            format!("{BOLD}{subject}{BOLD:#} {OK}{heading}{OK:#} ({delivery})\n{pretty}")
        }
        Err(reason) => format!(
            "{BOLD}{subject}{BOLD:#} {ERROR}undecodable:{ERROR:#} {reason} ({delivery})\n{}",
            String::from_utf8_lossy(&message.payload)
        ),
    }
}

/// `("TicketCreated v1", pretty JSON)`, or why the body does not decode.
fn decode(
    subject: &str,
    version_header: Option<&str>,
    body: &[u8],
    payloads: &Payloads,
) -> Result<(String, String), String> {
    let event = payloads
        .event(subject)
        .ok_or_else(|| format!("no event in the schemas has subject `{subject}`"))?;
    if let Some(version) = version_header
        && version != event.version.to_string()
    {
        return Err(format!(
            "contract version {version}, the schemas have {} v{}",
            event.name, event.version
        ));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| format!("the body is not JSON: {err}"))?;
    if let Err(mismatches) = payloads.check(event, &value) {
        let list: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
        return Err(format!(
            "invalid {} v{} payload {}",
            event.name,
            event.version,
            list.join("; ")
        ));
    }
    let pretty = serde_json::to_string_pretty(&value)
        .unwrap_or_else(|_| unreachable!("a JSON value always serializes"));
    Ok((format!("{} v{}", event.name, event.version), pretty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads() -> Payloads {
        crate::payload::payloads_of(
            "events:\n  TicketCreated:\n    subject: ticket:created\n    version: 1\n    fields:\n      id: string\n      price: f64\n",
        )
    }

    #[test]
    fn a_fitting_body_is_pretty_printed() {
        let (heading, pretty) = decode(
            "ticket:created",
            Some("1"),
            br#"{"id":"t1","price":20}"#,
            &payloads(),
        )
        .unwrap();
        assert_eq!(heading, "TicketCreated v1");
        assert_eq!(pretty, "{\n  \"id\": \"t1\",\n  \"price\": 20\n}");
    }

    #[test]
    fn undecodable_bodies_say_why() {
        let p = payloads();
        let not_json = decode("ticket:created", None, b"{oops", &p).unwrap_err();
        assert!(not_json.starts_with("the body is not JSON"), "{not_json}");
        let mismatch =
            decode("ticket:created", None, br#"{"id":"t1","price":"x"}"#, &p).unwrap_err();
        assert!(
            mismatch.starts_with("invalid TicketCreated v1 payload at $.price:"),
            "{mismatch}"
        );
        let version =
            decode("ticket:created", Some("2"), br#"{"id":"t1","price":1}"#, &p).unwrap_err();
        assert_eq!(
            version,
            "contract version 2, the schemas have TicketCreated v1"
        );
        let unknown = decode("ticket:sold", None, b"{}", &p).unwrap_err();
        assert!(unknown.contains("`ticket:sold`"), "{unknown}");
    }
}
