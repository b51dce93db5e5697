//! Redis Sentinel: [`SentinelConfig`], and [`SentinelConnection`], the connection to the master that the sentinels
//! name, which asks them again after a failover.
//!
//! The connection holds one multiplexed connection to the master. It is dropped, and the next command asks the
//! sentinels for the master again (then checks with `ROLE` that the server it names is a master), when the
//! connection breaks (the master died, or the sentinels' failover closed the connections of the old master with
//! `CLIENT KILL`), when a command hears `READONLY` or `MASTERDOWN` (the server it reached has become a replica),
//! and when a command was given up on after half the store's time limit without a reply (a hung master). One
//! discovery runs at a time; calls that waited for one that failed fail with its error instead of asking again.
//! Commands are never sent again: a command whose connection broke fails (503), as on one server.
//!
//! With [`SentinelConfig::wait_for_replicas`], every write goes out with `WAIT k timeout` and `ROLE` behind it, on
//! the same connection and in the same pipeline, and is acknowledged only when `k` replicas have it: `k` is `n`,
//! or the number of replicas connected to the master when fewer are (as its last `ROLE` said: read when the
//! connection is made and with every write).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisConnectionInfo, RedisError, RedisFuture, RedisResult, Role,
    ServerError, ServerErrorKind, Value,
};

/// Where the store finds its master through [Redis Sentinel](https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/):
/// the sentinels' addresses and the name they monitor the master under, the master's login, and whether a write
/// waits for replicas. Give it to [`RedisStoreBuilder::connect_sentinel`](crate::RedisStoreBuilder::connect_sentinel).
///
/// ```
/// use std::time::Duration;
/// use express_session_redis::SentinelConfig;
///
/// let sentinel = SentinelConfig::new(["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"], "mymaster")
///     .master_password("secret")
///     .wait_for_replicas(1, Duration::from_millis(500));
/// assert_eq!(sentinel.master_name(), "mymaster");
/// ```
#[derive(Clone)]
pub struct SentinelConfig {
    sentinels: Vec<String>,
    master_name: String,
    username: Option<String>,
    password: Option<String>,
    db: i64,
    wait: Option<WaitForReplicas>,
}

/// The shortest time limit of a discovery (asking the sentinels, then connecting to the master they name), whatever
/// the store's time limit: room for a sentinel that hangs (redis-rs waits 1 s for a connection to a sentinel, and
/// 500 ms for each of its replies) before the next one is heard.
const MIN_DISCOVERY_LIMIT: Duration = Duration::from_secs(5);

/// `WAIT replicas timeout` after every write.
#[derive(Clone, Copy, Debug)]
struct WaitForReplicas {
    replicas: u32,
    timeout_ms: u64,
}

impl fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The sentinels' URLs may carry their password: only their number is shown.
        f.debug_struct("SentinelConfig")
            .field("sentinels", &self.sentinels.len())
            .field("master_name", &self.master_name)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("wait", &self.wait)
            .finish()
    }
}

impl SentinelConfig {
    /// The sentinels (`redis://[user:password@]host:port`, the sentinel's own login, if it has one) and the name
    /// they monitor the master under (`sentinel monitor <name> …` in their configuration). The sentinels are asked
    /// in this order; the first that names a master that answers `ROLE` as a master wins.
    ///
    /// ```
    /// let sentinel = express_session_redis::SentinelConfig::new(["redis://127.0.0.1:26379"], "mymaster");
    /// # let _ = sentinel;
    /// ```
    pub fn new<I, S>(sentinels: I, master_name: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            sentinels: sentinels.into_iter().map(|url| url.as_ref().to_owned()).collect(),
            master_name: master_name.into(),
            username: None,
            password: None,
            db: 0,
            wait: None,
        }
    }

    /// The master name given to [`new`](Self::new).
    ///
    /// ```
    /// let sentinel = express_session_redis::SentinelConfig::new(["redis://127.0.0.1:26379"], "mymaster");
    /// assert_eq!(sentinel.master_name(), "mymaster");
    /// ```
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// The ACL user the store logs in to the master as (`AUTH username password`); without it, `AUTH password`
    /// (the `default` user) when a [password](Self::master_password) is set.
    ///
    /// ```
    /// let sentinel = express_session_redis::SentinelConfig::new(["redis://127.0.0.1:26379"], "mymaster")
    ///     .master_username("sessions")
    ///     .master_password("secret");
    /// # let _ = sentinel;
    /// ```
    #[must_use]
    pub fn master_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password the store logs in to the master with (the master's `requirepass`, or the ACL user's). The
    /// sentinels' own password, if they have one, goes in their URLs.
    ///
    /// ```
    /// let sentinel =
    ///     express_session_redis::SentinelConfig::new(["redis://127.0.0.1:26379"], "mymaster").master_password("secret");
    /// # let _ = sentinel;
    /// ```
    #[must_use]
    pub fn master_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// `username` and `password` (the builder's) where none were given here.
    pub(crate) fn default_credentials(mut self, username: Option<&str>, password: Option<&str>) -> Self {
        if self.username.is_none() {
            self.username = username.map(str::to_owned);
        }
        if self.password.is_none() {
            self.password = password.map(str::to_owned);
        }
        self
    }

    /// The master's database number (default 0).
    ///
    /// ```
    /// let sentinel = express_session_redis::SentinelConfig::new(["redis://127.0.0.1:26379"], "mymaster").db(2);
    /// # let _ = sentinel;
    /// ```
    #[must_use]
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// Makes a write acknowledged only once the replicas have it: every write command goes out with
    /// `WAIT k timeout` (and `ROLE`) behind it, in the same pipeline on the same connection, where `k` is
    /// `replicas`, or the number of replicas connected to the master when fewer are (a master whose replicas are
    /// all gone, such as a replica just promoted by a failover, keeps taking writes). When fewer than `k`
    /// replicas confirm within `timeout` (at least 1 ms), the call fails with
    /// [`StoreError::Unavailable`](express_session::StoreError::Unavailable) (503), although the master may have
    /// applied the write: it is in doubt, as a write whose reply was lost.
    ///
    /// Without it (the default), replication is asynchronous: a write the master acknowledged a moment before it
    /// died can be missing from the replica that the sentinels promote, so a session can lose its last writes, or
    /// a destroyed session come back, at a failover. With it, every acknowledged write is on the replicas that
    /// were connected to the master (up to `replicas` of them), and the promoted replica has it: with one
    /// replica, always; with several, Sentinel promotes the one with the most data, which has every write that
    /// `WAIT` confirmed. What it does not cover: a replica whose link to the master was down when the write was
    /// made (so `k` did not count it), then promoted when the master dies before it caught up; and with
    /// `replicas` below the number of replicas, a promoted replica that was not among those that confirmed but
    /// is chosen anyway (Sentinel weighs `replica-priority` before the amount of data). In particular, a master
    /// with no replica connected waits for none (`WAIT 0`): an old master cut off from its replicas and the
    /// sentinels, but not from this store, acknowledges writes that are on no replica until it is demoted, and
    /// they are lost then. Against that, give the servers `min-replicas-to-write 1` (and `min-replicas-max-lag`):
    /// such a master refuses writes (`NOREPLICAS`, a 503).
    ///
    /// The price: each write waits for the replicas' acknowledgement (a round trip from the master to a replica;
    /// the crate documentation has the figures), and a replica that is connected but does not answer (hung, or
    /// cut off until the master's `repl-timeout`) makes every write fail after `timeout`. Keep `timeout` well below
    /// the store's [time limit](crate::RedisStoreBuilder::timeout). Reads (`GET`, `SCAN`, `MGET`, …) go without
    /// `WAIT`, but on the same connection: the server runs nothing sent behind a `WAIT` until it returns, so a read
    /// pipelined after another call's write waits for that write's replicas too (up to `timeout`). Every script
    /// counts as a write.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sentinel = express_session_redis::SentinelConfig::new(["redis://127.0.0.1:26379"], "mymaster")
    ///     .wait_for_replicas(1, Duration::from_millis(500));
    /// # let _ = sentinel;
    /// ```
    #[must_use]
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        self.wait = (replicas > 0).then_some(WaitForReplicas { replicas, timeout_ms });
        self
    }
}

/// A connection to the master that Redis Sentinel names, made by
/// [`RedisStoreBuilder::connect_sentinel`](crate::RedisStoreBuilder::connect_sentinel): one multiplexed connection
/// to the master, replaced by a connection to the master the sentinels name then after the connection breaks, a
/// command hears `READONLY` (the server became a replica), or a command is given up on after waiting at least half
/// the store's time limit for its reply. Cloning is cheap: clones share the connection.
///
/// ```no_run
/// use express_session_redis::{RedisConnection, RedisStore, SentinelConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder().connect_sentinel(SentinelConfig::new(["redis://127.0.0.1:26379"], "mymaster")).await?;
/// if let RedisConnection::Sentinel(sentinel) = store.connection() {
///     println!("the master now: {:?}", sentinel.master_address());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SentinelConnection {
    shared: Arc<Shared>,
}

struct Shared {
    master_name: String,
    /// Asks the sentinels; locked for one discovery at a time.
    client: tokio::sync::Mutex<SentinelClient>,
    state: Mutex<State>,
    config: AsyncConnectionConfig,
    db: i64,
    wait: Option<WaitForReplicas>,
    /// A command given up on after waiting this long for its reply drops its connection.
    hang_after: Duration,
    /// A discovery's time limit: the store's, but at least [`MIN_DISCOVERY_LIMIT`].
    discovery_limit: Duration,
}

#[derive(Default)]
struct State {
    current: Option<Master>,
    /// How many connections to a master were made.
    generation: u64,
    /// How many discoveries ended (found a master or not), and the error of the last one, if it failed.
    discoveries: u64,
    last_failure: Option<RedisError>,
}

/// The connection to the master now.
#[derive(Clone)]
struct Master {
    generation: u64,
    address: Arc<str>,
    connection: MultiplexedConnection,
    /// The replicas connected to it, as its last `ROLE` said (kept only with `wait_for_replicas`).
    replicas: Arc<AtomicU32>,
}

impl fmt::Debug for SentinelConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelConnection")
            .field("master_name", &self.shared.master_name)
            .field("master", &self.master_address())
            .finish_non_exhaustive()
    }
}

impl SentinelConnection {
    /// A connection that asks the sentinels on its first command; `limit` is the store's time limit.
    pub(crate) fn new(config: &SentinelConfig, limit: Duration) -> RedisResult<Self> {
        if config.username.is_some() && config.password.is_none() {
            // redis-rs logs in only with a password: the master's connection would be `default`'s, silently.
            let message = "the master's username needs a password (master_password or RedisStoreBuilder::password)";
            return Err(redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, message)));
        }
        let mut info = RedisConnectionInfo::default().set_db(config.db);
        if let Some(username) = &config.username {
            info = info.set_username(username);
        }
        if let Some(password) = &config.password {
            info = info.set_password(password);
        }
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(info);
        let client = SentinelClient::build(
            config.sentinels.clone(),
            config.master_name.clone(),
            Some(node),
            SentinelServerType::Master,
        )?;
        Ok(Self {
            shared: Arc::new(Shared {
                master_name: config.master_name.clone(),
                client: tokio::sync::Mutex::new(client),
                state: Mutex::default(),
                // Every store call is bounded as a whole (`connection::bounded`); the connection's own timeouts
                // only keep a connection attempt from outliving it.
                config: AsyncConnectionConfig::new().set_connection_timeout(Some(limit)).set_response_timeout(None),
                db: config.db,
                wait: config.wait,
                hang_after: limit / 2,
                discovery_limit: limit.max(MIN_DISCOVERY_LIMIT),
            }),
        })
    }

    /// The master name the sentinels monitor.
    ///
    /// ```no_run
    /// # async fn run(connection: express_session_redis::SentinelConnection) {
    /// assert_eq!(connection.master_name(), "mymaster");
    /// # }
    /// ```
    pub fn master_name(&self) -> &str {
        &self.shared.master_name
    }

    /// The address (`host:port`) of the master the connection is connected to now, or `None` between a failure
    /// and the next discovery.
    ///
    /// ```no_run
    /// # async fn run(connection: express_session_redis::SentinelConnection) {
    /// if let Some(master) = connection.master_address() {
    ///     println!("connected to {master}");
    /// }
    /// # }
    /// ```
    pub fn master_address(&self) -> Option<String> {
        self.state().current.as_ref().map(|master| master.address.to_string())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection to the master, after asking the sentinels if there is none.
    pub(crate) async fn master(&self) -> RedisResult<()> {
        self.connected().await.map(drop)
    }

    async fn connected(&self) -> RedisResult<Master> {
        if let Some(master) = &self.state().current {
            return Ok(master.clone());
        }
        // The discovery runs in a task of its own: it ends even when the call that started it gives up first (a
        // sentinel that hangs costs redis-rs's 500 ms response timeout, or its 1 s connection timeout, which can be
        // more than a call's time limit), and the calls after it find its master, instead of each starting a
        // discovery that is given up with it, never to end. Its own limit is the store's, but at least
        // `MIN_DISCOVERY_LIMIT`.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let connection = self.clone();
                let discovery = async move {
                    match tokio::time::timeout(connection.shared.discovery_limit, connection.discover()).await {
                        Ok(result) => result,
                        Err(_) => Err(RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "sentinel: no master found within the time limit",
                        ))),
                    }
                };
                runtime.spawn(discovery).await.unwrap_or_else(|error| {
                    Err(RedisError::from(std::io::Error::other(format!("sentinel: the discovery failed: {error}"))))
                })
            }
            Err(_) => self.discover().await,
        }
    }

    /// Asks the sentinels for the master and connects to it, unless another discovery did while this one waited
    /// for its turn (or failed then: its error).
    async fn discover(&self) -> RedisResult<Master> {
        let seen = {
            let state = self.state();
            if let Some(master) = &state.current {
                return Ok(master.clone());
            }
            state.discoveries
        };
        let mut client = self.shared.client.lock().await;
        {
            let state = self.state();
            if let Some(master) = &state.current {
                return Ok(master.clone());
            }
            if state.discoveries != seen
                && let Some(error) = &state.last_failure
            {
                // A discovery ended while this call waited for the lock, and found no master.
                return Err(error.clone());
            }
        }
        let found = async {
            let master = client.async_get_client().await?;
            let address: Arc<str> = master.get_connection_info().addr().to_string().into();
            let mut connection = master.get_multiplexed_async_connection_with_config(&self.shared.config).await?;
            let mut replicas = 0;
            if self.shared.wait.is_some() {
                let role: Value = redis::cmd("ROLE").query_async(&mut connection).await?;
                replicas = connected_replicas(role).ok_or_else(not_a_master)?;
            }
            Ok::<_, RedisError>((address, connection, replicas))
        }
        .await;
        let mut state = self.state();
        state.discoveries += 1;
        match found {
            Ok((address, connection, replicas)) => {
                state.generation += 1;
                tracing::info!(master = %address, name = %self.shared.master_name, replicas, "sentinel: connected to the master");
                let replicas = Arc::new(AtomicU32::new(replicas));
                let master = Master { generation: state.generation, address, connection, replicas };
                state.current = Some(master.clone());
                state.last_failure = None;
                Ok(master)
            }
            Err(error) => {
                tracing::debug!(%error, name = %self.shared.master_name, "sentinel: no master");
                state.last_failure = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Drops connection `generation` if it is still the current one: the next command asks the sentinels again.
    fn forget(&self, generation: u64, why: &dyn fmt::Display) {
        let mut state = self.state();
        if state.current.as_ref().is_some_and(|master| master.generation == generation) {
            let master = state.current.take().map(|master| master.address).unwrap_or_default();
            tracing::warn!(%master, reason = %why, "sentinel: connection to the master dropped; asking the sentinels again");
        }
    }

    /// Drops the connection after an error that says it is broken or no longer to a master.
    fn check<T>(&self, generation: u64, result: &RedisResult<T>) {
        if let Err(error) = result
            && is_broken(error)
        {
            self.forget(generation, error);
        }
    }

    /// Drops the connection after a reply that says the server is no longer a master.
    fn check_values<'v>(&self, generation: u64, values: impl IntoIterator<Item = &'v Value>) {
        for value in values {
            if let Value::ServerError(error) = value
                && matches!(error.kind(), Some(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown))
            {
                self.forget(generation, error);
                return;
            }
        }
    }

    async fn command(&self, command: &Cmd) -> RedisResult<Value> {
        let mut master = self.connected().await?;
        let watch = Watch { connection: self, generation: master.generation, since: Instant::now(), done: false };
        let result = match self.shared.wait {
            Some(wait) if is_write(command) => {
                match self.waited(&mut master, wait, std::iter::once(command), false, 0, 1).await {
                    Ok((mut values, replicated)) => match (values.pop().unwrap_or(Value::Nil), replicated) {
                        (reply @ Value::ServerError(_), _) | (reply, Ok(())) => Ok(reply),
                        (_, Err(error)) => Err(error),
                    },
                    Err(error) => Err(error),
                }
            }
            _ => {
                let result = master.connection.req_packed_command(command).await;
                if let Ok(value) = &result {
                    self.check_values(master.generation, [value]);
                }
                result
            }
        };
        watch.finish();
        self.check(master.generation, &result);
        result
    }

    async fn commands(&self, pipeline: &Pipeline, offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        let mut master = self.connected().await?;
        let watch = Watch { connection: self, generation: master.generation, since: Instant::now(), done: false };
        let result = match self.shared.wait {
            Some(wait) if pipeline.cmd_iter().any(is_write) => {
                let transaction = pipeline.is_transaction();
                match self.waited(&mut master, wait, pipeline.cmd_iter(), transaction, offset, count).await {
                    Ok((values, Ok(()))) => Ok(values),
                    // One reply per command (a plain pipeline, as the store sends): the writes fail, the reads keep
                    // their replies. (An error that is not the server's fails the whole pipeline, below.)
                    Ok((values, Err(error))) if !transaction && offset == 0 && count == pipeline.len() => {
                        match ServerError::try_from(error) {
                            Ok(failed) => Ok(values
                                .into_iter()
                                .zip(pipeline.cmd_iter())
                                .map(|(value, command)| match &value {
                                    Value::ServerError(_) => value,
                                    _ if is_write(command) => Value::ServerError(failed.clone()),
                                    _ => value,
                                })
                                .collect()),
                            Err(error) => Err(error),
                        }
                    }
                    Ok((_, Err(error))) | Err(error) => Err(error),
                }
            }
            _ => {
                let result = master.connection.req_packed_commands(pipeline, offset, count).await;
                if let Ok(values) = &result {
                    self.check_values(master.generation, values);
                }
                result
            }
        };
        watch.finish();
        self.check(master.generation, &result);
        result
    }

    /// Sends `commands` (in `MULTI` … `EXEC` when `transaction`) with `WAIT k timeout` and `ROLE` behind them:
    /// their `count` replies from `offset` on, and whether `k` replicas confirmed (`k` as
    /// [`SentinelConfig::wait_for_replicas`] says). `ROLE`'s list of replicas is the next `k`'s bound; a `ROLE`
    /// that is not a master's drops the connection.
    async fn waited<'c>(
        &self,
        master: &mut Master,
        wait: WaitForReplicas,
        commands: impl Iterator<Item = &'c Cmd>,
        transaction: bool,
        offset: usize,
        count: usize,
    ) -> RedisResult<(Vec<Value>, RedisResult<()>)> {
        let replicas = wait.replicas.min(master.replicas.load(Ordering::Relaxed));
        let mut pipeline = Pipeline::new();
        // A transaction's `offset` and `count` point at `EXEC`'s reply: `MULTI` and `EXEC` are sent as commands of
        // a plain pipeline, so that `WAIT` and `ROLE` go after the transaction, not into it.
        if transaction {
            pipeline.add_command(redis::cmd("MULTI"));
        }
        for command in commands {
            pipeline.add_command(command.clone());
        }
        if transaction {
            pipeline.add_command(redis::cmd("EXEC"));
        }
        pipeline.add_command(wait_command(replicas, wait.timeout_ms)).add_command(redis::cmd("ROLE"));
        let mut values = master.connection.req_packed_commands(&pipeline, offset, count + 2).await?;
        if values.len() != count + 2 {
            return Err(wrong_length());
        }
        let role = values.pop().unwrap_or(Value::Nil);
        let waited = values.pop().unwrap_or(Value::Nil);
        self.check_values(master.generation, &values);
        match connected_replicas(role) {
            Some(connected) => master.replicas.store(connected, Ordering::Relaxed),
            None => self.forget(master.generation, &"ROLE: not a master"),
        }
        Ok((values, replicated(&waited, replicas, wait.timeout_ms)))
    }
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.command(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.commands(pipeline, offset, count))
    }

    fn get_db(&self) -> i64 {
        self.shared.db
    }
}

/// A command on its way: dropped unfinished (its caller gave up) after waiting at least `hang_after`, it drops
/// its connection, which may be to a master that hangs (or that a partition cut off).
struct Watch<'a> {
    connection: &'a SentinelConnection,
    generation: u64,
    since: Instant,
    done: bool,
}

impl Watch<'_> {
    fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.done && self.since.elapsed() >= self.connection.shared.hang_after {
            self.connection.forget(self.generation, &"no reply within half the time limit");
        }
    }
}

/// Errors after which the connection is not used again: it broke, or reached a server that is no longer the master.
fn is_broken(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || error.is_timeout()
        || matches!(error.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown))
}

/// Whether a command may write: everything but the reads the store sends (and the connection's own commands).
/// Scripts count as writes.
fn is_write(command: &Cmd) -> bool {
    const READS: [&[u8]; 14] = [
        b"GET",
        b"MGET",
        b"SCAN",
        b"SSCAN",
        b"PTTL",
        b"TTL",
        b"EXISTS",
        b"PING",
        b"ROLE",
        b"INFO",
        b"SCRIPT",
        b"SMEMBERS",
        b"SCARD",
        b"WAIT",
    ];
    match command.args_iter().next() {
        Some(redis::Arg::Simple(name)) => !READS.iter().any(|read| read.eq_ignore_ascii_case(name)),
        _ => true,
    }
}

fn wait_command(replicas: u32, timeout_ms: u64) -> Cmd {
    let mut command = redis::cmd("WAIT");
    command.arg(replicas).arg(timeout_ms);
    command
}

/// The number of replicas in a master's `ROLE` reply (those online); `None` if it is not a master's.
fn connected_replicas(role: Value) -> Option<u32> {
    match redis::from_redis_value::<Role>(role) {
        Ok(Role::Primary { replicas, .. }) => Some(u32::try_from(replicas.len()).unwrap_or(u32::MAX)),
        _ => None,
    }
}

/// The error of a server that the sentinels named, or the connection reached, but that is no master (any more).
fn not_a_master() -> RedisError {
    RedisError::from((ErrorKind::Server(ServerErrorKind::ReadOnly), "the server is not a master (ROLE)"))
}

/// `WAIT`'s reply: `Ok` when `replicas` replicas confirmed, else a `NOREPLICAS` error (the store's 503).
fn replicated(reply: &Value, replicas: u32, timeout_ms: u64) -> RedisResult<()> {
    match reply {
        Value::Int(confirmed) if *confirmed >= i64::from(replicas) => Ok(()),
        Value::Int(confirmed) => Err(redis::make_extension_error(
            "NOREPLICAS".into(),
            Some(format!(
                "the write reached {confirmed} of the {replicas} replicas it waits for within {timeout_ms} ms"
            )),
        )),
        Value::ServerError(error) => Err(error.clone().into()),
        other => Err(RedisError::from((
            ErrorKind::UnexpectedReturnType,
            "WAIT did not answer a number",
            format!("{other:?}"),
        ))),
    }
}

fn wrong_length() -> RedisError {
    RedisError::from((ErrorKind::Client, "pipeline reply of the wrong length"))
}

#[cfg(test)]
mod tests;
