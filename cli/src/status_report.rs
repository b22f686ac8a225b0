//! The report of `typebus status`: its JSON shape (`--json`, stable: fields
//! are only ever added) and its tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::output::{BOLD, ERROR, OK, plural};

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// No problems.
    pub(crate) healthy: bool,
    /// The event stream, then the dead-letter stream.
    pub(crate) streams: Vec<StreamStatus>,
    /// The durable consumers of the event stream and the declared ones that
    /// are missing, by group then subject.
    pub(crate) consumers: Vec<ConsumerStatus>,
    /// Dead letters per dead-letter subject: every declared group's, and any
    /// other subject holding some.
    pub(crate) dead_letters: Vec<DeadLetterStatus>,
    /// Why it is not healthy, one sentence each.
    pub(crate) problems: Vec<String>,
}

/// One stream typebus needs.
#[derive(Debug, Serialize)]
pub(crate) struct StreamStatus {
    /// `events` or `dead_letters`.
    pub(crate) role: &'static str,
    /// Its name.
    pub(crate) name: String,
    /// Whether the server has it; the other fields are null when not.
    pub(crate) exists: bool,
    /// Stored messages.
    pub(crate) messages: Option<u64>,
    /// Stored bytes.
    pub(crate) bytes: Option<u64>,
    /// The subjects it stores (its configuration's).
    pub(crate) subjects: Option<Vec<String>>,
    /// Its duplicate window in milliseconds.
    pub(crate) duplicate_window_ms: Option<u64>,
    /// `file` or `memory`.
    pub(crate) storage: Option<String>,
    /// How many servers keep a copy.
    pub(crate) replicas: Option<usize>,
    /// How long messages are kept, in milliseconds; 0 until deleted.
    pub(crate) max_age_ms: Option<u64>,
    /// Whether it is as `typebus provision` would leave it.
    pub(crate) matches: bool,
    /// How it differs, one sentence each.
    pub(crate) differences: Vec<String>,
}

/// One durable consumer: a queue group's listener of one subject.
#[derive(Debug, Serialize)]
pub(crate) struct ConsumerStatus {
    /// The queue group: declared, or read from the consumer's name.
    pub(crate) group: Option<String>,
    /// The subject it filters on.
    pub(crate) subject: String,
    /// Its durable name.
    pub(crate) name: String,
    /// The stream it belongs to.
    pub(crate) stream: String,
    /// Whether a `[[listeners]]` entry declares it.
    pub(crate) declared: bool,
    /// Whether the server has it; the counters are null when not.
    pub(crate) exists: bool,
    /// Messages not yet delivered.
    pub(crate) pending: Option<u64>,
    /// Delivered, not yet acknowledged.
    pub(crate) ack_pending: Option<u64>,
    /// Delivered more than once.
    pub(crate) redelivered: Option<u64>,
    /// Pull requests waiting (listeners bound now).
    pub(crate) waiting: Option<u64>,
    /// The stream sequence every message up to which is acknowledged.
    pub(crate) ack_floor: Option<u64>,
    /// When a message was last delivered (RFC 3339), if ever.
    pub(crate) last_active: Option<String>,
}

/// Dead letters on one subject.
#[derive(Debug, Serialize)]
pub(crate) struct DeadLetterStatus {
    /// The queue group: declared, or read from the subject.
    pub(crate) group: Option<String>,
    /// The dead-letter subject.
    pub(crate) subject: String,
    /// The dead letters stored on it.
    pub(crate) messages: u64,
}

impl Report {
    /// The tables, then `healthy` or the problems.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let mut rows = vec![row([
            "STREAM",
            "STATE",
            "MESSAGES",
            "BYTES",
            "DUPLICATE WINDOW",
            "SUBJECTS",
        ])];
        for stream in &self.streams {
            let state = if !stream.exists {
                "missing"
            } else if stream.matches {
                "ok"
            } else {
                "differs"
            };
            rows.push(row([
                stream.name.as_str(),
                state,
                &number(stream.messages),
                &stream.bytes.map(bytes).unwrap_or_else(|| "-".to_owned()),
                &stream
                    .duplicate_window_ms
                    .map(|ms| {
                        crate::bus_config::format_duration(std::time::Duration::from_millis(ms))
                    })
                    .unwrap_or_else(|| "-".to_owned()),
                &stream
                    .subjects
                    .as_ref()
                    .map(|s| s.join(", "))
                    .unwrap_or_else(|| "-".to_owned()),
            ]));
        }
        table(&mut out, &rows);
        out.push('\n');
        let mut rows = vec![row([
            "GROUP",
            "SUBJECT",
            "CONSUMER",
            "PENDING",
            "ACK PENDING",
            "REDELIVERED",
            "ACK FLOOR",
            "LAST ACTIVE",
        ])];
        for consumer in &self.consumers {
            let group = consumer.group.as_deref().unwrap_or("?");
            if consumer.exists {
                rows.push(row([
                    group,
                    &consumer.subject,
                    &consumer.name,
                    &number(consumer.pending),
                    &number(consumer.ack_pending),
                    &number(consumer.redelivered),
                    &number(consumer.ack_floor),
                    consumer.last_active.as_deref().unwrap_or("never"),
                ]));
            } else {
                rows.push(row([
                    group,
                    &consumer.subject,
                    &consumer.name,
                    "missing",
                    "",
                    "",
                    "",
                    "",
                ]));
            }
        }
        if self.consumers.is_empty() {
            out.push_str("no consumers\n");
        } else {
            table(&mut out, &rows);
        }
        out.push('\n');
        let mut rows = vec![row(["GROUP", "DEAD-LETTER SUBJECT", "DEAD LETTERS"])];
        for dead in &self.dead_letters {
            rows.push(row([
                dead.group.as_deref().unwrap_or("?"),
                &dead.subject,
                &dead.messages.to_string(),
            ]));
        }
        if self.dead_letters.is_empty() {
            out.push_str("no dead letters\n");
        } else {
            table(&mut out, &rows);
        }
        out.push('\n');
        if self.healthy {
            let _ = writeln!(out, "{OK}healthy{OK:#}");
        } else {
            let n = self.problems.len();
            let _ = writeln!(out, "{ERROR}unhealthy{ERROR:#}: {n} problem{}", plural(n));
            for problem in &self.problems {
                let _ = writeln!(out, "  - {problem}");
            }
        }
        out
    }
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn number(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// `512 B`, `3.4 KiB`, `1.2 MiB`, `2.0 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    // Shown to one decimal: the precision of f64 is plenty.
    #[allow(clippy::cast_precision_loss)]
    let mut value = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// Columns padded to their widest cell, two spaces apart; the heading bold.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
            }
        }
        let line = line.trim_end();
        if i == 0 {
            let _ = writeln!(out, "{BOLD}{line}{BOLD:#}");
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 + 400), "3.4 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let mut out = String::new();
        table(&mut out, &[row(["A", "B"]), row(["long", "x"])]);
        let plain = anstream::adapter::strip_str(&out).to_string();
        assert_eq!(plain, "A     B\nlong  x\n");
    }
}
