//! After a YAML syntax error: the file without the one entry of `types:` or
//! `events:` the error is in, so that the rest of the file is still
//! validated and its other problems reported in the same run.
//!
//! The entry's lines are blanked, not removed, so every other line keeps
//! its number. Only block-style files are handled (top-level `types:` /
//! `events:` keys at column 1, entries indented under them); anything else
//! is left to the syntax error alone.

/// An entry left out of a file after a syntax error inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// Whether it was under `types:` (else `events:`).
    pub(crate) is_type: bool,
    /// Its name, as written before the `:`.
    pub(crate) name: String,
}

/// `text` with the lines of the entry holding 1-based `line` blanked, and
/// that entry; `None` when `line` is not inside an entry of a top-level
/// `types:` or `events:` mapping.
pub(crate) fn without_entry(text: &str, line: u32) -> Option<(String, Skipped)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let at = usize::try_from(line).ok()?.checked_sub(1)?;
    let significant = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    if at >= lines.len() || (significant(lines[at]) && indent(lines[at]) == 0) {
        return None;
    }
    // The section: the nearest line at column 1 above.
    let section = (0..at)
        .rev()
        .find(|&i| significant(lines[i]) && indent(lines[i]) == 0)?;
    let key = lines[section].split('#').next()?.trim_end();
    let is_type = match key {
        "types:" => true,
        "events:" => false,
        _ => return None,
    };
    // Entries are indented like the section's first line.
    let first = (section + 1..lines.len()).find(|&i| significant(lines[i]))?;
    let step = indent(lines[first]);
    if step == 0 || first > at {
        return None;
    }
    let start = (first..=at)
        .rev()
        .find(|&i| significant(lines[i]) && indent(lines[i]) == step)?;
    let end = (start + 1..lines.len())
        .find(|&i| significant(lines[i]) && indent(lines[i]) <= step)
        .unwrap_or(lines.len());
    if at >= end {
        return None;
    }
    let name = lines[start].split(':').next()?.trim();
    let name = name.trim_matches(|c| c == '"' || c == '\'');
    if name.is_empty() {
        return None;
    }
    let blanked: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if (start..end).contains(&i) { "" } else { *l })
        .collect();
    Some((
        blanked.join("\n"),
        Skipped {
            is_type,
            name: name.to_owned(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# a comment
types:
  Color:
    enum: [red]
events:
  TicketCreated:
    subject: ticket:created
    fields:
     id: string
  # between
  TicketSold:
    subject: ticket:sold
";

    #[test]
    fn the_entry_holding_the_line_is_blanked_and_named() {
        let (blanked, skipped) = without_entry(TEXT, 9).unwrap();
        assert_eq!(
            skipped,
            Skipped {
                is_type: false,
                name: "TicketCreated".to_owned()
            }
        );
        assert_eq!(
            blanked,
            "# a comment\ntypes:\n  Color:\n    enum: [red]\nevents:\n\n\n\n\n\n  TicketSold:\n    subject: ticket:sold\n"
        );
        let (_, skipped) = without_entry(TEXT, 4).unwrap();
        assert!(skipped.is_type);
        assert_eq!(skipped.name, "Color");
    }

    #[test]
    fn lines_outside_entries_are_not_recovered() {
        // A section line, a comment above every section, past the end.
        assert_eq!(without_entry(TEXT, 5), None);
        assert_eq!(without_entry(TEXT, 1), None);
        assert_eq!(without_entry(TEXT, 99), None);
        assert_eq!(without_entry("other:\n  x: 1\n", 2), None);
    }
}
