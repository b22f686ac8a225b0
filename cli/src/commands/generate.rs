//! `typebus generate`: writes the code build.rs would generate.

use anstream::eprintln;
use typebus_codegen::lock::Lock;

use crate::cli::PathArgs;
use crate::config::Paths;
use crate::error::CliError;
use crate::output::{COMMAND, NOTE, OK};

/// Generates and writes the output file when its content changed.
pub(crate) fn run(args: &PathArgs) -> Result<(), CliError> {
    let paths = Paths::resolve(args.schemas.schemas.as_deref(), args.out.as_deref())?;
    let out = paths.require_out()?;
    let generated = super::generate(&paths.schemas)?;
    if typebus_codegen::write_if_changed(&out.path, generated.code())? {
        eprintln!("{OK}wrote{OK:#} {}", out.shown);
    } else {
        eprintln!("{OK}up to date{OK:#} {}", out.shown);
    }
    // The lock is `typebus lock`'s business; only say when it lags behind.
    let lock_path = paths.lock();
    if let Ok(lock) = Lock::read(&lock_path.path) {
        let reconciled = lock.reconcile(generated.model());
        if !reconciled.violations.is_empty() {
            // `typebus lock` would refuse: the fix is in the schema.
            for violation in &reconciled.violations {
                eprintln!(
                    "{}: {NOTE}note:{NOTE:#} {violation}",
                    super::at(&paths.schemas.shown, super::lock::changed_at(violation))
                );
            }
            eprintln!(
                "{NOTE}note:{NOTE:#} {} records those versions with another shape, and a recorded version never changes: bump `version` as said, then run `{COMMAND}{}{COMMAND:#}`",
                lock_path.shown,
                paths.command("lock", false)
            );
        } else if !reconciled.added.is_empty() {
            eprintln!(
                "{NOTE}note:{NOTE:#} {} does not match the schemas; run `{COMMAND}{}{COMMAND:#}`",
                lock_path.shown,
                paths.command("lock", false)
            );
        }
    }
    Ok(())
}
