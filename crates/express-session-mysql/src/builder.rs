//! [`MySqlStoreBuilder`]: the table, the lifetimes, the timeout, pruning and the owner index, then the connection.

use std::sync::Arc;
use std::time::Duration;

use express_session::store::StoreError;
use express_session_sql::{SqlOptions, StoreCore};
use sqlx::Executor;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::error::BACKEND;
use crate::sql::{self, Names};

use crate::store::{Inner, MySqlStore, Owner};

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
    /// new table; [`Store::reindex`](express_session::Store::reindex) adds them to an existing one. See the crate documentation for the costs and
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
