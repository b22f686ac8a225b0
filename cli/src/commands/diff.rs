//! `typebus diff`: every change from another schema set (a directory or a
//! git revision) to this one, per event, with who can still decode what.

use std::path::Path;

use anstream::{eprintln, println};
use typebus_codegen::SchemaSet;
use typebus_codegen::compat::{self, Change, EventDiff, Mode};

use super::at;
use crate::cli::{DiffArgs, ModeArg};
use crate::config::Paths;
use crate::error::CliError;
use crate::git;
use crate::output::{BOLD, ERROR, NOTE, OK};

/// Prints the changes; exit 1 when one violates the mode.
pub(crate) fn run(args: &DiffArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let against = Path::new(&args.against);
    let (old_root, old_set) = if against.is_dir() {
        let shown = args.against.clone();
        let set = SchemaSet::from_dir_as(against, &shown)?;
        (shown, set)
    } else {
        match git::schema_files_at(&paths.schemas.path, &args.against)? {
            Some(tree) => {
                let set = SchemaSet::from_sources(&tree.root, tree.files)?;
                (tree.root, set)
            }
            None => {
                return Err(CliError::Usage(format!(
                    "`{}` is neither a directory nor a revision of the git repository holding `{}`",
                    args.against, paths.schemas.shown
                )));
            }
        }
    };
    let old = old_set.validate()?;
    let new = super::model(&paths.schemas)?;
    let mode = Mode::from(args.mode);
    let diffs = compat::diff(&old, &new);
    let new_root = &paths.schemas.shown;

    let mut changes = 0usize;
    let mut violations = 0usize;
    for event in &diffs {
        println!("{BOLD}{}{BOLD:#}", heading(event));
        for change in &event.changes {
            changes += 1;
            let violates = change.violates(mode);
            violations += usize::from(violates);
            let place = match (&change.new, &change.old) {
                (Some(new), _) => at(new_root, new),
                (None, Some(old)) => at(&old_root, old),
                (None, None) => String::new(),
            };
            let (label, style) = if violates {
                ("error", ERROR)
            } else {
                ("note", NOTE)
            };
            println!("  {place}: {style}{label}:{style:#} {}", change.kind);
            println!("    {}", verdict(change));
        }
    }
    // `None` for `--mode none`: nothing is checked, so nothing holds or breaks.
    let mode_text = match args.mode {
        ModeArg::Backward => Some("backward compatibility (new readers decode old events)"),
        ModeArg::Forward => Some("forward compatibility (old readers decode new events)"),
        ModeArg::Full => Some("full compatibility (old and new readers decode both)"),
        ModeArg::None => None,
    };
    let events = diffs.len();
    if changes == 0 {
        eprintln!("{OK}no changes{OK:#} from {old_root} to {new_root}");
        return Ok(());
    }
    let summary = format!(
        "{changes} change{} in {events} event{}",
        crate::output::plural(changes),
        crate::output::plural(events)
    );
    match mode_text {
        None => {
            eprintln!("{OK}listed{OK:#} {summary}; no compatibility rule checked (--mode none)");
            Ok(())
        }
        Some(mode_text) if violations == 0 => {
            eprintln!("{OK}ok{OK:#} {summary}; {mode_text} holds");
            Ok(())
        }
        Some(mode_text) => Err(CliError::Failed(format!(
            "{summary}; {violations} break{} {mode_text}",
            if violations == 1 { "s" } else { "" }
        ))),
    }
}

fn heading(event: &EventDiff) -> String {
    let versions = match (event.old_version, event.new_version) {
        (Some(o), Some(n)) if o == n => format!("v{n}"),
        (Some(o), Some(n)) => format!("v{o} -> v{n}"),
        (Some(o), None) => format!("v{o} (removed)"),
        (None, Some(n)) => format!("v{n} (new)"),
        (None, None) => String::new(),
    };
    format!("{} {versions} ({})", event.subject, event.name)
}

fn verdict(change: &Change) -> String {
    if change.kind.is_policy() {
        return "the versioning contract: a released (subject, version) never changes shape"
            .to_owned();
    }
    let side = |ok: bool, what: &str| {
        if ok {
            format!("{OK}{what}: ok{OK:#}")
        } else {
            format!("{ERROR}{what}: cannot decode{ERROR:#}")
        }
    };
    format!(
        "{}, {}",
        side(change.verdict.old_readers, "old readers of new events"),
        side(change.verdict.new_readers, "new readers of old events")
    )
}
