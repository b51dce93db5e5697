//! The embedded store: sharded, expiring, optionally bounded.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use crate::id::SessionId;
use crate::record::Record;
use crate::time::{Clock, Timestamp, duration_millis};

/// The in-process store, and the layer's default.
///
/// Unlike express's MemoryStore it is fit for one-process production use:
///
/// - **Sharded**: ids are spread over independent locks, each held only for a map operation (never across an
///   `.await`), so the store never blocks the async runtime and two cores do not contend.
/// - **Expiring**: a record expires at its `cookie.expires`; a browser-session record (no expiry) after
///   [`default_ttl`](MemoryStoreBuilder::default_ttl) (one day, connect-redis's default). Expired records are
///   never returned, and each shard sweeps them out as it is written to (amortised, no timer task), so the
///   store does not grow without bound as express's does.
/// - **Bounded** (optional): with [`capacity`](MemoryStoreBuilder::capacity), a full shard first sweeps, then
///   evicts the record that expires soonest.
///
/// Records are kept as their JSON text (express's MemoryStore does the same), which is also the smallest form.
///
/// ```
/// use express_session::MemoryStore;
/// use std::time::Duration;
///
/// let store = MemoryStore::builder()
///     .default_ttl(Some(Duration::from_secs(3600)))
///     .capacity(100_000)
///     .build();
/// # let _ = store;
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    versions: AtomicU64,
    clock: Clock,
    default_ttl: Option<i64>,
    shard_capacity: Option<usize>,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Arc<str>, Entry>,
    writes_since_sweep: usize,
    /// Writes allowed before the next sweep: the size after the last sweep (at least 64), so that sweeping
    /// costs O(1) per write and expired records never make up more than about half of a shard.
    sweep_after: usize,
}

#[derive(Debug)]
struct Entry {
    json: Arc<str>,
    /// Milliseconds since the epoch; `i64::MAX` for a record that never expires.
    expires_at: i64,
    /// The record's `cookie.originalMaxAge`, so that a refresh of a browser-session record needs no parsing.
    original_max_age: Option<i64>,
    version: u64,
}

impl Entry {
    fn is_live(&self, now: i64) -> bool {
        self.expires_at > now
    }
}

/// Builds a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    clock: Clock,
    default_ttl: Option<Duration>,
    capacity: Option<usize>,
    shards: usize,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self { clock: Clock::system(), default_ttl: Some(Duration::from_secs(86_400)), capacity: None, shards: 32 }
    }
}

impl MemoryStoreBuilder {
    /// The clock expiry is checked against (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a record without `cookie.expires` lives after its last write or touch (default one day);
    /// `None` keeps such records until they are destroyed, as express's MemoryStore does.
    pub fn default_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The most records the store holds (spread evenly over the shards). Unbounded by default.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// How many independently locked shards to use (default 32, at least 1).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        let shards = match self.capacity {
            Some(cap) => self.shards.min(cap),
            None => self.shards,
        };
        MemoryStore {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|_| Mutex::default()).collect(),
                hasher: RandomState::new(),
                versions: AtomicU64::new(1),
                clock: self.clock,
                default_ttl: self.default_ttl.map(duration_millis),
                shard_capacity: self.capacity.map(|c| c.div_ceil(shards)),
            }),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the defaults: system clock, one-day lifetime for browser-session records, unbounded.
    pub fn new() -> Self {
        MemoryStoreBuilder::default().build()
    }

    /// A builder for the other settings.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder::default()
    }

    fn shard(&self, id: &SessionId) -> MutexGuard<'_, Shard> {
        let index = self.inner.hasher.hash_one(id.as_str()) as usize % self.inner.shards.len();
        // A panic while a shard is locked can only come from an allocation failure; the map stays consistent,
        // so a poisoned lock is safe to keep using.
        self.inner.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_version(&self) -> u64 {
        self.inner.versions.fetch_add(1, Ordering::Relaxed)
    }

    fn expires_at(&self, record: &Record, now: i64) -> i64 {
        match record.expires() {
            Some(t) => t.as_millis(),
            None => self.inner.default_ttl.map_or(i64::MAX, |ttl| now.saturating_add(ttl)),
        }
    }

    fn entry(&self, record: &Record, now: i64) -> Entry {
        Entry {
            json: record.to_json().into(),
            expires_at: self.expires_at(record, now),
            original_max_age: record.cookie().original_max_age(),
            version: self.next_version(),
        }
    }

    /// Makes room for one more record in `shard`: sweeps when writes have accumulated or the shard is full, and
    /// evicts the soonest-expiring record when it is still full.
    fn before_insert(&self, shard: &mut Shard, now: i64) {
        shard.writes_since_sweep += 1;
        let full = self.inner.shard_capacity.is_some_and(|cap| shard.map.len() >= cap);
        if full || shard.writes_since_sweep >= shard.sweep_after.max(64) {
            shard.map.retain(|_, e| e.is_live(now));
            shard.writes_since_sweep = 0;
            shard.sweep_after = shard.map.len();
        }
        if let Some(cap) = self.inner.shard_capacity {
            while shard.map.len() >= cap {
                let Some(victim) = shard.map.iter().min_by_key(|(_, e)| e.expires_at).map(|(k, _)| k.clone()) else {
                    break;
                };
                shard.map.remove(&victim);
            }
        }
    }

    fn parse(id: &SessionId, json: &str) -> Option<Record> {
        match Record::from_json(json) {
            Ok(record) => Some(record),
            Err(error) => {
                tracing::warn!(session = %id.log_hash(), %error, "stored session does not parse; treated as absent");
                None
            }
        }
    }
}

impl Store for MemoryStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        let now = self.now().as_millis();
        let found = {
            let mut shard = self.shard(id);
            match shard.map.get(id.as_str()) {
                Some(e) if e.is_live(now) => Some((e.json.clone(), e.version)),
                Some(_) => {
                    shard.map.remove(id.as_str());
                    None
                }
                None => None,
            }
        };
        Ok(found.and_then(|(json, version)| {
            Self::parse(id, &json).map(|record| Versioned { record, version: Version::from_u64(version) })
        }))
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let now = self.now().as_millis();
        let entry = self.entry(record, now);
        let version = entry.version;
        let mut shard = self.shard(id);
        if shard.map.get(id.as_str()).is_some_and(|e| e.is_live(now)) {
            return Ok(CreateOutcome::Exists);
        }
        self.before_insert(&mut shard, now);
        shard.map.insert(id.as_str().into(), entry);
        Ok(CreateOutcome::Created(Version::from_u64(version)))
    }

    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let now = self.now().as_millis();
        let entry = self.entry(record, now);
        let mut shard = self.shard(id);
        if !shard.map.contains_key(id.as_str()) {
            self.before_insert(&mut shard, now);
        }
        shard.map.insert(id.as_str().into(), entry);
        Ok(())
    }

    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        let now = self.now().as_millis();
        let new = self.entry(record, now);
        let mut shard = self.shard(id);
        let Some(current) = shard.map.get_mut(id.as_str()).filter(|e| e.is_live(now)) else {
            return Ok(SaveOutcome::Gone);
        };
        if Some(current.version) != expected.as_u64() {
            return Ok(SaveOutcome::Conflict);
        }
        let version = new.version;
        *current = new;
        Ok(SaveOutcome::Saved(Version::from_u64(version)))
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        let now = self.now().as_millis();
        let json = {
            let shard = self.shard(id);
            match shard.map.get(id.as_str()) {
                Some(e) if e.is_live(now) => e.json.clone(),
                _ => return Ok(TouchOutcome::Gone),
            }
        };
        // As express's MemoryStore: keep the stored data, take the new cookie.
        let Some(mut stored) = Self::parse(id, &json) else { return Ok(TouchOutcome::Gone) };
        *stored.cookie_mut() = record.cookie().clone();
        let new_json: Arc<str> = stored.to_json().into();
        let expires_at = self.expires_at(&stored, now);
        let mut shard = self.shard(id);
        match shard.map.get_mut(id.as_str()) {
            // Only if nobody wrote in between; a concurrent write carries its own fresh expiry.
            Some(e) if Arc::ptr_eq(&e.json, &json) => {
                e.json = new_json;
                e.expires_at = expires_at;
                e.original_max_age = stored.cookie().original_max_age();
                Ok(TouchOutcome::Touched)
            }
            Some(e) if e.is_live(now) => Ok(TouchOutcome::Touched),
            _ => Ok(TouchOutcome::Gone),
        }
    }

    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        let now = self.now();
        let json = {
            let mut shard = self.shard(id);
            match shard.map.get_mut(id.as_str()) {
                Some(e) if e.is_live(now.as_millis()) => {
                    if e.original_max_age.is_none() {
                        // A browser-session record: touching rewrites nothing, only its lifetime moves.
                        e.expires_at =
                            self.inner.default_ttl.map_or(i64::MAX, |ttl| now.as_millis().saturating_add(ttl));
                        return Ok(TouchOutcome::Touched);
                    }
                    e.json.clone()
                }
                _ => return Ok(TouchOutcome::Gone),
            }
        };
        let Some(mut record) = Self::parse(id, &json) else { return Ok(TouchOutcome::Gone) };
        record.cookie_mut().touch(now);
        self.touch(id, &record).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.shard(id).map.remove(id.as_str());
        Ok(())
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    async fn all(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        let now = self.now().as_millis();
        let mut out = Vec::new();
        for shard in self.inner.shards.iter() {
            let live: Vec<(Arc<str>, Arc<str>)> = {
                let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
                shard.map.retain(|_, e| e.is_live(now));
                shard.map.iter().map(|(k, e)| (k.clone(), e.json.clone())).collect()
            };
            for (key, json) in live {
                if let Some(id) = SessionId::new(key.to_string())
                    && let Some(record) = Self::parse(&id, &json)
                {
                    out.push((id, record));
                }
            }
        }
        Ok(out)
    }

    async fn len(&self) -> Result<usize, StoreError> {
        let now = self.now().as_millis();
        Ok(self
            .inner
            .shards
            .iter()
            .map(|shard| {
                let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
                shard.map.retain(|_, e| e.is_live(now));
                shard.map.len()
            })
            .sum())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        for shard in self.inner.shards.iter() {
            shard.lock().unwrap_or_else(|e| e.into_inner()).map.clear();
        }
        Ok(())
    }
}

impl MemoryStore {
    /// How many records are held, expired ones not yet swept included (for tests and metrics).
    pub fn raw_len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len()).sum()
    }

    /// The stored JSON text of a record, expired or not (for interop tests and debugging).
    pub fn raw_json(&self, id: &SessionId) -> Option<String> {
        self.shard(id).map.get(id.as_str()).map(|e| e.json.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SessionCookie;

    fn record_expiring(at: Option<i64>, now: Timestamp) -> Record {
        let mut cookie = SessionCookie::default();
        cookie.set_expires(at.map(Timestamp::from_millis), now);
        Record::new(cookie)
    }

    #[tokio::test]
    async fn sweeps_expired_records_as_it_is_written() {
        let clock = Clock::manual(Timestamp::from_millis(1_000_000));
        let store = MemoryStore::builder().clock(clock.clone()).shards(1).build();
        for i in 0..100 {
            let id = SessionId::new(format!("old-{i}")).unwrap();
            store.create(&id, &record_expiring(Some(1_000_500), clock.now())).await.unwrap();
        }
        clock.advance(Duration::from_secs(1));
        for i in 0..200 {
            let id = SessionId::new(format!("new-{i}")).unwrap();
            store.create(&id, &record_expiring(Some(10_000_000), clock.now())).await.unwrap();
        }
        assert!(store.raw_len() < 300, "expired records were never swept: {}", store.raw_len());
        assert_eq!(store.len().await.unwrap(), 200);
    }

    #[tokio::test]
    async fn browser_session_records_get_the_default_ttl() {
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).default_ttl(Some(Duration::from_secs(10))).build();
        let id = SessionId::generate();
        store.create(&id, &record_expiring(None, clock.now())).await.unwrap();
        clock.advance(Duration::from_secs(9));
        assert!(store.get(&id).await.unwrap().is_some());
        clock.advance(Duration::from_secs(2));
        assert!(store.get(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn capacity_evicts_the_soonest_expiring() {
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).capacity(2).shards(1).build();
        let ids: Vec<_> = (0..3).map(|i| SessionId::new(format!("id-{i}")).unwrap()).collect();
        store.create(&ids[0], &record_expiring(Some(5_000), clock.now())).await.unwrap();
        store.create(&ids[1], &record_expiring(Some(1_000), clock.now())).await.unwrap();
        store.create(&ids[2], &record_expiring(Some(9_000), clock.now())).await.unwrap();
        assert_eq!(store.len().await.unwrap(), 2);
        assert!(store.get(&ids[1]).await.unwrap().is_none());
        assert!(store.get(&ids[0]).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn stores_express_json_text() {
        let store = MemoryStore::new();
        let id = SessionId::generate();
        let mut record = Record::new(SessionCookie::default());
        record.data_mut().insert("views".into(), 2.into());
        store.create(&id, &record).await.unwrap();
        assert_eq!(
            store.raw_json(&id).unwrap(),
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"views":2}"#
        );
    }
}
