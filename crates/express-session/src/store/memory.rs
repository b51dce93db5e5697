//! The embedded store: sharded, expiring, optionally bounded.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hashbrown::HashTable;

use super::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use crate::cookie::SessionCookie;
use crate::id::SessionId;
use crate::record::{CREATED_AT_KEY, Record};
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
}

#[derive(Debug)]
struct Shard {
    table: HashTable<Slot>,
    writes_since_sweep: usize,
    /// Writes allowed before the next sweep of a shard that is not full: the size after the last sweep (at
    /// least 64), so that sweeping costs O(1) per write and expired records never make up more than about half
    /// of a shard.
    sweep_after: usize,
    /// No record of the shard expires before this (a lower bound, exact after a sweep): until then a sweep
    /// would find nothing, and none is made.
    next_expiry: i64,
    /// What a full shard may spend on sweeping, in records looked at: [`SWEEP_CREDIT`] more per new id, up to
    /// one sweep's worth. A full shard sweeps as soon as a record may have expired and this covers a sweep.
    sweep_credit: usize,
    /// The cookie (without its expiry) of the last record written: records made with the same options share
    /// one copy of it.
    last_cookie: Option<Arc<SessionCookie>>,
    /// The shard's share of the store's capacity and its eviction order; `None` when unbounded.
    bound: Option<Bound>,
    /// Records looked at by sweeps, for the tests of their cost.
    #[cfg(test)]
    swept: usize,
}

/// One stored record and its id.
#[derive(Debug)]
struct Slot {
    key: Key,
    entry: Entry,
}

/// A bounded shard's eviction order: two queues of [`Ticket`]s, oldest write first. Every record in the shard
/// has exactly one ticket naming its current version (pushed when that version was written); tickets of versions
/// since replaced, destroyed, expired or evicted are stale and skipped when they come up (lazy deletion), and
/// dropped in one pass when they outnumber the records, so each write costs O(1) amortised.
///
/// Eviction takes the first ticket of `empty`, or of `held` when `empty` has no live one left: sessions without
/// data go before any session with data. Within a queue it is a clock (second chance): a record read or touched
/// since its ticket was queued has its ticket moved to the back once, so the one evicted is approximately the
/// least recently used.
#[derive(Debug)]
struct Bound {
    /// The most records the shard holds.
    capacity: usize,
    /// Tickets of records without data ([`holds_data`] is false).
    empty: VecDeque<Ticket>,
    /// Tickets of records with data.
    held: VecDeque<Ticket>,
}

/// Names one version of one record in 8 bytes: the low half of the key's hash (the table's hash is spread from
/// it, see [`spread`]) and the low half of the version. Versions are unique across the store, so a ticket can
/// only match another record after 2^32 writes and then only one whose hash it shares; the cost of such a
/// match is one record evicted out of order, which a cache may always do. A ticket only ever matches a record
/// of its own queue's kind (the stamp says whether the record holds data), so a wrapped ticket of the empty
/// queue never evicts a session with data.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    hash: u32,
    version: u32,
}

/// Whether a record holds session data: a user key in its data. The absolute-timeout stamp
/// ([`CREATED_AT_KEY`]) is not data; the cookie is not in the data.
fn holds_data(record: &Record) -> bool {
    record.data().keys().any(|key| key != CREATED_AT_KEY)
}

/// A table hash from the low half of a key's hash (the shard is picked by the high half): a multiplication
/// by an odd constant, so that the top bits hashbrown probes with depend on all 32 bits.
fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The low half of a key's hash: its hash within its shard.
fn short_hash(hasher: &IdHasher, key: &Key) -> u32 {
    hasher.hash_one(key) as u32
}

/// Where a key lives: its shard and its hash in that shard's table.
#[derive(Debug, Clone, Copy)]
struct Spot {
    shard: usize,
    hash: u32,
}

impl Spot {
    fn table_hash(self) -> u64 {
        spread(self.hash)
    }
}

impl Shard {
    fn new(capacity: Option<usize>) -> Self {
        Self {
            table: HashTable::new(),
            writes_since_sweep: 0,
            sweep_after: 0,
            next_expiry: i64::MAX,
            sweep_credit: 0,
            #[cfg(test)]
            swept: 0,
            last_cookie: None,
            bound: capacity.map(|capacity| Bound { capacity, empty: VecDeque::new(), held: VecDeque::new() }),
        }
    }

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

    fn find(&self, key: &Key, spot: Spot) -> Option<&Entry> {
        self.table.find(spot.table_hash(), |s| s.key == *key).map(|s| &s.entry)
    }

    fn find_mut(&mut self, key: &Key, spot: Spot) -> Option<&mut Entry> {
        self.table.find_mut(spot.table_hash(), |s| s.key == *key).map(|s| &mut s.entry)
    }

    fn remove(&mut self, key: &Key, spot: Spot) {
        if let Ok(found) = self.table.find_entry(spot.table_hash(), |s| s.key == *key) {
            found.remove();
        }
    }

    /// Notes that a record of the shard now expires at `expires_at`.
    fn expires(&mut self, expires_at: i64) {
        self.next_expiry = self.next_expiry.min(expires_at);
    }

    /// Removes the expired records.
    fn sweep(&mut self, now: i64) {
        #[cfg(test)]
        {
            self.swept += self.table.len();
        }
        let mut next_expiry = i64::MAX;
        self.table.retain(|s| {
            let live = s.entry.is_live(now);
            if live {
                next_expiry = next_expiry.min(s.entry.expires_at);
            }
            live
        });
        self.next_expiry = next_expiry;
        self.writes_since_sweep = 0;
        self.sweep_after = self.table.len();
    }

    /// Before a record with a new id goes in: sweeps when due, and makes room in a full bounded shard.
    fn before_insert(&mut self, now: i64, hasher: &IdHasher) {
        self.writes_since_sweep += 1;
        let len = self.table.len();
        self.sweep_credit = (self.sweep_credit + SWEEP_CREDIT).min(len.max(64));
        // Nothing to sweep before a record can have expired.
        let expired = self.next_expiry <= now;
        let full = self.bound.as_ref().is_some_and(|b| len >= b.capacity);
        // A full shard sweeps as soon as a record may have expired, so that expired records are dropped before
        // live ones are evicted, as often as its credit allows (a sweep per `len / SWEEP_CREDIT` new ids at
        // most, so O(1) amortised whatever the expiries); a shard that is not full after its size in writes.
        let due = if full { self.sweep_credit >= len } else { self.writes_since_sweep >= self.sweep_after.max(64) };
        if expired && due {
            if full {
                self.sweep_credit = 0;
            }
            self.sweep(now);
        }
        let Some(bound) = &mut self.bound else { return };
        while self.table.len() >= bound.capacity {
            if !bound.evict_one(&mut self.table, now) {
                // Unreachable while every record has its ticket; should that ever not hold, the order is
                // rebuilt from the table (once, O(n)) rather than the bound exceeded.
                bound.rebuild(&self.table, hasher);
                if !bound.evict_one(&mut self.table, now) {
                    break;
                }
            }
        }
    }

    /// Inserts a record whose id is not in the table (after [`before_insert`](Self::before_insert)).
    fn insert_new(&mut self, key: Key, spot: Spot, entry: Entry, hasher: &IdHasher) {
        self.table.insert_unique(spot.table_hash(), Slot { key, entry }, |s| spread(short_hash(hasher, &s.key)));
    }

    /// Queues the ticket of a version just written (a bounded shard only).
    fn enqueue(&mut self, spot: Spot, version: u64, holds_data: bool) {
        let Some(bound) = &mut self.bound else { return };
        let ticket = Ticket { hash: spot.hash, version: version as u32 };
        if holds_data {
            bound.held.push_back(ticket)
        } else {
            bound.empty.push_back(ticket)
        }
        if bound.empty.len() + bound.held.len() > 2 * self.table.len() + 64 {
            bound.compact(&self.table);
        }
    }
}

impl Bound {
    /// Whether a ticket of the `held` (or else `empty`) queue names a record of the table.
    fn is_current(table: &HashTable<Slot>, ticket: Ticket, held: bool) -> bool {
        table.find(spread(ticket.hash), |s| s.entry.stamp.is_named_by(ticket, held)).is_some()
    }

    /// Evicts one record: the first of `empty` with a live ticket, else the first of `held`, each queue a clock.
    /// Returns `false` if both queues ran out.
    fn evict_one(&mut self, table: &mut HashTable<Slot>, now: i64) -> bool {
        loop {
            let held = self.empty.is_empty();
            let queue = if held { &mut self.held } else { &mut self.empty };
            let Some(ticket) = queue.pop_front() else { return false };
            let Ok(mut found) = table.find_entry(spread(ticket.hash), |s| s.entry.stamp.is_named_by(ticket, held))
            else {
                continue; // stale
            };
            let entry = &mut found.get_mut().entry;
            if entry.is_live(now) && entry.stamp.take_referenced() {
                queue.push_back(ticket);
                continue;
            }
            found.remove();
            return true;
        }
    }

    /// Drops the stale tickets.
    fn compact(&mut self, table: &HashTable<Slot>) {
        self.empty.retain(|&t| Self::is_current(table, t, false));
        self.held.retain(|&t| Self::is_current(table, t, true));
    }

    /// A ticket for every record, in table order (see [`Shard::before_insert`]).
    fn rebuild(&mut self, table: &HashTable<Slot>, hasher: &IdHasher) {
        self.empty.clear();
        self.held.clear();
        for slot in table {
            let ticket = Ticket { hash: short_hash(hasher, &slot.key), version: slot.entry.stamp.version() as u32 };
            if slot.entry.stamp.holds_data() { self.held.push_back(ticket) } else { self.empty.push_back(ticket) }
        }
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
    /// The record's user data: the JSON text of its object without the `cookie` key, empty for `{}`.
    data: Box<str>,
    /// The record's cookie, its `expires` left out (it is `expires_at` when the stamp says it has one).
    cookie: Arc<SessionCookie>,
    /// Milliseconds since the epoch; `i64::MAX` for a record that never expires.
    expires_at: i64,
    stamp: Stamp,
}

/// An entry's version, whether its cookie has an expiry, whether it holds data ([`holds_data`], which queue its
/// ticket is in), and whether it was used since its eviction ticket last came up, in one word (an entry then
/// takes 40 bytes): without an expiry, the record is a browser-session record and `expires_at` comes from the
/// default TTL. Versions come from a counter that starts at 1 and never reaches the three top bits.
#[derive(Debug, Clone, Copy)]
struct Stamp(u64);

impl Stamp {
    const HAS_EXPIRES: u64 = 1 << 63;
    const REFERENCED: u64 = 1 << 62;
    const HOLDS_DATA: u64 = 1 << 61;
    const FLAGS: u64 = Self::HAS_EXPIRES | Self::REFERENCED | Self::HOLDS_DATA;

    fn new(version: u64, has_expires: bool, holds_data: bool) -> Self {
        Self(
            (version & !Self::FLAGS)
                | if has_expires { Self::HAS_EXPIRES } else { 0 }
                | if holds_data { Self::HOLDS_DATA } else { 0 },
        )
    }

    fn holds_data(self) -> bool {
        self.0 & Self::HOLDS_DATA != 0
    }

    /// Whether `ticket`, from the `held` (or else `empty`) queue, names this version.
    fn is_named_by(self, ticket: Ticket, held: bool) -> bool {
        self.version() as u32 == ticket.version && self.holds_data() == held
    }

    fn version(self) -> u64 {
        self.0 & !Self::FLAGS
    }

    fn has_expires(self) -> bool {
        self.0 & Self::HAS_EXPIRES != 0
    }

    /// The same version, used now (read or touched): its expiry flag set anew.
    fn used(self, has_expires: bool) -> Self {
        Self((self.0 & !Self::HAS_EXPIRES) | if has_expires { Self::HAS_EXPIRES } else { 0 } | Self::REFERENCED)
    }

    /// Whether it was used since the last call, clearing the flag.
    fn take_referenced(&mut self) -> bool {
        let was = self.0 & Self::REFERENCED != 0;
        self.0 &= !Self::REFERENCED;
        was
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

    /// The user data. An empty object is kept as no text at all (no allocation: most sessions of a flood are
    /// empty). For tests: [`record`](Self::record) reads the data with [`Record::from_data_json`], which also
    /// keeps what `serde_json` cannot hold.
    #[cfg(test)]
    fn data(&self) -> Result<serde_json::Map<String, serde_json::Value>, serde_json::Error> {
        if self.data.is_empty() { Ok(serde_json::Map::new()) } else { serde_json::from_str(&self.data) }
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
        self.stamp = self.stamp.used(cookie.expires.is_some());
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

/// Records a full shard may look at in sweeps per new id (see [`Shard::sweep_credit`]).
const SWEEP_CREDIT: usize = 16;

/// The most shards a store has (each is a lock and a table allocated up front).
const MAX_SHARDS: usize = 4096;

/// The fewest records a bounded shard holds, when the capacity allows (see [`MemoryStoreBuilder::capacity`]).
const MIN_SHARE: usize = 256;

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
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// How many independently locked shards to use (default 32, at least 1 and at most 4096, far more than
    /// cores; a bounded store uses fewer when its capacity is below 256 per shard).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.clamp(1, MAX_SHARDS);
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

    /// The data's JSON text, or none for an empty object (see [`Entry::data`]).
    fn data_json(record: &Record) -> Box<str> {
        if record.data().is_empty() {
            return Box::default();
        }
        serde_json::to_string(record.data()).map_or_else(|_| Box::default(), String::into_boxed_str)
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
        shard.insert_new(key, spot, entry, &self.inner.hasher);
        shard.enqueue(spot, version, holds_data);
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
        let lifetime = self.lifetime();
        let key = Key::of(id);
        let (mut shard, spot) = self.shard(&key);
        let Some(entry) = shard.find_mut(&key, spot).filter(|e| e.is_live(lifetime.now)) else {
            return Ok(TouchOutcome::Gone);
        };
        // express's `touch()` then `store.touch`: the expiry moves to now + originalMaxAge; nothing else changes,
        // so neither the data nor the shared cookie is rewritten.
        let expires = entry.cookie.original_max_age.map(|ms| Timestamp::from_millis(lifetime.now).add_millis(ms));
        entry.stamp = entry.stamp.used(expires.is_some());
        entry.expires_at = lifetime.expires_at(expires);
        let expires_at = entry.expires_at;
        shard.expires(expires_at);
        Ok(TouchOutcome::Touched)
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
        for shard in self.inner.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.table.clear();
            shard.last_cookie = None;
            if let Some(bound) = &mut shard.bound {
                bound.empty.clear();
                bound.held.clear();
            }
        }
        Ok(())
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
mod tests {
    use super::*;
    use crate::cookie::SessionCookie;

    impl MemoryStore {
        /// Where `id` lives, without locking (for tests on a one-shard store).
        fn shard_spot(&self, id: &SessionId) -> Spot {
            let hash = self.inner.hasher.hash_one(Key::of(id));
            Spot { shard: (hash >> 32) as usize % self.inner.shards.len(), hash: hash as u32 }
        }
    }

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

    fn record_with(data: serde_json::Value) -> Record {
        let mut record = Record::new(SessionCookie::default());
        if let serde_json::Value::Object(map) = data {
            *record.data_mut() = map;
        }
        record
    }

    fn id(name: &str, i: usize) -> SessionId {
        SessionId::new(format!("{name}-{i}")).unwrap()
    }

    async fn alive(store: &MemoryStore, id: &SessionId) -> bool {
        store.get(id).await.unwrap().is_some()
    }

    /// The eviction queues' total length and the shard's size, for one shard.
    fn tickets(store: &MemoryStore) -> (usize, usize) {
        let shard = store.inner.shards[0].lock().unwrap();
        let bound = shard.bound.as_ref().unwrap();
        (bound.empty.len() + bound.held.len(), shard.table.len())
    }

    #[tokio::test]
    async fn empty_sessions_are_evicted_before_sessions_with_data() {
        let store = MemoryStore::builder().capacity(4).shards(1).build();
        let (d0, d1) = (id("data", 0), id("data", 1));
        store.create(&d0, &record_with(serde_json::json!({ "user": "ada" }))).await.unwrap();
        for i in 0..3 {
            store.create(&id("empty", i), &record_with(serde_json::json!({}))).await.unwrap();
        }
        // The store is full; the next data session pushes out the oldest empty one, not the older data one.
        store.create(&d1, &record_with(serde_json::json!({ "user": "bob" }))).await.unwrap();
        assert_eq!(store.raw_len(), 4);
        assert!(alive(&store, &d0).await && alive(&store, &d1).await);
        assert!(!alive(&store, &id("empty", 0)).await, "the oldest empty session goes first");
        assert!(alive(&store, &id("empty", 1)).await && alive(&store, &id("empty", 2)).await);
    }

    #[tokio::test]
    async fn the_absolute_timeout_stamp_is_not_data() {
        let store = MemoryStore::builder().capacity(2).shards(1).build();
        let data = id("data", 0);
        store.create(&data, &record_with(serde_json::json!({ "cart": [] }))).await.unwrap();
        let stamped = id("stamped", 0);
        store.create(&stamped, &record_with(serde_json::json!({ CREATED_AT_KEY: 1_000 }))).await.unwrap();
        store.create(&id("empty", 0), &record_with(serde_json::json!({}))).await.unwrap();
        assert!(!alive(&store, &stamped).await, "a session holding only its creation stamp is empty");
        assert!(alive(&store, &data).await);
    }

    #[tokio::test]
    async fn sessions_with_data_survive_a_flood_of_ten_times_the_capacity() {
        let capacity = 1_000;
        let store = MemoryStore::builder().capacity(capacity).build();
        let logged_in: Vec<_> = (0..50).map(|i| id("user", i)).collect();
        for (i, id) in logged_in.iter().enumerate() {
            store.create(id, &record_with(serde_json::json!({ "user": i }))).await.unwrap();
        }
        for i in 0..10 * capacity {
            store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
            assert!(store.raw_len() <= capacity, "{} records after {i} creations", store.raw_len());
        }
        for id in &logged_in {
            assert!(alive(&store, id).await, "{id:?} was evicted by empty sessions");
        }
        // The newest empty sessions are the ones kept.
        assert!(alive(&store, &id("anon", 10 * capacity - 1)).await);
        assert!(!alive(&store, &id("anon", 0)).await);
    }

    #[tokio::test]
    async fn a_session_that_gets_data_leaves_the_empty_queue() {
        let store = MemoryStore::builder().capacity(3).shards(1).build();
        let first = id("first", 0);
        let created = store.create(&first, &record_with(serde_json::json!({}))).await.unwrap();
        let CreateOutcome::Created(version) = created else { panic!("created") };
        // Logs in after arriving anonymously.
        let saved = store.save_if(&first, &record_with(serde_json::json!({ "user": "ada" })), &version).await;
        let SaveOutcome::Saved(version) = saved.unwrap() else { panic!("saved") };
        for i in 0..30 {
            store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
        }
        assert!(alive(&store, &first).await);
        // Logs out: its data emptied, it is evicted like any empty session.
        store.save_if(&first, &record_with(serde_json::json!({})), &version).await.unwrap();
        for i in 30..33 {
            store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
        }
        assert!(!alive(&store, &first).await);
    }

    /// Whether a record is held, without counting as a use (unlike `get`).
    fn present(store: &MemoryStore, id: &SessionId) -> bool {
        store.raw_json(id).is_some()
    }

    #[tokio::test]
    async fn among_sessions_with_data_the_least_recently_used_goes() {
        let store = MemoryStore::builder().capacity(3).shards(1).build();
        let user = |name: &str| record_with(serde_json::json!({ "user": name }));
        let [a, b, c, d, e, f, g] = ["a", "b", "c", "d", "e", "f", "g"].map(|name| id(name, 0));
        for (id, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
            store.create(id, &user(name)).await.unwrap();
        }
        // A read: a is passed over, b goes.
        assert!(store.get(&a).await.unwrap().is_some());
        store.create(&d, &user("d")).await.unwrap();
        assert!(!present(&store, &b));
        assert!(present(&store, &a) && present(&store, &c) && present(&store, &d));
        // A touch: c is passed over; a, whose read was already counted, goes.
        store.touch(&c, &user("c")).await.unwrap();
        store.create(&e, &user("e")).await.unwrap();
        assert!(!present(&store, &a));
        assert!(present(&store, &c) && present(&store, &d) && present(&store, &e));
        // A write: d moves behind c and e; c goes.
        let got = store.get(&d).await.unwrap().unwrap();
        store.save_if(&d, &user("d2"), &got.version).await.unwrap();
        store.create(&f, &user("f")).await.unwrap();
        assert!(!present(&store, &c));
        assert!(present(&store, &d) && present(&store, &e) && present(&store, &f));
        // A refresh: e is passed over; d goes.
        store.refresh(&e).await.unwrap();
        store.create(&g, &user("g")).await.unwrap();
        assert!(!present(&store, &d));
        assert!(present(&store, &e) && present(&store, &f) && present(&store, &g));
    }

    #[tokio::test]
    async fn expired_records_go_before_live_ones_and_are_never_returned() {
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).capacity(1_000).shards(1).build();
        let live: Vec<_> = (0..500).map(|i| id("live", i)).collect();
        for id in &live {
            store.create(id, &record_expiring(Some(10_000_000), clock.now())).await.unwrap();
        }
        for i in 0..500 {
            store.create(&id("short", i), &record_expiring(Some(1_000), clock.now())).await.unwrap();
        }
        clock.advance(Duration::from_secs(2));
        assert!(!alive(&store, &id("short", 7)).await, "an expired record is never returned");
        for i in 0..200 {
            store.create(&id("new", i), &record_expiring(Some(10_000_000), clock.now())).await.unwrap();
        }
        for id in &live {
            assert!(alive(&store, id).await, "{id:?} was evicted while expired records were held");
        }
        assert_eq!(store.len().await.unwrap(), 700);
    }

    #[tokio::test]
    async fn the_capacity_is_never_exceeded_whatever_the_shards() {
        // 10,000 over 32 shards: shares of 312 and 313 that add up to 10,000 (rounding each share up would
        // allow 10,016).
        let capacity = 10_000;
        let store = MemoryStore::builder().capacity(capacity).shards(32).build();
        assert_eq!(store.inner.shards.len(), 32);
        for i in 0..40_000 {
            let data = if i % 2 == 0 { serde_json::json!({}) } else { serde_json::json!({ "n": i }) };
            store.create(&SessionId::generate(), &record_with(data)).await.unwrap();
            if i % 97 == 0 {
                assert!(store.raw_len() <= capacity, "{} records", store.raw_len());
            }
        }
        assert_eq!(store.raw_len(), capacity, "every shard is full");
        // set inserts too.
        for _ in 0..1_000 {
            store.set(&SessionId::generate(), &record_with(serde_json::json!({ "x": 1 }))).await.unwrap();
        }
        assert_eq!(store.raw_len(), capacity);
        // A small capacity is one shard, whose order is the whole store's.
        assert_eq!(MemoryStore::builder().capacity(300).build().inner.shards.len(), 1);
        assert_eq!(MemoryStore::builder().capacity(1_000).build().inner.shards.len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creates_keep_the_bound_and_the_sessions_with_data() {
        let capacity = 2_000;
        let store = MemoryStore::builder().capacity(capacity).build();
        let logged_in: Vec<_> = (0..50).map(|_| SessionId::generate()).collect();
        for id in &logged_in {
            store.create(id, &record_with(serde_json::json!({ "user": 1 }))).await.unwrap();
        }
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..5_000 {
                        store.create(&SessionId::generate(), &record_with(serde_json::json!({}))).await.unwrap();
                        assert!(store.raw_len() <= capacity);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(store.raw_len() <= capacity);
        for id in &logged_in {
            assert!(alive(&store, id).await);
        }
    }

    #[tokio::test]
    async fn stale_tickets_are_dropped_so_the_order_stays_proportional_to_the_records() {
        let store = MemoryStore::builder().capacity(1_000).shards(1).build();
        let ids: Vec<_> = (0..10).map(|i| id("busy", i)).collect();
        let mut versions = Vec::new();
        for id in &ids {
            let CreateOutcome::Created(v) = store.create(id, &record_with(serde_json::json!({}))).await.unwrap() else {
                panic!("created")
            };
            versions.push(v);
        }
        // Every write queues a ticket and leaves the previous one stale.
        for round in 0..2_000 {
            for (id, version) in ids.iter().zip(versions.iter_mut()) {
                let record = record_with(serde_json::json!({ "n": round }));
                let SaveOutcome::Saved(v) = store.save_if(id, &record, version).await.unwrap() else { panic!("saved") };
                *version = v;
            }
            let (queued, held) = tickets(&store);
            assert!(queued <= 2 * held + 65, "{queued} tickets for {held} records");
        }
        for i in 0..100 {
            store.destroy(&id("busy", i % 10)).await.unwrap();
            store.create(&id("other", i), &record_with(serde_json::json!({}))).await.unwrap();
        }
        let (queued, held) = tickets(&store);
        assert!(queued <= 2 * held + 65, "{queued} tickets for {held} records");
    }

    /// A data session with a long lifetime, created before `n` with a short one, in a one-shard store that
    /// they fill.
    async fn long_then_short(store: &MemoryStore, clock: &Clock, long: usize, short: usize) -> Vec<SessionId> {
        let with_data = |at: i64| {
            let mut record = record_expiring(Some(at), clock.now());
            record.data_mut().insert("user".into(), "ada".into());
            record
        };
        let keep: Vec<_> = (0..long).map(|i| id("keep", i)).collect();
        for id in &keep {
            store.create(id, &with_data(30 * 86_400_000)).await.unwrap();
        }
        for i in 0..short {
            store.create(&id("short", i), &with_data(3_600_000)).await.unwrap();
        }
        keep
    }

    #[tokio::test]
    async fn a_live_session_is_not_evicted_while_expired_ones_fill_the_shard() {
        // Sessions with data only (`save_uninitialized(false)`): 100 "remember me" sessions of 30 days, then
        // 900 of an hour, filling the store.
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).capacity(1_000).shards(1).build();
        let keep = long_then_short(&store, &clock, 100, 900).await;
        // One more login while all are live: the least recently used goes, as it must.
        store.create(&id("new", 0), &record_with(serde_json::json!({ "user": "new" }))).await.unwrap();
        assert!(!present(&store, &keep[0]));
        // Two hours later the 900 short sessions have expired; ten logins must take their room, not log out
        // the remember-me sessions.
        clock.advance(Duration::from_secs(7_200));
        for i in 1..11 {
            store.create(&id("new", i), &record_with(serde_json::json!({ "user": "new" }))).await.unwrap();
        }
        for id in &keep[1..] {
            assert!(present(&store, id), "{id:?} was evicted while 900 expired sessions were held");
        }
    }

    #[tokio::test]
    async fn expired_sessions_with_data_do_not_keep_taking_room_from_a_flood() {
        // A full store: 500 sessions with data, all expired, and 500 empty ones. A flood of empty sessions
        // evicts the live empty ones while the expired ones keep half the store.
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).capacity(1_000).shards(1).build();
        long_then_short(&store, &clock, 0, 500).await;
        for i in 0..500 {
            store.create(&id("empty", i), &record_expiring(Some(30 * 86_400_000), clock.now())).await.unwrap();
        }
        // A metrics probe sweeps, when nothing had expired yet; two hours later, the 500 have.
        assert_eq!(store.len().await.unwrap(), 1_000);
        clock.advance(Duration::from_secs(7_200));
        let mut evicted_live = 0;
        for i in 0..100 {
            store.create(&id("flood", i), &record_expiring(Some(30 * 86_400_000), clock.now())).await.unwrap();
            if !present(&store, &id("empty", i)) {
                evicted_live += 1;
            }
        }
        assert_eq!(evicted_live, 0, "live sessions were evicted while 500 expired ones were held");
    }

    #[tokio::test]
    async fn a_ticket_whose_version_wrapped_does_not_evict_a_session_with_data() {
        let store = MemoryStore::builder().capacity(4).shards(1).build();
        let user = id("user", 0);
        let CreateOutcome::Created(v) = store.create(&user, &record_with(serde_json::json!({}))).await.unwrap() else {
            panic!("created")
        };
        // 2^32 writes later (elsewhere in the store) the session logs in: its new version has the low half of
        // the old one, whose ticket still waits in the queue of empty sessions.
        store.inner.versions.store(v.as_u64().unwrap() + (1 << 32), Ordering::Relaxed);
        let saved = store.save_if(&user, &record_with(serde_json::json!({ "user": "ada" })), &v).await.unwrap();
        assert!(matches!(saved, SaveOutcome::Saved(_)));
        for i in 0..10 {
            store.create(&id("anon", i), &record_with(serde_json::json!({}))).await.unwrap();
        }
        assert!(present(&store, &user), "a session with data was evicted before empty ones");
    }

    /// Checks a bounded store's bookkeeping: each shard within its share, and each record named by exactly
    /// one ticket, in the queue of its kind.
    fn check_order(store: &MemoryStore) -> usize {
        let mut total = 0;
        for shard in store.inner.shards.iter() {
            let shard = shard.lock().unwrap();
            let bound = shard.bound.as_ref().unwrap();
            assert!(
                shard.table.len() <= bound.capacity,
                "{} records in a share of {}",
                shard.table.len(),
                bound.capacity
            );
            total += bound.capacity;
            let earliest = shard.table.iter().map(|s| s.entry.expires_at).min().unwrap_or(i64::MAX);
            assert!(
                shard.next_expiry <= earliest,
                "no sweep until {}, but a record expires at {earliest}",
                shard.next_expiry
            );
            for slot in &shard.table {
                let hash = short_hash(&store.inner.hasher, &slot.key);
                let names = |t: &Ticket| t.hash == hash && t.version == slot.entry.stamp.version() as u32;
                let (empty, held) =
                    (bound.empty.iter().filter(|t| names(t)).count(), bound.held.iter().filter(|t| names(t)).count());
                let data = slot.entry.data().unwrap();
                assert_eq!(slot.entry.stamp.holds_data(), data.keys().any(|key| key != CREATED_AT_KEY), "{data:?}");
                let want = if slot.entry.stamp.holds_data() { (0, 1) } else { (1, 0) };
                assert_eq!((empty, held), want, "tickets of {:?}", slot.key);
            }
        }
        total
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn every_verb_at_once_on_one_shard_keeps_the_bound_and_one_ticket_per_record() {
        let clock = Clock::manual(Timestamp::from_millis(0));
        for (capacity, shards) in [(1, 1), (2, 1), (255, 1), (256, 1), (511, 1), (512, 2)] {
            let store = MemoryStore::builder().clock(clock.clone()).capacity(capacity).shards(32).build();
            assert_eq!(store.inner.shards.len(), shards, "capacity {capacity}");
            // Few ids, so that the tasks keep meeting on the same records; some sessions expire as the clock moves.
            let pool = 2 * capacity + 3;
            let tasks: Vec<_> = (0..4u64)
                .map(|task| {
                    let (store, clock) = (store.clone(), clock.clone());
                    tokio::spawn(async move {
                        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (task + 1);
                        let mut next = move || {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x
                        };
                        for _ in 0..3_000 {
                            let r = next();
                            let sid = id("s", (r % pool as u64) as usize);
                            let expires = Some(clock.now().as_millis() + 1 + (r >> 40) as i64 % 5_000);
                            let mut record = record_expiring(expires, clock.now());
                            if r >> 20 & 1 == 1 {
                                record.data_mut().insert("user".into(), (r % 7).into());
                            }
                            match (r >> 8) % 8 {
                                0 | 1 => drop(store.create(&sid, &record).await.unwrap()),
                                2 => {
                                    if let Some(got) = store.get(&sid).await.unwrap() {
                                        tokio::task::yield_now().await;
                                        store.save_if(&sid, &record, &got.version).await.unwrap();
                                    }
                                }
                                3 => drop(store.touch(&sid, &record).await.unwrap()),
                                4 => drop(store.refresh(&sid).await.unwrap()),
                                5 => store.destroy(&sid).await.unwrap(),
                                6 => store.set(&sid, &record).await.unwrap(),
                                _ => clock.advance(Duration::from_millis(r % 50)),
                            }
                            assert!(store.raw_len() <= capacity);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            assert_eq!(check_order(&store), capacity, "the shares add up to the capacity");
        }
    }

    #[tokio::test]
    async fn extreme_capacities_neither_panic_nor_exceed_their_bound() {
        // 0 is taken as 1 (documented: "at least 1").
        let store = MemoryStore::builder().capacity(0).build();
        for i in 0..3 {
            store.create(&id("z", i), &record_with(serde_json::json!({ "n": i }))).await.unwrap();
        }
        assert_eq!(store.raw_len(), 1);
        assert!(present(&store, &id("z", 2)));
        let store = MemoryStore::builder().capacity(usize::MAX).build();
        assert_eq!(store.inner.shards.len(), 32);
        for i in 0..1_000 {
            store.create(&id("m", i), &record_with(serde_json::json!({}))).await.unwrap();
        }
        assert_eq!(store.raw_len(), 1_000);
        assert_eq!(check_order(&store), usize::MAX);
        // So many shards that allocating them would abort: capped.
        let store = MemoryStore::builder().shards(usize::MAX).build();
        assert_eq!(store.inner.shards.len(), MAX_SHARDS);
        store.create(&id("s", 0), &record_with(serde_json::json!({}))).await.unwrap();
        assert!(present(&store, &id("s", 0)));
    }

    #[tokio::test]
    async fn a_record_set_as_its_shard_sweeps_is_swept_once_it_expires() {
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).shards(1).build();
        store.create(&id("old", 0), &record_expiring(Some(10), clock.now())).await.unwrap();
        for i in 0..62 {
            store.create(&id("long", i), &record_expiring(Some(1_000_000), clock.now())).await.unwrap();
        }
        clock.advance(Duration::from_millis(20));
        // The 64th new id: the shard sweeps "old" out just before `set` puts this one in.
        let short = id("short", 0);
        store.set(&short, &record_expiring(Some(30), clock.now())).await.unwrap();
        assert!(!present(&store, &id("old", 0)));
        clock.advance(Duration::from_millis(20));
        for i in 0..200 {
            store.create(&id("new", i), &record_expiring(Some(1_000_000), clock.now())).await.unwrap();
        }
        assert!(!present(&store, &short), "an expired record was never swept");
    }

    #[tokio::test]
    async fn sweeping_costs_o1_per_insert_even_when_a_record_expires_at_every_insert() {
        // A full shard whose oldest records live for years while every other new one lives 2,000 inserts (a
        // millisecond apart): from then on a record expires at almost every insert, and the one to evict is
        // live. A sweep at each would look at the whole shard per insert.
        let capacity = 4_096;
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).capacity(capacity).shards(1).build();
        let record = |i: usize| {
            let lifetime = if i.is_multiple_of(2) { 10 * 365 * 86_400_000 } else { 2_000 };
            let mut record = record_expiring(Some(clock.now().as_millis() + lifetime), clock.now());
            record.data_mut().insert("user".into(), i.into());
            clock.advance(Duration::from_millis(1));
            record
        };
        for i in 0..4 * capacity {
            store.create(&id("warm", i), &record(i)).await.unwrap();
        }
        let before = store.inner.shards[0].lock().unwrap().swept;
        let inserts = 8 * capacity;
        for i in 0..inserts {
            store.create(&id("steady", i), &record(i)).await.unwrap();
        }
        let per_insert = (store.inner.shards[0].lock().unwrap().swept - before) as f64 / inserts as f64;
        assert!(per_insert <= SWEEP_CREDIT as f64 + 1.0, "{per_insert:.1} records looked at per insert");
        assert!(store.raw_len() <= capacity);
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
            let (shard, spot) = store.shard(&Key::of(&a));
            let ea = shard.find(&Key::of(&a), spot).unwrap();
            let eb = shard.find(&Key::of(&b), store.shard_spot(&b)).unwrap();
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
        let (shard, spot) = store.shard(&Key::of(&a));
        let ea = shard.find(&Key::of(&a), spot).unwrap();
        assert!(!Arc::ptr_eq(&ea.cookie, &shard.find(&Key::of(&c), store.shard_spot(&c)).unwrap().cookie));
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
