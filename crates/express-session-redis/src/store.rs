//! [`RedisStore`]: the [`Store`] methods and the reads behind them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{Clock, Record, SessionId, Timestamp};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind, Value};

use crate::batch::Batcher;
use crate::builder::RedisStoreBuilder;
use crate::command::{Key, evalsha, evalsha_2, evalsha_guarded, split_version, version};
use crate::connection::{RedisConnection, bounded, resend_while_recovering};
use crate::expiry::{KeyTtl, ROUNDING_SLACK_MS, is_live, key_ttl, ttl_seconds};
use crate::guard::WriteGuard;
use crate::owners::OwnerIndex;
use crate::scan::KeyScan;

/// A session store on Redis (one server or a Redis Cluster) that shares its records with Node's
/// [connect-redis](https://www.npmjs.com/package/connect-redis): the same keys (`sess:` + id), the same values
/// (express-session's JSON) and the same TTLs, so a Node app and a Rust app can serve one session.
///
/// On top of connect-redis it makes every write conditional, as the [`Store`] contract asks: `create` is
/// `SET … NX`, and `save_if` is a compare-and-set script that replaces the record only if its text is still the
/// one that was read. See the [crate documentation](crate) for the commands each method sends.
///
/// Cloning is cheap: clones share the connection.
///
/// ```
/// use express_session::{SessionManagerLayer, SessionOptions};
/// use express_session_redis::RedisStore;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // `connect` connects now; `connect_lazy` (used here, so that the example runs without Redis) on the first call.
/// let store = RedisStore::builder()
///     .prefix("myapp:")
///     .timeout(Duration::from_secs(2))
///     .connect_lazy("redis://127.0.0.1:6379")?;
/// // At least 32 bytes (e.g. 64 hex characters from a secrets manager): express's "keyboard cat" is refused.
/// # /*
/// let secret = std::env::var("SESSION_SECRET")?;
/// # */
/// # let secret = "a secret of at least thirty-two bytes, for the doctest";
/// let layer = SessionManagerLayer::new(SessionOptions::new().secret(secret).store(store))?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) connection: RedisConnection,
    /// The queue that pipelines the store's commands, on one server (a cluster connection routes each command to
    /// its node itself).
    pub(crate) batcher: Option<Batcher>,
    pub(crate) prefix: String,
    /// `SCAN MATCH` pattern: the prefix with glob characters escaped, then `*`.
    pub(crate) pattern: String,
    pub(crate) ttl_secs: i64,
    pub(crate) disable_ttl: bool,
    pub(crate) disable_touch: bool,
    pub(crate) timeout: Duration,
    pub(crate) scan_count: usize,
    pub(crate) clock: Clock,
    /// On a Redis Cluster, the write tokens of `save_if` and `create` (see `guard.rs`); `None` on one server.
    pub(crate) guard: Option<WriteGuard>,
    pub(crate) save_if: Script,
    /// `save_if` on a Redis Cluster: `save_if`, plus the write token.
    pub(crate) save_if_cluster: Script,
    /// `create` on a Redis Cluster (one server sends a plain `SET … NX`).
    pub(crate) create_cluster: Script,
    pub(crate) get_with_ttl: Script,
    pub(crate) refresh: Script,
    /// `refresh` with `touch_after`'s interval (`refresh_after.lua`).
    pub(crate) refresh_after: Script,
    /// The owner index, when the store was built with an owner key (one server only).
    pub(crate) owners: Option<OwnerIndex>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("RedisStore")
            .field("connection", &inner.connection)
            .field("prefix", &inner.prefix)
            .field("ttl_secs", &inner.ttl_secs)
            .field("disable_ttl", &inner.disable_ttl)
            .field("disable_touch", &inner.disable_touch)
            .field("timeout", &inner.timeout)
            .field("owner_key", &inner.owners.as_ref().map(|owners| &owners.key))
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A builder, for the options.
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder();
    /// # let _ = builder;
    /// ```
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// Connects to one server with connect-redis's defaults (prefix `sess:`, one-day TTL) and a 3-second time
    /// limit per call; the same as `RedisStore::builder().connect(url)`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_redis::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// The key prefix.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = express_session_redis::RedisStore::builder().connect_lazy("redis://127.0.0.1").unwrap();
    /// assert_eq!(store.prefix(), "sess:");
    /// # }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The Redis key of a session: the prefix followed by the id, as connect-redis names it.
    ///
    /// ```
    /// use express_session::SessionId;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = express_session_redis::RedisStore::builder().connect_lazy("redis://127.0.0.1").unwrap();
    /// let id = SessionId::new("abc").unwrap();
    /// assert_eq!(store.key(&id), "sess:abc");
    /// # }
    /// ```
    pub fn key(&self, id: &SessionId) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + id.as_str().len());
        key.push_str(&self.inner.prefix);
        key.push_str(id.as_str());
        key
    }

    /// [`key`](Self::key) as a command argument.
    pub(crate) fn key_arg<'a>(&'a self, id: &'a str) -> Key<'a> {
        Key { prefix: &self.inner.prefix, id }
    }

    /// A handle to the store's connection, for commands of your own (it is shared, not a new connection).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = express_session_redis::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let mut connection = store.connection();
    /// let pong: String = redis::cmd("PING").query_async(&mut connection).await?;
    /// # let _ = pong;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection(&self) -> RedisConnection {
        self.inner.connection.clone()
    }

    /// Sends one command: through the pipelining queue on one server, straight to its node on a cluster (again
    /// while the cluster recovers, see [`resend_while_recovering`]; the caller's time limit ends that).
    pub(crate) async fn run<T: FromRedisValue>(&self, command: Cmd) -> RedisResult<T> {
        self.send(command, true).await
    }

    /// [`run`](Self::run); on a cluster, `try_again` says whether a `TRYAGAIN` is sent again (else it is the
    /// answer: a guarded write of a migrating slot, which would get it for as long as the migration lasts).
    async fn send<T: FromRedisValue>(&self, command: Cmd, try_again: bool) -> RedisResult<T> {
        match &self.inner.batcher {
            Some(batcher) => Ok(redis::from_redis_value(batcher.query(command).await?)?),
            None => {
                resend_while_recovering(try_again, || {
                    let mut connection = self.connection();
                    let command = &command;
                    async move { command.query_async(&mut connection).await }
                })
                .await
            }
        }
    }

    /// Runs the `EVALSHA` that `command` builds (see [`evalsha`]); when the server does not know the script yet (a
    /// new or restarted server, `SCRIPT FLUSH`), loads it and runs it again.
    pub(crate) async fn invoke<T: FromRedisValue>(&self, script: &Script, command: impl Fn() -> Cmd) -> RedisResult<T> {
        self.invoke_with(script, command, true).await
    }

    /// [`invoke`](Self::invoke), with [`send`](Self::send)'s `try_again`.
    async fn invoke_with<T: FromRedisValue>(
        &self,
        script: &Script,
        command: impl Fn() -> Cmd,
        try_again: bool,
    ) -> RedisResult<T> {
        match self.send(command(), try_again).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                script.load_async(&mut self.connection()).await?;
                self.send(command(), try_again).await
            }
            result => result,
        }
    }

    /// A guarded write on a cluster (see `guard.rs`): `guarded` (the script with the call's token) unless the
    /// key's slot is known to migrate, else, or when `guarded` gets `TRYAGAIN` (its slot migrates: the script did
    /// not run), `unguarded` (one key, as connect-redis writes), which the cluster connection sends on to the
    /// importing node with `ASK`. The guard against resends is off for that call.
    async fn guarded_write<T: FromRedisValue>(
        &self,
        guard: &WriteGuard,
        key: Key<'_>,
        guarded: impl Future<Output = RedisResult<T>>,
        unguarded: impl AsyncFnOnce() -> RedisResult<T>,
    ) -> RedisResult<T> {
        if guard.is_migrating(key) {
            return unguarded().await;
        }
        match guarded.await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::TryAgain) => {
                guard.mark_migrating(key);
                tracing::debug!("guarded write got TRYAGAIN (its slot migrates): sent without its token");
                unguarded().await
            }
            result => result,
        }
    }

    /// `SET key json [EX ttl] NX`: `create` on one server (and on a cluster while the key's slot migrates).
    fn create_command(&self, key: Key<'_>, json: &str, ttl: KeyTtl) -> Cmd {
        let mut command = Cmd::with_capacity(6, 48 + key.prefix.len() + key.id.len() + json.len());
        command.arg("SET").arg(key).arg(json);
        if let KeyTtl::Seconds(ttl) = ttl {
            command.arg("EX").arg(ttl);
        }
        command.arg("NX");
        command
    }

    fn key_ttl(&self, record: &Record, now: Timestamp) -> KeyTtl {
        key_ttl(record, now, self.inner.ttl_secs, self.inner.disable_ttl)
    }

    fn parse(id: &str, json: &[u8]) -> Option<Record> {
        let parsed = std::str::from_utf8(json)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(|text| Record::from_json(text).map_err(|e| e.to_string()));
        match parsed {
            Ok(record) => Some(record),
            Err(error) => {
                let session = SessionId::new(id).map(|id| id.log_hash()).unwrap_or_default();
                tracing::warn!(%session, %error, "stored session does not parse; treated as absent");
                None
            }
        }
    }

    /// `get` of one key, as one or (for a record whose text says it has expired) two round trips.
    pub(crate) async fn read(&self, id: &str) -> RedisResult<Option<Versioned>> {
        let key = self.key_arg(id);
        let mut command = Cmd::with_capacity(2, 16 + key.prefix.len() + key.id.len());
        command.arg("GET").arg(key);
        let json: Option<Vec<u8>> = self.run(command).await?;
        let Some(json) = json else { return Ok(None) };
        self.live_record(id, key, json).await
    }

    /// The record in `json` (just read from `key`) if it is live; for one whose `cookie.expires` has passed, asks
    /// Redis whether its key was touched since.
    pub(crate) async fn live_record(&self, id: &str, key: Key<'_>, json: Vec<u8>) -> RedisResult<Option<Versioned>> {
        let now = self.now();
        let Some(record) = Self::parse(id, &json) else { return Ok(None) };
        if record.expires().is_none_or(|expires| expires > now) {
            return Ok(Some(Versioned { version: version(record.expires(), &json), record }));
        }
        let script = &self.inner.get_with_ttl;
        let reply: Option<(Vec<u8>, i64)> = self.invoke(script, || evalsha(script, key, 0, 0)).await?;
        let Some((current, pttl)) = reply else { return Ok(None) };
        let record = if current == json {
            record
        } else {
            let Some(record) = Self::parse(id, &current) else { return Ok(None) };
            record
        };
        let pttl = (pttl >= 0).then_some(pttl);
        Ok(is_live(record.expires(), now, pttl)
            .then(|| Versioned { version: version(record.expires(), &current), record }))
    }

    /// Whether a live record has this id (for `touch` and `refresh` when touching is disabled).
    async fn exists(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        Ok(if self.get(id).await?.is_some() { TouchOutcome::Touched } else { TouchOutcome::Gone })
    }
}

impl Store for RedisStore {
    /// `GET prefix+id`; for a record whose `cookie.expires` has passed, also its key's `PTTL` (in one script),
    /// so that a record touched since (a touch moves only the TTL) is still returned, and an expired one never.
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        bounded(self.inner.timeout, self.read(id.as_str())).await
    }

    /// `SET prefix+id json EX ttl NX`: connect-redis's write, only if the key is absent. (On a Redis Cluster, the
    /// same `SET` in a script that also records the call's write token, except while the key's slot migrates: see
    /// the crate documentation.)
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let key = self.key_arg(id.as_str());
        let json = record.to_json();
        let ttl = self.key_ttl(record, self.now());
        if ttl == KeyTtl::Expired {
            // connect-redis would `DEL` the key, which here could remove a live session of that id. Write nothing,
            // and report what an insert of an already expired record amounts to.
            return Ok(match self.get(id).await? {
                Some(_) => CreateOutcome::Exists,
                None => CreateOutcome::Created(version(record.expires(), json.as_bytes())),
            });
        }
        if let Some((index, set)) = self.owner_set(record) {
            // `create_command`'s `SET … NX` and the owner's set, in one script (one server only).
            let script = &index.create;
            let command = || {
                let mut command = evalsha_2(script, key, set.as_bytes(), 3, json.len() + id.as_str().len() + 32);
                command.arg(&json);
                match ttl {
                    KeyTtl::Seconds(ttl) => command.arg(ttl),
                    _ => command.arg(""),
                };
                command.arg(id.as_str());
                command
            };
            let created: i64 = bounded(self.inner.timeout, self.invoke(script, command)).await?;
            return Ok(if created == 1 {
                CreateOutcome::Created(version(record.expires(), json.as_bytes()))
            } else {
                CreateOutcome::Exists
            });
        }
        if let Some(guard) = &self.inner.guard {
            let script = &self.inner.create_cluster;
            let token_key = guard.token_key(key);
            let command = || {
                let mut command = evalsha_guarded(script, key, &token_key, 3, json.len() + 32);
                command.arg(&json);
                match ttl {
                    KeyTtl::Seconds(ttl) => command.arg(ttl),
                    _ => command.arg(""),
                };
                command.arg(guard.ttl_ms());
                command
            };
            let guarded = self.invoke_with(script, command, false);
            let unguarded = async || {
                let reply: Value = self.run(self.create_command(key, &json, ttl)).await?;
                Ok(i64::from(reply != Value::Nil))
            };
            let created: i64 = bounded(self.inner.timeout, self.guarded_write(guard, key, guarded, unguarded)).await?;
            return Ok(if created == 1 {
                CreateOutcome::Created(version(record.expires(), json.as_bytes()))
            } else {
                CreateOutcome::Exists
            });
        }
        let reply: Value = bounded(self.inner.timeout, self.run(self.create_command(key, &json, ttl))).await?;
        Ok(match reply {
            Value::Nil => CreateOutcome::Exists,
            _ => CreateOutcome::Created(version(record.expires(), json.as_bytes())),
        })
    }

    /// connect-redis's `set`, byte for byte: `SET prefix+id json EX ttl`, `DEL prefix+id` when the TTL is not
    /// positive, a plain `SET` with `disable_ttl`.
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let ttl = self.key_ttl(record, self.now());
        if ttl != KeyTtl::Expired
            && let Some((index, set)) = self.owner_set(record)
        {
            // connect-redis's `SET` and the owner's set, in one script.
            let (script, json) = (&index.set, record.to_json());
            let command = || {
                let key = self.key_arg(id.as_str());
                let mut command = evalsha_2(script, key, set.as_bytes(), 3, json.len() + id.as_str().len() + 32);
                command.arg(&json);
                match ttl {
                    KeyTtl::Seconds(ttl) => command.arg(ttl),
                    _ => command.arg(""),
                };
                command.arg(id.as_str());
                command
            };
            let _: Value = bounded(self.inner.timeout, self.invoke(script, command)).await?;
            return Ok(());
        }
        let mut command = redis::cmd(if ttl == KeyTtl::Expired { "DEL" } else { "SET" });
        command.arg(self.key_arg(id.as_str()));
        match ttl {
            KeyTtl::Expired => {}
            KeyTtl::Never => {
                command.arg(record.to_json());
            }
            KeyTtl::Seconds(ttl) => {
                command.arg(record.to_json()).arg("EX").arg(ttl);
            }
        }
        let _: Value = bounded(self.inner.timeout, self.run(command)).await?;
        Ok(())
    }

    /// One script: `GET` the key, compare with the version's text, then connect-redis's write (`SET … EX ttl`,
    /// or `DEL` when the TTL is not positive). Its arguments are the two texts and the TTL; the key's `PTTL` is
    /// read too only when the text that was read says the record has expired. (On a Redis Cluster, the script
    /// also records the call's write token, except while the key's slot migrates: see the crate documentation.)
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        let Some((expected_expires, expected_json)) = split_version(expected) else {
            // Not a version this store made: it cannot be the current one.
            return Ok(SaveOutcome::Conflict);
        };
        let now = self.now();
        let json = record.to_json();
        let ttl = self.key_ttl(record, now);
        // Gone unless the key was touched past that expiry: now + pttl >= expires + 1000.
        let min_pttl = expected_expires
            .filter(|&expires| expires <= now.as_millis())
            .map(|expires| expires.saturating_add(ROUNDING_SLACK_MS).saturating_sub(now.as_millis()));
        let key = self.key_arg(id.as_str());
        // `save_if.lua`'s command, or with `Some` (a cluster) `save_if_cluster.lua`'s with that token.
        let command = |script: &Script, token: Option<(&WriteGuard, &[u8])>| {
            let len = expected_json.len() + json.len() + 48;
            let mut command = match token {
                None => evalsha(script, key, 4, len),
                Some((_, token_key)) => evalsha_guarded(script, key, token_key, 5, len),
            };
            command.arg(expected_json).arg(&json);
            match ttl {
                KeyTtl::Never => command.arg(""),
                KeyTtl::Seconds(ttl) => command.arg(ttl),
                KeyTtl::Expired => command.arg(0),
            };
            if let Some((guard, _)) = token {
                command.arg(guard.ttl_ms());
            }
            if let Some(min_pttl) = min_pttl {
                command.arg(min_pttl);
            }
            command
        };
        let plain = &self.inner.save_if;
        let owned = self.owner_set(record);
        let outcome: i64 = match &self.inner.guard {
            None if let Some((index, set)) = &owned => {
                // `save_if.lua` and the owner's set, in one script (one server only).
                let script = &index.save_if;
                let command = || {
                    let len = expected_json.len() + json.len() + id.as_str().len() + 48;
                    let mut command = evalsha_2(script, key, set.as_bytes(), 5, len);
                    command.arg(expected_json).arg(&json);
                    match ttl {
                        KeyTtl::Never => command.arg(""),
                        KeyTtl::Seconds(ttl) => command.arg(ttl),
                        KeyTtl::Expired => command.arg(0),
                    };
                    command.arg(id.as_str());
                    if let Some(min_pttl) = min_pttl {
                        command.arg(min_pttl);
                    }
                    command
                };
                bounded(self.inner.timeout, self.invoke(script, command)).await?
            }
            None => bounded(self.inner.timeout, self.invoke(plain, || command(plain, None))).await?,
            Some(guard) => {
                let script = &self.inner.save_if_cluster;
                let token_key = guard.token_key(key);
                let guarded = self.invoke_with(script, || command(script, Some((guard, &token_key))), false);
                let unguarded = async || self.invoke(plain, || command(plain, None)).await;
                bounded(self.inner.timeout, self.guarded_write(guard, key, guarded, unguarded)).await?
            }
        };
        Ok(match outcome {
            1 => SaveOutcome::Saved(version(record.expires(), json.as_bytes())),
            0 => SaveOutcome::Conflict,
            _ => SaveOutcome::Gone,
        })
    }

    /// connect-redis's `touch`: `EXPIRE prefix+id ttl` with the TTL of `record`'s cookie. Only the TTL moves; the
    /// stored text keeps its old `cookie.expires`, as with connect-redis. With `disable_touch` or `disable_ttl`
    /// nothing is written.
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        if self.inner.disable_touch || self.inner.disable_ttl {
            return self.exists(id).await;
        }
        let ttl = ttl_seconds(record, self.now(), self.inner.ttl_secs);
        if let Some((index, set)) = self.owner_set(record) {
            // connect-redis's `EXPIRE` and the owner's set, in one script.
            let script = &index.touch;
            let command = || {
                let key = self.key_arg(id.as_str());
                let mut command = evalsha_2(script, key, set.as_bytes(), 2, id.as_str().len() + 24);
                command.arg(ttl).arg(id.as_str());
                command
            };
            let touched: i64 = bounded(self.inner.timeout, self.invoke(script, command)).await?;
            return Ok(if touched == 1 { TouchOutcome::Touched } else { TouchOutcome::Gone });
        }
        let mut command = redis::cmd("EXPIRE");
        command.arg(self.key_arg(id.as_str())).arg(ttl);
        let touched: i64 = bounded(self.inner.timeout, self.run(command)).await?;
        Ok(if touched == 1 { TouchOutcome::Touched } else { TouchOutcome::Gone })
    }

    /// One script: reads the record, checks it is live, and sends the `EXPIRE` its touched cookie gives
    /// (`ceil(originalMaxAge / 1000)`, or the TTL option).
    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        if self.inner.disable_touch || self.inner.disable_ttl {
            return self.exists(id).await;
        }
        let now = self.now().as_millis();
        let owners = self.inner.owners.as_ref();
        // With an owner index, `refresh.lua` and the owner's set (the script reads the owner off the record).
        let script = owners.map_or(&self.inner.refresh, |index| &index.refresh);
        let command = || {
            let args = if owners.is_some() { 5 } else { 2 };
            let mut command = evalsha(script, self.key_arg(id.as_str()), args, 40);
            command.arg(now).arg(self.inner.ttl_secs);
            if let Some(index) = owners {
                command.arg(&index.key).arg(&index.set_prefix).arg(id.as_str());
            }
            command
        };
        let outcome: i64 = bounded(self.inner.timeout, self.invoke(script, command)).await?;
        Ok(if outcome == 1 { TouchOutcome::Touched } else { TouchOutcome::Gone })
    }

    /// One script, `refresh`'s plus the interval: the `EXPIRE` is skipped (`Fresh`) when the key's PTTL says it was
    /// refreshed less than `interval` ago, `pttl > ttl - interval`, with the TTL `refresh` would set (the stored
    /// text's `cookie.expires` is stale after a touch, so the key's TTL decides). With an owner index, a fresh
    /// record writes nothing unless its id is missing from its owner's set.
    async fn refresh_after(&self, id: &SessionId, interval: Duration) -> Result<TouchOutcome, StoreError> {
        if self.inner.disable_touch || self.inner.disable_ttl {
            return self.exists(id).await;
        }
        let now = self.now().as_millis();
        let interval = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let owners = self.inner.owners.as_ref();
        let script = owners.map_or(&self.inner.refresh_after, |index| &index.refresh_after);
        let command = || {
            let args = if owners.is_some() { 6 } else { 3 };
            let mut command = evalsha(script, self.key_arg(id.as_str()), args, 60);
            command.arg(now).arg(self.inner.ttl_secs);
            if let Some(index) = owners {
                command.arg(&index.key).arg(&index.set_prefix).arg(id.as_str());
            }
            command.arg(interval);
            command
        };
        let outcome: i64 = bounded(self.inner.timeout, self.invoke(script, command)).await?;
        Ok(match outcome {
            1 => TouchOutcome::Touched,
            0 => TouchOutcome::Fresh,
            _ => TouchOutcome::Gone,
        })
    }

    /// `DEL prefix+id`.
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.key_arg(id.as_str()));
        let _: Value = bounded(self.inner.timeout, self.run(command)).await?;
        Ok(())
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// `SCAN MATCH prefix* COUNT n` (over every primary of a cluster), then `MGET` of each page; only live
    /// records that parse are returned.
    async fn all(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        self.scan_records().await
    }

    /// As [`all`](Self::all), counted: Redis cannot tell which keys hold live records without reading them.
    async fn len(&self) -> Result<usize, StoreError> {
        Ok(self.scan_records().await?.len())
    }

    /// `SCAN MATCH prefix* COUNT n` (over every primary of a cluster), then `DEL` of each page.
    async fn clear(&self) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let limit = self.inner.timeout;
        let mut scan = KeyScan::default();
        while let Some(keys) = bounded(limit, self.next_keys(&mut connection, &mut scan)).await? {
            if !keys.is_empty() {
                let _: Value = bounded(limit, connection.query(redis::cmd("DEL").arg(&keys))).await?;
            }
        }
        self.clear_owner_sets().await
    }

    /// The owner key given to [`RedisStoreBuilder::owner_key`], if any.
    fn owner_key(&self) -> Option<&str> {
        self.inner.owners.as_ref().map(|owners| owners.key.as_str())
    }

    /// `SSCAN` of the owner's set ([`OWNER_BATCH`](express_session::store::OWNER_BATCH) members a page), and one
    /// script per batch of members that reads each record, checks that it names the owner (removing the members
    /// that do not from the set), and returns the records with their keys' `PTTL`.
    async fn sessions_of(&self, owner: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        self.owner_sessions(owner, limit).await
    }

    /// `SSCAN` of the owner's set until the member with that handle, then the batch script on it alone: it deletes
    /// the session only if its record still names the owner.
    async fn end_session_of(&self, owner: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.end_owner_session(owner, handle).await
    }

    /// `SSCAN` of the owner's set, and one script per batch of
    /// [`OWNER_BATCH`](express_session::store::OWNER_BATCH) members that, atomically, deletes each session whose
    /// record still names the owner (and removes the members that do not from the set).
    async fn end_sessions_of(&self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        self.end_owner_sessions(owner, keep).await
    }

    /// `SCAN MATCH prefix*` and `MGET` of each page (as [`all`](Self::all)), then one script per page that adds
    /// the sessions naming an owner to their owners' sets, each set's TTL raised to its member's.
    async fn reindex(&self) -> Result<u64, StoreError> {
        self.reindex_owners().await
    }
}
