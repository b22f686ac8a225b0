//! Terminal output: styles (dropped by anstream when the stream is not a
//! terminal or `NO_COLOR` is set) and unified diffs.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use similar::{ChangeTag, TextDiff};

/// `error:` labels and failing verdicts.
pub(crate) const ERROR: Style = AnsiColor::Red.on_default().bold();
/// `note:` labels.
pub(crate) const NOTE: Style = AnsiColor::Cyan.on_default().bold();
/// `ok` verdicts and success lines.
pub(crate) const OK: Style = AnsiColor::Green.on_default();
/// Headings.
pub(crate) const BOLD: Style = Style::new().bold();
/// Commands to run.
pub(crate) const COMMAND: Style = AnsiColor::Yellow.on_default().bold();

const REMOVED: Style = AnsiColor::Red.on_default();
const ADDED: Style = AnsiColor::Green.on_default();
const HUNK: Style = AnsiColor::Cyan.on_default();

/// A unified diff from `old` (labelled `old_name`) to `new`, three lines of
/// context, styled.
pub(crate) fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    let _ = writeln!(out, "{BOLD}--- {old_name}{BOLD:#}");
    let _ = writeln!(out, "{BOLD}+++ {new_name}{BOLD:#}");
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let _ = writeln!(
            out,
            "{HUNK}@@ -{} +{} @@{HUNK:#}",
            range(old_range),
            range(new_range)
        );
        for op in &group {
            for change in diff.iter_changes(op) {
                let (sign, style) = match change.tag() {
                    ChangeTag::Delete => ('-', REMOVED),
                    ChangeTag::Insert => ('+', ADDED),
                    ChangeTag::Equal => (' ', Style::new()),
                };
                let text = change.value();
                let text = text.strip_suffix('\n').unwrap_or(text);
                let _ = writeln!(out, "{style}{sign}{text}{style:#}");
                if change.missing_newline() {
                    out.push_str("\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// A hunk range in unified-diff form: 1-based start, and the length when
/// it is not 1.
fn range(r: std::ops::Range<usize>) -> String {
    let len = r.end - r.start;
    let start = if len == 0 { r.start } else { r.start + 1 };
    if len == 1 {
        start.to_string()
    } else {
        format!("{start},{len}")
    }
}

/// `"s"` unless `n` is 1: `format!("{n} file{}", plural(n))`.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_marks_changed_lines_with_context() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nb\nC\nd\n";
        let text = unified_diff(old, new, "old", "new");
        // Plain when styles are stripped (as on a pipe).
        let plain = anstream::adapter::strip_str(&text).to_string();
        assert_eq!(
            plain,
            "--- old\n+++ new\n@@ -1,4 +1,4 @@\n a\n b\n-c\n+C\n d\n"
        );
    }

    #[test]
    fn unified_diff_of_a_missing_file_adds_everything() {
        let text = unified_diff("", "x\ny\n", "old", "new");
        let plain = anstream::adapter::strip_str(&text).to_string();
        assert_eq!(plain, "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n");
    }
}
