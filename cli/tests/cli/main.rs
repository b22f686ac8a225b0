//! End-to-end tests of the `typebus` binary: every command and exit code,
//! in temporary projects.

mod check;
mod common;
mod diff;
mod generate;
mod help;
mod lock;
