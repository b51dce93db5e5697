//! [`PostgresStoreBuilder`]: the table, the lifetimes, the timeout, pruning and the owner index, then the connection.

use std::sync::Arc;
use std::time::Duration;

use express_session::store::StoreError;
use express_session_sql::{SqlOptions, StoreCore, quote_ident};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::BACKEND;
use crate::sql;

use crate::store::{Inner, Owner, PostgresStore};

/// Builds a [`PostgresStore`]: the table, the lifetimes, the timeout and pruning.
///
/// | connect-pg-simple option | here | default |
/// |---|---|---|
/// | `tableName` | [`table_name`](Self::table_name) | `"session"` |
/// | `schemaName` | [`schema_name`](Self::schema_name) | none (the search path) |
/// | `ttl` | [`ttl`](Self::ttl) | one day |
/// | `createTableIfMissing` | [`create_table_if_missing`](Self::create_table_if_missing), or [`PostgresStore::migrate`] | `false` |
/// | `pruneSessionInterval` | [`prune_interval`](Self::prune_interval) | 15 minutes |
/// | `conString`, `conObject`, `pool` | [`connect`](Self::connect), [`connect_with`](Self::connect_with), [`build`](Self::build) | |
///
/// ```no_run
/// use std::time::Duration;
/// use express_session_postgres::PostgresStore;
///
/// # async fn run() -> Result<(), express_session::StoreError> {
/// let store = PostgresStore::builder()
///     .schema_name("auth")
///     .table_name("web_sessions")
///     .create_table_if_missing(true)
///     .timeout(Duration::from_secs(2))
///     .prune_interval(Some(Duration::from_secs(600)))
///     .connect("postgres://postgres@127.0.0.1/app")
///     .await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect`, `connect_lazy` or `build` is called"]
pub struct PostgresStoreBuilder {
    table_name: String,
    schema_name: Option<String>,
    options: SqlOptions,
    application_name: String,
    owner_key: Option<String>,
}

impl Default for PostgresStoreBuilder {
    fn default() -> Self {
        Self {
            table_name: "session".into(),
            schema_name: None,
            options: SqlOptions::default(),
            application_name: "express-session".into(),
            owner_key: None,
        }
    }
}

impl PostgresStoreBuilder {
    /// The table's name (connect-pg-simple's `tableName`, default `"session"`). It is quoted, so any name works.
    ///
    /// ```
    /// let builder = express_session_postgres::PostgresStore::builder().table_name("web_sessions");
    /// # let _ = builder;
    /// ```
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = name.into();
        self
    }

    /// The schema the table is in (connect-pg-simple's `schemaName`); by default the connection's search path
    /// decides. The schema must exist; [`PostgresStore::migrate`] does not create it.
    ///
    /// ```
    /// let builder = express_session_postgres::PostgresStore::builder().schema_name("auth");
    /// # let _ = builder;
    /// ```
    pub fn schema_name(mut self, name: impl Into<String>) -> Self {
        self.schema_name = Some(name.into());
        self
    }

    /// How long a browser-session record (no `cookie.expires`) lives after each write or touch (connect-pg-simple's
    /// `ttl`, default one day). Whole seconds; the expiry is rounded up as connect-pg-simple rounds it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_postgres::PostgresStore::builder().ttl(Duration::from_secs(3600));
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
    /// let builder = express_session_postgres::PostgresStore::builder().timeout(Duration::from_secs(2));
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
    /// let builder = express_session_postgres::PostgresStore::builder().max_connections(4);
    /// # let _ = builder;
    /// ```
    pub fn max_connections(mut self, max: u32) -> Self {
        self.options.set_max_connections(max);
        self
    }

    /// Creates the table on first use if it is missing (connect-pg-simple's `createTableIfMissing`, default
    /// `false`). [`connect`](Self::connect) then creates it before it returns. See [`PostgresStore::migrate`].
    ///
    /// ```
    /// let builder = express_session_postgres::PostgresStore::builder().create_table_if_missing(true);
    /// # let _ = builder;
    /// ```
    pub fn create_table_if_missing(mut self, create: bool) -> Self {
        self.options.set_create_table_if_missing(create);
        self
    }

    /// How often a background task deletes expired rows (connect-pg-simple's `pruneSessionInterval`, default
    /// 15 minutes); `None` turns it off. The task needs a Tokio runtime when the store is built (without one it
    /// is not started, and a warning is logged), deletes in batches of
    /// [`prune_batch_size`](Self::prune_batch_size), and ends with the last clone of the store or with
    /// [`PostgresStore::stop_pruning`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_postgres::PostgresStore::builder().prune_interval(Some(Duration::from_secs(60)));
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
    /// let builder = express_session_postgres::PostgresStore::builder().prune_batch_size(500);
    /// # let _ = builder;
    /// ```
    pub fn prune_batch_size(mut self, rows: u32) -> Self {
        self.options.set_prune_batch_size(rows);
        self
    }

    /// The `application_name` of the store's connections (default `"express-session"`), as seen in
    /// `pg_stat_activity`.
    ///
    /// ```
    /// let builder = express_session_postgres::PostgresStore::builder().application_name("shop-sessions");
    /// # let _ = builder;
    /// ```
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Keeps an owner index (every session of a user, see [`express_session::store::owners`]): the data key
    /// that names a session's owner, for example `"userId"` (1 to 64 ASCII letters, digits or `_`). Off by
    /// default; without it the table and every statement are exactly connect-pg-simple's.
    ///
    /// The index is a generated column `owner` of the table, computed by PostgreSQL from `sess` on every write
    /// (a Node app's included), with the index `IDX_{table}_owner`. [`create_table_if_missing`](Self::create_table_if_missing)
    /// and [`PostgresStore::migrate`] create them with a new table; [`Store::reindex`](express_session::Store::reindex) adds them to an existing
    /// one. See the crate documentation for the costs and limits.
    ///
    /// ```
    /// let builder = express_session_postgres::PostgresStore::builder().owner_key("userId");
    /// # let _ = builder;
    /// ```
    pub fn owner_key(mut self, key: impl Into<String>) -> Self {
        self.owner_key = Some(key.into());
        self
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database?...`), and creates the
    /// table first when [`create_table_if_missing`](Self::create_table_if_missing) is set.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_postgres::PostgresStore::builder().connect("postgres://postgres@127.0.0.1/app").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached within the [timeout](Self::timeout),
    /// [`StoreError::Backend`] for an invalid URL, table or schema name, or a failed table creation.
    pub async fn connect(self, url: &str) -> Result<PostgresStore, StoreError> {
        self.connect_with(BACKEND.parse_url(url)?).await
    }

    /// Like [`connect`](Self::connect), with sqlx's connection options (host, TLS, credentials, ...).
    ///
    /// ```no_run
    /// use sqlx::postgres::PgConnectOptions;
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let options = PgConnectOptions::new().host("127.0.0.1").username("postgres").database("app");
    /// let store = express_session_postgres::PostgresStore::builder().connect_with(options).await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(self, options: PgConnectOptions) -> Result<PostgresStore, StoreError> {
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
    /// let store = express_session_postgres::PostgresStore::builder().connect_lazy("postgres://postgres@127.0.0.1/app")?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid URL, table or schema name.
    pub fn connect_lazy(self, url: &str) -> Result<PostgresStore, StoreError> {
        self.connect_lazy_with(BACKEND.parse_url(url)?)
    }

    /// Like [`connect_lazy`](Self::connect_lazy), with sqlx's connection options.
    ///
    /// ```
    /// use sqlx::postgres::PgConnectOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let options = PgConnectOptions::new().host("127.0.0.1").username("postgres").database("app");
    /// let store = express_session_postgres::PostgresStore::builder().connect_lazy_with(options)?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid table or schema name.
    pub fn connect_lazy_with(self, options: PgConnectOptions) -> Result<PostgresStore, StoreError> {
        // sqlx already sends TimeZone=UTC at start-up; say it here too, so that it stays pinned whatever the
        // defaults become. The store's statements do not depend on it (they name UTC), but any other code using
        // `pool()` on the session table then sees the same wall-clock values as connect-pg-simple pinned to UTC.
        let options = options.application_name(&self.application_name).options([("TimeZone", "UTC")]);
        let pool = PgPoolOptions::new()
            .max_connections(self.options.max_connections())
            .acquire_timeout(self.options.timeout())
            .connect_lazy_with(options);
        self.build(pool)
    }

    /// A store over an existing pool, configured by the caller (its size, timeouts and connection settings).
    /// The store's statements do not depend on the pool's `TimeZone`.
    ///
    /// ```
    /// use sqlx::postgres::PgPoolOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = PgPoolOptions::new().max_connections(5).connect_lazy("postgres://postgres@127.0.0.1/app")?;
    /// let store = express_session_postgres::PostgresStore::builder().build(pool)?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid table or schema name, or an invalid [owner key](Self::owner_key).
    pub fn build(self, pool: PgPool) -> Result<PostgresStore, StoreError> {
        BACKEND.check_names(
            std::iter::once(&self.table_name).chain(&self.schema_name).map(String::as_str),
            "table and schema names",
        )?;
        if let Some(key) = &self.owner_key {
            express_session_sql::check_key(&BACKEND, key)?;
        }
        let table = match &self.schema_name {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.table_name)),
            None => quote_ident(&self.table_name),
        };
        let inner = Arc::new(Inner {
            pool,
            sql: sql::statements(&table),
            owner: self.owner_key.map(|key| Owner { sql: sql::owner_statements(&table, &self.table_name, &key), key }),
            table,
            table_name: self.table_name,
            ttl_secs: self.options.ttl_secs(),
            core: StoreCore::new(BACKEND, &self.options),
        });
        inner.core.start_pruning(Arc::downgrade(&inner), |inner| async move { PostgresStore { inner }.prune().await });
        Ok(PostgresStore { inner })
    }
}
