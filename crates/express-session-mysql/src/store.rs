//! [`MySqlStore`] and its builder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{Record, SessionId, Timestamp};
use express_session_sql::{OwnerStatements, SqlOptions, Statements, StoreCore, inserted, parse_record, version_of};
use sqlx::Executor;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::error::{BACKEND, missing_column};
use crate::sql::{self, Names};

/// A session store in a MySQL or MariaDB table laid out as express-mysql-session's, shared with Node apps that
/// use express-mysql-session on the same table.
///
/// See the [crate documentation](crate) for the table, the time rules and what differs from
/// express-mysql-session.
/// Clones share one pool and one pruning task.
///
/// ```no_run
/// use express_session::{SessionManagerLayer, SessionOptions};
/// use express_session_mysql::MySqlStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MySqlStore::connect("mysql://root@127.0.0.1:3306/app").await?;
/// store.migrate().await?; // creates the table if it is missing
/// let secret = std::env::var("SESSION_SECRET")?;
/// let layer = SessionManagerLayer::new(SessionOptions::new().secret(secret).store(store))?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MySqlStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: MySqlPool,
    sql: Statements,
    names: Names,
    ttl_ms: i64,
    /// The owner index, when the store was built with an owner key.
    owner: Option<Owner>,
    /// The timeout, table creation on first use and the pruning task.
    core: StoreCore,
}

/// The owner key and the owner index's statements.
#[derive(Debug)]
struct Owner {
    key: String,
    sql: OwnerStatements,
}

/// Builds a [`MySqlStore`]: the table, the lifetimes, the timeout and pruning.
///
/// | express-mysql-session option | here | default |
/// |---|---|---|
/// | `schema.tableName` | [`table_name`](Self::table_name) | `"sessions"` |
/// | `schema.columnNames` | [`column_names`](Self::column_names) | `session_id`, `expires`, `data` |
/// | `expiration` | [`ttl`](Self::ttl) | one day |
/// | `createDatabaseTable` | [`create_table_if_missing`](Self::create_table_if_missing), or [`MySqlStore::migrate`] | `false` (express-mysql-session: `true`) |
/// | `clearExpired`, `checkExpirationInterval` | [`prune_interval`](Self::prune_interval) | 15 minutes |
/// | `host`, `port`, `user`, ..., or a connection | [`connect`](Self::connect), [`connect_with`](Self::connect_with), [`build`](Self::build) | |
///
/// ```no_run
/// use std::time::Duration;
/// use express_session_mysql::MySqlStore;
///
/// # async fn run() -> Result<(), express_session::StoreError> {
/// let store = MySqlStore::builder()
///     .table_name("web_sessions")
///     .create_table_if_missing(true)
///     .timeout(Duration::from_secs(2))
///     .prune_interval(Some(Duration::from_secs(600)))
///     .connect("mysql://root@127.0.0.1:3306/app")
///     .await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect`, `connect_lazy` or `build` is called"]
pub struct MySqlStoreBuilder {
    names: Names,
    options: SqlOptions,
    owner_key: Option<String>,
}

impl Default for MySqlStoreBuilder {
    fn default() -> Self {
        Self {
            names: Names {
                table: "sessions".into(),
                session_id: "session_id".into(),
                expires: "expires".into(),
                data: "data".into(),
            },
            options: SqlOptions::default(),
            owner_key: None,
        }
    }
}

impl MySqlStoreBuilder {
    /// The table's name (express-mysql-session's `schema.tableName`, default `"sessions"`), in the connection's
    /// database. It is quoted, so any name works.
    ///
    /// ```
    /// let builder = express_session_mysql::MySqlStore::builder().table_name("web_sessions");
    /// # let _ = builder;
    /// ```
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.names.table = name.into();
        self
    }

    /// The names of the three columns (express-mysql-session's `schema.columnNames`: `session_id`, `expires`,
    /// `data`).
    ///
    /// ```
    /// let builder = express_session_mysql::MySqlStore::builder().column_names("sid", "expires_at", "sess");
    /// # let _ = builder;
    /// ```
    pub fn column_names(
        mut self,
        session_id: impl Into<String>,
        expires: impl Into<String>,
        data: impl Into<String>,
    ) -> Self {
        self.names.session_id = session_id.into();
        self.names.expires = expires.into();
        self.names.data = data.into();
        self
    }

    /// How long a browser-session record (no `cookie.expires`) lives after each write or touch
    /// (express-mysql-session's `expiration`, default one day), in milliseconds; the expiry is rounded to the
    /// nearest second as express-mysql-session rounds it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_mysql::MySqlStore::builder().ttl(Duration::from_secs(3600));
    /// # let _ = builder;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.options.set_ttl(ttl);
        self
    }

    /// How long a store call may take, waiting for a pooled connection included, before it fails with
    /// [`StoreError::Unavailable`] (the session layer answers 503). Default 5 seconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_mysql::MySqlStore::builder().timeout(Duration::from_secs(2));
    /// # let _ = builder;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.set_timeout(timeout);
        self
    }

    /// The most connections the store's pool opens (default 10, at least 1). Not used by [`build`](Self::build),
    /// whose pool is configured by the caller.
    ///
    /// ```
    /// let builder = express_session_mysql::MySqlStore::builder().max_connections(4);
    /// # let _ = builder;
    /// ```
    pub fn max_connections(mut self, max: u32) -> Self {
        self.options.set_max_connections(max);
        self
    }

    /// Creates the table on first use if it is missing (express-mysql-session's `createDatabaseTable`, which
    /// defaults to `true` there; here the default is `false`). [`connect`](Self::connect) then creates it before it returns. See [`MySqlStore::migrate`].
    ///
    /// ```
    /// let builder = express_session_mysql::MySqlStore::builder().create_table_if_missing(true);
    /// # let _ = builder;
    /// ```
    pub fn create_table_if_missing(mut self, create: bool) -> Self {
        self.options.set_create_table_if_missing(create);
        self
    }

    /// How often a background task deletes expired rows (express-mysql-session's `checkExpirationInterval`,
    /// default 15 minutes); `None` turns it off. The task needs a Tokio runtime when the store is built (without one it
    /// is not started, and a warning is logged), deletes in batches of
    /// [`prune_batch_size`](Self::prune_batch_size), and ends with the last clone of the store or with
    /// [`MySqlStore::stop_pruning`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_mysql::MySqlStore::builder().prune_interval(Some(Duration::from_secs(60)));
    /// # let _ = builder;
    /// ```
    pub fn prune_interval(mut self, every: Option<Duration>) -> Self {
        self.options.set_prune_interval(every);
        self
    }

    /// How many expired rows one pruning statement deletes at most (default 1000, at least 1), so that pruning
    /// never holds many row locks for long.
    ///
    /// ```
    /// let builder = express_session_mysql::MySqlStore::builder().prune_batch_size(500);
    /// # let _ = builder;
    /// ```
    pub fn prune_batch_size(mut self, rows: u32) -> Self {
        self.options.set_prune_batch_size(rows);
        self
    }

    /// Keeps an owner index (every session of a user, see [`express_session::store::owners`]): the data key
    /// that names a session's owner, for example `"userId"` (1 to 64 ASCII letters, digits or `_`). Off by
    /// default; without it the table and every statement are exactly express-mysql-session's.
    ///
    /// The index is a `STORED` generated column `owner` of the table, computed by the server from the data
    /// column on every write (a Node app's included), with the index `owner`.
    /// [`create_table_if_missing`](Self::create_table_if_missing) and [`MySqlStore::migrate`] create them with a
    /// new table; [`Store::reindex`] adds them to an existing one. See the crate documentation for the costs and
    /// limits.
    ///
    /// ```
    /// let builder = express_session_mysql::MySqlStore::builder().owner_key("userId");
    /// # let _ = builder;
    /// ```
    pub fn owner_key(mut self, key: impl Into<String>) -> Self {
        self.owner_key = Some(key.into());
        self
    }

    /// Connects to the database at `url` (`mysql://user:password@host:port/database?...`), and creates the
    /// table first when [`create_table_if_missing`](Self::create_table_if_missing) is set.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::builder().connect("mysql://root@127.0.0.1:3306/app").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached within the [timeout](Self::timeout),
    /// [`StoreError::Backend`] for an invalid URL, table or column name, or a failed table creation.
    pub async fn connect(self, url: &str) -> Result<MySqlStore, StoreError> {
        self.connect_with(BACKEND.parse_url(url)?).await
    }

    /// Like [`connect`](Self::connect), with sqlx's connection options (host, TLS, credentials, ...).
    ///
    /// ```no_run
    /// use sqlx::mysql::MySqlConnectOptions;
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let options = MySqlConnectOptions::new().host("127.0.0.1").username("root").database("app");
    /// let store = express_session_mysql::MySqlStore::builder().connect_with(options).await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(self, options: MySqlConnectOptions) -> Result<MySqlStore, StoreError> {
        let store = self.connect_lazy_with(options)?;
        store.inner.core.connect(&store.inner.pool, || store.migrate()).await?;
        Ok(store)
    }

    /// Like [`connect`](Self::connect), without connecting: the pool connects on the first store call. A server
    /// that is down does not stop the application from starting; its requests answer 503 until it is back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::builder().connect_lazy("mysql://root@127.0.0.1:3306/app")?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid URL, table or column name.
    pub fn connect_lazy(self, url: &str) -> Result<MySqlStore, StoreError> {
        self.connect_lazy_with(BACKEND.parse_url(url)?)
    }

    /// Like [`connect_lazy`](Self::connect_lazy), with sqlx's connection options.
    ///
    /// ```
    /// use sqlx::mysql::MySqlConnectOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let options = MySqlConnectOptions::new().host("127.0.0.1").username("root").database("app");
    /// let store = express_session_mysql::MySqlStore::builder().connect_lazy_with(options)?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid table or column name.
    pub fn connect_lazy_with(self, options: MySqlConnectOptions) -> Result<MySqlStore, StoreError> {
        // READ COMMITTED: a conditional UPDATE whose expected text no longer matches skips the row without
        // waiting for its lock (InnoDB's semi-consistent read), and pruning does not keep locks on the rows it
        // scans but leaves. sqlx already pins time_zone to +00:00; the statements do not depend on it.
        let pool = MySqlPoolOptions::new()
            .max_connections(self.options.max_connections())
            .acquire_timeout(self.options.timeout())
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        self.build(pool)
    }

    /// A store over an existing pool, configured by the caller (its size, timeouts and connection settings).
    /// The store's statements do not depend on the pool's `time_zone` or isolation level.
    ///
    /// ```
    /// use sqlx::mysql::MySqlPoolOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = MySqlPoolOptions::new().max_connections(5).connect_lazy("mysql://root@127.0.0.1:3306/app")?;
    /// let store = express_session_mysql::MySqlStore::builder().build(pool)?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid table or column name, or an invalid [owner key](Self::owner_key).
    pub fn build(self, pool: MySqlPool) -> Result<MySqlStore, StoreError> {
        let names = &self.names;
        BACKEND.check_names(
            [&names.table, &names.session_id, &names.expires, &names.data].map(String::as_str),
            "table and column names",
        )?;
        if let Some(key) = &self.owner_key {
            express_session_sql::check_key(&BACKEND, key)?;
        }
        let inner = Arc::new(Inner {
            pool,
            sql: sql::statements(&self.names),
            owner: self.owner_key.map(|key| Owner { sql: sql::owner_statements(&self.names, &key), key }),
            names: self.names,
            ttl_ms: self.options.ttl_millis(),
            core: StoreCore::new(BACKEND, &self.options),
        });
        inner.core.start_pruning(Arc::downgrade(&inner), |inner| async move { MySqlStore { inner }.prune().await });
        Ok(MySqlStore { inner })
    }
}

/// Whole seconds since the epoch, rounded to the nearest (express-mysql-session's `Math.round(ms / 1000)`), kept
/// within the column's `int unsigned`.
fn round_seconds(t: Timestamp) -> i64 {
    (t.as_millis().saturating_add(500)).div_euclid(1000).clamp(0, i64::from(u32::MAX))
}

fn text_of(id: &SessionId, bytes: Vec<u8>) -> Option<String> {
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(_) => {
            tracing::warn!(session = %id.log_hash(), "stored session is not UTF-8; treated as absent");
            None
        }
    }
}

impl MySqlStore {
    /// A builder, for table or column names, lifetimes, timeout or pruning other than the defaults.
    ///
    /// ```
    /// let builder = express_session_mysql::MySqlStore::builder().table_name("web_sessions");
    /// # let _ = builder;
    /// ```
    pub fn builder() -> MySqlStoreBuilder {
        MySqlStoreBuilder::default()
    }

    /// Connects with the defaults: table `"sessions"`, one-day lifetime for browser-session records, 5-second
    /// timeout, pruning every 15 minutes. The table must exist (see [`migrate`](Self::migrate)).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::connect("mysql://root@127.0.0.1:3306/app").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`MySqlStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// Creates the table if it is missing, with the DDL express-mysql-session ships (`schema.sql`, a
    /// `CREATE TABLE IF NOT EXISTS`): `session_id varchar(128)` primary key, `expires int(11) unsigned`, `data
    /// mediumtext`, binary utf8mb4 collation, InnoDB; with an [owner key](MySqlStoreBuilder::owner_key), also the
    /// generated column `owner` and its index. An existing table is left as it is ([`Store::reindex`] adds the
    /// owner column to one).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::connect("mysql://root@127.0.0.1:3306/app").await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached, [`StoreError::Backend`] when the DDL fails
    /// (for example a missing `CREATE` privilege).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let ddl = sql::create_table(&self.inner.names, self.inner.owner.as_ref().map(|o| o.key.as_str()));
        self.run(async { sqlx::query(&ddl).execute(&self.inner.pool).await }).await.map(drop)
    }

    /// Deletes every expired row now, in batches, and returns how many were deleted. The pruning task calls
    /// this; call it yourself with [`MySqlStoreBuilder::prune_interval`]`(None)` to schedule pruning elsewhere.
    /// A row is expired when `expires < round(now)`, exactly the rows reads no longer return.
    ///
    /// ```no_run
    /// # async fn run(store: express_session_mysql::MySqlStore) -> Result<(), express_session::StoreError> {
    /// let deleted = store.prune().await?;
    /// println!("{deleted} expired sessions deleted");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As every store call; rows deleted by earlier batches stay deleted.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        self.ensure_table().await?;
        let sql = &self.inner.sql.prune_batch;
        let delete = |batch| self.run(async move { sqlx::query(sql).bind(batch).execute(&self.inner.pool).await });
        self.inner.core.prune(|batch| async move { delete(batch).await.map(|r| r.rows_affected()) }).await
    }

    /// Stops the background pruning task, if any (it finishes the batch it is deleting). Pruning also stops
    /// when the last clone of the store is dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::builder().connect_lazy("mysql://root@127.0.0.1:3306/app")?;
    /// store.stop_pruning();
    /// # Ok(())
    /// # }
    /// ```
    pub fn stop_pruning(&self) {
        self.inner.core.stop_pruning();
    }

    /// Whether the background pruning task is running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::builder().connect_lazy("mysql://root@127.0.0.1:3306/app")?;
    /// assert!(store.is_pruning());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_pruning(&self) -> bool {
        self.inner.core.is_pruning()
    }

    /// The connection pool, for health checks or for queries of your own on the session table.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::builder().connect_lazy("mysql://root@127.0.0.1:3306/app")?;
    /// let pool: &sqlx::MySqlPool = store.pool();
    /// # let _ = pool;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pool(&self) -> &MySqlPool {
        &self.inner.pool
    }

    /// The table's name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_mysql::MySqlStore::builder().connect_lazy("mysql://root@127.0.0.1:3306/app")?;
    /// assert_eq!(store.table(), "sessions");
    /// # Ok(())
    /// # }
    /// ```
    pub fn table(&self) -> &str {
        &self.inner.names.table
    }

    /// Runs one store call under the timeout.
    async fn run<T>(&self, call: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        self.inner.core.run(call).await
    }

    /// Creates the table on first use, when asked to.
    async fn ensure_table(&self) -> Result<(), StoreError> {
        self.inner.core.ensure_table(|| self.migrate()).await
    }

    /// The owner index, or the error of a store built without an owner key.
    fn owner(&self, operation: &'static str) -> Result<&Owner, StoreError> {
        self.inner.owner.as_ref().ok_or(StoreError::Unsupported { operation })
    }

    /// Runs one owner-index call under the timeout; a missing column is an error that says to call `reindex`.
    async fn run_owner<T>(
        &self,
        owner: &Owner,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        self.inner.core.run_owner(call, missing_column, &self.inner.names.table, &owner.key).await
    }

    /// The `expires` of the writes: the record's expiry in seconds (rounded), or NULL for the store's ttl.
    fn expires(record: &Record) -> Option<i64> {
        record.expires().map(round_seconds)
    }

    /// A plain INSERT: `true` when inserted, `false` on a unique violation (the id is taken).
    async fn insert(&self, id: &SessionId, json: &str, expires: Option<i64>) -> Result<bool, StoreError> {
        self.run(async {
            inserted(
                sqlx::query(&self.inner.sql.insert)
                    .bind(id.as_str())
                    .bind(expires)
                    .bind(self.inner.ttl_ms)
                    .bind(json)
                    .execute(&self.inner.pool)
                    .await,
            )
        })
        .await
    }
}

impl Store for MySqlStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        self.ensure_table().await?;
        // utf8mb4_bin columns come back as binary strings: read the bytes, which are the version as they are.
        let bytes: Option<Option<Vec<u8>>> = self
            .run(async {
                sqlx::query_scalar(&self.inner.sql.get).bind(id.as_str()).fetch_optional(&self.inner.pool).await
            })
            .await?;
        Ok(bytes.flatten().and_then(|bytes| express_session_sql::versioned(id, text_of(id, bytes)?)))
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.ensure_table().await?;
        let json = record.to_json();
        let expires = Self::expires(record);
        let created = express_session_sql::insert_or_reclaim(
            || self.insert(id, &json, expires),
            || async {
                let sql = &self.inner.sql.delete_if_expired;
                let deleted = self.run(sqlx::query(sql).bind(id.as_str()).execute(&self.inner.pool)).await?;
                Ok(deleted.rows_affected())
            },
        )
        .await?;
        Ok(if created { CreateOutcome::Created(version_of(json)) } else { CreateOutcome::Exists })
    }

    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.ensure_table().await?;
        let json = record.to_json();
        self.run(async {
            sqlx::query(&self.inner.sql.upsert)
                .bind(id.as_str())
                .bind(Self::expires(record))
                .bind(self.inner.ttl_ms)
                .bind(&json)
                .execute(&self.inner.pool)
                .await
        })
        .await
        .map(drop)
    }

    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        self.ensure_table().await?;
        // A version this store did not make matches no row; the second statement still tells Gone from Conflict.
        let expected = expected.as_bytes().unwrap_or(b"\0");
        let json = record.to_json();
        let matched = self
            .run(async {
                sqlx::query(&self.inner.sql.save_if)
                    .bind(&json)
                    .bind(Self::expires(record))
                    .bind(self.inner.ttl_ms)
                    .bind(id.as_str())
                    .bind(expected)
                    .execute(&self.inner.pool)
                    .await
            })
            .await?
            .rows_affected();
        // sqlx asks for CLIENT_FOUND_ROWS: the count is of matched rows, even when the new text equals the old.
        if matched > 0 {
            return Ok(SaveOutcome::Saved(version_of(json)));
        }
        // Nothing written. Live now means the row changed since it was read; missing or expired means gone. (A
        // row destroyed between the two statements reads as gone, which it then is.)
        let live: Option<i64> = self
            .run(async {
                sqlx::query_scalar(&self.inner.sql.is_live).bind(id.as_str()).fetch_optional(&self.inner.pool).await
            })
            .await?;
        Ok(if live.unwrap_or(0) != 0 { SaveOutcome::Conflict } else { SaveOutcome::Gone })
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.ensure_table().await?;
        let touched = self
            .run(async {
                sqlx::query(&self.inner.sql.touch)
                    .bind(Self::expires(record))
                    .bind(self.inner.ttl_ms)
                    .bind(id.as_str())
                    .execute(&self.inner.pool)
                    .await
            })
            .await?
            .rows_affected();
        Ok(if touched > 0 { TouchOutcome::Touched } else { TouchOutcome::Gone })
    }

    /// Reads the row's text and its `expire` column in one statement; a row refreshed less than `interval` ago
    /// (by the column: `expire > now + cookie.originalMaxAge - interval`) is `Fresh` and nothing is written,
    /// otherwise the row is touched as [`refresh`](Store::refresh) does (a second statement, only then).
    async fn refresh_after(&self, id: &SessionId, interval: std::time::Duration) -> Result<TouchOutcome, StoreError> {
        self.ensure_table().await?;
        let row: Option<(Option<Vec<u8>>, i64)> = self
            .run(async {
                sqlx::query_as(&self.inner.sql.get_with_expire).bind(id.as_str()).fetch_optional(&self.inner.pool).await
            })
            .await?;
        let Some((Some(bytes), expire_ms)) = row else { return Ok(TouchOutcome::Gone) };
        let Some(Versioned { mut record, .. }) =
            text_of(id, bytes).and_then(|text| express_session_sql::versioned(id, text))
        else {
            return Ok(TouchOutcome::Gone);
        };
        let now = self.now();
        if express_session_sql::refreshed_within(&record, expire_ms, now, interval) {
            return Ok(TouchOutcome::Fresh);
        }
        record.cookie_mut().touch(now);
        self.touch(id, &record).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.ensure_table().await?;
        self.run(async { sqlx::query(&self.inner.sql.destroy).bind(id.as_str()).execute(&self.inner.pool).await })
            .await
            .map(drop)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn all(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        self.ensure_table().await?;
        let rows: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            self.run(async { sqlx::query_as(&self.inner.sql.all).fetch_all(&self.inner.pool).await }).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(sid, bytes)| {
                let id = SessionId::new(String::from_utf8(sid).ok()?)?;
                let record = parse_record(&id, &text_of(&id, bytes?)?)?;
                Some((id, record))
            })
            .collect())
    }

    async fn len(&self) -> Result<usize, StoreError> {
        self.ensure_table().await?;
        let n: i64 =
            self.run(async { sqlx::query_scalar(&self.inner.sql.len).fetch_one(&self.inner.pool).await }).await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.ensure_table().await?;
        self.run(async { sqlx::query(&self.inner.sql.clear).execute(&self.inner.pool).await }).await.map(drop)
    }

    fn owner_key(&self) -> Option<&str> {
        self.inner.owner.as_ref().map(|owner| owner.key.as_str())
    }

    /// One statement: the owner's live rows by the `owner` index, latest expiry first, `limit + 1` of them; each
    /// record is read again ([`owner_of`](express_session::store::owner_of)).
    async fn sessions_of(&self, owner_name: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        let owner = self.owner("sessions_of")?;
        self.ensure_table().await?;
        let rows: Vec<(Vec<u8>, Option<Vec<u8>>, i64)> = self
            .run_owner(owner, async {
                sqlx::query_as(&owner.sql.sessions_of)
                    .bind(owner_name)
                    .bind(express_session_sql::fetch_limit(limit))
                    .fetch_all(&self.inner.pool)
                    .await
            })
            .await?;
        let sessions = rows
            .into_iter()
            .filter_map(|(sid, bytes, expire)| {
                let sid = String::from_utf8(sid).ok()?;
                let text = String::from_utf8(bytes?).ok()?;
                express_session_sql::owned_row(sid, &text, Some(expire), &owner.key, owner_name)
            })
            .collect();
        Ok(express_session_sql::owner_page(sessions, limit))
    }

    /// Two statements: the owner's ids (to find the handle), then the delete of that row if it is still the
    /// owner's.
    async fn end_session_of(&self, owner_name: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        let owner = self.owner("end_session_of")?;
        self.ensure_table().await?;
        let sids: Vec<Vec<u8>> = self
            .run_owner(owner, async {
                sqlx::query_scalar(&owner.sql.sids_of).bind(owner_name).fetch_all(&self.inner.pool).await
            })
            .await?;
        let found = sids.into_iter().filter_map(|sid| SessionId::new(String::from_utf8(sid).ok()?));
        let Some(id) = found.into_iter().find(|id| SessionHandle::of(id) == *handle) else {
            return Ok(false);
        };
        let deleted = self
            .run_owner(owner, async {
                sqlx::query(&owner.sql.end_one).bind(id.as_str()).bind(owner_name).execute(&self.inner.pool).await
            })
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// One `DELETE ... LIMIT` per [`OWNER_BATCH`](express_session::store::OWNER_BATCH) rows, each checking the
    /// row's owner as it deletes it.
    async fn end_sessions_of(&self, owner_name: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let owner = self.owner("end_sessions_of")?;
        self.ensure_table().await?;
        let keep = keep.map_or("", SessionId::as_str);
        express_session_sql::end_in_batches(|batch| async move {
            let deleted = self
                .run_owner(owner, async {
                    sqlx::query(&owner.sql.end_batch)
                        .bind(owner_name)
                        .bind(keep)
                        .bind(batch)
                        .execute(&self.inner.pool)
                        .await
                })
                .await?;
            Ok(deleted.rows_affected())
        })
        .await
    }

    /// Adds the `owner` column and its index when the table lacks them (a table express-mysql-session or an
    /// earlier version of this crate made), under a named lock (`GET_LOCK`) so that concurrent calls add them
    /// once, then counts the live rows that name an owner. Adding the column rebuilds the table (see the crate
    /// documentation).
    async fn reindex(&self) -> Result<u64, StoreError> {
        let owner = self.owner("reindex")?;
        self.ensure_table().await?;
        let table = &self.inner.names.table;
        let lock = format!("express-session reindex {}", table.chars().take(40).collect::<String>());
        self.run(async {
            let mut conn = self.inner.pool.acquire().await?;
            sqlx::query("SELECT GET_LOCK(?, 60)").bind(&lock).execute(&mut *conn).await?;
            let result = async {
                let (column, index): (i64, i64) =
                    sqlx::query_as(&owner.sql.has_column).bind(table).bind(table).fetch_one(&mut *conn).await?;
                if column == 0 {
                    sqlx::query(&owner.sql.add_column).execute(&mut *conn).await?;
                    return Ok(Ok(()));
                }
                let definition: Option<Option<String>> =
                    sqlx::query_scalar(&owner.sql.column_definition).bind(table).fetch_optional(&mut *conn).await?;
                let checked =
                    express_session_sql::check_column_key(&BACKEND, definition.flatten().as_deref(), table, &owner.key);
                if checked.is_ok() && index == 0 {
                    sqlx::query(&owner.sql.add_index).execute(&mut *conn).await?;
                }
                Ok::<_, sqlx::Error>(checked)
            }
            .await;
            sqlx::query("SELECT RELEASE_LOCK(?)").bind(&lock).execute(&mut *conn).await?;
            result
        })
        .await??;
        let n: i64 = self
            .run_owner(owner, async { sqlx::query_scalar(&owner.sql.count).fetch_one(&self.inner.pool).await })
            .await?;
        Ok(n.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_like_express_mysql_session() {
        assert_eq!(round_seconds(Timestamp::from_millis(1_893_456_061_123)), 1_893_456_061);
        assert_eq!(round_seconds(Timestamp::from_millis(1_893_456_061_500)), 1_893_456_062);
        assert_eq!(round_seconds(Timestamp::from_millis(1_893_456_061_499)), 1_893_456_061);
        assert_eq!(round_seconds(Timestamp::from_millis(-5_000)), 0);
    }
}
