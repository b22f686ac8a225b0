//! Compatibility over an event's whole history: its current version against
//! every version the lock file records (transitive, the default) or only
//! the previous one, in the mode the event declares (`compat:`) or the
//! project's default.
//!
//! With upcasting, "new readers read old events" (backward) means: every
//! recorded version reaches the current one, each step from one version to
//! the next either mechanical (generated) or declared as written by hand
//! (`upcasts: [1]` under the event: the step from version 1). "Old readers
//! read new events" (forward) means: the reader of every recorded version
//! decodes the current version's bodies directly (what `Typebus-Readable-As`
//! tells listeners during a rolling deploy).

use std::fmt;
use std::str::FromStr;

use super::{Mode, Shape, compare_shapes};
use crate::diagnostic::Diagnostic;
use crate::lock::Lock;
use crate::model::Model;

/// A compatibility rule: which readers must keep decoding, checked against
/// every recorded version or only the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Which readers.
    pub mode: Mode,
    /// Against every recorded version (`true`, the default) or only the
    /// previous one (`backward-previous`, Schema Registry's plain
    /// `BACKWARD`).
    pub transitive: bool,
}

impl Rule {
    /// `backward`, checked against every recorded version: the default.
    pub const DEFAULT: Rule = Rule {
        mode: Mode::Backward,
        transitive: true,
    };

    /// Every spelling, for messages.
    pub const NAMES: &'static [&'static str] = &[
        "backward",
        "forward",
        "full",
        "none",
        "backward-previous",
        "forward-previous",
        "full-previous",
    ];
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(text: &str) -> Result<Rule, String> {
        let (mode, transitive) = match text.strip_suffix("-previous") {
            Some(mode) => (mode, false),
            None => (text, true),
        };
        let mode = match mode {
            "backward" => Mode::Backward,
            "forward" => Mode::Forward,
            "full" => Mode::Full,
            "none" if transitive => Mode::None,
            _ => {
                return Err(format!(
                    "unknown compatibility mode `{text}` (expected one of: {})",
                    Rule::NAMES.join(", ")
                ));
            }
        };
        Ok(Rule { mode, transitive })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Backward => "backward",
            Mode::Forward => "forward",
            Mode::Full => "full",
            Mode::None => "none",
        };
        f.write_str(mode)?;
        if !self.transitive {
            f.write_str("-previous")?;
        }
        Ok(())
    }
}

/// Every violation of the events' rules (their own `compat:`, else
/// `default`) by their current versions against what `lock` records, at
/// each event's location, with the fix as help.
pub fn check_history(model: &Model, lock: &Lock, default: Rule) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for event in &model.events {
        let evolution = model.evolution.get(&event.name);
        let declared = evolution.and_then(|e| e.compat.as_ref());
        let rule = declared.map_or(default, |(rule, _)| *rule);
        let upcasts: &[u32] = evolution.map_or(&[], |e| &e.upcasts);
        let recorded: Vec<u32> = lock
            .iter()
            .filter(|(subject, version, _)| *subject == event.subject && *version < event.version)
            .map(|(_, version, _)| version)
            .collect();
        let Some(&previous) = recorded.last() else {
            continue;
        };
        let checked: Vec<u32> = if rule.transitive {
            recorded.clone()
        } else {
            vec![previous]
        };
        let current = Shape::of_event(model, event);
        let versions = crate::emit::released_versions(model, event);
        let problem = |version: u32, what: String, help: String| {
            Diagnostic::new(
                event.location.clone(),
                format!(
                    "`{}` version {} breaks `compat: {rule}`: {what}",
                    event.name, event.version
                ),
            )
            .with_help(format!("{help}{}", rule_note(rule, version, previous)))
        };
        if matches!(rule.mode, Mode::Backward | Mode::Full) {
            for &version in &checked {
                // Every step on the way from `version` (only the last one
                // for a non-transitive rule).
                let steps = versions
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.event.version >= version)
                    .filter(|(_, r)| rule.transitive || r.event.version == previous);
                for (i, released) in steps {
                    let from = released.event.version;
                    if upcasts.contains(&from) {
                        continue;
                    }
                    if let Some(reason) = crate::emit::step_problem(model, &versions, i) {
                        let next = versions
                            .get(i + 1)
                            .map_or(event.version, |r| r.event.version);
                        out.push(problem(
                            version,
                            format!(
                                "version {version} no longer reaches it: the step from version {from} to {next} is not mechanical ({reason})"
                            ),
                            format!(
                                "declare the step as written by hand with `upcasts: [{from}]` under `{}` and write `impl typebus::Upcast<{}> for {}V{from}`",
                                event.name,
                                versions.get(i + 1).map_or(event.ident.name.clone(), |r| r.alias.name.clone()),
                                event.ident.name
                            ),
                        ));
                        // One report per step.
                        break;
                    }
                }
            }
        }
        if matches!(rule.mode, Mode::Forward | Mode::Full) {
            for &version in &checked {
                let Some(shape) = lock.get(&event.subject, version) else {
                    continue;
                };
                let broken: Vec<String> = compare_shapes(shape, &current)
                    .into_iter()
                    .filter(|change| change.violates(Mode::Forward))
                    .map(|change| change.kind.to_string())
                    .collect();
                if !broken.is_empty() {
                    out.push(problem(
                        version,
                        format!(
                            "readers of version {version} cannot read it: {}",
                            broken.join("; ")
                        ),
                        "make the change readable by old readers (add fields as optional or with a default, keep the others)".to_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// What to say about the rule in a violation's help: how to check less.
fn rule_note(rule: Rule, version: u32, previous: u32) -> String {
    if rule.transitive && version != previous {
        format!(
            "; or check against the previous version only with `compat: {}`",
            Rule {
                transitive: false,
                ..rule
            }
        )
    } else {
        String::new()
    }
}
