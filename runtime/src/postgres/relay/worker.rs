//! A relay's workers: the loop of rounds each runs on its own task
//! ([`Relay::spawn`]), woken by `NOTIFY` while idle and polling while busy,
//! and [`RelayHandle`], which stops them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Relay;
use crate::error::chain;

/// How long a relay that found work keeps polling every [`BUSY_POLL`]
/// before it marks itself idle and waits for notifications.
const BUSY_LINGER: Duration = Duration::from_secs(1);

/// The poll interval of a recently busy relay.
const BUSY_POLL: Duration = Duration::from_millis(5);

/// Where a relay worker is between rounds.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Counted idle (inserts notify): it waits for a notification or the
    /// poll interval between rounds.
    Idle,
    /// Not counted idle: its last round with work was at `since`. It polls
    /// every [`BUSY_POLL`] until [`BUSY_LINGER`] after that, then goes
    /// idle.
    Busy {
        /// When a round last found work.
        since: Instant,
    },
}

/// A change in a worker's count of its relay's idle workers.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// The worker started (counted idle already): only sync the flag.
    Started,
    /// The worker found work.
    WentBusy,
    /// The worker went idle.
    WentIdle,
}

impl Relay {
    /// Runs the relay's workers ([`Relay::workers`]) on tasks until
    /// [`RelayHandle::shutdown`].
    pub fn spawn(self) -> RelayHandle {
        let (stop, stopped) = watch::channel(false);
        // Every worker starts counted as idle and syncs the flag first.
        let idle = Arc::new(tokio::sync::Mutex::new(self.workers));
        let tasks = (0..self.workers)
            .map(|worker| {
                let idle = Arc::clone(&idle);
                tokio::spawn(self.clone().run(stopped.clone(), worker == 0, idle))
            })
            .collect();
        RelayHandle { stop, tasks }
    }

    /// Counts this worker in (`Some(true)`) or out (`Some(false)`) of the
    /// relay's idle workers, then sets the database flag to whether all of
    /// them are idle. The count is changed and the flag written under one
    /// lock, so the last write always matches the latest transition: two
    /// workers changing state at once cannot leave the flag saying idle
    /// while one works.
    async fn count_idle(&self, idle_workers: &tokio::sync::Mutex<usize>, change: Change) {
        let mut count = idle_workers.lock().await;
        match change {
            Change::Started => {}
            Change::WentBusy => *count = count.saturating_sub(1),
            Change::WentIdle => *count += 1,
        }
        self.set_idle(*count == self.workers).await;
    }

    /// One worker's loop; the first one (`prunes`) also prunes sent rows.
    /// `idle_workers` counts this relay's idle workers: the database flag
    /// that makes inserts notify is set when the last worker goes idle and
    /// cleared when the first finds work again, so one idle worker does not
    /// make inserts notify while another is busy.
    async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        prunes: bool,
        idle_workers: Arc<tokio::sync::Mutex<usize>>,
    ) {
        let channel = self.outbox.schema().channel();
        let mut listener: Option<PgListener> = None;
        let mut last_prune = Instant::now();
        let mut failures: u32 = 0;
        // Counted idle from the start: the flag may say anything (a relay
        // that died while busy left it cleared), so set it before the first
        // round, which then finds what was committed before.
        let mut phase = Phase::Idle;
        self.count_idle(&idle_workers, Change::Started).await;
        while !*stop.borrow() {
            if listener.is_none() {
                listener = listen(&self.pool, &channel).await;
            }
            let wait = match (phase, self.publish_batch().await) {
                (Phase::Idle, Ok(report)) if report.claimed > 0 => {
                    // Work after a sleep: inserts need not notify any more;
                    // go on at once.
                    failures = 0;
                    phase = Phase::Busy {
                        since: Instant::now(),
                    };
                    self.count_idle(&idle_workers, Change::WentBusy).await;
                    continue;
                }
                (Phase::Busy { .. }, Ok(report)) if report.claimed > 0 => {
                    // Still busy: go on at once.
                    failures = 0;
                    phase = Phase::Busy {
                        since: Instant::now(),
                    };
                    continue;
                }
                (Phase::Busy { since }, Ok(_)) if since.elapsed() < BUSY_LINGER => {
                    // Recently busy: poll briefly rather than have every
                    // insert notify (and queue its commit behind the others).
                    failures = 0;
                    tokio::select! {
                        _ = stop.changed() => break,
                        () = tokio::time::sleep(BUSY_POLL) => {}
                    }
                    continue;
                }
                (Phase::Busy { .. }, Ok(_)) => {
                    // Going to sleep: ask inserts to notify, then look once
                    // more for rows committed before they could see that.
                    self.count_idle(&idle_workers, Change::WentIdle).await;
                    phase = Phase::Idle;
                    continue;
                }
                (Phase::Idle, Ok(_)) => {
                    // Asleep, nothing to do: wait for a notification or the
                    // poll interval.
                    failures = 0;
                    self.poll_interval
                }
                (_, Err(err)) => {
                    failures = failures.saturating_add(1);
                    let wait = self.backoff(i32::try_from(failures).unwrap_or(i32::MAX));
                    tracing::warn!(error = %chain(&err), retry_in = ?wait, "outbox relay round failed");
                    wait
                }
            };
            if let Some(age) = self.retention.filter(|_| prunes)
                && last_prune.elapsed() >= self.prune_interval
            {
                last_prune = Instant::now();
                match self.outbox.prune(&self.pool, age).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::debug!(deleted, "pruned sent outbox rows"),
                    Err(err) => tracing::warn!(error = %chain(&err), "pruning the outbox failed"),
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(active) => active.recv().await.map(drop),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                woke = notified => {
                    if let Err(err) = woke {
                        tracing::debug!(error = %err, "outbox notifications lost; listening again");
                        listener = None;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
            // One round serves every notification that arrived meanwhile.
            if let Some(active) = listener.as_mut() {
                while let Some(Ok(Some(_))) = active.try_recv().now_or_never() {}
            }
        }
    }
}

/// A dedicated connection listening for the outbox's notifications; `None`
/// (poll only, try again next round) when it cannot be had.
async fn listen(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::debug!(error = %err, "outbox relay cannot listen for notifications; polling");
            return None;
        }
    };
    match listener.listen(channel).await {
        Ok(()) => Some(listener),
        Err(err) => {
            tracing::debug!(error = %err, "outbox relay cannot listen for notifications; polling");
            None
        }
    }
}

/// A relay's workers running on tasks ([`Relay::spawn`]).
#[derive(Debug)]
pub struct RelayHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RelayHandle {
    /// Stops after the current round (which commits what it published) and
    /// waits for the task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Stops at once, wherever the relay is, as if its process died: a
    /// round in flight is rolled back and its rows stay pending (they are
    /// published again, with the same message ids, by the next round of
    /// any relay). For fault tests.
    pub async fn abort(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Whether every worker's task has ended.
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(JoinHandle::is_finished)
    }
}
