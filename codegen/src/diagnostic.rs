//! Diagnostics (one problem in a schema set, with its location) and the
//! collector every stage pushes into.

use std::fmt;

use crate::model::Location;

/// One problem found in a schema set: `file:line:col: error: message` and an
/// optional `help:` line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    location: Location,
    message: String,
    help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `location`. Messages are lowercase, with no final period.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a one-line help (`did you mean \`string\`?`).
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The schema file as the user should see it: the relative path inside
    /// the schema directory, behind the set's display root once the
    /// diagnostic leaves [`crate::SchemaSet`] (`schemas/tickets.yaml`).
    pub fn file(&self) -> &str {
        &self.location.file
    }

    /// 1-based line.
    pub fn line(&self) -> u32 {
        self.location.line
    }

    /// 1-based column.
    pub fn column(&self) -> u32 {
        self.location.column
    }

    /// The whole location.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it, where a hint helps.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }
}

impl fmt::Display for Diagnostic {
    /// `path/file.yaml:LINE:COL: error: MESSAGE`, then `  help: ...` on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.location, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Collects every diagnostic of a run, so the user sees all problems at once.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The recorded problems sorted by file, line and column (stable for
    /// problems at one place).
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| a.location.cmp(&b.location));
        self.items
    }
}
