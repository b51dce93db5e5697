//! The shards of a [`MemoryStore`](super::MemoryStore): their tables, the eviction tickets of a bounded store,
//! and how records are kept (the split entry, the interned cookie, the compact key).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hashbrown::HashTable;

use crate::cookie::SessionCookie;
use crate::id::SessionId;
use crate::record::{CREATED_AT_KEY, Record};
use crate::time::Timestamp;

#[derive(Debug)]
pub(super) struct Shard {
    pub(super) table: HashTable<Slot>,
    pub(super) writes_since_sweep: usize,
    /// Writes allowed before the next sweep of a shard that is not full: the size after the last sweep (at
    /// least 64), so that sweeping costs O(1) per write and expired records never make up more than about half
    /// of a shard.
    pub(super) sweep_after: usize,
    /// No record of the shard expires before this (a lower bound, exact after a sweep): until then a sweep
    /// would find nothing, and none is made.
    pub(super) next_expiry: i64,
    /// What a full shard may spend on sweeping, in records looked at: [`SWEEP_CREDIT`] more per new id, up to
    /// one sweep's worth. A full shard sweeps as soon as a record may have expired and this covers a sweep.
    pub(super) sweep_credit: usize,
    /// The cookie (without its expiry) of the last record written: records made with the same options share
    /// one copy of it.
    pub(super) last_cookie: Option<Arc<SessionCookie>>,
    /// The shard's share of the store's capacity and its eviction order; `None` when unbounded.
    pub(super) bound: Option<Bound>,
    /// Records looked at by sweeps, for the tests of their cost.
    #[cfg(test)]
    pub(super) swept: usize,
}

/// One stored record and its id.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) key: Key,
    pub(super) entry: Entry,
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
pub(super) struct Bound {
    /// The most records the shard holds.
    pub(super) capacity: usize,
    /// Tickets of records without data ([`holds_data`] is false).
    pub(super) empty: VecDeque<Ticket>,
    /// Tickets of records with data.
    pub(super) held: VecDeque<Ticket>,
}

/// Names one version of one record in 8 bytes: the low half of the key's hash (the table's hash is spread from
/// it, see [`spread`]) and the low half of the version. Versions are unique across the store, so a ticket can
/// only match another record after 2^32 writes and then only one whose hash it shares; the cost of such a
/// match is one record evicted out of order, which a cache may always do. A ticket only ever matches a record
/// of its own queue's kind (the stamp says whether the record holds data), so a wrapped ticket of the empty
/// queue never evicts a session with data.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    pub(super) hash: u32,
    pub(super) version: u32,
}

/// Whether a record holds session data: a user key in its data. The absolute-timeout stamp
/// ([`CREATED_AT_KEY`]) is not data; the cookie is not in the data.
pub(super) fn holds_data(record: &Record) -> bool {
    record.fields().keys().any(|key| key != CREATED_AT_KEY)
}

/// A table hash from the low half of a key's hash (the shard is picked by the high half): a multiplication
/// by an odd constant, so that the top bits hashbrown probes with depend on all 32 bits.
pub(super) fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The low half of a key's hash: its hash within its shard.
pub(super) fn short_hash(hasher: &IdHasher, key: &Key) -> u32 {
    hasher.hash_one(key) as u32
}

/// Where a key lives: its shard and its hash in that shard's table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spot {
    pub(super) shard: usize,
    pub(super) hash: u32,
}

impl Spot {
    pub(super) fn table_hash(self) -> u64 {
        spread(self.hash)
    }
}

impl Shard {
    pub(super) fn new(capacity: Option<usize>) -> Self {
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
    pub(super) fn intern(&mut self, cookie: &SessionCookie) -> Arc<SessionCookie> {
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

    pub(super) fn find(&self, key: &Key, spot: Spot) -> Option<&Entry> {
        self.table.find(spot.table_hash(), |s| s.key == *key).map(|s| &s.entry)
    }

    pub(super) fn find_mut(&mut self, key: &Key, spot: Spot) -> Option<&mut Entry> {
        self.table.find_mut(spot.table_hash(), |s| s.key == *key).map(|s| &mut s.entry)
    }

    pub(super) fn remove(&mut self, key: &Key, spot: Spot) {
        if let Ok(found) = self.table.find_entry(spot.table_hash(), |s| s.key == *key) {
            found.remove();
        }
    }

    /// Notes that a record of the shard now expires at `expires_at`.
    pub(super) fn expires(&mut self, expires_at: i64) {
        self.next_expiry = self.next_expiry.min(expires_at);
    }

    /// Removes the expired records.
    pub(super) fn sweep(&mut self, now: i64) {
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
    pub(super) fn before_insert(&mut self, now: i64, hasher: &IdHasher) {
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
    pub(super) fn insert_new(&mut self, key: Key, spot: Spot, entry: Entry, hasher: &IdHasher) {
        self.table.insert_unique(spot.table_hash(), Slot { key, entry }, |s| spread(short_hash(hasher, &s.key)));
    }

    /// Queues the ticket of a version just written (a bounded shard only).
    pub(super) fn enqueue(&mut self, spot: Spot, version: u64, holds_data: bool) {
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
    pub(super) fn is_current(table: &HashTable<Slot>, ticket: Ticket, held: bool) -> bool {
        table.find(spread(ticket.hash), |s| s.entry.stamp.is_named_by(ticket, held)).is_some()
    }

    /// Evicts one record: the first of `empty` with a live ticket, else the first of `held`, each queue a clock.
    /// Returns `false` if both queues ran out.
    pub(super) fn evict_one(&mut self, table: &mut HashTable<Slot>, now: i64) -> bool {
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
    pub(super) fn compact(&mut self, table: &HashTable<Slot>) {
        self.empty.retain(|&t| Self::is_current(table, t, false));
        self.held.retain(|&t| Self::is_current(table, t, true));
    }

    /// A ticket for every record, in table order (see [`Shard::before_insert`]).
    pub(super) fn rebuild(&mut self, table: &HashTable<Slot>, hasher: &IdHasher) {
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
pub(super) fn same_but_expiry(a: &SessionCookie, b: &SessionCookie) -> bool {
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
pub(super) type IdHasher = foldhash::fast::RandomState;

/// A map key: the 24 bytes behind a default-format id (32 base64url characters, a bijection), else the id's
/// text. Packing saves an allocation and 40 bytes per record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Packed([u8; 24]),
    Text(Box<str>),
}

impl Key {
    pub(super) fn of(id: &SessionId) -> Self {
        let text = id.as_str();
        let mut bytes = [0u8; 24];
        if text.len() == 32 && URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) == Ok(24) {
            return Key::Packed(bytes);
        }
        Key::Text(text.into())
    }

    pub(super) fn id(&self) -> Option<SessionId> {
        match self {
            Key::Packed(bytes) => Some(SessionId::from_random_bytes(bytes)),
            Key::Text(text) => SessionId::new(text),
        }
    }
}

/// One record, split so that reading and touching it need not parse its cookie: the user data as JSON text,
/// the cookie (shared between records, see [`Shard::intern`]) and the expiry as a number.
#[derive(Debug)]
pub(super) struct Entry {
    /// The record's user data: the JSON text of its object without the `cookie` key, empty for `{}`.
    pub(super) data: Box<str>,
    /// The record's cookie, its `expires` left out (it is `expires_at` when the stamp says it has one).
    pub(super) cookie: Arc<SessionCookie>,
    /// Milliseconds since the epoch; `i64::MAX` for a record that never expires.
    pub(super) expires_at: i64,
    pub(super) stamp: Stamp,
}

/// An entry's version, whether its cookie has an expiry, whether it holds data ([`holds_data`], which queue its
/// ticket is in), and whether it was used since its eviction ticket last came up, in one word (an entry then
/// takes 40 bytes): without an expiry, the record is a browser-session record and `expires_at` comes from the
/// default TTL. Versions come from a counter that starts at 1 and never reaches the three top bits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp(pub(super) u64);

impl Stamp {
    const HAS_EXPIRES: u64 = 1 << 63;
    const REFERENCED: u64 = 1 << 62;
    const HOLDS_DATA: u64 = 1 << 61;
    const FLAGS: u64 = Self::HAS_EXPIRES | Self::REFERENCED | Self::HOLDS_DATA;

    pub(super) fn new(version: u64, has_expires: bool, holds_data: bool) -> Self {
        Self(
            (version & !Self::FLAGS)
                | if has_expires { Self::HAS_EXPIRES } else { 0 }
                | if holds_data { Self::HOLDS_DATA } else { 0 },
        )
    }

    pub(super) fn holds_data(self) -> bool {
        self.0 & Self::HOLDS_DATA != 0
    }

    /// Whether `ticket`, from the `held` (or else `empty`) queue, names this version.
    pub(super) fn is_named_by(self, ticket: Ticket, held: bool) -> bool {
        self.version() as u32 == ticket.version && self.holds_data() == held
    }

    pub(super) fn version(self) -> u64 {
        self.0 & !Self::FLAGS
    }

    pub(super) fn has_expires(self) -> bool {
        self.0 & Self::HAS_EXPIRES != 0
    }

    /// The same version, used now (read or touched): its expiry flag set anew.
    pub(super) fn used(self, has_expires: bool) -> Self {
        Self((self.0 & !Self::HAS_EXPIRES) | if has_expires { Self::HAS_EXPIRES } else { 0 } | Self::REFERENCED)
    }

    /// Whether it was used since the last call, clearing the flag.
    pub(super) fn take_referenced(&mut self) -> bool {
        let was = self.0 & Self::REFERENCED != 0;
        self.0 &= !Self::REFERENCED;
        was
    }
}

impl Entry {
    pub(super) fn is_live(&self, now: i64) -> bool {
        self.expires_at > now
    }

    pub(super) fn cookie(&self) -> SessionCookie {
        let expires = self.stamp.has_expires().then(|| Timestamp::from_millis(self.expires_at));
        SessionCookie { expires, ..SessionCookie::clone(&self.cookie) }
    }

    /// The user data. An empty object is kept as no text at all (no allocation: most sessions of a flood are
    /// empty). For tests: [`record`](Self::record) reads the data with [`Record::from_data_json`], which also
    /// keeps what `serde_json` cannot hold.
    #[cfg(test)]
    pub(super) fn data(&self) -> Result<serde_json::Map<String, serde_json::Value>, serde_json::Error> {
        if self.data.is_empty() { Ok(serde_json::Map::new()) } else { serde_json::from_str(&self.data) }
    }

    pub(super) fn record(&self, id: &SessionId) -> Option<Record> {
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
    pub(super) fn set_cookie(&mut self, shared: Arc<SessionCookie>, cookie: &SessionCookie, lifetime: Lifetime) {
        self.cookie = shared;
        self.stamp = self.stamp.used(cookie.expires.is_some());
        self.expires_at = lifetime.expires_at(cookie.expires);
    }
}

/// When records expire: at their cookie's expiry, or `default_ttl` after their last write.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lifetime {
    pub(super) now: i64,
    pub(super) default_ttl: Option<i64>,
}

impl Lifetime {
    pub(super) fn expires_at(self, expires: Option<Timestamp>) -> i64 {
        match expires {
            Some(t) => t.as_millis(),
            None => self.default_ttl.map_or(i64::MAX, |ttl| self.now.saturating_add(ttl)),
        }
    }
}

/// Records a full shard may look at in sweeps per new id (see [`Shard::sweep_credit`]).
pub(super) const SWEEP_CREDIT: usize = 16;

/// The most shards a store has (each is a lock and a table allocated up front).
pub(super) const MAX_SHARDS: usize = 4096;

/// The fewest records a bounded shard holds, when the capacity allows (see [`MemoryStoreBuilder::capacity`]).
pub(super) const MIN_SHARE: usize = 256;
