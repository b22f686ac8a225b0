//! [`JournalSequenceStore`] (experimental, feature `journal-experimental`):
//! the sequences as a journal on a JetStream stream, written in batches and
//! folded in memory by every instance.
//!
//! Inside: a writer task per instance (group commit: [`write`], its state
//! a [`Writer`]) and a reader task that folds the journal ([`read`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::IntoFuture as _;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::push, context::PublishErrorKind};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot, watch};

use super::store::{Entry, SequenceStore, State, StoreError, StoreErrorKind, Swap, Swapped};
use super::versioned::RecordKey;
use crate::transport::BoxFuture;

/// The most swaps one journal message carries.
const MAX_BATCH: usize = 1024;

/// The swaps that make a batch worth sending while another is in flight.
const FULL_BATCH: usize = 32;

/// The most messages one instance has in flight.
const WINDOW: usize = 4;

/// How long a read or a retried write waits for this instance to catch up
/// with the journal before it gives up (unavailable).
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// The fewest entries written between two snapshots.
const MIN_SNAPSHOT_INTERVAL: u64 = 10_000;

/// How many entries per record are written between two snapshots (at
/// least): a snapshot costs a write and a read of every record, so it is
/// spread over this many entries of each (the README's "Ordering" section
/// has what snapshots cost the ordering bench).
const SNAPSHOT_RATIO: u64 = 4;

/// A [`SequenceStore`] kept as a journal on a JetStream stream and shared
/// by every instance of a service, for listeners that apply many events a
/// second.
///
/// **Experimental**: only with the `journal-experimental` feature, and not
/// in the default build. It writes fewer JetStream messages per swap than
/// [`KvSequenceStore`](super::KvSequenceStore), which makes a guarded
/// listener faster (the README's "Ordering" section has the ordering
/// bench's figures), but it costs more than it may be worth:
///
/// - every instance keeps every record it has seen in memory, and reads the
///   whole journal when it opens;
/// - compaction stops past about 20,000 records (a snapshot is one message,
///   see below), and the stream, and the time an instance takes to open,
///   then grow without bound;
/// - the writer is intricate (group commit, messages in flight chained by
///   expected message ids, a read of the journal whenever another instance
///   wrote first or a write's fate is unknown, rollup snapshots), and its
///   faults show only under contention and crashes.
///
/// Prefer [`KvSequenceStore`](super::KvSequenceStore) (bounded memory, any
/// number of records) unless a measured rate says otherwise.
///
/// Concurrent [`swap`](SequenceStore::swap)s are written together, as one
/// message, by one writer task per instance (group commit): while one
/// message is on its way, the next batch gathers. Each message is
/// published with `Nats-Expected-Last-Sequence`, so it is stored only if
/// no other message (another instance's) was stored since the writer last
/// read the journal: a compare-and-set on the whole journal. Each swap in
/// it is then checked against its record's revision (the stream sequence
/// of the message that last changed the record), exactly like a
/// [`KvSequenceStore`](super::KvSequenceStore) update; two instances can
/// never both claim, or both record, the same step. When another instance
/// wrote first, the writer reads what it wrote and checks the batch again.
///
/// Every instance reads the whole journal (an ordered consumer) and keeps
/// every record's state in memory: reads are local, and a write costs one
/// JetStream publish per batch instead of one per swap. Every
/// `max(10,000, 4 x records)` entries (see
/// [`snapshot_interval`](Self::snapshot_interval)) the writer replaces the
/// journal with a snapshot of all records (`Nats-Rollup: all`), so the
/// stream holds at most about five times the state and an instance that
/// starts reads no more than that.
///
/// What it costs: memory for every record the service has seen (its key
/// and state in a map, a few hundred bytes, in every instance), and a
/// snapshot must fit in the server's `max_payload` (1 MiB by default:
/// about 20,000 records with 24-character ids, some 55 bytes of JSON each;
/// beyond that the journal is not compacted and a warning is logged). For more records, or
/// bounded memory, use [`KvSequenceStore`](super::KvSequenceStore), which
/// keeps one key per record and costs a publish per swap.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use typebus::nats::{ConnectOptions, NatsTransport};
/// use typebus::ordering::{JournalSequenceStore, SequenceStore};
///
/// let transport = NatsTransport::connect(ConnectOptions::new("nats://127.0.0.1:4222")).await?;
/// let store: Arc<dyn SequenceStore> =
///     Arc::new(JournalSequenceStore::open(transport.jetstream(), "orders-service").await?);
/// # let _ = store; Ok(()) }
/// ```
pub struct JournalSequenceStore {
    shared: Arc<Shared>,
    writer: tokio::task::JoinHandle<()>,
    reader: tokio::task::JoinHandle<()>,
}

/// What a [`JournalSequenceStore`] wrote and read since it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct JournalStats {
    /// Journal messages written: batches and snapshots.
    pub messages_written: u64,
    /// Swaps the batches carried.
    pub swaps_written: u64,
    /// Reads up to the journal's end (a stream-info request each): loads,
    /// and writes after one whose fate is unknown (a timeout, a crash).
    pub syncs: u64,
    /// Swaps that found another revision.
    pub conflicts: u64,
}

/// What the store's handle, its writer and its reader share.
struct Shared {
    context: jetstream::Context,
    stream: String,
    subject: String,
    /// This instance's message id prefix.
    instance: String,
    sent: AtomicU64,
    /// The fewest entries written between two snapshots.
    snapshot_interval: AtomicU64,
    fold: Mutex<Fold>,
    /// The last stream sequence folded, for those waiting to catch up.
    folded: watch::Sender<u64>,
    queue: Mutex<Vec<Request>>,
    /// The most bytes of swaps one message carries: half the server's
    /// `max_payload`.
    batch_bytes: usize,
    hasher: std::hash::RandomState,
    wake: Notify,
    messages_written: AtomicU64,
    swaps_written: AtomicU64,
    syncs: AtomicU64,
    conflicts: AtomicU64,
}

/// The journal folded: every record's entry, as of stream sequence `last`.
#[derive(Default)]
struct Fold {
    entries: HashMap<RecordKey, Entry>,
    last: u64,
    /// Entries folded since the last snapshot.
    since_snapshot: u64,
    /// Why the journal cannot be folded (a message that is not one of ours).
    broken: Option<String>,
}

/// A swap's answer: known at once, or coming from the writer.
enum Queued {
    Now(Result<Swapped, StoreError>),
    Waiting(oneshot::Receiver<Result<Swapped, StoreError>>),
}

impl Queued {
    async fn answer(self) -> Result<Swapped, StoreError> {
        match self {
            Self::Now(answer) => answer,
            Self::Waiting(answer) => answer.await.unwrap_or_else(|_| Err(closed())),
        }
    }
}

/// A swap waiting for the writer.
struct Request {
    key: RecordKey,
    /// The key's hash, marking the records in flight (a collision only
    /// makes a swap conflict, and its caller try again).
    hash: u64,
    expected: Option<u64>,
    state: State,
    reply: oneshot::Sender<Result<Swapped, StoreError>>,
}

impl Request {
    /// About how many bytes the swap takes in a journal message.
    fn size(&self) -> usize {
        let claim = self
            .state
            .claim
            .as_ref()
            .map_or(0, |claim| claim.message.len() + 64);
        self.key.aggregate.len() + self.key.id.len() + claim + 48
    }
}

/// The next message's swaps: those to try again first, then the queue's,
/// at most [`MAX_BATCH`] and `budget` bytes (the first swap always: one
/// too large for any message is refused before it is queued).
fn next_batch(again: &mut Vec<Request>, queue: &mut Vec<Request>, budget: usize) -> Vec<Request> {
    let mut bytes = 0;
    let mut room = |request: &Request| {
        let size = request.size();
        let fits = bytes == 0 || bytes + size <= budget;
        if fits {
            bytes += size;
        }
        fits
    };
    let retried = again.iter().take(MAX_BATCH).take_while(|r| room(r)).count();
    let mut batch: Vec<Request> = again.drain(..retried).collect();
    if again.is_empty() {
        let queued = queue
            .iter()
            .take(MAX_BATCH - batch.len())
            .take_while(|r| room(r))
            .count();
        batch.extend(queue.drain(..queued));
    }
    batch
}

/// One journal message: a batch of records' new states, or (with
/// `snapshot`) every record's state and revision.
#[derive(Serialize, Deserialize)]
struct Message<'a> {
    #[serde(rename = "snapshot", default, skip_serializing_if = "is_false")]
    snapshot: bool,
    #[serde(rename = "e", borrow)]
    entries: Vec<Record<'a>>,
}

/// One record's state in a journal message.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    #[serde(rename = "g", borrow)]
    aggregate: Cow<'a, str>,
    #[serde(rename = "i", borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "s")]
    state: Cow<'a, State>,
    /// The record's revision (snapshots only: in a batch it is the
    /// message's own sequence).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    revision: Option<u64>,
}

impl<'a> Record<'a> {
    /// `key`'s `state`, borrowed for writing.
    fn of(key: &'a RecordKey, state: &'a State, revision: Option<u64>) -> Self {
        Self {
            aggregate: Cow::Borrowed(&key.aggregate),
            id: Cow::Borrowed(&key.id),
            state: Cow::Borrowed(state),
            revision,
        }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl JournalSequenceStore {
    /// Binds the journal `name` (stream `TYPEBUS_SEQ_<name>`, subject
    /// `typebus.sequences.<name>`), creating it (file storage, one replica)
    /// when it does not exist, and reads it to the end. `name` must be a
    /// valid stream name: letters, digits, `-` and `_`.
    pub async fn open(context: &jetstream::Context, name: &str) -> Result<Self, StoreError> {
        Self::open_with(
            context,
            jetstream::stream::Config {
                name: format!("TYPEBUS_SEQ_{name}"),
                subjects: vec![format!("typebus.sequences.{name}")],
                // Message ids chain the messages in flight; none is ever
                // sent twice, so the server need not remember them long.
                duplicate_window: Duration::from_secs(1),
                ..jetstream::stream::Config::default()
            },
        )
        .await
    }

    /// Binds the stream `config` names, creating it with `config` when it
    /// does not exist (e.g. with `num_replicas: 3` in a cluster), and reads
    /// it to the end. The journal is written to the config's first subject;
    /// rollups are allowed and deletes denied whatever `config` says.
    pub async fn open_with(
        context: &jetstream::Context,
        mut config: jetstream::stream::Config,
    ) -> Result<Self, StoreError> {
        let name = config.name.clone();
        let Some(subject) = config.subjects.first().cloned() else {
            return Err(StoreError::new(StoreErrorKind::Rejected)
                .with_detail(format!("journal stream `{name}` has no subject")));
        };
        config.allow_rollup = true;
        config.deny_delete = true;
        let mut stream = context
            .get_or_create_stream(config)
            .await
            .map_err(failed(StoreErrorKind::Rejected, || {
                format!("cannot create journal stream `{name}`")
            }))?;
        let unreadable = || format!("cannot read journal stream `{name}`");
        let state = stream
            .info()
            .await
            .map_err(failed(StoreErrorKind::Unavailable, unreadable))?
            .state
            .clone();
        let end = if state.messages == 0 {
            0
        } else {
            state.last_sequence
        };
        let messages = stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: context.client().new_inbox(),
                description: Some("typebus sequence journal reader".to_owned()),
                filter_subject: subject.clone(),
                replay_policy: jetstream::consumer::ReplayPolicy::Instant,
                ..push::OrderedConfig::default()
            })
            .await
            .map_err(failed(StoreErrorKind::Unavailable, unreadable))?
            .messages()
            .await
            .map_err(failed(StoreErrorKind::Unavailable, unreadable))?;
        // An emptied stream keeps its last sequence: the next message
        // must expect it.
        let start = if state.messages == 0 {
            state.last_sequence
        } else {
            0
        };
        let (folded, _) = watch::channel(start);
        let shared = Arc::new(Shared {
            context: context.clone(),
            stream: name,
            subject,
            instance: nuid::next().to_string(),
            sent: AtomicU64::new(0),
            snapshot_interval: AtomicU64::new(MIN_SNAPSHOT_INTERVAL),
            fold: Mutex::new(Fold {
                last: start,
                ..Fold::default()
            }),
            folded,
            queue: Mutex::new(Vec::new()),
            batch_bytes: context.client().server_info().max_payload / 2,
            hasher: std::hash::RandomState::new(),
            wake: Notify::new(),
            messages_written: AtomicU64::new(0),
            swaps_written: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        });
        let reader = tokio::spawn(read(Arc::clone(&shared), messages));
        let writer = tokio::spawn(write(Arc::clone(&shared)));
        let store = Self {
            shared,
            writer,
            reader,
        };
        store.shared.caught_up(end).await?;
        Ok(store)
    }

    /// Sets the fewest entries written between two snapshots (at least 1;
    /// default 10,000). A snapshot is written once the entries since the
    /// last one reach this and four times the number of records.
    pub fn snapshot_interval(self, entries: u64) -> Self {
        self.shared
            .snapshot_interval
            .store(entries.max(1), Ordering::Relaxed);
        self
    }

    /// The journal's stream.
    pub fn stream_name(&self) -> &str {
        &self.shared.stream
    }

    /// What this instance wrote and read since it opened.
    pub fn stats(&self) -> JournalStats {
        JournalStats {
            messages_written: self.shared.messages_written.load(Ordering::Relaxed),
            swaps_written: self.shared.swaps_written.load(Ordering::Relaxed),
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            conflicts: self.shared.conflicts.load(Ordering::Relaxed),
        }
    }

    /// How many records the journal holds.
    pub fn len(&self) -> usize {
        self.shared.fold().entries.len()
    }

    /// Whether the journal holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for JournalSequenceStore {
    fn drop(&mut self) {
        // Swaps still waiting get "closed" errors: their senders drop.
        self.writer.abort();
        self.reader.abort();
    }
}

impl std::fmt::Debug for JournalSequenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalSequenceStore")
            .field("stream", &self.shared.stream)
            .field("subject", &self.shared.subject)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn fold(&self) -> MutexGuard<'_, Fold> {
        // Every change is applied in full under the lock before anything
        // that can panic: a poisoned lock still holds a whole fold.
        self.fold.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn queue(&self) -> MutexGuard<'_, Vec<Request>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells those waiting to catch up that the fold reached `sequence`
    /// (or stopped there, broken).
    fn advanced_to(&self, sequence: u64) {
        self.folded.send_if_modified(|last| {
            let newer = *last < sequence;
            if newer {
                *last = sequence;
            }
            newer
        });
    }

    /// Waits until the fold reaches stream sequence `sequence`.
    async fn caught_up(&self, sequence: u64) -> Result<(), StoreError> {
        let mut folded = self.folded.subscribe();
        let reached =
            tokio::time::timeout(SYNC_TIMEOUT, folded.wait_for(|&last| last >= sequence)).await;
        self.check()?;
        match reached {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(closed()),
            Err(_) => Err(
                StoreError::new(StoreErrorKind::Unavailable).with_detail(format!(
                    "journal `{}` not read up to sequence {sequence} within {:?}",
                    self.stream, SYNC_TIMEOUT
                )),
            ),
        }
    }

    /// Fails when the journal holds something that is not a journal message.
    fn check(&self) -> Result<(), StoreError> {
        match &self.fold().broken {
            None => Ok(()),
            Some(why) => Err(StoreError::new(StoreErrorKind::Corrupt).with_detail(why.clone())),
        }
    }

    /// Folds the journal message stored at `sequence` (skipped when this
    /// instance folded it already, having written it).
    fn fold_message(&self, sequence: u64, payload: &[u8]) {
        let mut fold = self.fold();
        if sequence <= fold.last || fold.broken.is_some() {
            return;
        }
        let message: Message<'_> = match serde_json::from_slice(payload) {
            Ok(message) => message,
            Err(err) => {
                let why = format!(
                    "journal `{}` sequence {sequence} is not a journal message: {err}",
                    self.stream
                );
                tracing::error!("{why}");
                fold.broken = Some(why);
                drop(fold);
                // Wake those waiting to catch up: they will see the error.
                self.advanced_to(sequence);
                return;
            }
        };
        if message.snapshot {
            fold.entries.clear();
            fold.since_snapshot = 0;
        } else {
            fold.since_snapshot += message.entries.len() as u64;
        }
        for record in message.entries {
            let key = RecordKey::new(record.aggregate.into_owned(), record.id.into_owned());
            let entry = Entry {
                state: record.state.into_owned(),
                revision: record.revision.unwrap_or(sequence),
            };
            fold.entries.insert(key, entry);
        }
        fold.last = sequence;
        drop(fold);
        self.advanced_to(sequence);
    }

    /// Sends the swaps to try again, then the queue's, as messages while
    /// the window has room. With a message in flight it sends only a full
    /// batch (or retries), else waits for that message's ack: fewer, larger
    /// messages.
    async fn fill(&self, window: &mut Window, again: &mut Vec<Request>) {
        while window.has_room() {
            let batch = {
                let mut queue = self.queue();
                if !window.is_empty() && again.is_empty() && queue.len() < FULL_BATCH {
                    break;
                }
                next_batch(again, &mut queue, self.batch_bytes)
            };
            if batch.is_empty() {
                break;
            }
            self.send(batch, window).await;
        }
    }

    /// Sends one batch into `window`: the swaps whose revision still
    /// matches and whose record no message in flight changes, as one
    /// message. It is stored only if the stream's last message is still
    /// the one it follows (the window's newest, or the last one folded).
    /// Swaps not sent (they conflicted, or the send failed) are answered.
    async fn send(&self, batch: Vec<Request>, window: &mut Window) {
        if let Err(err) = self.check() {
            answer_all(batch, &err);
            return;
        }
        let after = window.after();
        let (accepted, expected_last, body) = {
            let fold = self.fold();
            let mut accepted: Vec<Request> = Vec::with_capacity(batch.len());
            for request in batch {
                let current = fold.entries.get(&request.key).map(|entry| entry.revision);
                // A record another message in flight (or another swap in
                // this batch) changes is about to get a new revision.
                if current != request.expected || window.busy.contains(&request.hash) {
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    let _ = request.reply.send(Ok(Swapped::Conflict));
                } else {
                    window.busy.insert(request.hash);
                    accepted.push(request);
                }
            }
            if accepted.is_empty() {
                return;
            }
            let expected_last = match &after {
                After::Folded => fold.last,
                After::InFlight { sequence, .. } => *sequence,
            };
            let body = encode_batch(&accepted);
            (accepted, expected_last, body)
        };
        let id = self.next_id();
        let mut message = jetstream::message::PublishMessage::build()
            .payload(Bytes::from(body))
            .message_id(&id);
        message = match after {
            After::Folded => message.expected_last_sequence(expected_last),
            After::InFlight { id, .. } => message.expected_last_message_id(id),
        };
        match self
            .context
            .send_publish(self.subject.clone(), message)
            .await
        {
            Ok(ack) => window.messages.push_back(InFlight {
                requests: accepted,
                expected_last,
                id,
                ack: ack.into_future(),
            }),
            Err(err) => {
                for request in &accepted {
                    window.busy.remove(&request.hash);
                }
                let err = StoreError::new(StoreErrorKind::Unavailable)
                    .with_detail(format!("writing to journal `{}`: {err}", self.stream));
                answer_all(accepted, &err);
            }
        }
    }

    /// Settles a message taken out of the window once its ack arrived.
    async fn settle(
        &self,
        sent: InFlight,
        ack: Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
    ) -> Settled {
        match acked(ack, &self.stream) {
            Ok(sequence) => {
                let count = sent.requests.len() as u64;
                let mut replies = Vec::with_capacity(sent.requests.len());
                let applied = {
                    let mut fold = self.fold();
                    if fold.last + 1 == sequence {
                        fold.since_snapshot += count;
                        for request in sent.requests {
                            // Moved, not copied: the reply needs only the sequence.
                            match fold.entries.get_mut(&request.key) {
                                Some(entry) => {
                                    entry.state = request.state;
                                    entry.revision = sequence;
                                }
                                None => {
                                    let entry = Entry {
                                        state: request.state,
                                        revision: sequence,
                                    };
                                    fold.entries.insert(request.key, entry);
                                }
                            }
                            replies.push(request.reply);
                        }
                        fold.last = sequence;
                        true
                    } else {
                        replies.extend(sent.requests.into_iter().map(|request| request.reply));
                        // Folded already, or (after an earlier message's
                        // unknown fate) the reader must fold what is before.
                        fold.last >= sequence
                    }
                };
                if applied {
                    self.advanced_to(sequence);
                } else if let Err(err) = self.caught_up(sequence).await {
                    for reply in replies {
                        let _ = reply.send(Err(copy(&err)));
                    }
                    return Settled::Unknown;
                }
                self.messages_written.fetch_add(1, Ordering::Relaxed);
                self.swaps_written.fetch_add(count, Ordering::Relaxed);
                for reply in replies {
                    let _ = reply.send(Ok(Swapped::Done { revision: sequence }));
                }
                Settled::Stored
            }
            Err(Publish::Behind) => Settled::Behind {
                after: sent.expected_last,
                retry: sent.requests,
            },
            Err(Publish::Failed(why)) => {
                // The message may or may not have been stored: the reader
                // folds it if it was, and the callers' retries see it.
                tracing::debug!(journal = %self.stream, id = %sent.id, after = sent.expected_last, "journal write failed: {why}");
                answer_all(
                    sent.requests,
                    &StoreError::new(StoreErrorKind::Unavailable).with_detail(why),
                );
                Settled::Unknown
            }
        }
    }

    /// Checks swaps against what this instance knows (a revision it knows
    /// is gone conflicts at once) and queues the others for the writer,
    /// waking it when it may be idle or a batch filled.
    fn enqueue<'a>(
        &self,
        swaps: impl Iterator<Item = (&'a RecordKey, Option<u64>, &'a State)>,
    ) -> Vec<Queued> {
        let mut requests = Vec::new();
        let queued = {
            let fold = self.fold();
            swaps.map(|(key, expected, state)| {
                if let Some(why) = &fold.broken {
                    return Queued::Now(Err(
                        StoreError::new(StoreErrorKind::Corrupt).with_detail(why.clone())
                    ));
                }
                if fold.entries.get(key).map(|entry| entry.revision) != expected {
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    return Queued::Now(Ok(Swapped::Conflict));
                }
                let (reply, answer) = oneshot::channel();
                let request = Request {
                    hash: self.hasher.hash_one(key),
                    key: key.clone(),
                    expected,
                    state: state.clone(),
                    reply,
                };
                if request.size() > self.batch_bytes {
                    return Queued::Now(Err(StoreError::new(StoreErrorKind::Rejected)
                        .with_detail(format!(
                            "the state of `{key}` takes about {} bytes; journal `{}` messages hold at most {}",
                            request.size(),
                            self.stream,
                            self.batch_bytes
                        ))));
                }
                requests.push(request);
                Queued::Waiting(answer)
            })
            .collect::<Vec<_>>()
        };
        if !requests.is_empty() {
            let (before, after) = {
                let mut queue = self.queue();
                let before = queue.len();
                queue.append(&mut requests);
                (before, queue.len())
            };
            // The writer looks at the queue after every ack: wake it only
            // when it may be idle or a batch is full.
            if before == 0 || (before < FULL_BATCH && after >= FULL_BATCH) {
                self.wake.notify_one();
            }
        }
        queued
    }

    /// Reads the journal up to the stream's current end.
    async fn sync(&self) -> Result<(), StoreError> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let stream = self
            .context
            .get_stream(&self.stream)
            .await
            .map_err(failed(StoreErrorKind::Unavailable, || {
                format!("cannot read journal stream `{}`", self.stream)
            }))?;
        let state = &stream.cached_info().state;
        let end = if state.messages == 0 {
            0
        } else {
            state.last_sequence
        };
        self.caught_up(end).await
    }

    /// Reads the journal as far as `catch_up` says.
    async fn read_to(&self, catch_up: CatchUp) -> Result<(), StoreError> {
        match catch_up {
            CatchUp::Past(sequence) => self.caught_up(sequence + 1).await,
            CatchUp::End => self.sync().await,
        }
    }

    /// Waits until swaps are queued.
    async fn queued(&self) {
        loop {
            let woken = self.wake.notified();
            if !self.queue().is_empty() {
                return;
            }
            woken.await;
        }
    }

    /// A message id unique to this instance's next message.
    fn next_id(&self) -> String {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n}", self.instance)
    }

    /// Replaces the journal with a snapshot of every record once enough
    /// entries were written since the last one. Another instance writing
    /// first is not an error: it will snapshot, or this one later.
    async fn compact(&self) {
        let (body, expected_last, records) = {
            let mut fold = self.fold();
            let records = fold.entries.len() as u64;
            let interval = self.snapshot_interval.load(Ordering::Relaxed);
            let due = interval.max(records.saturating_mul(SNAPSHOT_RATIO));
            if fold.since_snapshot < due || fold.broken.is_some() {
                return;
            }
            let message = Message {
                snapshot: true,
                entries: fold
                    .entries
                    .iter()
                    .map(|(key, entry)| Record::of(key, &entry.state, Some(entry.revision)))
                    .collect(),
            };
            let Ok(body) = serde_json::to_vec(&message) else {
                return;
            };
            let max = self.context.client().server_info().max_payload;
            if body.len() > max {
                tracing::warn!(
                    journal = %self.stream,
                    records,
                    bytes = body.len(),
                    max_payload = max,
                    "journal snapshot larger than the server's max_payload; the journal keeps growing"
                );
                // Try again when as many entries again were written.
                fold.since_snapshot = 0;
                return;
            }
            (body, fold.last, records)
        };
        let message = jetstream::message::PublishMessage::build()
            .payload(Bytes::from(body))
            .message_id(self.next_id())
            .expected_last_sequence(expected_last)
            .header(async_nats::header::NATS_ROLLUP, "all");
        let acked = match self
            .context
            .send_publish(self.subject.clone(), message)
            .await
        {
            Ok(ack) => acked(ack.await, &self.stream),
            Err(err) => Err(Publish::Failed(err.to_string())),
        };
        match acked {
            Ok(sequence) => {
                self.messages_written.fetch_add(1, Ordering::Relaxed);
                let mut fold = self.fold();
                if fold.last + 1 == sequence {
                    fold.last = sequence;
                    fold.since_snapshot = 0;
                    drop(fold);
                    self.advanced_to(sequence);
                }
                tracing::debug!(journal = %self.stream, records, sequence, "journal compacted");
            }
            Err(Publish::Behind) => {}
            Err(Publish::Failed(why)) => {
                tracing::warn!(journal = %self.stream, "journal snapshot not written: {why}");
            }
        }
    }
}

/// What a message to send must follow in the stream.
enum After {
    /// The last message folded: no message of this instance is in flight.
    Folded,
    /// This instance's message in flight before it.
    InFlight {
        /// Its message id.
        id: String,
        /// The sequence it will have if stored.
        sequence: u64,
    },
}

/// A journal message sent and not yet acknowledged.
struct InFlight {
    requests: Vec<Request>,
    /// The sequence of the message it follows (if all goes well).
    expected_last: u64,
    id: String,
    ack: <jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture,
}

/// The writer's messages in flight, oldest first, and the records they
/// change.
#[derive(Default)]
struct Window {
    messages: VecDeque<InFlight>,
    /// The hashes of the records the messages in flight change: each is
    /// about to get a new revision, so a swap of it conflicts.
    busy: HashSet<u64>,
}

impl Window {
    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether another message may go out.
    fn has_room(&self) -> bool {
        self.messages.len() < WINDOW
    }

    /// What the next message must follow.
    fn after(&self) -> After {
        match self.messages.back() {
            None => After::Folded,
            Some(previous) => After::InFlight {
                id: previous.id.clone(),
                sequence: previous.expected_last + 1,
            },
        }
    }

    /// The oldest message, taken out of the window, and its ack once it
    /// arrived; `None` when nothing is in flight. Cancel safe: the message
    /// stays in the window until its ack is there.
    async fn acked(
        &mut self,
    ) -> Option<(
        InFlight,
        Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
    )> {
        let ack = (&mut self.messages.front_mut()?.ack).await;
        let sent = self.messages.pop_front()?;
        for request in &sent.requests {
            self.busy.remove(&request.hash);
        }
        Some((sent, ack))
    }
}

/// What became of a message once its ack arrived.
enum Settled {
    /// Stored, and folded: its swaps were answered.
    Stored,
    /// Not stored: another instance's message was stored after `after`,
    /// where this one was to go. Its swaps are to be tried again once this
    /// instance has read what the other wrote.
    Behind {
        /// The sequence the message was to follow.
        after: u64,
        /// Its swaps, unanswered.
        retry: Vec<Request>,
    },
    /// Its fate is unknown (the write failed or timed out, or it was stored
    /// and could not be folded in time): its swaps were answered with an
    /// error, and this instance must read the journal to its end before it
    /// writes again.
    Unknown,
}

/// How far a resyncing writer reads the journal.
#[derive(Debug, Clone, Copy)]
enum CatchUp {
    /// Up to the message after this sequence: another instance's, stored
    /// where this instance's was to go.
    Past(u64),
    /// To the stream's current end: a write's fate is unknown.
    End,
}

/// The writer task's state. Its messages in flight (a [`Window`]) are
/// its data in every state; the state says what it does with them.
enum Writer {
    /// Nothing in flight, nothing to send: it compacts the journal if a
    /// snapshot is due, then waits for swaps.
    Idle,
    /// Sending: retries, then the queue's swaps, go out as messages while
    /// the window has room; then it waits for the oldest message's ack or,
    /// while there is room, for more swaps.
    Sending {
        /// Swaps to send before the queue's: retries the window had no
        /// room for yet.
        again: Vec<Request>,
    },
    /// A message was not stored where it was to go, or its fate is
    /// unknown: nothing more goes out until the messages in flight are
    /// settled; then the writer reads the journal as far as `catch_up`
    /// says and sends `again`, checked against what it read.
    Resyncing {
        /// How far to read, as the first message that went wrong says.
        catch_up: CatchUp,
        /// The swaps of the messages that were not stored.
        again: Vec<Request>,
    },
}

/// Why a journal message was not stored.
enum Publish {
    /// Another message was stored since the expected last one.
    Behind,
    /// The server could not be reached or refused it.
    Failed(String),
}

/// A publish ack's sequence, or why there is none.
fn acked(
    ack: Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
    stream: &str,
) -> Result<u64, Publish> {
    match ack {
        Ok(ack) => Ok(ack.sequence),
        Err(err)
            if matches!(
                err.kind(),
                PublishErrorKind::WrongLastSequence | PublishErrorKind::WrongLastMessageId
            ) =>
        {
            Err(Publish::Behind)
        }
        Err(err) => Err(Publish::Failed(format!(
            "writing to journal `{stream}`: {err}"
        ))),
    }
}

/// A batch of swaps as a journal message.
fn encode_batch(requests: &[Request]) -> Vec<u8> {
    let message = Message {
        snapshot: false,
        entries: requests
            .iter()
            .map(|request| Record::of(&request.key, &request.state, None))
            .collect(),
    };
    // Strings and integers only: serializing cannot fail.
    serde_json::to_vec(&message).unwrap_or_default()
}

/// Answers every request with (a copy of) `err`.
fn answer_all(requests: Vec<Request>, err: &StoreError) {
    for request in requests {
        let _ = request.reply.send(Err(copy(err)));
    }
}

/// `err`'s kind and detail, for one more caller (errors are not `Clone`:
/// their sources need not be).
fn copy(err: &StoreError) -> StoreError {
    let copy = StoreError::new(err.kind());
    match err.detail() {
        Some(detail) => copy.with_detail(detail),
        None => copy,
    }
}

/// Maps an error from the server to a store error of `kind` that says
/// what failed.
fn failed<E>(kind: StoreErrorKind, what: impl FnOnce() -> String) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |err| StoreError::new(kind).with_detail(what()).with_source(err)
}

/// The error for a store whose tasks ended.
fn closed() -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable).with_detail("journal store closed")
}

/// The writer: sends the swaps queued meanwhile as one message, with up to
/// [`WINDOW`] messages in flight, each stored only right after the one
/// before it. One match arm per transition of its [`Writer`] state.
async fn write(shared: Arc<Shared>) {
    let mut window = Window::default();
    let mut writer = Writer::Sending { again: Vec::new() };
    loop {
        writer = match writer {
            Writer::Idle => {
                shared.compact().await;
                shared.queued().await;
                Writer::Sending { again: Vec::new() }
            }
            Writer::Sending { mut again } => {
                shared.fill(&mut window, &mut again).await;
                let room = window.has_room();
                tokio::select! {
                    biased;
                    acked = window.acked() => match acked {
                        // Nothing in flight after sending: nothing is left.
                        None => Writer::Idle,
                        Some((sent, ack)) => match shared.settle(sent, ack).await {
                            Settled::Stored => Writer::Sending { again },
                            // Read what the other instance wrote before
                            // checking the swaps again.
                            Settled::Behind { after, retry } => {
                                again.extend(retry);
                                Writer::Resyncing {
                                    catch_up: CatchUp::Past(after),
                                    again,
                                }
                            }
                            Settled::Unknown => Writer::Resyncing {
                                catch_up: CatchUp::End,
                                again,
                            },
                        },
                    },
                    () = shared.wake.notified(), if room => Writer::Sending { again },
                }
            }
            Writer::Resyncing {
                catch_up,
                mut again,
            } => match window.acked().await {
                // Settling what is in flight; the first message that went
                // wrong decided how far to read.
                Some((sent, ack)) => match shared.settle(sent, ack).await {
                    Settled::Behind { retry, .. } => {
                        again.extend(retry);
                        Writer::Resyncing { catch_up, again }
                    }
                    Settled::Stored | Settled::Unknown => Writer::Resyncing { catch_up, again },
                },
                // Nothing in flight any more: read, then send again.
                None => match shared.read_to(catch_up).await {
                    Ok(()) => Writer::Sending { again },
                    Err(err) => {
                        answer_all(again, &err);
                        Writer::Sending { again: Vec::new() }
                    }
                },
            },
        };
    }
}

/// The reader: folds every journal message, this instance's and others'
/// (one this instance wrote is usually folded already, on its ack).
async fn read(shared: Arc<Shared>, mut messages: push::Ordered) {
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                // The ordered consumer recreates itself after errors.
                tracing::warn!(journal = %shared.stream, "reading the journal: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let sequence = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(err) => {
                tracing::warn!(journal = %shared.stream, "journal message without metadata: {err}");
                continue;
            }
        };
        shared.fold_message(sequence, &message.payload);
    }
    tracing::warn!(journal = %shared.stream, "journal reader ended");
}

impl SequenceStore for JournalSequenceStore {
    /// The record's entry once this instance has read the journal up to
    /// its current end (one stream-info request).
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            self.shared.sync().await?;
            Ok(self.shared.fold().entries.get(key).cloned())
        })
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        Box::pin(async move {
            match self
                .shared
                .enqueue(std::iter::once((key, expected, state)))
                .pop()
            {
                Some(queued) => queued.answer().await,
                None => Err(closed()),
            }
        })
    }

    /// The swaps queued for the writer together: they share its messages
    /// (as many as their size needs) and one wake-up.
    fn swap_all<'a>(
        &'a self,
        swaps: &'a [Swap],
    ) -> BoxFuture<'a, Vec<Result<Swapped, StoreError>>> {
        Box::pin(async move {
            let queued = self.shared.enqueue(
                swaps
                    .iter()
                    .map(|swap| (&swap.key, swap.expected, &swap.state)),
            );
            let mut answers = Vec::with_capacity(queued.len());
            for queued in queued {
                answers.push(queued.answer().await);
            }
            answers
        })
    }

    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        self.shared.fold().entries.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> Request {
        let (reply, _) = oneshot::channel();
        Request {
            key: RecordKey::new("ticket", id),
            hash: 0,
            expected: None,
            state: State::default(),
            reply,
        }
    }

    fn ids(batch: &[Request]) -> Vec<&str> {
        batch
            .iter()
            .map(|request| request.key.id.as_str())
            .collect()
    }

    #[test]
    fn batches_take_retries_first_and_stay_within_their_bytes() {
        let size = request("a").size();
        let mut again = vec![request("a"), request("b")];
        let mut queue = vec![request("c"), request("d"), request("e")];
        // Room for three swaps.
        let batch = next_batch(&mut again, &mut queue, 3 * size);
        assert_eq!(ids(&batch), ["a", "b", "c"]);
        assert!(again.is_empty());
        assert_eq!(ids(&queue), ["d", "e"]);
        // Retries left over keep the queue waiting.
        let mut again = vec![request("a"), request("b")];
        let mut queue = vec![request("c")];
        let batch = next_batch(&mut again, &mut queue, size);
        assert_eq!(ids(&batch), ["a"]);
        assert_eq!(ids(&again), ["b"]);
        assert_eq!(ids(&queue), ["c"]);
        // The first swap goes even when it alone is over the budget.
        let mut again = Vec::new();
        let mut queue = vec![request("a"), request("b")];
        let batch = next_batch(&mut again, &mut queue, 1);
        assert_eq!(ids(&batch), ["a"]);
    }

    #[test]
    fn batches_hold_at_most_max_batch_swaps() {
        let mut again = Vec::new();
        let mut queue: Vec<Request> = (0..MAX_BATCH + 5)
            .map(|i| request(&i.to_string()))
            .collect();
        let batch = next_batch(&mut again, &mut queue, usize::MAX);
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(queue.len(), 5);
    }

    #[test]
    fn a_claim_counts_toward_a_swaps_size() {
        let mut claimed = request("a");
        let bare = claimed.size();
        claimed.state.claim = Some(super::super::store::Claim {
            sequence: 1,
            message: "EVENTS/12345".into(),
            delivered: 1,
            expires_ms: 0,
        });
        assert!(claimed.size() > bare + "EVENTS/12345".len());
    }
}
