//! `typebus dlq list|show|replay|purge`: the dead letters of the
//! dead-letter stream, through `typebus::DeadLetters` (see its docs for
//! the replay message-id rule).

use std::sync::Arc;

use anstream::{eprintln, println};
use serde_json::{Value, json};
use typebus::nats::NatsTransport;
use typebus::{DeadLetter, DeadLetterFilter, DeadLetters, GroupSummary, Report};

use crate::cli::{DlqChangeArgs, DlqCommand, DlqListArgs, DlqShowArgs};
use crate::error::CliError;
use crate::output::{BOLD, ERROR, NOTE, OK, plural};

/// Runs one `dlq` subcommand.
pub(crate) fn run(command: &DlqCommand) -> Result<(), CliError> {
    let stream = match command {
        DlqCommand::List(args) => &args.stream,
        DlqCommand::Show(args) => &args.stream,
        DlqCommand::Replay(args) | DlqCommand::Purge(args) => &args.stream,
    };
    crate::nats::block_on(async {
        let transport: NatsTransport = crate::nats::connect(&stream.server).await?;
        let dlq = DeadLetters::new(Arc::new(transport.clone()), stream.stream.clone());
        let result = match command {
            DlqCommand::List(args) => list(&dlq, args).await,
            DlqCommand::Show(args) => show(&dlq, args).await,
            DlqCommand::Replay(args) => change(&dlq, args, Change::Replay).await,
            DlqCommand::Purge(args) => change(&dlq, args, Change::Purge).await,
        };
        transport.close().await;
        result
    })
}

fn failed(err: typebus::DeadLetterError) -> CliError {
    CliError::Failed(typebus::error::chain(&err))
}

async fn list(dlq: &DeadLetters, args: &DlqListArgs) -> Result<(), CliError> {
    let groups = dlq.list(args.group.as_deref()).await.map_err(failed)?;
    if args.json {
        let groups: Vec<Value> = groups.iter().map(group_json).collect();
        println!("{}", json!({"stream": dlq.stream(), "groups": groups}));
        return Ok(());
    }
    if groups.is_empty() {
        match &args.group {
            Some(group) => println!("no dead letters of group {group} in {}", dlq.stream()),
            None => println!("no dead letters in {}", dlq.stream()),
        }
        return Ok(());
    }
    for group in &groups {
        let count = usize::try_from(group.count).unwrap_or(usize::MAX);
        println!(
            "{BOLD}{}{BOLD:#}: {} dead letter{} in {}, #{} to #{}",
            group.group,
            group.count,
            plural(count),
            dlq.stream(),
            group.first_sequence,
            group.last_sequence
        );
        println!("  by reason:");
        for (kind, count) in &group.kinds {
            println!("    {kind:<10} {count}");
        }
        println!("  by event:");
        let width = group
            .events
            .iter()
            .map(|event| event_label(&event.subject, event.version.as_deref()).len())
            .max()
            .unwrap_or(0);
        for event in &group.events {
            let label = event_label(&event.subject, event.version.as_deref());
            println!("    {label:<width$} {}", event.count);
        }
    }
    Ok(())
}

/// `ticket:created v1`, or `ticket:created (no version)`.
fn event_label(subject: &str, version: Option<&str>) -> String {
    match version {
        Some(version) => format!("{subject} v{version}"),
        None => format!("{subject} (no version)"),
    }
}

fn group_json(group: &GroupSummary) -> Value {
    let events: Vec<Value> = group
        .events
        .iter()
        .map(|event| json!({"subject": event.subject, "version": event.version, "count": event.count}))
        .collect();
    json!({
        "group": group.group,
        "count": group.count,
        "first_sequence": group.first_sequence,
        "last_sequence": group.last_sequence,
        "reasons": group.kinds,
        "events": events,
    })
}

async fn show(dlq: &DeadLetters, args: &DlqShowArgs) -> Result<(), CliError> {
    let letter = dlq.show(&args.group, args.sequence).await.map_err(failed)?;
    if args.json {
        println!("{}", letter_json(&letter));
        return Ok(());
    }
    println!(
        "{BOLD}dead letter {} #{}{BOLD:#} of group {}, dead-lettered {}",
        letter.stream, letter.sequence, letter.group, letter.published
    );
    let field = |name: &str, value: &str| println!("  {name:<11} {value}");
    field("kind", &letter.kind);
    field("reason", &letter.reason);
    field(
        "deliveries",
        &letter
            .deliveries
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
    );
    field(
        "subject",
        letter.original_subject.as_deref().unwrap_or("unknown"),
    );
    if let (Some(stream), Some(sequence)) = (&letter.original_stream, letter.original_sequence) {
        field("original", &format!("{stream} #{sequence}"));
    }
    field("version", letter.version().unwrap_or("none"));
    field(
        "msg-id",
        letter.original_msg_id.as_deref().unwrap_or("none"),
    );
    field("replay id", &letter.replay_id());
    println!("{BOLD}headers{BOLD:#}");
    for (name, value) in letter.headers.iter() {
        println!("  {name}: {value}");
    }
    if let Some(dropped) = letter.headers_dropped {
        println!(
            "  {NOTE}note:{NOTE:#} {dropped} header{} left out to fit; replay reads the original",
            plural(usize::try_from(dropped).unwrap_or(usize::MAX))
        );
    }
    println!("{BOLD}body{BOLD:#} ({} bytes)", letter.body.len());
    println!("{}", body_text(&letter));
    if let Some(size) = letter.body_size {
        println!(
            "{NOTE}note:{NOTE:#} the first {} of {size} bytes; replay reads the original",
            letter.body.len()
        );
    }
    Ok(())
}

/// The body, pretty-printed when it is JSON, else as text (invalid UTF-8
/// replaced).
fn body_text(letter: &DeadLetter) -> String {
    serde_json::from_slice::<Value>(&letter.body)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&letter.body).into_owned())
}

fn letter_json(letter: &DeadLetter) -> Value {
    let headers: Vec<Value> = letter
        .headers
        .iter()
        .map(|(name, value)| json!([name, value]))
        .collect();
    json!({
        "stream": letter.stream,
        "sequence": letter.sequence,
        "subject": letter.subject,
        "group": letter.group,
        "published": letter.published.to_string(),
        "kind": letter.kind,
        "reason": letter.reason,
        "deliveries": letter.deliveries,
        "original": {
            "subject": letter.original_subject,
            "stream": letter.original_stream,
            "sequence": letter.original_sequence,
            "msg_id": letter.original_msg_id,
        },
        "version": letter.version(),
        "replay_id": letter.replay_id(),
        "headers": headers,
        "body": String::from_utf8_lossy(&letter.body),
        "body_size": letter.body_size,
        "headers_dropped": letter.headers_dropped,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Replay,
    Purge,
}

async fn change(dlq: &DeadLetters, args: &DlqChangeArgs, change: Change) -> Result<(), CliError> {
    if args.group.is_empty() {
        return Err(CliError::Usage("GROUP cannot be empty".to_owned()));
    }
    let mut filter = DeadLetterFilter::new(args.group.as_str());
    if let Some(reason) = args.reason {
        filter = filter.kind(reason.into());
    }
    if let Some(subject) = &args.subject {
        filter = filter.subject(subject.as_str());
    }
    let report = match change {
        Change::Replay => dlq.replay(&filter, args.dry_run).await,
        Change::Purge => dlq.purge(&filter, args.dry_run).await,
    }
    .map_err(failed)?;
    print_report(dlq, args, change, &report)
}

fn print_report(
    dlq: &DeadLetters,
    args: &DlqChangeArgs,
    change: Change,
    report: &Report,
) -> Result<(), CliError> {
    let (done, would) = match change {
        Change::Replay => ("replayed", "would replay"),
        Change::Purge => ("purged", "would purge"),
    };
    for handled in &report.done {
        let what = format!(
            "{} #{} {} {}",
            dlq.stream(),
            handled.sequence,
            handled.kind,
            handled.subject
        );
        let id = handled
            .msg_id
            .as_deref()
            .map(|id| format!(" as msg-id {id}"))
            .unwrap_or_default();
        match &handled.ack {
            _ if report.dry_run => println!("{NOTE}{would}{NOTE:#} {what}{id}"),
            Some(ack) if ack.duplicate => println!(
                "{OK}{done}{OK:#} {what}{id}: already stored in {} #{} by an earlier replay, not delivered again",
                ack.stream, ack.sequence
            ),
            Some(ack) => println!(
                "{OK}{done}{OK:#} {what}{id} to {} #{}",
                ack.stream, ack.sequence
            ),
            None => println!("{OK}{done}{OK:#} {what}"),
        }
    }
    for failure in &report.failed {
        eprintln!(
            "{ERROR}error:{ERROR:#} {} #{}: {}",
            dlq.stream(),
            failure.sequence,
            typebus::error::chain(&failure.error)
        );
    }
    let n = report.done.len();
    let group = &args.group;
    if report.dry_run {
        println!(
            "dry run: {would} {n} dead letter{} of group {group}; nothing was {}",
            plural(n),
            match change {
                Change::Replay => "published or deleted",
                Change::Purge => "deleted",
            }
        );
    } else if n == 0 && report.failed.is_empty() {
        println!("no dead letters of group {group} match in {}", dlq.stream());
    } else {
        println!("{done} {n} dead letter{} of group {group}", plural(n));
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        let f = report.failed.len();
        Err(CliError::Failed(format!(
            "{f} dead letter{} could not be {done}; {} kept",
            plural(f),
            if f == 1 { "it is" } else { "they are" }
        )))
    }
}
