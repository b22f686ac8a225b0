//! `typebus check`: the CI check. The checked-in code must be exactly what
//! the schemas generate, and the lock file must record every (subject,
//! version) with its current shape. Writes nothing.

use std::io;
use std::path::Path;

use anstream::{eprintln, print};
use typebus_codegen::lock::Lock;

use super::lock::print_violations;
use crate::cli::CheckArgs;
use crate::config::Paths;
use crate::error::CliError;
use crate::output::{COMMAND, ERROR, OK, unified_diff};

/// The checked-in code, and the generated code when the fingerprint did not
/// already show the checked-in code current (`None`: it is current).
fn code_check(
    model: &typebus_codegen::model::Model,
    path: &Path,
    shown: &str,
    full: bool,
) -> Result<(Option<String>, Option<String>), CliError> {
    let checked_in = read_optional(path, shown)?;
    let current = !full
        && checked_in
            .as_deref()
            .is_some_and(|code| typebus_codegen::emit::is_current(model, code));
    if current {
        return Ok((checked_in, None));
    }
    Ok((checked_in, Some(typebus_codegen::emit(model)?)))
}

/// Runs both checks and reports every failure before exiting 1.
///
/// The code check is decided by the file's fingerprint line when it shows
/// the file is current (see `typebus_codegen::emit::is_current`); otherwise
/// (or with `--full`) the code is generated and compared byte for byte.
pub(crate) fn run(args: &CheckArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(
        args.paths.schemas.schemas.as_deref(),
        args.paths.out.as_deref(),
    )?;
    let out = paths.require_out()?;
    let lock_path = paths.lock();

    let model = super::model(&paths.schemas)?;
    // The lock file is read and compared while the code is checked (two
    // cores are enough to hide it).
    let (code, side) = std::thread::scope(|scope| {
        let side = scope.spawn(|| -> Result<_, CliError> {
            let lock_text = read_optional(&lock_path.path, &lock_path.shown)?;
            let (reconciled, expected) =
                Lock::check_text(&lock_path.shown, lock_text.as_deref(), &model)?;
            Ok((lock_text, reconciled, expected))
        });
        let code = code_check(&model, &out.path, &out.shown, args.full);
        let side = match side.join() {
            Ok(side) => side,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (code, side)
    });
    let (checked_in, code) = code?;
    let (lock_text, reconciled, expected) = side?;
    let mut fixes = Vec::new();
    let code_ok = match &code {
        None => true,
        Some(code) => checked_in.as_deref() == Some(code.as_str()),
    };
    if let (false, Some(code)) = (code_ok, &code) {
        let (what, old) = match &checked_in {
            Some(text) => ("is not what the schemas generate", text.as_str()),
            None => ("does not exist", ""),
        };
        eprintln!("{ERROR}error:{ERROR:#} {} {what}", out.shown);
        print!(
            "{}",
            unified_diff(
                old,
                code.as_str(),
                &format!("{} (checked in)", out.shown),
                &format!("{} (generated from {})", out.shown, paths.schemas.shown),
            )
        );
        fixes.push(paths.command("generate", true));
    }

    print_violations(&paths.schemas.shown, &reconciled.violations);
    let lock_ok =
        reconciled.violations.is_empty() && lock_text.as_deref() == Some(expected.as_str());
    if lock_text.as_deref() != Some(expected.as_str()) {
        let what = match (&lock_text, reconciled.added.len()) {
            (None, _) => "does not exist".to_owned(),
            (Some(_), 0) => "is out of date".to_owned(),
            (Some(_), n) => format!(
                "does not record {}",
                if n == 1 {
                    let (subject, version) = &reconciled.added[0];
                    format!("{subject} v{version}")
                } else {
                    format!("{n} (subject, version) pairs")
                }
            ),
        };
        eprintln!("{ERROR}error:{ERROR:#} {} {what}", lock_path.shown);
        print!(
            "{}",
            unified_diff(
                lock_text.as_deref().unwrap_or(""),
                &expected,
                &format!("{} (checked in)", lock_path.shown),
                &format!("{} (expected)", lock_path.shown),
            )
        );
        if reconciled.violations.is_empty() {
            fixes.push(paths.command("lock", false));
        }
    }
    if !reconciled.violations.is_empty() {
        eprintln!(
            "to fix: bump `version` of each changed event as said above (a released version never changes shape), then run `{COMMAND}{}{COMMAND:#}`; a version that was never released can be recorded again with `{COMMAND}{} --unreleased SUBJECT@VERSION{COMMAND:#}`",
            paths.command("lock", false),
            paths.command("lock", false)
        );
    }

    if code_ok && lock_ok {
        eprintln!(
            "{OK}ok{OK:#} {} and {} match {}",
            out.shown, lock_path.shown, paths.schemas.shown
        );
        return Ok(());
    }
    for fix in &fixes {
        eprintln!("to fix, run: {COMMAND}{fix}{COMMAND:#}");
    }
    Err(CliError::Failed("check failed".to_owned()))
}

/// The file's text, or `None` when it does not exist.
fn read_optional(path: &Path, shown: &str) -> Result<Option<String>, CliError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CliError::Io {
            what: format!("`{shown}`"),
            source,
        }),
    }
}
