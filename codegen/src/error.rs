//! The error of a codegen run.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

/// Why a run produced no code. `Display` and `Debug` print the same readable
/// text, so `fn main() -> Result<(), Error>` in a build script shows every
/// diagnostic as the user should read it.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schemas have problems; every one found is listed.
    #[error("{}", render(.0))]
    Schema(Vec<Diagnostic>),
    /// A schema file or directory could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The output could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// What could not be written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The lock file beside the schemas could not be read.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// An environment variable a build script relies on is not set.
    #[error("environment variable `{0}` is not set (is this running inside a build script?)")]
    MissingEnv(&'static str),
    /// The emitted code did not parse: a bug in typebus-codegen.
    #[error("internal error: the generated code does not parse ({0}); please report this")]
    Emit(String),
}

impl Error {
    /// The schema diagnostics, sorted by file, line and column; empty for
    /// errors that are not about the schemas.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Schema(diagnostics) => diagnostics,
            _ => &[],
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.to_string());
    }
    let n = diagnostics.len();
    out.push_str(&format!(
        "\n{n} error{} in the schemas",
        if n == 1 { "" } else { "s" }
    ));
    out
}
