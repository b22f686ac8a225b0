//! Why a command stopped, and the exit status each reason maps to.

use std::process::ExitCode;

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A check or compatibility rule failed; what failed was already
    /// printed. Exit status 1.
    #[error("{0}")]
    Failed(String),
    /// The command line or the config is wrong. Exit status 2.
    #[error("{0}")]
    Usage(String),
    /// The schemas (or the lock file) are invalid, or could not be read.
    /// Exit status 2.
    #[error(transparent)]
    Codegen(#[from] typebus_codegen::Error),
    /// The lock file is invalid. Exit status 2.
    #[error(transparent)]
    Lock(#[from] typebus_codegen::lock::LockError),
    /// A file could not be read or written. Exit status 2.
    #[error("cannot read {what}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// 1 for failed checks, 2 for everything that stopped the check itself.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Failed(_) => ExitCode::from(1),
            _ => ExitCode::from(2),
        }
    }
}
