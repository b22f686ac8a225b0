//! `typebus lock`: records the shape of every new (subject, version).

use anstream::eprintln;
use typebus_codegen::lock::{Lock, LockViolation};
use typebus_codegen::model::{Location, Model};

use super::at;
use crate::cli::LockArgs;
use crate::config::Paths;
use crate::error::CliError;
use crate::output::{ERROR, OK};

/// Adds new versions to the lock file; refuses (exit 1) when a recorded
/// version changed shape, and then writes nothing. `--unreleased` entries
/// are dropped first and so recorded again as they are now.
pub(crate) fn run(args: &LockArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), None)?;
    let model = super::model(&paths.schemas)?;
    let lock_path = paths.lock();
    let mut lock = Lock::read(&lock_path.path)?;
    for (subject, version) in &args.unreleased {
        if !lock.forget(subject, *version) {
            return Err(CliError::Usage(format!(
                "--unreleased {subject}@{version}: {} does not record it",
                lock_path.shown
            )));
        }
        if !model
            .events
            .iter()
            .any(|e| e.subject == *subject && e.version == *version)
        {
            return Err(CliError::Usage(format!(
                "--unreleased {subject}@{version}: the schemas have no such event version"
            )));
        }
    }
    let reconciled = lock.reconcile(&model);
    if !reconciled.violations.is_empty() {
        print_violations(&paths.schemas.shown, &reconciled.violations);
        return Err(CliError::Failed(format!(
            "{} not changed: a recorded version never changes shape (bump `version`; or, for a version that was never released, pass `--unreleased SUBJECT@VERSION`)",
            lock_path.shown
        )));
    }
    if !check_compat(&paths, &model, &reconciled.lock) {
        return Err(CliError::Failed(format!(
            "{} not changed: the new versions break their compatibility rules (see above)",
            lock_path.shown
        )));
    }
    let text = reconciled.lock.render();
    typebus_codegen::write_if_changed(&lock_path.path, &text)?;
    for (subject, version) in &reconciled.added {
        eprintln!("{OK}recorded{OK:#} {subject} v{version}");
    }
    if reconciled.added.is_empty() {
        eprintln!("{OK}up to date{OK:#} {}", lock_path.shown);
    } else {
        eprintln!("{OK}wrote{OK:#} {}", lock_path.shown);
    }
    Ok(())
}

/// One `file:line:col: error: ...` line per changed recorded version.
pub(crate) fn print_violations(root: &str, violations: &[LockViolation]) {
    for violation in violations {
        eprintln!(
            "{}: {ERROR}error:{ERROR:#} {violation}",
            at(root, changed_at(violation))
        );
    }
}

/// Checks every event's current version against the versions `lock`
/// records, by its `compat:` rule (else typebus.toml's), printing each
/// violation with its fix; whether there was none.
pub(crate) fn check_compat(paths: &Paths, model: &Model, lock: &Lock) -> bool {
    let problems = typebus_codegen::compat::check_history(model, lock, paths.compat);
    for problem in &problems {
        eprintln!(
            "{}: {ERROR}error:{ERROR:#} {}",
            at(&paths.schemas.shown, problem.location()),
            problem.message()
        );
        if let Some(help) = problem.help() {
            eprintln!("  help: {help}");
        }
    }
    problems.is_empty()
}

/// Where a changed recorded version shows its first change (else the event).
pub(crate) fn changed_at(violation: &LockViolation) -> &Location {
    violation
        .changes
        .iter()
        .find_map(|c| c.new.as_ref())
        .unwrap_or(&violation.location)
}
