//! The embedded store: sharded, expiring, optionally bounded.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use crate::id::SessionId;
use crate::record::{Record, SessionCookie};
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
/// Records are kept small: the user data as its JSON text (as express's MemoryStore keeps whole records), the
/// cookie as one copy shared by all records whose cookies differ only in their expiry, and the id in 24 bytes.
/// A view counter's session takes about 150 bytes, less than twice its JSON record.
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
    shard_capacity: Option<usize>,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Key, Entry, IdHasher>,
    writes_since_sweep: usize,
    /// Writes allowed before the next sweep: the size after the last sweep (at least 64), so that sweeping
    /// costs O(1) per write and expired records never make up more than about half of a shard.
    sweep_after: usize,
    /// The cookie (without its expiry) of the last record written: records made with the same options share
    /// one copy of it.
    last_cookie: Option<Arc<SessionCookie>>,
}

impl Shard {
    /// `cookie` without its expiry, shared with the previous record's when they are alike (they almost
    /// always are: every session of an app gets its cookie from the same options).
    fn intern(&mut self, cookie: &SessionCookie) -> Arc<SessionCookie> {
        if let Some(last) = &self.last_cookie
            && same_but_expiry(last, cookie)
        {
            return Arc::clone(last);
        }
        let mut stored = SessionCookie { expires: None, ..cookie.clone() };
        // As the record's JSON reads back from every other store: a missing path is the default `/`.
        if stored.path.is_none() {
            stored.path = SessionCookie::default().path;
        }
        let shared = Arc::new(stored);
        self.last_cookie = Some(Arc::clone(&shared));
        shared
    }
}

/// Whether `b` would be stored as `a` (an interned cookie): they differ at most in their expiry, and a missing
/// path in `b` is the default `/`.
fn same_but_expiry(a: &SessionCookie, b: &SessionCookie) -> bool {
    let SessionCookie {
        original_max_age,
        partitioned,
        priority,
        expires: _,
        secure,
        http_only,
        domain,
        path,
        same_site,
    } = b;
    a.original_max_age == *original_max_age
        && a.partitioned == *partitioned
        && a.priority == *priority
        && a.secure == *secure
        && a.http_only == *http_only
        && a.domain == *domain
        && a.path.as_deref() == Some(path.as_deref().unwrap_or("/"))
        && a.same_site == *same_site
}

/// The hasher of the shards and their maps: foldhash, seeded per process. SipHash's resistance to chosen keys
/// buys nothing here, since no client chooses a key: ids are made by this process (or the app's `genid`) and
/// only come back in cookies signed with the app's secret; foldhash hashes an id in a few instructions instead
/// of a hundred.
type IdHasher = foldhash::fast::RandomState;

/// A map key: the 24 bytes behind a default-format id (32 base64url characters, a bijection), else the id's
/// text. Packing saves an allocation and 40 bytes per record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Packed([u8; 24]),
    Text(Box<str>),
}

impl Key {
    fn of(id: &SessionId) -> Self {
        let text = id.as_str();
        let mut bytes = [0u8; 24];
        if text.len() == 32 && URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) == Ok(24) {
            return Key::Packed(bytes);
        }
        Key::Text(text.into())
    }

    fn id(&self) -> Option<SessionId> {
        match self {
            Key::Packed(bytes) => Some(SessionId::from_random_bytes(bytes)),
            Key::Text(text) => SessionId::new(text),
        }
    }
}

/// One record, split so that reading and touching it need not parse its cookie: the user data as JSON text,
/// the cookie (shared between records, see [`Shard::intern`]) and the expiry as a number.
#[derive(Debug)]
struct Entry {
    /// The record's user data: the JSON text of its object without the `cookie` key.
    data: Box<str>,
    /// The record's cookie, its `expires` left out (it is `expires_at` when the stamp says it has one).
    cookie: Arc<SessionCookie>,
    /// Milliseconds since the epoch; `i64::MAX` for a record that never expires.
    expires_at: i64,
    stamp: Stamp,
}

/// An entry's version and whether its cookie has an expiry, in one word (an entry then takes 40 bytes): without
/// one, the record is a browser-session record and `expires_at` comes from the default TTL. Versions come from
/// a counter that starts at 1 and never reaches the top bit.
#[derive(Debug, Clone, Copy)]
struct Stamp(u64);

impl Stamp {
    const HAS_EXPIRES: u64 = 1 << 63;

    fn new(version: u64, has_expires: bool) -> Self {
        Self((version & !Self::HAS_EXPIRES) | if has_expires { Self::HAS_EXPIRES } else { 0 })
    }

    fn version(self) -> u64 {
        self.0 & !Self::HAS_EXPIRES
    }

    fn has_expires(self) -> bool {
        self.0 & Self::HAS_EXPIRES != 0
    }
}

impl Entry {
    fn is_live(&self, now: i64) -> bool {
        self.expires_at > now
    }

    fn cookie(&self) -> SessionCookie {
        let expires = self.stamp.has_expires().then(|| Timestamp::from_millis(self.expires_at));
        SessionCookie { expires, ..SessionCookie::clone(&self.cookie) }
    }

    fn record(&self, id: &SessionId) -> Option<Record> {
        match Record::from_data_json(self.cookie(), &self.data) {
            Ok(record) => Some(record),
            Err(error) => {
                tracing::warn!(session = %id.log_hash(), %error, "stored session does not parse; treated as absent");
                None
            }
        }
    }

    /// Takes `cookie` (already interned as `shared`) and its expiry; the stored data stays, as in express's
    /// MemoryStore `touch`.
    fn set_cookie(&mut self, shared: Arc<SessionCookie>, cookie: &SessionCookie, lifetime: Lifetime) {
        self.cookie = shared;
        self.stamp = Stamp::new(self.stamp.version(), cookie.expires.is_some());
        self.expires_at = lifetime.expires_at(cookie.expires);
    }
}

/// When records expire: at their cookie's expiry, or `default_ttl` after their last write.
#[derive(Debug, Clone, Copy)]
struct Lifetime {
    now: i64,
    default_ttl: Option<i64>,
}

impl Lifetime {
    fn expires_at(self, expires: Option<Timestamp>) -> i64 {
        match expires {
            Some(t) => t.as_millis(),
            None => self.default_ttl.map_or(i64::MAX, |ttl| self.now.saturating_add(ttl)),
        }
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
                hasher: IdHasher::default(),
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

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        // The high half of the hash picks the shard; the map uses the low bits, so they stay independent.
        let index = (self.inner.hasher.hash_one(key) >> 32) as usize % self.inner.shards.len();
        // A panic while a shard is locked can only come from an allocation failure; the map stays consistent,
        // so a poisoned lock is safe to keep using.
        self.inner.shards[index].lock().unwrap_or_else(|e| e.into_inner())
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
            stamp: Stamp::new(self.next_version(), cookie.expires.is_some()),
        }
    }

    fn data_json(record: &Record) -> Box<str> {
        serde_json::to_string(record.data()).map_or_else(|_| "{}".into(), String::into_boxed_str)
    }

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
}

impl Store for MemoryStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        let now = self.now().as_millis();
        let key = Key::of(id);
        let mut shard = self.shard(&key);
        let found = match shard.map.get(&key) {
            Some(e) if e.is_live(now) => {
                e.record(id).map(|record| Versioned { record, version: Version::from_u64(e.stamp.version()) })
            }
            Some(_) => {
                shard.map.remove(&key);
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
        let mut shard = self.shard(&key);
        if shard.map.get(&key).is_some_and(|e| e.is_live(lifetime.now)) {
            return Ok(CreateOutcome::Exists);
        }
        self.before_insert(&mut shard, lifetime.now);
        let entry = self.entry(&mut shard, record, data, lifetime);
        let version = entry.stamp.version();
        shard.map.insert(key, entry);
        Ok(CreateOutcome::Created(Version::from_u64(version)))
    }

    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let lifetime = self.lifetime();
        let data = Self::data_json(record);
        let key = Key::of(id);
        let mut shard = self.shard(&key);
        if !shard.map.contains_key(&key) {
            self.before_insert(&mut shard, lifetime.now);
        }
        let entry = self.entry(&mut shard, record, data, lifetime);
        shard.map.insert(key, entry);
        Ok(())
    }

    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        let lifetime = self.lifetime();
        let data = Self::data_json(record);
        let key = Key::of(id);
        let mut shard = self.shard(&key);
        // The new entry is made before the lookup (interning the cookie needs the shard), so that the record is
        // found, checked and replaced in one lookup.
        let entry = self.entry(&mut shard, record, data, lifetime);
        let Some(current) = shard.map.get_mut(&key).filter(|e| e.is_live(lifetime.now)) else {
            return Ok(SaveOutcome::Gone);
        };
        if Some(current.stamp.version()) != expected.as_u64() {
            return Ok(SaveOutcome::Conflict);
        }
        let version = entry.stamp.version();
        *current = entry;
        Ok(SaveOutcome::Saved(Version::from_u64(version)))
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        let lifetime = self.lifetime();
        let key = Key::of(id);
        let mut shard = self.shard(&key);
        let shared = shard.intern(record.cookie());
        match shard.map.get_mut(&key).filter(|e| e.is_live(lifetime.now)) {
            Some(entry) => {
                entry.set_cookie(shared, record.cookie(), lifetime);
                Ok(TouchOutcome::Touched)
            }
            None => Ok(TouchOutcome::Gone),
        }
    }

    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        let lifetime = self.lifetime();
        let key = Key::of(id);
        let mut shard = self.shard(&key);
        let Some(entry) = shard.map.get_mut(&key).filter(|e| e.is_live(lifetime.now)) else {
            return Ok(TouchOutcome::Gone);
        };
        // express's `touch()` then `store.touch`: the expiry moves to now + originalMaxAge; nothing else changes,
        // so neither the data nor the shared cookie is rewritten.
        let expires = entry.cookie.original_max_age.map(|ms| Timestamp::from_millis(lifetime.now).add_millis(ms));
        entry.stamp = Stamp::new(entry.stamp.version(), expires.is_some());
        entry.expires_at = lifetime.expires_at(expires);
        Ok(TouchOutcome::Touched)
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = Key::of(id);
        self.shard(&key).map.remove(&key);
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
            shard.map.retain(|_, e| e.is_live(now));
            out.extend(shard.map.iter().filter_map(|(key, e)| {
                let id = key.id()?;
                let record = e.record(&id)?;
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
                shard.map.retain(|_, e| e.is_live(now));
                shard.map.len()
            })
            .sum())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        for shard in self.inner.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.map.clear();
            shard.last_cookie = None;
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
        let key = Key::of(id);
        let shard = self.shard(&key);
        let entry = shard.map.get(&key)?;
        Some(Record::from_data_json(entry.cookie(), &entry.data).ok()?.to_json())
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

    #[tokio::test]
    async fn records_whose_cookies_differ_only_in_expiry_share_one_cookie() {
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).shards(1).build();
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let ten_seconds = |now| {
            let mut record = Record::new(SessionCookie::default());
            record.cookie_mut().set_max_age(Some(Duration::from_secs(10)), now);
            record
        };
        store.create(&a, &ten_seconds(clock.now())).await.unwrap();
        clock.advance(Duration::from_secs(1));
        store.create(&b, &ten_seconds(clock.now())).await.unwrap();
        {
            let shard = store.shard(&Key::of(&a));
            let (ea, eb) = (&shard.map[&Key::of(&a)], &shard.map[&Key::of(&b)]);
            assert!(Arc::ptr_eq(&ea.cookie, &eb.cookie), "alike cookies are stored once");
            assert_eq!((ea.expires_at, eb.expires_at), (10_000, 11_000));
        }
        // Each record still reads back with its own expiry.
        let got = store.get(&b).await.unwrap().unwrap().record;
        assert_eq!(got.expires(), Some(Timestamp::from_millis(11_000)));
        assert_eq!(got.cookie().original_max_age(), Some(10_000));
        // A different cookie gets its own copy.
        let c = SessionId::generate();
        store.create(&c, &record_expiring(Some(5_000), clock.now())).await.unwrap();
        let shard = store.shard(&Key::of(&a));
        assert!(!Arc::ptr_eq(&shard.map[&Key::of(&a)].cookie, &shard.map[&Key::of(&c)].cookie));
    }

    #[tokio::test]
    async fn refresh_moves_a_max_age_records_expiry_and_keeps_its_data() {
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let id = SessionId::generate();
        let mut record = Record::new(SessionCookie::default());
        record.cookie_mut().set_max_age(Some(Duration::from_secs(10)), clock.now());
        record.data_mut().insert("user".into(), "ada".into());
        store.create(&id, &record).await.unwrap();
        clock.advance(Duration::from_secs(8));
        assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
        clock.advance(Duration::from_secs(8));
        let got = store.get(&id).await.unwrap().expect("refreshed at 8 s, so alive at 16 s");
        assert_eq!(got.record.expires(), Some(Timestamp::from_millis(18_000)));
        assert_eq!(got.record.data()["user"], "ada");
        clock.advance(Duration::from_secs(3));
        assert!(store.get(&id).await.unwrap().is_none());
        assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Gone);
    }

    #[tokio::test]
    async fn ids_of_every_format_come_back_from_all() {
        let store = MemoryStore::new();
        let ids =
            [SessionId::generate(), SessionId::new("custom:id/1").unwrap(), SessionId::new("a".repeat(32)).unwrap()];
        for id in &ids {
            store.create(id, &Record::new(SessionCookie::default())).await.unwrap();
        }
        let mut got: Vec<String> =
            store.all().await.unwrap().into_iter().map(|(id, _)| id.as_str().to_owned()).collect();
        let mut want: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_cookie_reads_back_as_its_json_does_from_every_other_store() {
        let store = MemoryStore::new();
        let mut cookie = SessionCookie::default();
        cookie.set_path(None);
        cookie.set_domain(Some(String::new()));
        let record = Record::new(cookie);
        let id = SessionId::generate();
        store.create(&id, &record).await.unwrap();
        let got = store.get(&id).await.unwrap().unwrap().record;
        assert_eq!(got.cookie(), Record::from_json(&record.to_json()).unwrap().cookie());
        assert_eq!(got.cookie().path(), Some("/"));
    }
}
