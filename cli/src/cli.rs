//! The command line: clap definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Compile typebus event schemas into Rust, check checked-in code and the
/// lock file in CI, classify schema changes for compatibility, export the
/// schemas for other languages, publish and listen from the terminal, and
/// replay dead letters.
///
/// Paths default to `typebus.toml`, looked up from the current directory
/// upwards (`schemas = "schemas"`, `out = "generated/src/events.rs"`,
/// relative to that file); flags override it.
///
/// Exit status: 0 ok, 1 a check or compatibility rule failed (or a payload
/// did not fit its schema, NATS refused it, or a dead letter could not be
/// found, replayed or purged), 2 a usage error or invalid schemas.
#[derive(Debug, Parser)]
#[command(name = "typebus", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Set up a cargo package for typebus: an example schema, typebus.toml,
    /// the dependencies, build.rs (or checked-in code), a CI workflow
    /// running `typebus check`. Writes only what is missing; refuses (exit
    /// 1, writing nothing) when a file exists with other content.
    Init(InitArgs),
    /// Write the Rust code for the schemas (what build.rs would generate).
    Generate(PathArgs),
    /// Check that the checked-in code (when there is an `out`) and the lock
    /// file match the schemas, and that every event's current version keeps
    /// its `compat:` rule against the versions the lock records; writes
    /// nothing.
    Check(CheckArgs),
    /// Record the payload shape of every new (subject, version) in
    /// `<schemas>/typebus.lock`; refuses when a recorded one changed or a
    /// new version breaks its event's `compat:` rule.
    Lock(LockArgs),
    /// List every change from another schema set to this one, classified by
    /// who can still decode what.
    Diff(DiffArgs),
    /// Export the schemas for other languages and tools (JSON Schema, TypeScript,
    /// AsyncAPI).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Print the JSON Schema of the schema-file format itself (for editors:
    /// `# yaml-language-server: $schema=typebus-schema.json`).
    Schema(SchemaFormatArgs),
    /// Validate a JSON payload against its event's schema and publish it to
    /// NATS JetStream with the typebus headers. Exit 1 when the payload does
    /// not fit the schema or the server refuses it.
    Publish(PublishArgs),
    /// Print every event on SUBJECTs (default: all) decoded against the
    /// schemas, with its delivery info; undecodable messages are shown as such.
    Listen(ListenArgs),
    /// Create the streams the schemas need (every subject in one event
    /// stream, `[streams.events]` in typebus.toml; dead letters in
    /// `[streams.dead_letters]`), or verify the existing ones. Exit 1 when
    /// a stream differs and is left so.
    Provision(ProvisionArgs),
    /// Report every stream, the consumer of each queue group per subject and
    /// the dead letters per group. Exit 1 when a stream is missing or
    /// differs, a consumer of a `[[listeners]]` group in typebus.toml is
    /// missing, or dead letters exist: usable as a health check.
    Status(StatusArgs),
    /// Inspect, replay and purge the dead letters listeners left in the
    /// dead-letter stream (`typebus.dlq.<group>` in `TYPEBUS_DLQ`). Exit 0
    /// when done, 1 when a dead letter could not be found, replayed or
    /// purged (or the server could not be reached), 2 for a usage error.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// `typebus dlq <COMMAND>`.
#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// Count the dead letters of GROUP (default: every group) per reason
    /// (decode, version, rejected, exhausted, gap) and per original subject
    /// and contract version. Exit 0, also when there are none.
    List(DlqListArgs),
    /// Print one dead letter of GROUP, by its sequence in the dead-letter
    /// stream: reason, kind, delivery count, where the original was, its
    /// headers and body. Exit 1 when GROUP has no dead letter at SEQ.
    Show(DlqShowArgs),
    /// Republish dead letters of GROUP to their original subject, with their
    /// original body and headers, and delete each once the stream stored
    /// it. The replay's message id is `<original id>~replay~<SEQ>` (new, so
    /// the duplicate window does not swallow it; the same for the same dead
    /// letter, so a replay repeated after a crash is not delivered twice),
    /// and `Typebus-Replay-Of` carries the original id. Exit 1 when a dead
    /// letter could not be replayed (it is kept).
    Replay(DlqChangeArgs),
    /// Delete dead letters of GROUP without replaying them. Exit 1 when one
    /// could not be deleted.
    Purge(DlqChangeArgs),
}

/// The dead-letter stream and the server.
#[derive(Debug, Args)]
pub(crate) struct DlqStreamArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// The stream that stores the dead letters
    #[arg(long, value_name = "STREAM", default_value = "TYPEBUS_DLQ")]
    pub(crate) stream: String,
}

/// `typebus dlq list`.
#[derive(Debug, Args)]
pub(crate) struct DlqListArgs {
    #[command(flatten)]
    pub(crate) stream: DlqStreamArgs,
    /// The listener's queue group [default: every group]
    #[arg(value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// Print JSON: {"stream", "groups": [{"group", "count", "first_sequence",
    /// "last_sequence", "reasons": {KIND: N}, "events": [{"subject",
    /// "version", "count"}]}]}
    #[arg(long)]
    pub(crate) json: bool,
}

/// `typebus dlq show`.
#[derive(Debug, Args)]
pub(crate) struct DlqShowArgs {
    #[command(flatten)]
    pub(crate) stream: DlqStreamArgs,
    /// The listener's queue group
    #[arg(value_name = "GROUP")]
    pub(crate) group: String,
    /// The dead letter's sequence in the dead-letter stream (as `list` and
    /// `replay` print it)
    #[arg(value_name = "SEQ")]
    pub(crate) sequence: u64,
    /// Print JSON: the fields shown, headers as [name, value] pairs, the body
    /// as text
    #[arg(long)]
    pub(crate) json: bool,
}

/// `typebus dlq replay` and `typebus dlq purge`.
#[derive(Debug, Args)]
pub(crate) struct DlqChangeArgs {
    #[command(flatten)]
    pub(crate) stream: DlqStreamArgs,
    /// The listener's queue group
    #[arg(value_name = "GROUP")]
    pub(crate) group: String,
    /// Only dead letters of this kind
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) reason: Option<ReasonArg>,
    /// Only dead letters originally published on this subject
    #[arg(long, value_name = "SUBJECT")]
    pub(crate) subject: Option<String>,
    /// Print what would be done; publish and delete nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `--reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReasonArg {
    /// The body did not decode.
    Decode,
    /// The contract version was unreadable or newer than the listener reads.
    Version,
    /// The handler rejected it (a permanent error).
    Rejected,
    /// Delivered the maximum number of times without success.
    Exhausted,
    /// An ordered listener gave up waiting for an earlier event.
    Gap,
}

impl From<ReasonArg> for typebus::DeadLetterKind {
    fn from(reason: ReasonArg) -> Self {
        use typebus::DeadLetterKind;
        match reason {
            ReasonArg::Decode => DeadLetterKind::Decode,
            ReasonArg::Version => DeadLetterKind::Version,
            ReasonArg::Rejected => DeadLetterKind::Rejected,
            ReasonArg::Exhausted => DeadLetterKind::Exhausted,
            ReasonArg::Gap => DeadLetterKind::Gap,
        }
    }
}

/// `typebus init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The cargo package to set up: the directory of its Cargo.toml
    #[arg(value_name = "DIR", default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Check the generated code in as `src/events.rs` (`out` in
    /// typebus.toml, written now and verified by `typebus check`) instead of
    /// generating it from build.rs
    #[arg(long)]
    pub(crate) checked_in: bool,
    /// Print every file it would write, with its content, and the lines it
    /// would add to Cargo.toml; write nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `typebus schema`.
#[derive(Debug, Args)]
pub(crate) struct SchemaFormatArgs {
    /// The file to write (only when changed) [default: standard output]
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// The NATS server(s) to talk to.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// NATS server URL, e.g. nats://user:pass@host:4222; repeat it for
    /// the servers of a cluster
    #[arg(
        long,
        value_name = "URL",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_delimiter = ','
    )]
    pub(crate) url: Vec<String>,
}

/// `typebus publish`.
#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// The event's subject, e.g. ticket:created
    #[arg(value_name = "SUBJECT")]
    pub(crate) subject: String,
    /// The payload: JSON text, `@FILE` to read a file, `@-` for standard
    /// input
    #[arg(long, value_name = "JSON|@FILE")]
    pub(crate) data: String,
    /// The message id JetStream deduplicates on [default: a new unique id]
    #[arg(long, value_name = "ID")]
    pub(crate) msg_id: Option<String>,
}

/// `typebus listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// The subjects to listen on [default: every subject of the schemas]
    #[arg(value_name = "SUBJECT")]
    pub(crate) subjects: Vec<String>,
    /// Listen as queue group GROUP with its durable consumers, which keep
    /// their position across runs (acked messages are not shown again); not
    /// a service's own group, whose messages it would take. Without it, an
    /// ephemeral consumer
    #[arg(long, value_name = "GROUP")]
    pub(crate) durable: Option<String>,
    /// Start with the oldest stored message instead of new ones
    #[arg(long)]
    pub(crate) all: bool,
    /// Exit after this many messages
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
}

/// `typebus provision`.
#[derive(Debug, Args)]
pub(crate) struct ProvisionArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Add the subjects an existing stream lacks (a schema gained events);
    /// without it they are reported and the exit status is 1
    #[arg(long)]
    pub(crate) update: bool,
    /// Report what it would create or update; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `typebus status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Print the report as one JSON object (the shape is documented in the
    /// README) instead of tables
    #[arg(long)]
    pub(crate) json: bool,
}

/// `typebus export <FORMAT>`.
#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// A JSON Schema (2020-12) per event (`<Event>.schema.json`) and shared
    /// type (`types/<Type>.schema.json`); files are written only when changed.
    Jsonschema(ExportDirArgs),
    /// TypeScript for Node services (`events.ts`): the `Subjects` enum, an
    /// `<Event>Event` interface per event, shared types and enum unions.
    Typescript(ExportTsArgs),
    /// An AsyncAPI 3.0 document: a channel per subject, a message per event
    /// with its payload schema and contract version, receive operations.
    Asyncapi(ExportAsyncapiArgs),
}

/// `export asyncapi`.
#[derive(Debug, Args)]
pub(crate) struct ExportAsyncapiArgs {
    #[command(flatten)]
    pub(crate) file: ExportFileArgs,
    /// Describe the service listening in this queue group: every receive
    /// operation gets the NATS binding `queue: GROUP`
    #[arg(long, value_name = "GROUP", value_parser = parse_queue_group)]
    pub(crate) queue_group: Option<String>,
}

/// A NATS queue group name: 1 to 255 characters, no whitespace, no `*`
/// or `>`.
fn parse_queue_group(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 255 {
        return Err("a queue group has 1 to 255 characters".to_owned());
    }
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '*' | '>'))
    {
        return Err(format!("a queue group cannot contain {bad:?}"));
    }
    Ok(text.to_owned())
}

/// `--schemas` and `--out FILE` for `export asyncapi`.
#[derive(Debug, Args)]
pub(crate) struct ExportFileArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    /// The file to write (only when changed) [default: standard output]
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `--schemas` and `--out DIR` for `export typescript`.
#[derive(Debug, Args)]
pub(crate) struct ExportTsArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    /// The directory to write `events.ts` into
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
}

/// `--schemas` and `--out DIR`.
#[derive(Debug, Args)]
pub(crate) struct ExportDirArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    /// The directory to write into
    #[arg(long, value_name = "DIR", default_value = "jsonschema")]
    pub(crate) out: PathBuf,
}

/// `--schemas` and `--out`.
#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    /// The generated Rust file [default: `out` in typebus.toml]
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `typebus check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) paths: PathArgs,
    /// Always generate the code and compare it byte for byte, even when the
    /// file's fingerprint line shows it is current
    #[arg(long)]
    pub(crate) full: bool,
}

/// `--schemas`.
#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// The schema directory [default: `schemas` in typebus.toml, else
    /// ./schemas]
    #[arg(long, value_name = "DIR")]
    pub(crate) schemas: Option<PathBuf>,
}

/// `typebus lock`.
#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    /// Re-record SUBJECT@VERSION with its current shape: only for a version
    /// that was never released (repeatable)
    #[arg(long, value_name = "SUBJECT@VERSION", value_parser = parse_entry)]
    pub(crate) unreleased: Vec<(String, u32)>,
}

fn parse_entry(text: &str) -> Result<(String, u32), String> {
    let (subject, version) = text
        .rsplit_once('@')
        .ok_or_else(|| "expected SUBJECT@VERSION, e.g. ticket:updated@2".to_owned())?;
    let version = version
        .parse()
        .map_err(|_| format!("`{version}` is not a version number"))?;
    Ok((subject.to_owned(), version))
}

/// `typebus diff`.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(crate) schemas: SchemaArgs,
    /// The schemas to compare with: a directory, or a git revision whose
    /// copy of the schema directory is read (`HEAD`, `main`, `v1.2.0`)
    #[arg(long, value_name = "DIR|GIT-REV")]
    pub(crate) against: String,
    /// Which readers must keep decoding: backward = new readers decode old
    /// events (deploy consumers first), forward = old readers decode new
    /// events, full = both, none = only list the changes
    #[arg(long, value_enum, default_value_t = ModeArg::Backward)]
    pub(crate) mode: ModeArg,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// New readers decode old events.
    Backward,
    /// Old readers decode new events.
    Forward,
    /// Both.
    Full,
    /// Nothing enforced.
    None,
}

impl From<ModeArg> for typebus_codegen::compat::Mode {
    fn from(mode: ModeArg) -> Self {
        use typebus_codegen::compat::Mode;
        match mode {
            ModeArg::Backward => Mode::Backward,
            ModeArg::Forward => Mode::Forward,
            ModeArg::Full => Mode::Full,
            ModeArg::None => Mode::None,
        }
    }
}
