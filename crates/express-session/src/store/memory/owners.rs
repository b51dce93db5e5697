//! A [`MemoryStore`](super::MemoryStore)'s owner index: owner → the keys of the records written with that owner.
//!
//! The index is a superset: an entry is added when a record naming the owner is written, and is not removed when
//! the record changes owner, expires or is destroyed. Whoever reads it checks each record under its shard's lock
//! (live, and still naming that owner), and drops the entries that fail. Writes add after releasing their shard;
//! readers hold the index while they lock shards one at a time, so the only nesting is index → shard and no two
//! locks are ever taken in opposite orders.
//!
//! Entries of sessions that are gone are swept as the index is written to: once the additions since the last
//! sweep outnumber the entries (at least [`SWEEP_MIN`]), the whole index is checked, so sweeping costs O(1)
//! amortised per owned write and stale entries never make up more than about half of it, as with the shards'
//! own sweeping of expired records.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::shard::Key;

/// The fewest additions between two sweeps of the index.
pub(super) const SWEEP_MIN: usize = 256;

#[derive(Debug)]
pub(super) struct Owners {
    pub(super) key: Box<str>,
    pub(super) index: Mutex<Index>,
}

#[derive(Debug, Default)]
pub(super) struct Index {
    pub(super) by_owner: HashMap<Box<str>, HashSet<Key>>,
    /// Entries in `by_owner`, over all owners.
    pub(super) entries: usize,
    pub(super) adds_since_sweep: usize,
}

impl Index {
    /// Adds an entry; whether the index is due for a sweep.
    pub(super) fn add(&mut self, owner: &str, key: Key) -> bool {
        let added = match self.by_owner.get_mut(owner) {
            Some(keys) => keys.insert(key),
            None => {
                self.by_owner.insert(owner.into(), HashSet::from([key]));
                true
            }
        };
        if added {
            self.entries += 1;
            self.adds_since_sweep += 1;
        }
        self.adds_since_sweep >= self.entries.max(SWEEP_MIN)
    }

    /// Removes `owner`'s entries in `stale`.
    pub(super) fn remove(&mut self, owner: &str, stale: &[Key]) {
        let Some(keys) = self.by_owner.get_mut(owner) else { return };
        for key in stale {
            if keys.remove(key) {
                self.entries -= 1;
            }
        }
        if keys.is_empty() {
            self.by_owner.remove(owner);
        }
    }
}
