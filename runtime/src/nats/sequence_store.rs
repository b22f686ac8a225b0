//! [`KvSequenceStore`]: the sequences in a JetStream key-value bucket,
//! shared by every instance of a service.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_nats::jetstream::{self, kv};
use bytes::Bytes;

use crate::bus::transport::BoxFuture;
use crate::ordering::{
    Entry, RecordKey, SequenceStore, State, StoreError, StoreErrorKind, Swapped,
};

/// How many entries the local cache keeps before it starts over.
const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// A [`SequenceStore`] in a JetStream key-value bucket: one key per record,
/// changed by compare-and-set on the entry's revision (`create` for a new
/// record, `update(key, value, revision)` after), so two instances can
/// never both claim or record the same step.
///
/// Keys are `<aggregate>.<id>`, each part encoded into the characters KV
/// keys allow: ASCII letters, digits, `-` and `_` stay, every other byte of
/// the UTF-8 text becomes `=XX` (upper-case hex), and an empty part is `=`.
/// Values are a small JSON object (the [`State`]).
///
/// The store remembers the entries it read or wrote last (see
/// [`SequenceStore::cached`]), so an instance that applies a record's
/// events in a row writes without reading first.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use typebus::nats::{ConnectOptions, NatsTransport};
/// use typebus::nats::KvSequenceStore;
///
/// let transport = NatsTransport::connect(ConnectOptions::new("nats://127.0.0.1:4222")).await?;
/// let store = KvSequenceStore::open(transport.jetstream(), "orders-service-sequences").await?;
/// let bus = typebus::Bus::new(transport);
/// # let _ = (store, bus); Ok(()) }
/// ```
pub struct KvSequenceStore {
    kv: kv::Store,
    cache: Mutex<HashMap<RecordKey, Entry>>,
    cache_capacity: usize,
}

impl KvSequenceStore {
    /// Binds the bucket `bucket`, creating it (file storage, one replica,
    /// history 1) when it does not exist.
    pub async fn open(context: &jetstream::Context, bucket: &str) -> Result<Self, StoreError> {
        Self::open_with(
            context,
            kv::Config {
                bucket: bucket.to_owned(),
                history: 1,
                ..kv::Config::default()
            },
        )
        .await
    }

    /// Binds the bucket `config` names, creating it with `config` when it
    /// does not exist (e.g. with `num_replicas: 3` in a cluster).
    pub async fn open_with(
        context: &jetstream::Context,
        config: kv::Config,
    ) -> Result<Self, StoreError> {
        let bucket = config.bucket.clone();
        if let Ok(kv) = context.get_key_value(&bucket).await {
            return Ok(Self::from_store(kv));
        }
        // `create_key_value` first asks for the account info, which
        // async-nats 0.51 cannot parse from NATS 2.9: make the bucket's
        // stream as it would, then bind it.
        let stream = kv_stream_config(config);
        if let Err(err) = context.get_or_create_stream(stream).await {
            return Err(StoreError::new(StoreErrorKind::Rejected)
                .with_detail(format!("cannot create key-value bucket `{bucket}`"))
                .with_source(err));
        }
        let kv = context.get_key_value(&bucket).await.map_err(|err| {
            StoreError::new(StoreErrorKind::Unavailable)
                .with_detail(format!("cannot bind key-value bucket `{bucket}`"))
                .with_source(err)
        })?;
        Ok(Self::from_store(kv))
    }

    /// A store over a bucket bound elsewhere.
    pub fn from_store(kv: kv::Store) -> Self {
        Self {
            kv,
            cache: Mutex::new(HashMap::new()),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// Sets how many entries the local cache keeps (0 turns it off).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &kv::Store {
        &self.kv
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<RecordKey, Entry>> {
        // Single inserts and removals: a panic cannot leave it half-changed.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Caches `state` at `revision`, in place when the record is cached
    /// (no key clone, and the claim's string buffer is reused).
    fn remember_state(&self, key: &RecordKey, state: &State, revision: u64) {
        if self.cache_capacity == 0 {
            return;
        }
        let mut cache = self.cache();
        if let Some(cached) = cache.get_mut(key) {
            cached.state.clone_from(state);
            cached.revision = revision;
            return;
        }
        if cache.len() >= self.cache_capacity {
            cache.clear();
        }
        cache.insert(
            key.clone(),
            Entry {
                state: state.clone(),
                revision,
            },
        );
    }

    fn forget(&self, key: &RecordKey) {
        if self.cache_capacity != 0 {
            self.cache().remove(key);
        }
    }
}

impl std::fmt::Debug for KvSequenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvSequenceStore")
            .field("bucket", &self.kv.name)
            .field("cache_capacity", &self.cache_capacity)
            .finish_non_exhaustive()
    }
}

impl SequenceStore for KvSequenceStore {
    fn load<'a>(&'a self, key: &'a RecordKey) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            let name = kv_key(key);
            let found = self.kv.entry(name.as_str()).await.map_err(|err| {
                let kind = match err.kind() {
                    kv::EntryErrorKind::InvalidKey => StoreErrorKind::Rejected,
                    _ => StoreErrorKind::Unavailable,
                };
                StoreError::new(kind)
                    .with_detail(format!("reading `{name}`"))
                    .with_source(err)
            })?;
            let entry = match found {
                Some(found) if found.operation == kv::Operation::Put => {
                    let state: State = serde_json::from_slice(&found.value).map_err(|err| {
                        StoreError::new(StoreErrorKind::Corrupt)
                            .with_detail(format!("`{name}` revision {}", found.revision))
                            .with_source(err)
                    })?;
                    Some(Entry {
                        state,
                        revision: found.revision,
                    })
                }
                // Deleted or purged: the record starts over (`create` handles the marker).
                _ => None,
            };
            match &entry {
                Some(entry) => self.remember_state(key, &entry.state, entry.revision),
                None => self.forget(key),
            }
            Ok(entry)
        })
    }

    fn swap<'a>(
        &'a self,
        key: &'a RecordKey,
        expected: Option<u64>,
        state: &'a State,
    ) -> BoxFuture<'a, Result<Swapped, StoreError>> {
        Box::pin(async move {
            let name = kv_key(key);
            let value = match serde_json::to_vec(state) {
                Ok(value) => Bytes::from(value),
                Err(err) => {
                    return Err(StoreError::new(StoreErrorKind::Corrupt)
                        .with_detail(format!("encoding the state of `{name}`"))
                        .with_source(err));
                }
            };
            let written = match expected {
                None => {
                    self.kv
                        .create(name.as_str(), value)
                        .await
                        .map_err(|err| match err.kind() {
                            kv::CreateErrorKind::AlreadyExists => None,
                            kv::CreateErrorKind::InvalidKey => Some(
                                StoreError::new(StoreErrorKind::Rejected)
                                    .with_detail(format!("creating `{name}`"))
                                    .with_source(err),
                            ),
                            _ => Some(
                                StoreError::new(StoreErrorKind::Unavailable)
                                    .with_detail(format!("creating `{name}`"))
                                    .with_source(err),
                            ),
                        })
                }
                Some(revision) => self
                    .kv
                    .update(name.as_str(), value, revision)
                    .await
                    .map_err(|err| match err.kind() {
                        kv::UpdateErrorKind::WrongLastRevision => None,
                        kv::UpdateErrorKind::InvalidKey => Some(
                            StoreError::new(StoreErrorKind::Rejected)
                                .with_detail(format!("updating `{name}`"))
                                .with_source(err),
                        ),
                        _ => Some(
                            StoreError::new(StoreErrorKind::Unavailable)
                                .with_detail(format!("updating `{name}`"))
                                .with_source(err),
                        ),
                    }),
            };
            match written {
                Ok(revision) => {
                    self.remember_state(key, state, revision);
                    Ok(Swapped::Done { revision })
                }
                Err(None) => {
                    self.forget(key);
                    Ok(Swapped::Conflict)
                }
                Err(Some(err)) => {
                    // The write may or may not have happened: forget what we knew.
                    self.forget(key);
                    Err(err)
                }
            }
        })
    }

    fn cached(&self, key: &RecordKey) -> Option<Entry> {
        self.cache().get(key).cloned()
    }
}

/// The stream behind a key-value bucket, as `create_key_value` makes it.
fn kv_stream_config(config: kv::Config) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: format!("KV_{}", config.bucket),
        description: Some(config.description),
        subjects: vec![format!("$KV.{}.>", config.bucket)],
        max_messages_per_subject: config.history.max(1),
        max_bytes: config.max_bytes,
        max_age: config.max_age,
        max_message_size: config.max_value_size,
        storage: config.storage,
        num_replicas: config.num_replicas.max(1),
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        ..jetstream::stream::Config::default()
    }
}

/// The KV key of a record: `<aggregate>.<id>`, both parts encoded (see
/// [`KvSequenceStore`]).
pub fn kv_key(key: &RecordKey) -> String {
    let mut out = String::with_capacity(key.aggregate.len() + key.id.len() + 1);
    encode_part(&key.aggregate, &mut out);
    out.push('.');
    encode_part(&key.id, &mut out);
    out
}

fn encode_part(part: &str, out: &mut String) {
    if part.is_empty() {
        out.push('=');
        return;
    }
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "={byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(key: &str) -> bool {
        !key.is_empty()
            && !key.starts_with('.')
            && !key.ends_with('.')
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
    }

    #[test]
    fn keys_are_valid_and_distinct() {
        let cases = [
            ("ticket", "5f1a0c9e2b7d4a0012345678"),
            ("ticket", ""),
            ("", "x"),
            ("order line", "a.b"),
            ("order", "line.a_b"),
            ("order.line", "a_b"),
            ("t", "=3D"),
            ("t", "="),
            ("t", "é/*>"),
            ("t", ".."),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (aggregate, id) in cases {
            let key = kv_key(&RecordKey::new(aggregate, id));
            assert!(valid(&key), "{aggregate:?} {id:?} -> {key}");
            assert!(seen.insert(key.clone()), "{key} twice");
        }
        assert_eq!(kv_key(&RecordKey::new("ticket", "5f1a")), "ticket.5f1a");
        assert_eq!(
            kv_key(&RecordKey::new("order line", "a.b")),
            "order=20line.a=2Eb"
        );
        assert_eq!(kv_key(&RecordKey::new("t", "")), "t.=");
    }
}
