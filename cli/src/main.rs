//! `typebus`: the command-line front end of typebus-codegen.
//!
//! - `typebus init [DIR]`: sets up a cargo package (example schema,
//!   typebus.toml, dependencies, build.rs or `--checked-in` code, a CI
//!   workflow); writes only missing files, never overwrites one.
//! - `typebus generate`: writes the Rust code for the schemas.
//! - `typebus check`: CI; the checked-in code (when `out` is set) and
//!   `schemas/typebus.lock` match the schemas (exit 1 with a diff and the fixing command if not).
//! - `typebus lock`: records new (subject, version) shapes in the lock file.
//! - `typebus diff --against DIR|GIT-REV`: classifies every change.
//! - `typebus export jsonschema|typescript|asyncapi`: the schemas for other languages and tools.
//! - `typebus schema`: the JSON Schema of the schema-file format (for editors).
//! - `typebus publish SUBJECT --data JSON`: a payload checked against its
//!   schema, published with the typebus headers.
//! - `typebus listen [SUBJECT...]`: live events, decoded against the schemas.
//! - `typebus provision`: creates or verifies the streams the schemas need.
//! - `typebus status`: streams, consumers and dead letters; a health check.
//! - `typebus dlq list|show|replay|purge`: dead letters counted, shown,
//!   replayed to their original subject, deleted.
//!
//! Exit status: 0 ok, 1 a check or compatibility rule failed, 2 a usage
//! error or invalid schemas (diagnostics exactly as codegen renders them).

mod bus_config;
mod cli;
mod commands;
mod config;
mod error;
mod git;
mod nats;
mod output;
mod payload;
mod status_report;
mod stream_check;

use std::process::ExitCode;

use anstream::eprintln;
use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::error::CliError;
use crate::output::ERROR;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Init(args) => commands::init::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Lock(args) => commands::lock::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Export(command) => commands::export::run(command),
        Command::Schema(args) => commands::schema::run(args),
        Command::Publish(args) => commands::publish::run(args),
        Command::Listen(args) => commands::listen::run(args),
        Command::Provision(args) => commands::provision::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Dlq(command) => commands::dlq::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            error.exit_code()
        }
    }
}

fn report(error: &CliError) {
    match error {
        // Diagnostics are printed exactly as codegen renders them.
        CliError::Codegen(e) if !e.diagnostics().is_empty() => eprintln!("{e}"),
        _ => {
            eprintln!("{ERROR}error:{ERROR:#} {error}");
            let mut source = std::error::Error::source(error);
            // `Io` and friends already show their source in the message.
            if matches!(error, CliError::Io { .. }) {
                source = None;
            }
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
        }
    }
}
