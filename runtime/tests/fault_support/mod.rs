//! Support for the fault tests that need more than a server: a listener
//! wrapper that records every delivery before the guard sees it, a TCP
//! forwarder on loopback that can cut one client off, and the helpers to
//! run a service instance in a child process that the test can freeze
//! (SIGSTOP), resume (SIGCONT) or kill (SIGKILL).

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use typebus::{Delivery, HandlerError, ListenOptions, Listener, Versioned};

/// One delivery as a wrapped listener saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub id: String,
    pub sequence: u64,
    pub delivered: u64,
    pub at: Instant,
}

/// Wraps a listener (an `Sequenced` one, typically) and records every
/// delivery before handing it on, batches included, so a test sees the
/// redeliveries the guard acknowledges without calling the handler.
/// `hold` delays every hand-off (a window in which the test freezes the
/// process); `report` prints each batch to stdout (for a parent process).
pub struct Observed<L> {
    pub inner: L,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub hold: Option<Duration>,
    pub report: bool,
}

impl<L> Observed<L> {
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            seen: Arc::new(Mutex::new(Vec::new())),
            hold: None,
            report: false,
        }
    }

    /// Every delivery seen so far.
    pub fn seen(&self) -> Arc<Mutex<Vec<Seen>>> {
        Arc::clone(&self.seen)
    }
}

impl<L> Observed<L>
where
    L: Listener,
    L::Event: Versioned,
{
    async fn before(&self, events: &[(&L::Event, &Delivery)]) {
        let at = Instant::now();
        let mut ids = Vec::new();
        {
            let mut seen = self.seen.lock().expect("lock");
            for (event, delivery) in events {
                seen.push(Seen {
                    id: event.id().into_owned(),
                    sequence: event.sequence(),
                    delivered: delivery.delivery_count(),
                    at,
                });
                ids.push(format!(
                    "{}@{}#{}",
                    event.id(),
                    event.sequence(),
                    delivery.delivery_count()
                ));
            }
        }
        if self.report {
            println!("CHILD RECEIVED {}", ids.join(" "));
        }
        if let Some(hold) = self.hold {
            tokio::time::sleep(hold).await;
        }
    }

    fn after(&self, outcomes: &[Result<(), HandlerError>]) {
        if self.report {
            let ok = outcomes.iter().filter(|o| o.is_ok()).count();
            println!("CHILD SETTLED ok={ok} failed={}", outcomes.len() - ok);
        }
    }
}

impl<L> Listener for Observed<L>
where
    L: Listener,
    L::Event: Versioned,
{
    type Event = L::Event;

    fn options(&self) -> ListenOptions {
        self.inner.options()
    }

    async fn on_batch<'a>(
        &'a self,
        events: Vec<(L::Event, &'a Delivery)>,
    ) -> Vec<Result<(), HandlerError>> {
        let refs: Vec<_> = events.iter().map(|(e, d)| (e, *d)).collect();
        self.before(&refs).await;
        let outcomes = self.inner.on_batch(events).await;
        self.after(&outcomes);
        outcomes
    }

    async fn on_message(&self, event: L::Event, delivery: &Delivery) -> Result<(), HandlerError> {
        self.before(&[(&event, delivery)]).await;
        let outcome = self.inner.on_message(event, delivery).await;
        self.after(std::slice::from_ref(&outcome));
        outcome
    }
}

/// What the forwarder does with its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Bytes flow both ways.
    Forward,
    /// Nothing is read or written: what each side sends piles up in its
    /// socket buffers, as on a network that silently drops everything.
    Pause,
}

/// A TCP forwarder on loopback in front of a server: clients connect to
/// [`url`](Self::url). [`pause`](Self::pause) stops every byte of the
/// connections it carries; [`cut`](Self::cut) then closes them (what was
/// sent meanwhile is lost, as when a long outage ends in a reset) and
/// forwards again for the reconnections.
pub struct Forwarder {
    port: u16,
    mode: watch::Sender<Mode>,
    /// Bumped by `cut`: connections of an older generation close.
    generation: watch::Sender<u64>,
    accepted: Arc<Mutex<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (mode, _) = watch::channel(Mode::Forward);
        let (generation, _) = watch::channel(0u64);
        let accepted = Arc::new(Mutex::new(0));
        let task = {
            let mode = mode.clone();
            let generation = generation.clone();
            let accepted = Arc::clone(&accepted);
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                        continue;
                    };
                    *accepted.lock().expect("lock") += 1;
                    let born = *generation.borrow();
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    for (from, to) in [
                        (
                            Box::new(client_read) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                            Box::new(server_write) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                        ),
                        (Box::new(server_read), Box::new(client_write)),
                    ] {
                        tokio::spawn(pipe(
                            from,
                            to,
                            mode.subscribe(),
                            generation.subscribe(),
                            born,
                        ));
                    }
                }
            })
        };
        Self {
            port,
            mode,
            generation,
            accepted,
            task,
        }
    }

    /// `nats://127.0.0.1:<port>` of the forwarder.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far (a reconnection is one more).
    pub fn accepted(&self) -> u64 {
        *self.accepted.lock().expect("lock")
    }

    /// Stops every byte of the open connections.
    pub fn pause(&self) {
        self.mode.send_replace(Mode::Pause);
    }

    /// Closes the open connections, dropping what is buffered, and forwards
    /// new ones.
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
        self.mode.send_replace(Mode::Forward);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}

/// Copies `from` to `to` while forwarding; stops reading while paused;
/// returns (closing both halves) when its generation is cut.
async fn pipe(
    mut from: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    mut to: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    mut mode: watch::Receiver<Mode>,
    mut generation: watch::Receiver<u64>,
    born: u64,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if *generation.borrow_and_update() != born {
            return;
        }
        if *mode.borrow_and_update() == Mode::Pause {
            tokio::select! {
                _ = mode.changed() => continue,
                _ = generation.changed() => continue,
            }
        }
        tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            },
            _ = mode.changed() => {}
            _ = generation.changed() => {}
        }
    }
}

/// A service instance in a child process: this test binary again, running
/// only the (ignored) test `name`, with `env` set. Its stdout lines that
/// start with `CHILD ` arrive on [`lines`](Self::next_line).
pub struct ChildInstance {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildInstance {
    pub fn spawn(name: &str, env: &[(&str, String)]) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let mut command = Command::new(exe);
        command
            .args([
                "--exact",
                name,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn child instance");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                // libtest may print "test <name> ... " before it, unended.
                if let Some((_, rest)) = line.split_once("CHILD ")
                    && send.send(rest.to_owned()).is_err()
                {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line starting with `prefix` within `limit`.
    pub async fn next_line(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(mpsc::TryRecvError::Empty) => {
                    assert!(
                        Instant::now() < deadline,
                        "the child printed no {prefix:?} line within {limit:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    panic!("the child exited before printing {prefix:?}")
                }
            }
        }
    }

    /// Every line from now until `done` holds for the lines so far, within
    /// `limit`.
    pub async fn lines_until(
        &self,
        limit: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut lines = Vec::new();
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    lines.push(line);
                    if done(&lines) {
                        return lines;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => {
                    assert!(
                        Instant::now() < deadline,
                        "the child's lines within {limit:?} did not suffice: {lines:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    panic!("the child exited: {lines:?}")
                }
            }
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to the child.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The process state letter from /proc (`T` when stopped).
    pub fn state(&self) -> char {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .unwrap_or('?')
    }
}

impl Drop for ChildInstance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
