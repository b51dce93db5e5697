//! The owner index (every session of a user, see [`express_session::store::owners`]): one Redis set per owner,
//! of session ids, kept by the scripts that write the sessions.
//!
//! - **Key**: the owner sets' prefix (default `owner:` followed by the store's prefix), then the owner, e.g.
//!   `owner:sess:alice`. It never starts with the store's prefix (the builder refuses one that would), so the
//!   `SCAN MATCH prefix*` of connect-redis's `all`, `length` and `clear`, and of this store, never meets a set.
//! - **Writes**: a `create`, `set`, `save_if`, `touch` or `refresh` of a record that names an owner runs one script
//!   that makes the write (the same command as without the index) and `SADD`s the id to the owner's set, raising
//!   the set's TTL to the session key's when it is lower (no TTL with `disable_ttl`). So a set never expires
//!   before a member that was last written here, and expires with its last member. Records that name no owner are
//!   written with exactly the commands of a store without the index.
//! - **Superset**: a session that changed owner, was destroyed or expired may stay in a set. Every reader checks
//!   each member's current record in a script (`lua/owners/batch.lua`: `GET`, cjson, the owner compared as
//!   `owner_of` does) that also removes the members that fail, atomically with the check; `end_sessions_of`
//!   deletes the members that pass in the same script, [`OWNER_BATCH`] members per script call.
//! - **Records cjson cannot decode** (a lone surrogate, nesting deeper than 1,000, which Node can write and the
//!   store keeps as text): the script hands them back, and the store reads them itself and ends them with a
//!   compare-and-delete of the text it checked.

use std::collections::HashSet;

use express_session::store::{OWNER_BATCH, OwnedSession, OwnerPage, SessionHandle, Store, StoreError, owner_of};
use express_session::{Record, SessionId, Timestamp};
use redis::{Cmd, RedisResult, Script, Value};

use crate::command::{evalsha, split_version};
use crate::connection::{STORE, bounded};
use crate::expiry::{ROUNDING_SLACK_MS, is_live};
use crate::scan::{KeyScan, read_page};
use crate::store::RedisStore;

/// The helpers every owner script starts with.
const PRELUDE: &str = include_str!("lua/owners/prelude.lua");

/// The default owner sets' prefix is this, then the store's prefix.
pub(crate) const DEFAULT_SET_PREFIX: &str = "owner:";

/// How many times an undecodable record (see the module docs) is read again when it changed under its
/// compare-and-delete.
const UNDECIDED_TRIES: usize = 8;

/// The owner index of a store built with an owner key.
pub(crate) struct OwnerIndex {
    /// The data key that names a session's owner.
    pub(crate) key: String,
    /// An owner's set is this, then the owner.
    pub(crate) set_prefix: String,
    pub(crate) create: Script,
    pub(crate) set: Script,
    pub(crate) save_if: Script,
    pub(crate) touch: Script,
    pub(crate) refresh: Script,
    pub(crate) refresh_after: Script,
    batch: Script,
    index: Script,
}

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

impl OwnerIndex {
    pub(crate) fn new(key: String, set_prefix: String) -> Self {
        Self {
            key,
            set_prefix,
            create: script(include_str!("lua/owners/create.lua")),
            set: script(include_str!("lua/owners/set.lua")),
            save_if: script(include_str!("lua/owners/save_if.lua")),
            touch: script(include_str!("lua/owners/touch.lua")),
            refresh: Script::new(include_str!("lua/owners/refresh.lua")),
            refresh_after: Script::new(include_str!("lua/owners/refresh_after.lua")),
            batch: script(include_str!("lua/owners/batch.lua")),
            index: script(include_str!("lua/owners/index.lua")),
        }
    }

    /// The key of `owner`'s set.
    pub(crate) fn set_key(&self, owner: &str) -> String {
        let mut key = String::with_capacity(self.set_prefix.len() + owner.len());
        key.push_str(&self.set_prefix);
        key.push_str(owner);
        key
    }
}

/// Checks the owner index's options when a store is built: a valid owner key, one server, and sets whose keys
/// never start with the session prefix.
pub(crate) fn check_options(key: &str, set_prefix: &str, prefix: &str, cluster: bool) -> Result<(), StoreError> {
    express_session::store::check_owner_key(key).map_err(|message| StoreError::backend(STORE, message))?;
    if cluster {
        return Err(StoreError::backend(
            STORE,
            "the owner index (RedisStoreBuilder::owner_key) needs one Redis server: on a Redis Cluster an owner's \
             set and the owner's sessions live in different slots, which one script cannot write together; build \
             the store without an owner key there",
        ));
    }
    if set_prefix.starts_with(prefix) {
        return Err(StoreError::backend(
            STORE,
            format!(
                "the owner sets' prefix {set_prefix:?} starts with the session prefix {prefix:?}: connect-redis's \
                 all, length and clear (SCAN MATCH prefix*) would meet the sets; use a session prefix that is not \
                 empty, or another RedisStoreBuilder::owner_index_prefix"
            ),
        ));
    }
    Ok(())
}

/// What a batch script does with the members that name the owner.
#[derive(Clone, Copy)]
enum Mode {
    List,
    End,
}

/// An owner's members, read by `SSCAN` (`OWNER_BATCH` at a time), each once.
struct Members {
    set: String,
    cursor: u64,
    done: bool,
    seen: HashSet<String>,
    /// Members read and not handed out yet (see `next_batch`).
    pending: Vec<String>,
}

impl Members {
    fn new(set: String) -> Self {
        Self { set, cursor: 0, done: false, seen: HashSet::new(), pending: Vec::new() }
    }
}

impl RedisStore {
    /// The owner index, or the error of a store without one.
    fn owner_index(&self, operation: &'static str) -> Result<&OwnerIndex, StoreError> {
        self.inner.owners.as_ref().ok_or(StoreError::Unsupported { operation })
    }

    /// The index and the set of the owner `record` names, when the store keeps an index and the record names one.
    pub(crate) fn owner_set(&self, record: &Record) -> Option<(&OwnerIndex, String)> {
        let index = self.inner.owners.as_ref()?;
        let owner = owner_of(record, &index.key)?;
        Some((index, index.set_key(&owner)))
    }

    /// The next page of members not seen yet; `None` when the scan is over.
    async fn next_members(&self, members: &mut Members) -> Result<Option<Vec<String>>, StoreError> {
        if members.done {
            return Ok(None);
        }
        let mut command = redis::cmd("SSCAN");
        command.arg(&members.set).arg(members.cursor).arg("COUNT").arg(OWNER_BATCH);
        let (next, page): (u64, Vec<String>) = bounded(self.inner.timeout, self.run(command)).await?;
        members.cursor = next;
        members.done = next == 0;
        Ok(Some(page.into_iter().filter(|id| members.seen.insert(id.clone())).collect()))
    }

    /// The next batch of at most [`OWNER_BATCH`] members not seen yet; `None` when there are no more.
    async fn next_batch(&self, members: &mut Members) -> Result<Option<Vec<String>>, StoreError> {
        loop {
            if members.pending.len() >= OWNER_BATCH {
                let rest = members.pending.split_off(OWNER_BATCH);
                return Ok(Some(std::mem::replace(&mut members.pending, rest)));
            }
            match self.next_members(members).await? {
                Some(page) => members.pending.extend(page),
                None => return Ok((!members.pending.is_empty()).then(|| std::mem::take(&mut members.pending))),
            }
        }
    }

    /// One call of `batch.lua` on `ids`.
    async fn run_batch(
        &self,
        index: &OwnerIndex,
        set: &str,
        owner: &str,
        mode: Mode,
        ids: &[String],
    ) -> Result<Vec<Value>, StoreError> {
        let script = &index.batch;
        let now = self.now().as_millis();
        let command = || {
            let len = ids.iter().map(|id| id.len() + self.prefix().len() + 8).sum::<usize>() + set.len() + 128;
            let mut command = Cmd::with_capacity(ids.len() + 9, len);
            command.arg("EVALSHA").arg(script.get_hash()).arg(ids.len() + 1).arg(set);
            for id in ids {
                command.arg(self.key_arg(id));
            }
            command.arg(match mode {
                Mode::List => "list",
                Mode::End => "end",
            });
            command.arg(&index.key).arg(owner).arg(now).arg(self.prefix().len());
            command
        };
        bounded(self.inner.timeout, self.invoke(script, command)).await
    }

    /// Ends the members in `ids` whose record names `owner` (one script call); how many live sessions it ended.
    async fn end_batch(&self, index: &OwnerIndex, set: &str, owner: &str, ids: &[String]) -> Result<u64, StoreError> {
        let reply = self.run_batch(index, set, owner, Mode::End, ids).await?;
        let mut reply = reply.into_iter();
        let ended: i64 = match reply.next() {
            Some(value) => redis::from_redis_value(value).map_err(|e| StoreError::backend(STORE, e))?,
            None => 0,
        };
        let mut ended = u64::try_from(ended).unwrap_or(0);
        for value in reply {
            let id: String = redis::from_redis_value(value).map_err(|e| StoreError::backend(STORE, e))?;
            if self.end_undecided(&index.key, owner, &id).await? {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Ends the session `id` (whose record `batch.lua` could not decode) if its record names `owner` and is live:
    /// read here, then deleted only if its text is still the one read (`save_if.lua` with a zero TTL).
    async fn end_undecided(&self, owner_key: &str, owner: &str, id: &str) -> Result<bool, StoreError> {
        let Some(session) = SessionId::new(id) else { return Ok(false) };
        for _ in 0..UNDECIDED_TRIES {
            let Some(found) = bounded(self.inner.timeout, self.read(session.as_str())).await? else {
                return Ok(false);
            };
            if owner_of(&found.record, owner_key).as_deref() != Some(owner) {
                return Ok(false);
            }
            let Some((expires, text)) = split_version(&found.version) else { return Ok(false) };
            let now = self.now().as_millis();
            let min_pttl = expires
                .filter(|&expires| expires <= now)
                .map(|expires| expires.saturating_add(ROUNDING_SLACK_MS).saturating_sub(now));
            let script = &self.inner.save_if;
            let key = self.key_arg(session.as_str());
            let command = || {
                let mut command = evalsha(script, key, 4, text.len() + 32);
                command.arg(text).arg("").arg(0);
                if let Some(min_pttl) = min_pttl {
                    command.arg(min_pttl);
                }
                command
            };
            let outcome: i64 = bounded(self.inner.timeout, self.invoke(script, command)).await?;
            match outcome {
                1 => return Ok(true),
                0 => continue,
                _ => return Ok(false),
            }
        }
        Err(StoreError::backend(STORE, "a session kept changing while its owner's sessions were being ended"))
    }

    /// The owner's live sessions (see [`Store::sessions_of`](express_session::store::Store::sessions_of)).
    pub(crate) async fn owner_sessions(&self, owner: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        let index = self.owner_index("sessions_of")?;
        let set = index.set_key(owner);
        let mut sessions = Vec::new();
        let mut members = Members::new(set.clone());
        while let Some(ids) = self.next_batch(&mut members).await? {
            let reply = self.run_batch(index, &set, owner, Mode::List, &ids).await?;
            let now = self.now();
            let mut reply = reply.into_iter();
            while let (Some(id), Some(json), Some(pttl)) = (reply.next(), reply.next(), reply.next()) {
                let decoded: RedisResult<(String, Vec<u8>, i64)> = (|| {
                    Ok((redis::from_redis_value(id)?, redis::from_redis_value(json)?, redis::from_redis_value(pttl)?))
                })();
                let (id, json, pttl) = decoded.map_err(|e| StoreError::backend(STORE, e))?;
                if let Some(session) = listed(&id, &json, pttl, &index.key, owner, now) {
                    sessions.push(session);
                }
            }
        }
        Ok(OwnerPage::from_sessions(sessions, limit))
    }

    /// Ends the owner's session named by `handle` (see
    /// [`Store::end_session_of`](express_session::store::Store::end_session_of)).
    pub(crate) async fn end_owner_session(&self, owner: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        let index = self.owner_index("end_session_of")?;
        let set = index.set_key(owner);
        let mut members = Members::new(set.clone());
        while let Some(page) = self.next_members(&mut members).await? {
            let found =
                page.into_iter().find(|id| SessionId::new(id).is_some_and(|id| SessionHandle::of(&id) == *handle));
            if let Some(id) = found {
                return Ok(self.end_batch(index, &set, owner, &[id]).await? > 0);
            }
        }
        Ok(false)
    }

    /// Ends every session of the owner but `keep` (see
    /// [`Store::end_sessions_of`](express_session::store::Store::end_sessions_of)).
    pub(crate) async fn end_owner_sessions(&self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let index = self.owner_index("end_sessions_of")?;
        let set = index.set_key(owner);
        let mut ended = 0;
        let mut members = Members::new(set.clone());
        while let Some(mut ids) = self.next_batch(&mut members).await? {
            if let Some(keep) = keep {
                ids.retain(|id| id != keep.as_str());
            }
            if !ids.is_empty() {
                ended += self.end_batch(index, &set, owner, &ids).await?;
            }
        }
        Ok(ended)
    }

    /// Scans every session once and indexes those that name an owner (see
    /// [`Store::reindex`](express_session::store::Store::reindex)).
    pub(crate) async fn reindex_owners(&self) -> Result<u64, StoreError> {
        let index = self.owner_index("reindex")?;
        let mut connection = self.connection();
        let limit = self.inner.timeout;
        let mut scan = KeyScan::default();
        let mut seen = HashSet::new();
        let mut found = 0;
        while let Some(keys) = bounded(limit, self.next_keys(&mut connection, &mut scan)).await? {
            let keys: Vec<Vec<u8>> = keys.into_iter().filter(|k| seen.insert(k.clone())).collect();
            if keys.is_empty() {
                continue;
            }
            let values = bounded(limit, read_page(&mut connection, &keys)).await?;
            let mut owned: Vec<(SessionId, String)> = Vec::new();
            for (key, json) in keys.into_iter().zip(values) {
                let (Some(json), Ok(key)) = (json, String::from_utf8(key)) else { continue };
                let Some(id) = key.strip_prefix(self.prefix()).and_then(SessionId::new) else { continue };
                let live = bounded(limit, self.live_record(id.as_str(), self.key_arg(id.as_str()), json)).await?;
                if let Some(owner) = live.and_then(|found| owner_of(&found.record, &index.key)) {
                    owned.push((id, index.set_key(&owner)));
                }
            }
            for chunk in owned.chunks(OWNER_BATCH) {
                let script = &index.index;
                let command = || {
                    let mut command = Cmd::with_capacity(3 + chunk.len() * 3, 64 * chunk.len() + 64);
                    command.arg("EVALSHA").arg(script.get_hash()).arg(chunk.len() * 2);
                    for (id, set) in chunk {
                        command.arg(self.key_arg(id.as_str())).arg(set);
                    }
                    for (id, _) in chunk {
                        command.arg(id.as_str());
                    }
                    command
                };
                let indexed: u64 = bounded(limit, self.invoke(script, command)).await?;
                found += indexed;
            }
        }
        Ok(found)
    }

    /// `clear`'s second part on a store with an owner index: `SCAN MATCH` the sets' prefix, then `DEL`.
    pub(crate) async fn clear_owner_sets(&self) -> Result<(), StoreError> {
        let Some(index) = &self.inner.owners else { return Ok(()) };
        let mut connection = self.connection();
        let limit = self.inner.timeout;
        let mut scan = KeyScan::with_prefix(&index.set_prefix);
        while let Some(keys) = bounded(limit, self.next_keys(&mut connection, &mut scan)).await? {
            if !keys.is_empty() {
                let _: Value = bounded(limit, connection.query(redis::cmd("DEL").arg(&keys))).await?;
            }
        }
        Ok(())
    }
}

/// The entry of a member `batch.lua` listed (its record and key's PTTL), if its record names `owner` and is live.
fn listed(id: &str, json: &[u8], pttl: i64, owner_key: &str, owner: &str, now: Timestamp) -> Option<OwnedSession> {
    let id = SessionId::new(id)?;
    let record = Record::from_json(std::str::from_utf8(json).ok()?).ok()?;
    if owner_of(&record, owner_key).as_deref() != Some(owner) {
        return None;
    }
    let pttl = (pttl >= 0).then_some(pttl);
    if !is_live(record.expires(), now, pttl) {
        return None;
    }
    // A touch moves only the key's TTL: when the key outlives the text's cookie.expires by a second or more, the
    // key's expiry is the session's (to within the second its TTL was rounded up to).
    let touched = match (record.expires(), pttl) {
        (Some(expires), Some(pttl)) => {
            let key_expires = now.as_millis().saturating_add(pttl);
            (key_expires >= expires.as_millis().saturating_add(ROUNDING_SLACK_MS))
                .then(|| Timestamp::from_millis(key_expires))
        }
        _ => None,
    };
    Some(OwnedSession::new(&id, &record, touched))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_options_are_checked() {
        assert!(check_options("user", "owner:sess:", "sess:", false).is_ok());
        assert!(check_options("user id", "owner:sess:", "sess:", false).is_err());
        assert!(check_options("cookie", "owner:sess:", "sess:", false).is_err());
        let cluster = check_options("user", "owner:sess:", "sess:", true).unwrap_err();
        let message = std::error::Error::source(&cluster).map(ToString::to_string).unwrap_or_default();
        assert!(message.contains("Redis Cluster"), "{message}");
        // Sets under the session prefix would be met by connect-redis's SCAN MATCH prefix*.
        assert!(check_options("user", "owner:", "", false).is_err());
        assert!(check_options("user", "owner:o", "o", false).is_err());
        assert!(check_options("user", "sess:owners:", "sess:", false).is_err());
        assert!(check_options("user", "owners:", "sess:", false).is_ok());
    }

    #[test]
    fn the_indexed_refresh_is_refresh_lua_word_for_word_then_the_owner() {
        let plain = include_str!("lua/refresh.lua");
        let body = &plain[plain.find("local json").unwrap()..plain.find("return 1\n").unwrap()];
        let owned = include_str!("lua/owners/refresh.lua");
        assert!(owned.contains(body));
        assert!(owned[owned.find(body).unwrap() + body.len()..].contains("'SADD'"));
    }

    #[test]
    fn the_refresh_after_scripts_are_refresh_lua_word_for_word_then_the_interval() {
        let plain = include_str!("lua/refresh.lua");
        let body = &plain[plain.find("local json").unwrap()..plain.find("redis.call('EXPIRE'").unwrap()];
        for script in [include_str!("lua/refresh_after.lua"), include_str!("lua/owners/refresh_after.lua")] {
            let rest = &script[script.find(body).expect("refresh.lua's body") + body.len()..];
            assert!(rest.contains("'PTTL', KEYS[1]) > ttl_ms - interval"), "{rest}");
            assert!(rest.contains("return 0"), "{rest}");
        }
        let owned = include_str!("lua/owners/refresh_after.lua");
        assert!(owned.contains("'SADD'") && owned.contains("'SISMEMBER'"));
    }

    #[test]
    fn a_listed_session_takes_its_expiry_from_a_touched_key() {
        let now = Timestamp::from_millis(1_893_456_000_000);
        let expires = now.add_millis(10_000).to_json();
        let json = format!(r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{expires}"}},"user":42}}"#);
        let id = SessionId::generate();
        // Untouched: the text's expiry.
        let entry = listed(id.as_str(), json.as_bytes(), 10_400, "user", "42", now).unwrap();
        assert_eq!(entry.expires, Some(now.add_millis(10_000)));
        assert_eq!(entry.handle, SessionHandle::of(&id));
        // Touched: the key's.
        let entry = listed(id.as_str(), json.as_bytes(), 60_000, "user", "42", now).unwrap();
        assert_eq!(entry.expires, Some(now.add_millis(60_000)));
        assert_eq!(entry.last_seen, Some(now));
        // Another owner, an expired text whose key was not touched, a record that does not parse: not listed.
        assert!(listed(id.as_str(), json.as_bytes(), 10_400, "user", "alice", now).is_none());
        let later = now.add_millis(10_500);
        assert!(listed(id.as_str(), json.as_bytes(), 400, "user", "42", later).is_none());
        assert!(listed(id.as_str(), b"{", 400, "user", "42", now).is_none());
    }
}
