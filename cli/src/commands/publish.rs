//! `typebus publish SUBJECT --data JSON|@FILE`: the payload is checked
//! against its event's schema (every mismatch at its JSON path), then
//! published with the headers every typebus publisher sets: `Nats-Msg-Id`,
//! `Typebus-Version`, `Typebus-Event`.

use std::io::Read as _;

use anstream::{eprintln, println};
use typebus::Headers;
use typebus::headers::names;
use typebus::transport::{OutgoingMessage, Transport as _};

use crate::cli::PublishArgs;
use crate::config::Paths;
use crate::error::CliError;
use crate::output::{ERROR, OK};
use crate::payload::{Payloads, parse_json};

/// Checks and publishes one payload.
pub(crate) fn run(args: &PublishArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let payloads = Payloads::new(&super::model(&paths.schemas)?)?;
    let event = payloads
        .event(&args.subject)
        .ok_or_else(|| payloads.unknown_subject(&args.subject))?
        .clone();
    let (text, origin) = read_data(&args.data)?;
    let value = parse_json(&text, &origin).map_err(CliError::Failed)?;
    if let Err(mismatches) = payloads.check(&event, &value) {
        for mismatch in &mismatches {
            eprintln!(
                "{ERROR}error:{ERROR:#} invalid {} v{} payload {mismatch}",
                event.name, event.version
            );
        }
        return Err(CliError::Failed(format!(
            "{origin} does not fit {} ({}): {} problem{}; nothing was published",
            event.name,
            event.subject,
            mismatches.len(),
            crate::output::plural(mismatches.len())
        )));
    }
    // As a Rust publisher writes it: `20.0` typed in goes out as `20`.
    let body =
        typebus::to_json(&value).unwrap_or_else(|_| unreachable!("a JSON value always serializes"));
    let msg_id = args
        .msg_id
        .clone()
        .unwrap_or_else(|| nuid::next().to_string());
    let mut headers = Headers::with_capacity(3);
    headers.append_static(names::MSG_ID, msg_id.clone());
    headers.append_static(names::VERSION, event.version.to_string());
    headers.append_static(names::EVENT, event.name.clone());
    if !event.readable_as.is_empty() {
        let versions: Vec<String> = event.readable_as.iter().map(u32::to_string).collect();
        headers.append(names::READABLE_AS, versions.join(","));
    }
    let message = OutgoingMessage {
        subject: event.subject.clone(),
        headers,
        payload: body.into(),
    };
    crate::nats::block_on(async {
        let transport = crate::nats::connect(&args.server).await?;
        let failed = |err: typebus::PublishError| {
            let hint = if err.kind() == typebus::PublishErrorKind::NoStream {
                no_stream_hint(&paths)
            } else {
                String::new()
            };
            CliError::Failed(format!("cannot publish {}: {err}{hint}", event.subject))
        };
        let ack = transport
            .publish(message)
            .await
            .map_err(failed)?
            .await
            .map_err(failed)?;
        transport.close().await;
        if ack.duplicate {
            println!(
                "{OK}duplicate{OK:#} {} v{} msg-id {msg_id}: already stored in {} #{}",
                event.subject, event.version, ack.stream, ack.sequence
            );
        } else {
            println!(
                "{OK}published{OK:#} {} v{} msg-id {msg_id} to {} #{}",
                event.subject, event.version, ack.stream, ack.sequence
            );
        }
        Ok(())
    })
}

/// The second line of a "no stream stores the subject" error: the command
/// that creates the streams (with the `--schemas` of this run).
pub(crate) fn no_stream_hint(paths: &Paths) -> String {
    format!(
        "\n  hint: run `{}` to create the streams the schemas need",
        paths.command("provision", false)
    )
}

/// The text of `--data` and how to name it in errors: inline JSON, `@FILE`,
/// or `@-` for standard input.
fn read_data(data: &str) -> Result<(String, String), CliError> {
    match data.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| CliError::Io {
                    what: "standard input".to_owned(),
                    source,
                })?;
            Ok((text, "standard input".to_owned()))
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
                what: path.to_owned(),
                source,
            })?;
            Ok((text, path.to_owned()))
        }
        None => Ok((data.to_owned(), "--data".to_owned())),
    }
}
