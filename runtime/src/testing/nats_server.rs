//! [`NatsServer`]: a `nats-server` process for one test.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a test server could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsServerError {
    /// No `nats-server` binary on `PATH`, in `/usr/sbin`, or at `$TYPEBUS_NATS_SERVER`.
    #[error("nats-server not found on PATH or in /usr/sbin (set TYPEBUS_NATS_SERVER to its path)")]
    NotFound,
    /// The store directory or log file could not be made, or the process not spawned.
    #[error("cannot start nats-server")]
    Io(#[from] std::io::Error),
    /// The process exited before it was ready.
    #[error("nats-server exited before it was ready; log tail:\n{log}")]
    Exited {
        /// The end of its log.
        log: String,
    },
    /// It did not report being ready in time.
    #[error("nats-server not ready after {timeout:?}; log tail:\n{log}")]
    NotReady {
        /// How long it was given.
        timeout: Duration,
        /// The end of its log.
        log: String,
    },
}

/// Options for a [`NatsServer`]: extra command-line arguments (e.g.
/// `--user`/`--pass`, `--auth`, cluster routes), a configuration file and
/// the start timeout.
#[derive(Debug, Clone)]
pub struct NatsServerBuilder {
    args: Vec<OsString>,
    config: Option<String>,
    port: Option<u16>,
    timeout: Duration,
}

impl Default for NatsServerBuilder {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            config: None,
            port: None,
            timeout: Duration::from_secs(15),
        }
    }
}

impl NatsServerBuilder {
    /// Adds a command-line argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds command-line arguments.
    pub fn args<A: Into<OsString>>(mut self, args: impl IntoIterator<Item = A>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Starts the server with a configuration file holding `text` (written
    /// as `nats.conf` into its work directory, passed with `-c`), e.g.
    /// `authorization { token: "..." }` or `max_payload: 4096`. The
    /// command-line options still apply on top of it: loopback address, port,
    /// JetStream and the store directory.
    pub fn config(mut self, text: &str) -> Self {
        self.config = Some(text.to_owned());
        self
    }

    /// Listens on `port` instead of a random free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// How long to wait for the server to be ready (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the server and waits until it is ready.
    pub fn start(self) -> Result<NatsServer, NatsServerError> {
        let binary = find_binary().ok_or(NatsServerError::NotFound)?;
        let dir = tempfile::Builder::new().prefix("typebus-nats-").tempdir()?;
        let store = dir.path().join("store");
        fs::create_dir_all(&store)?;
        let log = dir.path().join("nats-server.log");
        let mut args = Vec::new();
        if let Some(text) = &self.config {
            let path = dir.path().join("nats.conf");
            fs::write(&path, text)?;
            args.push(OsString::from("-c"));
            args.push(path.into_os_string());
        }
        args.extend(self.args);
        let mut server = NatsServer {
            binary,
            args,
            timeout: self.timeout,
            dir,
            store,
            log,
            port: self.port.unwrap_or(0),
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }
}

/// A `nats-server -a 127.0.0.1 -js` process with its own store directory,
/// on a random port (`-p -1`), killed when dropped.
///
/// ```no_run
/// let mut server = typebus::testing::NatsServer::start().unwrap();
/// let url = server.url(); // nats://127.0.0.1:<port>
/// server.kill();          // SIGKILL, like a crash
/// server.restart().unwrap(); // same port, same store
/// # drop(url);
/// ```
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    args: Vec<OsString>,
    timeout: Duration,
    dir: tempfile::TempDir,
    store: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server with the defaults.
    pub fn start() -> Result<Self, NatsServerError> {
        Self::builder().start()
    }

    /// Options for a server.
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    /// Its client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Its client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    /// A directory for the test's own files, removed with the server.
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process with SIGKILL (a crash: no shutdown, no flush) and
    /// waits for it to exit. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again (killing it first if it runs) on the same
    /// port with the same store, and waits until it is ready.
    pub fn restart(&mut self) -> Result<(), NatsServerError> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), NatsServerError> {
        let log_start = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let port = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        let mut command = Command::new(&self.binary);
        command
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(&port)
            .arg("-js")
            .arg("-sd")
            .arg(&self.store)
            .arg("-l")
            .arg(&self.log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn()?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let log = self.log();
            let fresh = log
                .get(usize::try_from(log_start).unwrap_or(0)..)
                .unwrap_or("");
            if let Some(found) = listening_port(fresh)
                && fresh.contains("Server is ready")
            {
                self.port = found;
                return Ok(());
            }
            if !self.is_running() {
                self.child = None;
                return Err(NatsServerError::Exited { log: tail(fresh) });
            }
            if started.elapsed() > self.timeout {
                let log = tail(fresh);
                self.kill();
                return Err(NatsServerError::NotReady {
                    timeout: self.timeout,
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The port of "Listening for client connections on 127.0.0.1:4222".
fn listening_port(log: &str) -> Option<u16> {
    const MARK: &str = "Listening for client connections on ";
    let line = log.lines().rev().find(|line| line.contains(MARK))?;
    let address = line.split(MARK).nth(1)?.trim();
    address.rsplit(':').next()?.parse().ok()
}

/// The last lines of a log.
pub(super) fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `$TYPEBUS_NATS_SERVER`, `nats-server` on `PATH`, or `/usr/sbin/nats-server`.
pub(super) fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TYPEBUS_NATS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let fallback = PathBuf::from("/usr/sbin/nats-server");
        fallback.is_file().then_some(fallback)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_of_the_last_listening_line() {
        let log = "[1] [INF] Listening for client connections on 127.0.0.1:4111\n\
                   [2] [INF] Listening for client connections on 127.0.0.1:39999\n";
        assert_eq!(listening_port(log), Some(39999));
        assert_eq!(listening_port("nothing"), None);
    }
}
