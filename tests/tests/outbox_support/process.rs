//! Child processes for the outbox kill tests: the test binary itself, run
//! again with one `#[ignore]`d test selected (`--exact NAME --ignored`) and
//! an environment naming the child's role, so a test can SIGKILL real
//! processes with no binary of their own to build. A child tells its
//! progress on stdout, one `@kill ...` line per step (see [`say`]); a reader
//! thread folds the lines into a [`Report`], so the parent knows how much
//! work a child had done and whether a unit of work was in flight when it
//! died (the pipe keeps what was written before the kill).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What starts a progress line's own text; other output (libtest's) is
/// ignored.
const PREFIX: &str = "@kill ";

/// A child's side: writes one progress line and flushes it, so that it is
/// in the pipe before whatever comes next (a SIGKILL, say).
///
/// Lines: `ready` (connected, about to work), `begin` (a unit of work
/// starts), `end OUTCOME` (it ended: `committed`, `rolled-back`,
/// `failed`), `end round CLAIMED SENT DUPLICATES` (a relay round ended).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A parent that stopped reading is gone or done: nothing to tell.
    let _ = writeln!(out, "{PREFIX}{line}");
    let _ = out.flush();
}

/// A child's side: a flag set once its stdin is closed (the parent's
/// [`ChildProcess::close_stdin`]: "finish what you are doing and exit").
pub fn stdin_closed() -> Arc<AtomicBool> {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&closed);
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        // Whatever the end, closed or broken, the parent is done with us.
        let _ = std::io::stdin().lock().read_to_end(&mut sink);
        flag.store(true, Ordering::SeqCst);
    });
    closed
}

/// What a child told of its work so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// It connected and started working.
    pub ready: bool,
    /// Units of work begun.
    pub begun: u64,
    /// Units of work ended, whatever their outcome.
    pub ended: u64,
    /// Ended units by outcome (`committed`, `rolled-back`, `failed`,
    /// `round`).
    pub outcomes: BTreeMap<String, u64>,
    /// Rows the relay rounds claimed, summed.
    pub claimed: u64,
    /// Rows the relay rounds published and marked sent, summed.
    pub sent: u64,
    /// Of those, rows the stream held already (published by a relay that
    /// died before marking them).
    pub duplicates: u64,
    /// Rows the last relay round to end had claimed.
    pub last_claimed: u64,
    /// Progress lines not understood (a bug in the child).
    pub garbled: Vec<String>,
}

impl Report {
    /// Units begun and not ended: work in flight.
    pub fn in_flight(&self) -> u64 {
        self.begun.saturating_sub(self.ended)
    }

    /// How many units ended with `outcome`.
    pub fn count(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    fn apply(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ready"] => self.ready = true,
            ["begin"] => self.begun += 1,
            ["end", "round", claimed, sent, duplicates] => {
                match (
                    claimed.parse::<u64>(),
                    sent.parse::<u64>(),
                    duplicates.parse::<u64>(),
                ) {
                    (Ok(claimed), Ok(sent), Ok(duplicates)) => {
                        self.claimed += claimed;
                        self.sent += sent;
                        self.duplicates += duplicates;
                        self.last_claimed = claimed;
                        self.end("round");
                    }
                    _ => self.garbled.push(line.to_owned()),
                }
            }
            ["end", outcome] => self.end(outcome),
            _ => self.garbled.push(line.to_owned()),
        }
    }

    fn end(&mut self, outcome: &str) {
        self.ended += 1;
        *self.outcomes.entry(outcome.to_owned()).or_default() += 1;
    }
}

/// A running child process and what it reported so far. Killed (SIGKILL)
/// and reaped when dropped, so a failing test leaves no process behind.
pub struct ChildProcess {
    /// Its name: also its PostgreSQL `application_name`.
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    report: Arc<Mutex<Report>>,
    reader: Option<JoinHandle<()>>,
}

impl ChildProcess {
    /// Runs the ignored test `test` of this test binary as a child process
    /// with `env` added to the environment; its stderr is the test's.
    pub fn spawn(test: &str, name: &str, env: &[(&str, String)]) -> Self {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the test binary runs as a child");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("the child's stdout is piped");
        let report = Arc::new(Mutex::new(Report::default()));
        let sink = Arc::clone(&report);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                // libtest may have started the line (`test NAME ... `).
                if let Some(at) = line.find(PREFIX) {
                    let progress = &line[at + PREFIX.len()..];
                    sink.lock().expect("report lock").apply(progress);
                }
            }
        });
        Self {
            name: name.to_owned(),
            child,
            stdin,
            report,
            reader: Some(reader),
        }
    }

    /// What it reported so far.
    pub fn report(&self) -> Report {
        self.report.lock().expect("report lock").clone()
    }

    /// Closes its stdin: a child watching [`stdin_closed`] finishes.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// How it ended, if it did.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("the child's status")
    }

    /// Kills it with SIGKILL, reaps it and reads what it wrote before it
    /// died: how it ended, and its whole report.
    pub fn kill(&mut self) -> (ExitStatus, Report) {
        // An error only means it had exited already: the status says so.
        let _ = self.child.kill();
        self.finish()
    }

    /// Waits until it exits by itself; its status and whole report.
    pub fn wait(&mut self) -> (ExitStatus, Report) {
        self.finish()
    }

    fn finish(&mut self) -> (ExitStatus, Report) {
        let status = self.child.wait().expect("the child is reaped");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the child's reader");
        }
        (status, self.report())
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
