//! [`RedisStoreBuilder`]: connect-redis's options, the time limit, and the connection.

use std::sync::Arc;
use std::time::Duration;

use express_session::Clock;
use express_session::store::StoreError;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::batch::Batcher;
use crate::connection::{RedisConnection, STORE, bounded, classify};
use crate::guard::WriteGuard;
use crate::owners::{DEFAULT_SET_PREFIX, OwnerIndex, check_options};
use crate::sentinel::{SentinelConfig, SentinelConnection};
use crate::store::{Inner, RedisStore};
use crate::tls::ClientOptions;

/// connect-redis's defaults.
const DEFAULT_PREFIX: &str = "sess:";
const DEFAULT_TTL_SECS: u64 = 86_400;
const DEFAULT_SCAN_COUNT: usize = 100;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The cluster connection's wait between two retries of a `TRYAGAIN`, `CLUSTERDOWN`, `LOADING` or `MASTERDOWN`
/// reply: random, from 2 ms to 4 ms, 8 ms, then 10 ms, in milliseconds (see `connect_cluster`).
const CLUSTER_MIN_RETRY_WAIT_MS: u64 = 2;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 10;

/// Builds a [`RedisStore`]. The options are connect-redis's, plus the time limit of each call.
///
/// | connect-redis   | here                                          | default      |
/// |-----------------|-----------------------------------------------|--------------|
/// | `client`        | [`connect`](Self::connect), [`connect_cluster`](Self::connect_cluster), [`connect_sentinel`](Self::connect_sentinel), [`build`](Self::build) | — |
/// | `prefix`        | [`prefix`](Self::prefix)                      | `"sess:"`    |
/// | `ttl` (number)  | [`ttl`](Self::ttl)                            | one day      |
/// | `disableTTL`    | [`disable_ttl`](Self::disable_ttl)            | `false`      |
/// | `disableTouch`  | [`disable_touch`](Self::disable_touch)        | `false`      |
/// | `scanCount`     | [`scan_count`](Self::scan_count)              | 100          |
/// | —               | [`timeout`](Self::timeout)                    | 3 seconds    |
/// | —               | [`owner_key`](Self::owner_key), [`owner_index_prefix`](Self::owner_index_prefix) | no owner index |
/// | —               | [`username`](Self::username), [`password`](Self::password), `tls_root_ca_pem`, `tls_client_cert_pem` (feature `tls-rustls`) | the URL's; the system's roots |
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
    owner_key: Option<String>,
    owner_index_prefix: Option<String>,
    /// ACL credentials and TLS options of the clients `connect*` make (see `tls.rs`).
    pub(crate) client: ClientOptions,
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
            owner_key: None,
            owner_index_prefix: None,
            client: ClientOptions::default(),
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Keeps an index of every session's owner (every session of a user: see
    /// [`express_session::store::owners`]): the value a record holds under the data key `key`, a string or an
    /// integer, as a Node app writes `req.session.userId`. Off by default; without it the store answers the owner
    /// calls [`StoreError::Unsupported`] and sends exactly what it sends today.
    ///
    /// The index is one Redis set per owner, of session ids, under [`owner_index_prefix`](Self::owner_index_prefix)
    /// (default `owner:` then the store's prefix, e.g. `owner:sess:alice`), kept by the scripts that write the
    /// sessions: a write of a record that names an owner is one script (the same command, plus `SADD` and the set's
    /// TTL), no extra round trip; a record that names none is written as without the index. See the crate
    /// documentation for its TTL rule, costs and limits.
    ///
    /// The store is refused when built (a [`StoreError::Backend`] that says why) for a key that
    /// [`check_owner_key`](express_session::store::check_owner_key) refuses, on a Redis Cluster (an owner's set and
    /// the sessions are in different slots), and when the sets' keys would start with the session prefix (an empty
    /// prefix), where connect-redis's `SCAN MATCH prefix*` would meet them.
    ///
    /// ```
    /// use express_session::Store;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_redis::RedisStore::builder()
    ///     .owner_key("userId")
    ///     .connect_lazy("redis://127.0.0.1:6379")?;
    /// assert_eq!(store.owner_key(), Some("userId"));
    /// assert!(express_session_redis::RedisStore::builder().owner_key("user id").connect_lazy("redis://127.0.0.1").is_err());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn owner_key(mut self, key: impl Into<String>) -> Self {
        self.owner_key = Some(key.into());
        self
    }

    /// The prefix of the owner index's sets (see [`owner_key`](Self::owner_key)): an owner's set is this prefix
    /// followed by the owner. Default: `owner:` followed by the store's prefix. It must not start with the store's
    /// prefix.
    ///
    /// ```
    /// let builder = express_session_redis::RedisStore::builder().owner_key("user").owner_index_prefix("myapp:owners:");
    /// # let _ = builder;
    /// ```
    #[must_use]
    pub fn owner_index_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.owner_index_prefix = Some(prefix.into());
        self
    }

    /// The owner sets' prefix this builder gives.
    fn set_prefix(&self) -> String {
        self.owner_index_prefix.clone().unwrap_or_else(|| format!("{DEFAULT_SET_PREFIX}{}", self.prefix))
    }

    /// Checks the options that can refuse a store (the owner index's), for a connection to one server or to a
    /// cluster.
    fn check(&self, cluster: bool) -> Result<(), StoreError> {
        match &self.owner_key {
            Some(key) => check_options(key, &self.set_prefix(), &self.prefix, cluster),
            None => Ok(()),
        }
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

    /// Connects to one Redis server (`redis://[user:password@]host[:port][/db]`, `rediss://` with the `tls-rustls`
    /// feature, or `redis+unix:///path`), with the builder's credentials and TLS options if any (see the crate
    /// documentation's "TLS and ACL"). The connection reconnects by itself after a failure.
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
        self.check(false)?;
        let client = self.client.client(url)?;
        let manager = bounded(self.timeout, ConnectionManager::new_with_config(client, self.manager_config())).await?;
        self.build(manager)
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
        self.check(false)?;
        let client = self.client.client(url)?;
        let manager = ConnectionManager::new_lazy_with_config(client, self.manager_config()).map_err(classify)?;
        self.build(manager)
    }

    /// Connects to a Redis Cluster through any of its nodes. Each session is one key, so each store call goes to
    /// the node that owns the key's slot; `all`, `len` and `clear` scan every primary. The connection follows
    /// slot moves and reconnects to nodes by itself, and resends a command whose reply was lost: `save_if` and
    /// `create` carry a write token there, so that a resent write counts once (see the crate documentation).
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
        self.check(true)?;
        let urls: Vec<String> = urls.into_iter().map(|url| url.as_ref().to_owned()).collect();
        // Short waits between the connection's retries of a "not now" reply (`TRYAGAIN`, `CLUSTERDOWN`, `LOADING`,
        // `MASTERDOWN`; redis-rs waits 1.28 s and more by default), so that a guarded write of a migrating slot
        // hears its `TRYAGAIN` within tens of milliseconds and is sent without its token (see `guard.rs`). The
        // store itself sends the other calls again while the cluster recovers, until their time limit
        // (`connection::resend_while_recovering`). The number of retries (which also bounds the resends after a
        // broken connection) stays redis-rs's.
        let client = self
            .client
            .cluster_builder(&urls)?
            .connection_timeout(self.timeout)
            .response_timeout(self.timeout)
            .min_retry_wait(CLUSTER_MIN_RETRY_WAIT_MS)
            .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS)
            .retry_wait_formula(2, 2)
            .build()
            .map_err(classify)?;
        let connection = bounded(self.timeout, client.get_async_connection()).await?;
        self.build(connection)
    }

    /// Connects to the master that [Redis Sentinel](https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/)
    /// names: asks the sentinels for the master's address, checks with `ROLE` that it is a master, and connects.
    /// After a failover (the connection breaks, or a command hears `READONLY` from a demoted master) the next call
    /// asks the sentinels again and connects to the new master; calls fail with [`StoreError::Unavailable`] (503)
    /// meanwhile, and a write never goes to a replica. See [`SentinelConfig`] for the master's login and
    /// [`wait_for_replicas`](SentinelConfig::wait_for_replicas), which keeps acknowledged writes through a failover.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use express_session_redis::{RedisStore, SentinelConfig};
    ///
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let sentinel = SentinelConfig::new(["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"], "mymaster")
    ///     .wait_for_replicas(1, Duration::from_millis(500));
    /// let store = RedisStore::builder().connect_sentinel(sentinel).await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when no sentinel names a master that answers within the
    /// [`timeout`](Self::timeout), [`StoreError::Backend`] for an invalid URL, an empty list of sentinels, a
    /// refused login, or TLS certificates given to the builder (not supported with Sentinel yet).
    ///
    /// The builder's [`username`](Self::username) and [`password`](Self::password) log in to the master unless the
    /// [`SentinelConfig`] gives its own.
    pub async fn connect_sentinel(self, sentinel: SentinelConfig) -> Result<RedisStore, StoreError> {
        self.check(false)?;
        if self.client.has_certificates() {
            return Err(StoreError::backend(STORE, "connect_sentinel does not take TLS certificates (yet)"));
        }
        let (username, password) = self.client.credentials();
        let sentinel = sentinel.default_credentials(username, password);
        let connection = SentinelConnection::new(&sentinel, self.timeout).map_err(classify)?;
        bounded(self.timeout, connection.master()).await?;
        self.build(connection)
    }

    /// The store, over a connection built elsewhere (to share it, or to configure it beyond these options). Over
    /// a [`RedisConnection::Cluster`], writes carry tokens as with [`connect_cluster`](Self::connect_cluster).
    /// Give such a cluster connection short retry waits, as `connect_cluster` does
    /// (`ClusterClientBuilder::min_retry_wait(2).max_retry_wait(10).retry_wait_formula(2, 2)`): with redis-rs's
    /// default (1.28 s and more) a `save_if` or `create` of a slot that is being migrated hears its `TRYAGAIN`
    /// only after seconds, and times out (see the crate documentation).
    ///
    /// ```no_run
    /// use express_session_redis::RedisStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let manager = client.get_connection_manager().await?;
    /// let store = RedisStore::builder().prefix("app:").build(manager)?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an owner index the store cannot keep (see [`owner_key`](Self::owner_key)).
    pub fn build(self, connection: impl Into<RedisConnection>) -> Result<RedisStore, StoreError> {
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let connection = connection.into();
        self.check(matches!(connection, RedisConnection::Cluster(_)))?;
        let owners = self.owner_key.clone().map(|key| OwnerIndex::new(key, self.set_prefix()));
        let (batcher, guard) = match &connection {
            RedisConnection::Single(_) | RedisConnection::Sentinel(_) => {
                (Some(Batcher::new(connection.clone(), self.timeout)), None)
            }
            RedisConnection::Cluster(_) => (None, Some(WriteGuard::new(&self.prefix, self.timeout))),
        };
        Ok(RedisStore {
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
                guard,
                save_if: Script::new(include_str!("lua/save_if.lua")),
                save_if_cluster: Script::new(include_str!("lua/save_if_cluster.lua")),
                create_cluster: Script::new(include_str!("lua/create_cluster.lua")),
                get_with_ttl: Script::new(include_str!("lua/get_with_ttl.lua")),
                refresh: Script::new(include_str!("lua/refresh.lua")),
                refresh_after: Script::new(include_str!("lua/refresh_after.lua")),
                owners,
            }),
        })
    }
}

/// `SCAN MATCH` treats `*`, `?`, `[`, `]` and `\` specially; a prefix is matched literally.
pub(crate) fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_patterns_match_the_prefix_literally() {
        assert_eq!(escape_glob("sess:"), "sess:");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
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
