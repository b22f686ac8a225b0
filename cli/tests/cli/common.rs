//! Shared helpers: a temporary project with schemas and a config file, and
//! a `typebus` command running in it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// The repo's own `schemas/` (the ticketing contracts).
pub(crate) fn repo_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// A ticketing-like schema set with a nested type and an enum.
pub(crate) const TICKETS: &str = "\
types:
  Status:
    enum: [open, sold]
events:
  TicketUpdated:
    subject: ticket:updated
    version: 1
    fields:
      id: string
      price: f64
      status: Status
      orderId: string?
";

/// A temporary project: `typebus.toml`, `schemas/tickets.yaml`, and an
/// output path `gen/events.rs` (not written yet).
pub(crate) struct Project {
    pub(crate) dir: TempDir,
}

impl Project {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
        std::fs::write(dir.path().join("schemas/tickets.yaml"), TICKETS).unwrap();
        std::fs::write(
            dir.path().join("typebus.toml"),
            "schemas = \"schemas\"\nout = \"gen/events.rs\"\n",
        )
        .unwrap();
        Project { dir }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// `typebus ARGS` in the project root, colours off.
    pub(crate) fn typebus(&self, args: &[&str]) -> Command {
        self.typebus_in(self.dir.path(), args)
    }

    pub(crate) fn typebus_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("typebus").unwrap();
        cmd.current_dir(dir)
            .args(args)
            .env_remove("CLICOLOR_FORCE")
            .env_remove("NATS_URL")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `generate` and `lock`: a project whose check passes.
    pub(crate) fn settled(self) -> Self {
        self.typebus(&["generate"]).assert().code(0);
        self.typebus(&["lock"]).assert().code(0);
        self
    }

    /// Replaces `from` with `to` in the schema file.
    pub(crate) fn edit_schema(&self, from: &str, to: &str) {
        let text = self.read("schemas/tickets.yaml");
        assert!(text.contains(from), "{from:?} not in the schema");
        self.write("schemas/tickets.yaml", &text.replacen(from, to, 1));
    }
}

/// stdout + stderr of a finished command, as text.
pub(crate) fn output(assert: &assert_cmd::assert::Assert) -> (String, String) {
    let out = assert.get_output();
    (
        String::from_utf8(out.stdout.clone()).unwrap(),
        String::from_utf8(out.stderr.clone()).unwrap(),
    )
}
