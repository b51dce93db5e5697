//! [`RedisStore`] and its builder.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use express_session::{Clock, Record, SessionId, Timestamp};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, RedisWrite, Script, ServerErrorKind, ToRedisArgs, Value};

use crate::batch::Batcher;
use crate::connection::{RedisConnection, STORE, bounded, classify};
use crate::expiry::{KeyTtl, ROUNDING_SLACK_MS, is_live, key_ttl, ttl_seconds};

/// connect-redis's defaults.
const DEFAULT_PREFIX: &str = "sess:";
const DEFAULT_TTL_SECS: u64 = 86_400;
const DEFAULT_SCAN_COUNT: usize = 100;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

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
/// ```no_run
/// use express_session::{SessionManagerLayer, SessionOptions};
/// use express_session_redis::RedisStore;
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder()
///     .prefix("myapp:")
///     .timeout(Duration::from_secs(2))
///     .connect("redis://127.0.0.1:6379")
///     .await?;
/// let layer = SessionManagerLayer::new(SessionOptions::new().secret("keyboard cat").store(store))?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: RedisConnection,
    /// The queue that pipelines the store's commands, on one server (a cluster connection routes each command to
    /// its node itself).
    batcher: Option<Batcher>,
    prefix: String,
    /// `SCAN MATCH` pattern: the prefix with glob characters escaped, then `*`.
    pattern: String,
    ttl_secs: i64,
    disable_ttl: bool,
    disable_touch: bool,
    timeout: Duration,
    scan_count: usize,
    clock: Clock,
    save_if: Script,
    get_with_ttl: Script,
    refresh: Script,
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
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisStore`]. The options are connect-redis's, plus the time limit of each call.
///
/// | connect-redis   | here                                          | default      |
/// |-----------------|-----------------------------------------------|--------------|
/// | `client`        | [`connect`](Self::connect), [`connect_cluster`](Self::connect_cluster), [`build`](Self::build) | — |
/// | `prefix`        | [`prefix`](Self::prefix)                      | `"sess:"`    |
/// | `ttl` (number)  | [`ttl`](Self::ttl)                            | one day      |
/// | `disableTTL`    | [`disable_ttl`](Self::disable_ttl)            | `false`      |
/// | `disableTouch`  | [`disable_touch`](Self::disable_touch)        | `false`      |
/// | `scanCount`     | [`scan_count`](Self::scan_count)              | 100          |
/// | —               | [`timeout`](Self::timeout)                    | 3 seconds    |
///
/// ```
/// use express_session_redis::RedisStore;
/// use std::time::Duration;
///
/// let builder = RedisStore::builder()
///     .prefix("myapp:sess:")
///     .ttl(Duration::from_secs(3600))
///     .timeout(Duration::from_millis(500));
/// # let _ = builder;
/// ```
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    prefix: String,
    ttl_secs: i64,
    disable_ttl: bool,
    disable_touch: bool,
    timeout: Duration,
    scan_count: usize,
    clock: Clock,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl_secs: DEFAULT_TTL_SECS as i64,
            disable_ttl: false,
            disable_touch: false,
            timeout: DEFAULT_TIMEOUT,
            scan_count: DEFAULT_SCAN_COUNT,
            clock: Clock::system(),
        }
    }
}

impl RedisStoreBuilder {
    /// The key prefix: a session's key is the prefix followed by its id (default `"sess:"`, connect-redis's).
    /// Use the same prefix as the Node app to share its sessions; an empty prefix is allowed.
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder().prefix("shop:sess:");
    /// # let _ = builder;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The lifetime of a record whose cookie has no expiry (a browser-session cookie), in whole seconds
    /// (rounded up); default one day. As connect-redis's `ttl` option, it is ignored for cookies with an expiry
    /// (their TTL is the time left until `cookie.expires`), and zero means the default.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = express_session_redis::RedisStore::builder().ttl(Duration::from_secs(7 * 86_400));
    /// # let _ = builder;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        let secs = ttl.as_secs().saturating_add(u64::from(ttl.subsec_nanos() > 0));
        self.ttl_secs = i64::try_from(if secs == 0 { DEFAULT_TTL_SECS } else { secs }).unwrap_or(i64::MAX);
        self
    }

    /// connect-redis's `disableTTL`: keys get no TTL (a plain `SET`), and touches write nothing. Records still
    /// stop being returned once their `cookie.expires` has passed, but Redis keeps their keys until they are
    /// destroyed or cleared. (A write of an already expired record still deletes its key, as in connect-redis.)
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder().disable_ttl(true);
    /// # let _ = builder;
    /// ```
    pub fn disable_ttl(mut self, disable: bool) -> Self {
        self.disable_ttl = disable;
        self
    }

    /// connect-redis's `disableTouch`: `touch` and `refresh` write nothing (they only report whether the record is
    /// there), so a record expires a fixed time after its last write.
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder().disable_touch(true);
    /// # let _ = builder;
    /// ```
    pub fn disable_touch(mut self, disable: bool) -> Self {
        self.disable_touch = disable;
        self
    }

    /// The longest a store call may take (default 3 seconds), connecting included. A call that takes longer
    /// fails with [`StoreError::Unavailable`] (the session layer answers 503), and its command is dropped: while
    /// Redis is down, requests fail within this time instead of queueing up.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = express_session_redis::RedisStore::builder().timeout(Duration::from_millis(800));
    /// # let _ = builder;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// connect-redis's `scanCount`: the `COUNT` hint of the `SCAN`s behind `all`, `len` and `clear` (default
    /// 100, at least 1).
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder().scan_count(1000);
    /// # let _ = builder;
    /// ```
    pub fn scan_count(mut self, count: usize) -> Self {
        self.scan_count = count.max(1);
        self
    }

    /// The clock that TTLs and expiry checks read (default: the system clock). Give the session layer the same
    /// clock.
    ///
    /// ```
    /// use express_session::{Clock, Timestamp};
    /// let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    /// let builder = express_session_redis::RedisStore::builder().clock(clock);
    /// # let _ = builder;
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        // Few, short reconnection attempts: a request never waits long behind a reconnection (and never longer
        // than `timeout`), and the next request after a failed attempt starts a new one, so the store comes back
        // as soon as the server does. No response timeout of the connection's own: every store call is already
        // bounded by `timeout` as a whole (`connection::bounded`, which covers a reconnection too), and a second
        // timer per command would only cost a timer-wheel entry more.
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(None)
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
    }

    /// Connects to one Redis server (`redis://[user:password@]host[:port][/db]`, or `rediss://` with a TLS
    /// feature of the `redis` crate, or `redis+unix:///path`). The connection reconnects by itself after a failure.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_redis::RedisStore::builder().connect("redis://127.0.0.1:6379").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached within the [`timeout`](Self::timeout),
    /// [`StoreError::Backend`] for an invalid URL or a refused login.
    pub async fn connect(self, url: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(classify)?;
        let manager = bounded(self.timeout, ConnectionManager::new_with_config(client, self.manager_config())).await?;
        Ok(self.build(manager))
    }

    /// Like [`connect`](Self::connect), without connecting yet: the first store call connects. An app built this
    /// way starts while Redis is down and answers 503 until Redis is up. Call it within a Tokio runtime (the
    /// connection's background task runs there).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let store = express_session_redis::RedisStore::builder().connect_lazy("redis://127.0.0.1:6379").unwrap();
    /// # let _ = store;
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid URL, or when called outside a Tokio runtime.
    pub fn connect_lazy(self, url: &str) -> Result<RedisStore, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::backend(STORE, "connect_lazy must be called within a Tokio runtime"));
        }
        let client = redis::Client::open(url).map_err(classify)?;
        let manager = ConnectionManager::new_lazy_with_config(client, self.manager_config()).map_err(classify)?;
        Ok(self.build(manager))
    }

    /// Connects to a Redis Cluster through any of its nodes. Each session is one key, so each store call goes to
    /// the node that owns the key's slot; `all`, `len` and `clear` scan every primary. The connection follows
    /// slot moves and reconnects to nodes by itself.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_redis::RedisStore::builder()
    ///     .connect_cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
    ///     .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_cluster<I, S>(self, urls: I) -> Result<RedisStore, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls: Vec<String> = urls.into_iter().map(|url| url.as_ref().to_owned()).collect();
        let client = ClusterClientBuilder::new(urls)
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            .build()
            .map_err(classify)?;
        let connection = bounded(self.timeout, client.get_async_connection()).await?;
        Ok(self.build(connection))
    }

    /// The store, over a connection built elsewhere (to share it, or to configure it beyond these options).
    ///
    /// ```no_run
    /// use express_session_redis::RedisStore;
    ///
    /// # async fn run() -> Result<(), redis::RedisError> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let manager = client.get_connection_manager().await?;
    /// let store = RedisStore::builder().prefix("app:").build(manager);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self, connection: impl Into<RedisConnection>) -> RedisStore {
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let connection = connection.into();
        let batcher = match &connection {
            RedisConnection::Single(manager) => Some(Batcher::new(manager.clone(), self.timeout)),
            RedisConnection::Cluster(_) => None,
        };
        RedisStore {
            inner: Arc::new(Inner {
                connection,
                batcher,
                prefix: self.prefix,
                pattern,
                ttl_secs: self.ttl_secs,
                disable_ttl: self.disable_ttl,
                disable_touch: self.disable_touch,
                timeout: self.timeout,
                scan_count: self.scan_count,
                clock: self.clock,
                save_if: Script::new(include_str!("lua/save_if.lua")),
                get_with_ttl: Script::new(include_str!("lua/get_with_ttl.lua")),
                refresh: Script::new(include_str!("lua/refresh.lua")),
            }),
        }
    }
}

/// `SCAN MATCH` treats `*`, `?`, `[`, `]` and `\` specially; a prefix is matched literally.
fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A version is the record's stored text, after its `cookie.expires` (8 bytes, big-endian milliseconds,
/// `i64::MIN` for none) so that `save_if` can tell an expired record without parsing it again.
fn version(expires: Option<Timestamp>, json: &[u8]) -> Version {
    // (A `Vec` then a copy into the version's `Arc<[u8]>` is cheaper than collecting the bytes into the `Arc`
    // directly, which copies them one by one.)
    let mut bytes = Vec::with_capacity(8 + json.len());
    bytes.extend_from_slice(&expires.map_or(i64::MIN, Timestamp::as_millis).to_be_bytes());
    bytes.extend_from_slice(json);
    Version::from_bytes(bytes)
}

/// A session's key as one command argument, written straight into the command (no `String` per call).
#[derive(Clone, Copy)]
struct Key<'a> {
    prefix: &'a str,
    id: &'a str,
}

impl ToRedisArgs for Key<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // Writing to a command's buffer cannot fail.
        let _ = arg.write_all(self.prefix.as_bytes());
        let _ = arg.write_all(self.id.as_bytes());
    }
}

/// `EVALSHA script 1 key`, for arguments to be added: the command is built directly (a `ScriptInvocation` would
/// copy every argument into a `Vec` of its own first).
fn evalsha(script: &Script, key: Key<'_>, args: usize, len: usize) -> Cmd {
    let mut command = Cmd::with_capacity(4 + args, 64 + key.prefix.len() + key.id.len() + len);
    command.arg("EVALSHA").arg(script.get_hash()).arg(1).arg(key);
    command
}

/// The `cookie.expires` and text of a version made by [`version`].
fn split_version(version: &Version) -> Option<(Option<i64>, &[u8])> {
    let bytes = version.as_bytes()?;
    let (head, json) = bytes.split_first_chunk::<8>()?;
    let expires = i64::from_be_bytes(*head);
    Some(((expires != i64::MIN).then_some(expires), json))
}

/// Where one `SCAN` cursor runs.
enum ScanTarget {
    /// The one server.
    Server,
    /// One primary of a cluster.
    Node { host: String, port: u16 },
}

/// One `SCAN` reply: the next cursor and a page of keys.
type ScanPage = (u64, Vec<Vec<u8>>);

/// The state of a scan over every primary: the cursors still to follow.
#[derive(Default)]
struct KeyScan {
    started: bool,
    pending: Vec<(ScanTarget, u64)>,
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
    fn key_arg<'a>(&'a self, id: &'a str) -> Key<'a> {
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

    /// Sends one command: through the pipelining queue on one server, straight to its node on a cluster.
    async fn run<T: FromRedisValue>(&self, command: Cmd) -> RedisResult<T> {
        match &self.inner.batcher {
            Some(batcher) => Ok(redis::from_redis_value(batcher.query(command).await?)?),
            None => command.query_async(&mut self.connection()).await,
        }
    }

    /// Runs the `EVALSHA` that `command` builds (see [`evalsha`]); when the server does not know the script yet (a
    /// new or restarted server, `SCRIPT FLUSH`), loads it and runs it again.
    async fn invoke<T: FromRedisValue>(&self, script: &Script, command: impl Fn() -> Cmd) -> RedisResult<T> {
        match self.run(command()).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                script.load_async(&mut self.connection()).await?;
                self.run(command()).await
            }
            result => result,
        }
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
    async fn read(&self, id: &str) -> RedisResult<Option<Versioned>> {
        let key = self.key_arg(id);
        let mut command = Cmd::with_capacity(2, 16 + key.prefix.len() + key.id.len());
        command.arg("GET").arg(key);
        let json: Option<Vec<u8>> = self.run(command).await?;
        let Some(json) = json else { return Ok(None) };
        self.live_record(id, key, json).await
    }

    /// The record in `json` (just read from `key`) if it is live; for one whose `cookie.expires` has passed, asks
    /// Redis whether its key was touched since.
    async fn live_record(&self, id: &str, key: Key<'_>, json: Vec<u8>) -> RedisResult<Option<Versioned>> {
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

    fn scan_command(&self, cursor: u64) -> Cmd {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(&self.inner.pattern).arg("COUNT").arg(self.inner.scan_count);
        cmd
    }

    /// The next batch of keys of a `SCAN MATCH prefix*` over the server or every primary of the cluster, or
    /// `None` when the scan is over. Keys may repeat (as `SCAN` may return a key twice).
    async fn next_keys(
        &self,
        connection: &mut RedisConnection,
        scan: &mut KeyScan,
    ) -> RedisResult<Option<Vec<Vec<u8>>>> {
        if !scan.started {
            scan.started = true;
            match connection {
                RedisConnection::Single(_) => scan.pending.push((ScanTarget::Server, 0)),
                RedisConnection::Cluster(cluster) => {
                    // The first page of every primary, in one call; the reply maps each node's address to its page.
                    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                    let reply = cluster.route_command(self.scan_command(0), routing).await?;
                    let pages: Vec<(String, ScanPage)> = redis::from_redis_value(reply)?;
                    let mut keys = Vec::new();
                    for (address, (cursor, page)) in pages {
                        keys.extend(page);
                        if cursor != 0 {
                            scan.pending.push((node(&address)?, cursor));
                        }
                    }
                    return Ok(Some(keys));
                }
            }
        }
        let Some((target, cursor)) = scan.pending.pop() else { return Ok(None) };
        let command = self.scan_command(cursor);
        let (next, keys): ScanPage = match (&target, &mut *connection) {
            (ScanTarget::Node { host, port }, RedisConnection::Cluster(cluster)) => {
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
                redis::from_redis_value(cluster.route_command(command, routing).await?)?
            }
            _ => command.query_async(connection).await?,
        };
        if next != 0 {
            scan.pending.push((target, next));
        }
        Ok(Some(keys))
    }

    /// Every live record under the prefix, by `SCAN` then `MGET` per page (one call per page, each within the
    /// time limit).
    async fn scan_records(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        let mut connection = self.connection();
        let limit = self.inner.timeout;
        let mut scan = KeyScan::default();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while let Some(keys) = bounded(limit, self.next_keys(&mut connection, &mut scan)).await? {
            let keys: Vec<Vec<u8>> = keys.into_iter().filter(|k| seen.insert(k.clone())).collect();
            if keys.is_empty() {
                continue;
            }
            let values: Vec<Option<Vec<u8>>> =
                bounded(limit, redis::cmd("MGET").arg(&keys).query_async(&mut connection)).await?;
            for (key, json) in keys.into_iter().zip(values) {
                let (Some(json), Ok(key)) = (json, String::from_utf8(key)) else { continue };
                let Some(id) = key.strip_prefix(&self.inner.prefix).and_then(SessionId::new) else {
                    continue;
                };
                let key = self.key_arg(id.as_str());
                let live = bounded(limit, self.live_record(id.as_str(), key, json)).await?;
                if let Some(found) = live {
                    out.push((id, found.record));
                }
            }
        }
        Ok(out)
    }
}

/// A node address as the cluster connection reports it (`host:port`, `[v6]:port`).
fn node(address: &str) -> RedisResult<ScanTarget> {
    let parsed = address.rsplit_once(':').and_then(|(host, port)| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(ScanTarget::Node { host: host.to_owned(), port: port.parse().ok()? })
    });
    parsed.ok_or_else(|| (redis::ErrorKind::Client, "unexpected cluster node address").into())
}

impl Store for RedisStore {
    /// `GET prefix+id`; for a record whose `cookie.expires` has passed, also its key's `PTTL` (in one script),
    /// so that a record touched since (a touch moves only the TTL) is still returned, and an expired one never.
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        bounded(self.inner.timeout, self.read(id.as_str())).await
    }

    /// `SET prefix+id json EX ttl NX`: connect-redis's write, only if the key is absent.
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let key = self.key_arg(id.as_str());
        let json = record.to_json();
        let mut command = Cmd::with_capacity(6, 48 + key.prefix.len() + key.id.len() + json.len());
        command.arg("SET").arg(key).arg(&json);
        match self.key_ttl(record, self.now()) {
            KeyTtl::Never => {}
            KeyTtl::Seconds(ttl) => {
                command.arg("EX").arg(ttl);
            }
            KeyTtl::Expired => {
                // connect-redis would `DEL` the key, which here could remove a live session of that id. Write
                // nothing, and report what an insert of an already expired record amounts to.
                return Ok(match self.get(id).await? {
                    Some(_) => CreateOutcome::Exists,
                    None => CreateOutcome::Created(version(record.expires(), json.as_bytes())),
                });
            }
        }
        command.arg("NX");
        let reply: Value = bounded(self.inner.timeout, self.run(command)).await?;
        Ok(match reply {
            Value::Nil => CreateOutcome::Exists,
            _ => CreateOutcome::Created(version(record.expires(), json.as_bytes())),
        })
    }

    /// connect-redis's `set`, byte for byte: `SET prefix+id json EX ttl`, `DEL prefix+id` when the TTL is not
    /// positive, a plain `SET` with `disable_ttl`.
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let ttl = self.key_ttl(record, self.now());
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
    /// read too only when the text that was read says the record has expired.
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        let Some((expected_expires, expected_json)) = split_version(expected) else {
            // Not a version this store made: it cannot be the current one.
            return Ok(SaveOutcome::Conflict);
        };
        let now = self.now();
        let json = record.to_json();
        let script = &self.inner.save_if;
        let ttl = self.key_ttl(record, now);
        // Gone unless the key was touched past that expiry: now + pttl >= expires + 1000.
        let min_pttl = expected_expires
            .filter(|&expires| expires <= now.as_millis())
            .map(|expires| expires.saturating_add(ROUNDING_SLACK_MS).saturating_sub(now.as_millis()));
        let command = || {
            let mut command = evalsha(script, self.key_arg(id.as_str()), 4, expected_json.len() + json.len() + 48);
            command.arg(expected_json).arg(&json);
            match ttl {
                KeyTtl::Never => command.arg(""),
                KeyTtl::Seconds(ttl) => command.arg(ttl),
                KeyTtl::Expired => command.arg(0),
            };
            if let Some(min_pttl) = min_pttl {
                command.arg(min_pttl);
            }
            command
        };
        let outcome: i64 = bounded(self.inner.timeout, self.invoke(script, command)).await?;
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
        let script = &self.inner.refresh;
        let now = self.now().as_millis();
        let command = || {
            let mut command = evalsha(script, self.key_arg(id.as_str()), 2, 40);
            command.arg(now).arg(self.inner.ttl_secs);
            command
        };
        let outcome: i64 = bounded(self.inner.timeout, self.invoke(script, command)).await?;
        Ok(if outcome == 1 { TouchOutcome::Touched } else { TouchOutcome::Gone })
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
                let _: Value = bounded(limit, redis::cmd("DEL").arg(&keys).query_async(&mut connection)).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_carry_the_text_and_the_expiry() {
        let v = version(Some(Timestamp::from_millis(1_234)), b"{}");
        assert_eq!(split_version(&v), Some((Some(1_234), &b"{}"[..])));
        let v = version(None, b"{\"a\":1}");
        assert_eq!(split_version(&v), Some((None, &b"{\"a\":1}"[..])));
        assert_eq!(split_version(&Version::from_u64(7)), None);
        assert_eq!(split_version(&Version::from_bytes(vec![1, 2])), None);
    }

    #[test]
    fn scan_patterns_match_the_prefix_literally() {
        assert_eq!(escape_glob("sess:"), "sess:");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn node_addresses_parse() {
        assert!(matches!(node("127.0.0.1:7000"), Ok(ScanTarget::Node { ref host, port: 7000 }) if host == "127.0.0.1"));
        assert!(matches!(node("[::1]:7001"), Ok(ScanTarget::Node { ref host, port: 7001 }) if host == "::1"));
        assert!(node("nonsense").is_err());
    }

    #[test]
    fn connect_lazy_outside_a_runtime_is_an_error_not_a_panic() {
        let error = RedisStore::builder().connect_lazy("redis://127.0.0.1:6379").unwrap_err();
        assert!(matches!(error, StoreError::Backend { .. }));
    }

    #[test]
    fn the_ttl_option_rounds_up_and_zero_means_the_default() {
        assert_eq!(RedisStoreBuilder::default().ttl(Duration::from_millis(1_500)).ttl_secs, 2);
        assert_eq!(RedisStoreBuilder::default().ttl(Duration::ZERO).ttl_secs, 86_400);
        assert_eq!(RedisStoreBuilder::default().ttl_secs, 86_400);
    }
}
