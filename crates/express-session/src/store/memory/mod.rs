//! The embedded store: sharded, expiring, optionally bounded.

mod owners;
mod shard;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::owners::{OwnedSession, OwnerPage, SessionHandle, owner_of};
use super::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use crate::id::SessionId;
use crate::record::Record;
use crate::time::{Clock, Timestamp, duration_millis};
use owners::{Index, Owners};
use shard::{Entry, IdHasher, Key, Lifetime, MAX_SHARDS, MIN_SHARE, Shard, Slot, Spot, Stamp, holds_data};

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
/// - **Bounded** (optional): with [`capacity`](MemoryStoreBuilder::capacity), a full store evicts in constant
///   amortised time per insert, empty sessions first, so that a flood of new clients cannot push out the
///   sessions that hold data (the order is on [`capacity`](MemoryStoreBuilder::capacity)).
///
/// Records are kept small: the user data as its JSON text (as express's MemoryStore keeps whole records), the
/// cookie as one copy shared by all records whose cookies differ only in their expiry, and the id in 24 bytes.
/// A view counter's session takes about 150 bytes, less than twice its JSON record; a bounded store adds 8 to
/// 16 bytes for the eviction order.
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
    hasher: IdHasher,
    versions: AtomicU64,
    clock: Clock,
    default_ttl: Option<i64>,
    owners: Option<Owners>,
}

/// Builds a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    clock: Clock,
    default_ttl: Option<Duration>,
    capacity: Option<usize>,
    shards: usize,
    owner_key: Option<String>,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        Self {
            clock: Clock::system(),
            default_ttl: Some(Duration::from_secs(86_400)),
            capacity: None,
            shards: 32,
            owner_key: None,
        }
    }
}

impl MemoryStoreBuilder {
    /// The clock expiry is checked against (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a record without `cookie.expires` lives after its last write or touch (default one day);
    /// `None` keeps such records until they are destroyed, as express's MemoryStore does.
    #[must_use]
    pub fn default_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The most records the store holds, at least 1. Unbounded by default.
    ///
    /// The capacity is split over the shards (their shares add up to it exactly, so the store never holds more),
    /// and a shard that is full evicts one record for each new id written to it, in constant amortised time
    /// whatever the capacity. Which record goes:
    ///
    /// 1. Records that have **expired**: a full shard sweeps them out as soon as one may have expired, before
    ///    any live record is evicted. Sweeping is paid for by writes (a shard looks at no more than 16 records
    ///    per new id in sweeps), so only when records of a full shard expire more often than once per
    ///    sixteenth of its size in new ids can a live record go while an expired one waits for the next sweep.
    /// 2. **Empty** sessions, oldest write first: records whose data has no key at all besides the
    ///    absolute-timeout stamp `__sessionCreatedAt` (the cookie is not data). These are the sessions a client
    ///    gets by merely arriving (`save_uninitialized(true)`) and never wrote to, or whose data was emptied.
    /// 3. Only when no empty session is left, sessions **holding data**, least recently used first (read,
    ///    touched or written; approximately, by a clock: one used since its turn last came is passed over once).
    ///
    /// So a session with data outlives any number of empty ones: a flood of new clients can fill the store but
    /// only pushes out other empty sessions. A session whose data is written counts as written then (its turn
    /// moves to the back); empty sessions that are read again are also passed over once.
    ///
    /// The order is kept per shard (each shard holds at least 256 records; a capacity below 512 means one
    /// shard): a shard whose share is all sessions with data evicts one of them even while another shard holds
    /// empty ones, which happens only when sessions with data nearly fill the store.
    ///
    /// ```
    /// use express_session::MemoryStore;
    ///
    /// // At most 100,000 sessions; a flood of cookie-less requests evicts other empty sessions first.
    /// let store = MemoryStore::builder().capacity(100_000).build();
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// How many independently locked shards to use (default 32, at least 1 and at most 4096, far more than
    /// cores; a bounded store uses fewer when its capacity is below 256 per shard).
    #[must_use]
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.clamp(1, MAX_SHARDS);
        self
    }

    /// Keeps an index of every session's owner: the value its record holds under the data key `key` (see
    /// [`owners`](crate::store::owners)), so that [`Session::owner_sessions`](crate::Session::owner_sessions) and
    /// the other owner calls work. Off by default; a store without it answers those calls
    /// [`StoreError::Unsupported`]. The session layer refuses a key that [`check_owner_key`](crate::store::check_owner_key)
    /// refuses.
    ///
    /// The index costs nothing for records that name no owner; an owned record's write adds one entry, and stale
    /// entries are swept as the index grows (O(1) amortised per write).
    ///
    /// ```
    /// use express_session::{MemoryStore, Store};
    ///
    /// let store = MemoryStore::builder().owner_key("userId").build();
    /// assert_eq!(store.owner_key(), Some("userId"));
    /// ```
    #[must_use]
    pub fn owner_key(mut self, key: impl Into<String>) -> Self {
        self.owner_key = Some(key.into());
        self
    }

    /// The store.
    pub fn build(self) -> MemoryStore {
        // A bounded shard holds at least MIN_SHARE records (unless the whole capacity is smaller), so that the
        // eviction order, kept per shard, is close to the store's.
        let shards = match self.capacity {
            Some(cap) => self.shards.min(cap / MIN_SHARE).max(1),
            None => self.shards,
        };
        // The first `cap % shards` shards take one more, so the shares add up to the capacity exactly.
        let share = |i: usize| self.capacity.map(|cap| cap / shards + usize::from(i < cap % shards));
        MemoryStore {
            inner: Arc::new(Inner {
                shards: (0..shards).map(|i| Mutex::new(Shard::new(share(i)))).collect(),
                hasher: IdHasher::default(),
                versions: AtomicU64::new(1),
                clock: self.clock,
                default_ttl: self.default_ttl.map(duration_millis),
                owners: self
                    .owner_key
                    .map(|key| Owners { key: key.into_boxed_str(), index: Mutex::new(Index::default()) }),
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

    /// The key's shard (locked) and its place there.
    fn shard(&self, key: &Key) -> (MutexGuard<'_, Shard>, Spot) {
        let hash = self.inner.hasher.hash_one(key);
        // The high half of the hash picks the shard; the table uses the low half, so they stay independent.
        let spot = Spot { shard: (hash >> 32) as usize % self.inner.shards.len(), hash: hash as u32 };
        // A panic while a shard is locked can only come from an allocation failure; the map stays consistent,
        // so a poisoned lock is safe to keep using.
        (self.inner.shards[spot.shard].lock().unwrap_or_else(|e| e.into_inner()), spot)
    }

    fn next_version(&self) -> u64 {
        self.inner.versions.fetch_add(1, Ordering::Relaxed)
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime { now: self.now().as_millis(), default_ttl: self.inner.default_ttl }
    }

    /// A new entry for `record` (its data serialized outside the shard's lock; the cookie interned inside).
    fn entry(&self, shard: &mut Shard, record: &Record, data: Box<str>, lifetime: Lifetime) -> Entry {
        let cookie = record.cookie();
        Entry {
            data,
            cookie: shard.intern(cookie),
            expires_at: lifetime.expires_at(cookie.expires),
            stamp: Stamp::new(self.next_version(), cookie.expires.is_some(), holds_data(record)),
        }
    }

    /// Indexes a record just written under `key`, if it names an owner (after the shard's lock is released).
    fn index(&self, key: Key, record: &Record) {
        let Some(owners) = &self.inner.owners else { return };
        let Some(owner) = owner_of(record, &owners.key) else { return };
        let mut index = owners.index.lock().unwrap_or_else(|e| e.into_inner());
        if index.add(&owner, key) {
            self.sweep_index(&mut index, &owners.key);
        }
    }

    /// The live record under `key` if it still names `owner`, with its id.
    fn owned(&self, key: &Key, owner_key: &str, owner: &str, now: i64) -> Option<(SessionId, Record)> {
        let (shard, spot) = self.shard(key);
        let entry = shard.find(key, spot).filter(|e| e.is_live(now))?;
        let id = key.id()?;
        let record = entry.record(&id)?;
        (owner_of(&record, owner_key).as_deref() == Some(owner)).then_some((id, record))
    }

    /// Drops every entry whose record is gone or names another owner.
    fn sweep_index(&self, index: &mut Index, owner_key: &str) {
        let now = self.now().as_millis();
        let stale: Vec<(Box<str>, Vec<Key>)> = index
            .by_owner
            .iter()
            .map(|(owner, keys)| {
                let stale = keys.iter().filter(|k| self.owned(k, owner_key, owner, now).is_none()).cloned().collect();
                (owner.clone(), stale)
            })
            .collect();
        for (owner, keys) in stale {
            index.remove(&owner, &keys);
        }
        index.adds_since_sweep = 0;
    }

    /// The owner index, or the error of a store without one.
    fn owners(&self, operation: &'static str) -> Result<&Owners, StoreError> {
        self.inner.owners.as_ref().ok_or(StoreError::Unsupported { operation })
    }

    /// The owner's live sessions (their keys, ids and records); drops the index's stale entries of that owner.
    fn sessions_of_owner(&self, owners: &Owners, owner: &str) -> Vec<(Key, SessionId, Record)> {
        let now = self.now().as_millis();
        let mut index = owners.index.lock().unwrap_or_else(|e| e.into_inner());
        let Some(keys) = index.by_owner.get(owner) else { return Vec::new() };
        let mut live = Vec::with_capacity(keys.len());
        let mut stale = Vec::new();
        for key in keys {
            match self.owned(key, &owners.key, owner, now) {
                Some((id, record)) => live.push((key.clone(), id, record)),
                None => stale.push(key.clone()),
            }
        }
        index.remove(owner, &stale);
        live
    }

    /// Removes the record under `key` if it is live and still names `owner` (checked under the shard's lock).
    fn end_owned(&self, key: &Key, owner_key: &str, owner: &str) -> bool {
        let now = self.now().as_millis();
        let (mut shard, spot) = self.shard(key);
        let Some(entry) = shard.find(key, spot).filter(|e| e.is_live(now)) else { return false };
        let Some(id) = key.id() else { return false };
        let names_owner = entry.record(&id).is_some_and(|r| owner_of(&r, owner_key).as_deref() == Some(owner));
        if names_owner {
            shard.remove(key, spot);
        }
        names_owner
    }

    /// `refresh`, or with `interval` (ms) `refresh_after`, under one lock of the entry's shard.
    fn refresh_entry(&self, id: &SessionId, interval: Option<i64>) -> TouchOutcome {
        let lifetime = self.lifetime();
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        let Some(entry) = shard.find_mut(&key, spot).filter(|e| e.is_live(lifetime.now)) else {
            return TouchOutcome::Gone;
        };
        let max_age = entry.cookie.original_max_age;
        if let (Some(interval), Some(max_age)) = (interval, max_age)
            && entry.stamp.has_expires()
            && max_age > interval
            && lifetime.now < entry.expires_at.saturating_sub(max_age).saturating_add(interval)
        {
            entry.stamp = entry.stamp.used(true);
            return TouchOutcome::Fresh;
        }
        // express's `touch()` then `store.touch`: the expiry moves to now + originalMaxAge; nothing else changes,
        // so neither the data nor the shared cookie is rewritten.
        let expires = max_age.map(|ms| Timestamp::from_millis(lifetime.now).add_millis(ms));
        entry.stamp = entry.stamp.used(expires.is_some());
        entry.expires_at = lifetime.expires_at(expires);
        let expires_at = entry.expires_at;
        shard.expires(expires_at);
        TouchOutcome::Touched
    }

    /// The data's JSON text, or none for an empty object (see [`Entry::data`]).
    fn data_json(record: &Record) -> Box<str> {
        if record.fields().is_empty() {
            return Box::default();
        }
        record.data_json().into_boxed_str()
    }
}

impl Store for MemoryStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        let now = self.now().as_millis();
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        let found = match shard.find_mut(&key, spot) {
            Some(e) if e.is_live(now) => {
                e.stamp = e.stamp.used(e.stamp.has_expires());
                e.record(id).map(|record| Versioned { record, version: Version::from_u64(e.stamp.version()) })
            }
            Some(_) => {
                shard.remove(&key, spot);
                None
            }
            None => None,
        };
        Ok(found)
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let lifetime = self.lifetime();
        let data = Self::data_json(record);
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        match shard.find(&key, spot) {
            Some(e) if e.is_live(lifetime.now) => return Ok(CreateOutcome::Exists),
            Some(_) => shard.remove(&key, spot),
            None => {}
        }
        shard.before_insert(lifetime.now, &self.inner.hasher);
        let entry = self.entry(&mut shard, record, data, lifetime);
        let (version, holds_data) = (entry.stamp.version(), entry.stamp.holds_data());
        shard.expires(entry.expires_at);
        let indexed = self.inner.owners.is_some().then(|| key.clone());
        shard.insert_new(key, spot, entry, &self.inner.hasher);
        shard.enqueue(spot, version, holds_data);
        drop(shard);
        if let Some(key) = indexed {
            self.index(key, record);
        }
        Ok(CreateOutcome::Created(Version::from_u64(version)))
    }

    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let lifetime = self.lifetime();
        let data = Self::data_json(record);
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        let entry = self.entry(&mut shard, record, data, lifetime);
        let (version, holds_data) = (entry.stamp.version(), entry.stamp.holds_data());
        let expires_at = entry.expires_at;
        let indexed = self.inner.owners.is_some().then(|| key.clone());
        match shard.find_mut(&key, spot) {
            Some(current) => *current = entry,
            None => {
                shard.before_insert(lifetime.now, &self.inner.hasher);
                shard.insert_new(key, spot, entry, &self.inner.hasher);
            }
        }
        // After before_insert, whose sweep sets the bound from the records it keeps.
        shard.expires(expires_at);
        shard.enqueue(spot, version, holds_data);
        drop(shard);
        if let Some(key) = indexed {
            self.index(key, record);
        }
        Ok(())
    }

    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        let lifetime = self.lifetime();
        let data = Self::data_json(record);
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        // The new entry is made before the lookup (interning the cookie needs the shard), so that the record is
        // found, checked and replaced in one lookup.
        let entry = self.entry(&mut shard, record, data, lifetime);
        let Some(current) = shard.find_mut(&key, spot).filter(|e| e.is_live(lifetime.now)) else {
            return Ok(SaveOutcome::Gone);
        };
        if Some(current.stamp.version()) != expected.as_u64() {
            return Ok(SaveOutcome::Conflict);
        }
        let (version, holds_data) = (entry.stamp.version(), entry.stamp.holds_data());
        let expires_at = entry.expires_at;
        *current = entry;
        shard.expires(expires_at);
        shard.enqueue(spot, version, holds_data);
        drop(shard);
        if self.inner.owners.is_some() {
            self.index(key, record);
        }
        Ok(SaveOutcome::Saved(Version::from_u64(version)))
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        let lifetime = self.lifetime();
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        let shared = shard.intern(record.cookie());
        match shard.find_mut(&key, spot).filter(|e| e.is_live(lifetime.now)) {
            Some(entry) => {
                entry.set_cookie(shared, record.cookie(), lifetime);
                let expires_at = entry.expires_at;
                shard.expires(expires_at);
                Ok(TouchOutcome::Touched)
            }
            None => Ok(TouchOutcome::Gone),
        }
    }

    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        Ok(self.refresh_entry(id, None))
    }

    /// One lookup: the entry's expiry and lifetime say whether it was refreshed within `interval`.
    async fn refresh_after(&self, id: &SessionId, interval: Duration) -> Result<TouchOutcome, StoreError> {
        Ok(self.refresh_entry(id, Some(duration_millis(interval))))
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        shard.remove(&key, spot);
        Ok(())
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    async fn all(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        let now = self.now().as_millis();
        let mut out = Vec::new();
        for shard in self.inner.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.sweep(now);
            out.extend(shard.table.iter().filter_map(|Slot { key, entry }| {
                let id = key.id()?;
                let record = entry.record(&id)?;
                Some((id, record))
            }));
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
                shard.sweep(now);
                shard.table.len()
            })
            .sum())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        // The index is held throughout (index → shard, the only nesting): an owned write that lands in a shard
        // already emptied adds its entry after the index is reset, never before (which would lose it).
        let mut index = self.inner.owners.as_ref().map(|owners| owners.index.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(index) = &mut index {
            **index = Index::default();
        }
        for shard in self.inner.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.table.clear();
            shard.last_cookie = None;
            if let Some(bound) = &mut shard.bound {
                bound.empty.clear();
                bound.held.clear();
            }
        }
        drop(index);
        Ok(())
    }

    fn owner_key(&self) -> Option<&str> {
        self.inner.owners.as_ref().map(|owners| &*owners.key)
    }

    async fn sessions_of(&self, owner: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        let owners = self.owners("sessions_of")?;
        let sessions = self.sessions_of_owner(owners, owner);
        let sessions = sessions.iter().map(|(_, id, record)| OwnedSession::new(id, record, None)).collect();
        Ok(OwnerPage::from_sessions(sessions, limit))
    }

    async fn end_session_of(&self, owner: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        let owners = self.owners("end_session_of")?;
        let sessions = self.sessions_of_owner(owners, owner);
        let Some((key, _, _)) = sessions.iter().find(|(_, id, _)| SessionHandle::of(id) == *handle) else {
            return Ok(false);
        };
        Ok(self.end_owned(key, &owners.key, owner))
    }

    async fn end_sessions_of(&self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let owners = self.owners("end_sessions_of")?;
        let keep = keep.map(Key::of);
        // The index is held throughout: an owned write that lands meanwhile waits to add its entry, and a
        // session it wrote before is in the index and ended here.
        let mut index = owners.index.lock().unwrap_or_else(|e| e.into_inner());
        let Some(keys) = index.by_owner.get(owner) else { return Ok(0) };
        let keys: Vec<Key> = keys.iter().filter(|k| Some(*k) != keep.as_ref()).cloned().collect();
        let ended = keys.iter().filter(|key| self.end_owned(key, &owners.key, owner)).count();
        index.remove(owner, &keys);
        Ok(ended as u64)
    }

    async fn reindex(&self) -> Result<u64, StoreError> {
        let owners = self.owners("reindex")?;
        let mut found = 0;
        for (id, record) in self.all().await? {
            if owner_of(&record, &owners.key).is_some() {
                self.index(Key::of(&id), &record);
                found += 1;
            }
        }
        Ok(found)
    }
}

impl MemoryStore {
    /// How many records are held, expired ones not yet swept included (for tests and metrics).
    pub fn raw_len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).table.len()).sum()
    }

    /// The stored JSON text of a record, expired or not (for interop tests and debugging).
    pub fn raw_json(&self, id: &SessionId) -> Option<String> {
        let key = Key::of(id);
        let (shard, spot) = self.shard(&key);
        let entry = shard.find(&key, spot)?;
        Some(Record::from_data_json(entry.cookie(), &entry.data).ok()?.to_json())
    }
}

#[cfg(test)]
mod tests;
