//! [`NatsCluster`]: a JetStream cluster of `nats-server` processes on
//! loopback, for one test.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::nats_server::{NatsServerError, find_binary, tail};

/// The cluster name every node is configured with.
const CLUSTER_NAME: &str = "typebus-test";

/// A JetStream cluster of `n` `nats-server` processes on loopback, each with
/// its own random client and route ports, its own store directory and a
/// configuration file naming the others as routes. Every node is killed
/// when the cluster is dropped.
///
/// [`start`](Self::start) returns once every node is ready and the cluster
/// has elected a JetStream metadata leader, so streams can be created.
///
/// ```no_run
/// let mut cluster = typebus::testing::NatsCluster::start(3).unwrap();
/// let urls = cluster.urls(); // give clients all of them
/// cluster.kill(0);           // SIGKILL, like a crash
/// cluster.restart(0).unwrap(); // same ports, same store
/// # drop(urls);
/// ```
#[derive(Debug)]
pub struct NatsCluster {
    binary: PathBuf,
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    timeout: Duration,
}

/// One member of the cluster.
#[derive(Debug)]
struct Node {
    name: String,
    config: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl NatsCluster {
    /// Starts `n` nodes (at least 1; JetStream needs 3 for replicated
    /// streams to survive a node) and waits until the cluster is ready.
    pub fn start(n: usize) -> Result<Self, NatsServerError> {
        let binary = find_binary().ok_or(NatsServerError::NotFound)?;
        let dir = tempfile::Builder::new()
            .prefix("typebus-nats-cluster-")
            .tempdir()?;
        let n = n.max(1);
        let client_ports = free_ports(n)?;
        let route_ports = free_ports(n)?;
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("n{i}");
            let node_dir = dir.path().join(&name);
            let store = node_dir.join("store");
            fs::create_dir_all(&store)?;
            let routes: Vec<String> = route_ports
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, port)| format!("nats-route://127.0.0.1:{port}"))
                .collect();
            let text = format!(
                "server_name: {name}\n\
                 listen: 127.0.0.1:{client}\n\
                 jetstream {{\n  store_dir: {store:?}\n}}\n\
                 cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
                client = client_ports[i],
                route = route_ports[i],
                store = store.display().to_string(),
                routes = routes.join(", "),
            );
            let config = node_dir.join("nats.conf");
            fs::write(&config, text)?;
            nodes.push(Node {
                name,
                config,
                log: node_dir.join("nats-server.log"),
                port: client_ports[i],
                child: None,
            });
        }
        let mut cluster = Self {
            binary,
            dir,
            nodes,
            timeout: Duration::from_secs(30),
        };
        for i in 0..n {
            cluster.spawn(i)?;
        }
        for i in 0..n {
            cluster.wait_ready(i)?;
        }
        cluster.wait_for_meta_leader()?;
        Ok(cluster)
    }

    /// The client URLs of every node, `nats://127.0.0.1:<port>`.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// The client URL of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].port)
    }

    /// The server name of node `i` (`n0`, `n1`, ...), as JetStream reports
    /// it (e.g. as a stream's leader).
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name == name)
    }

    /// How many nodes the cluster has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never, once started).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The log of node `i` so far.
    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// A directory for the test's own files, removed with the cluster.
    pub fn work_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Whether node `i` is running.
    pub fn is_running(&mut self, i: usize) -> bool {
        match &mut self.nodes[i].child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills node `i` with SIGKILL (a crash) and waits for it to exit. Does
    /// nothing if it is not running.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again (killing it first if it runs) with the same
    /// ports and store, and waits until it is ready.
    pub fn restart(&mut self, i: usize) -> Result<(), NatsServerError> {
        self.kill(i);
        let from = fs::metadata(&self.nodes[i].log).map_or(0, |m| m.len());
        self.spawn(i)?;
        self.wait_ready_after(i, from)
    }

    fn spawn(&mut self, i: usize) -> Result<(), NatsServerError> {
        let node = &mut self.nodes[i];
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&node.config)
            .arg("-l")
            .arg(&node.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        node.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self, i: usize) -> Result<(), NatsServerError> {
        self.wait_ready_after(i, 0)
    }

    /// Waits until node `i` logs "Server is ready" after byte `from` of its log.
    fn wait_ready_after(&mut self, i: usize, from: u64) -> Result<(), NatsServerError> {
        let started = Instant::now();
        loop {
            let log = self.log(i);
            let fresh = log.get(usize::try_from(from).unwrap_or(0)..).unwrap_or("");
            if fresh.contains("Server is ready") {
                return Ok(());
            }
            if !self.is_running(i) {
                self.nodes[i].child = None;
                return Err(NatsServerError::Exited { log: tail(fresh) });
            }
            if started.elapsed() > self.timeout {
                let log = tail(fresh);
                self.kill(i);
                return Err(NatsServerError::NotReady {
                    timeout: self.timeout,
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until some node's log reports a JetStream metadata leader.
    fn wait_for_meta_leader(&mut self) -> Result<(), NatsServerError> {
        let started = Instant::now();
        loop {
            if (0..self.nodes.len()).any(|i| self.log(i).contains("metadata leader")) {
                return Ok(());
            }
            if started.elapsed() > self.timeout {
                return Err(NatsServerError::NotReady {
                    timeout: self.timeout,
                    log: tail(&self.log(0)),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// `n` distinct free loopback ports: bound at once, then released for the
/// servers to take (another process could take one in between; the start
/// then fails and the test reports it).
fn free_ports(n: usize) -> Result<Vec<u16>, std::io::Error> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|address| address.port()))
        .collect()
}
