//! [`PostgresStore`] and its builder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{Record, SessionId, Timestamp};
use express_session_sql::{
    OwnerStatements, SqlOptions, Statements, StoreCore, inserted, parse_record, quote_ident, version_of,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{BACKEND, missing_column};
use crate::sql;

/// A session store in a PostgreSQL table laid out as connect-pg-simple's, shared with Node apps that use
/// connect-pg-simple on the same table.
///
/// See the [crate documentation](crate) for the table, the time rules and what differs from connect-pg-simple.
/// Clones share one pool and one pruning task.
///
/// ```no_run
/// use express_session::{SessionManagerLayer, SessionOptions};
/// use express_session_postgres::PostgresStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1/app").await?;
/// store.migrate().await?; // creates the table if it is missing
/// let secret = std::env::var("SESSION_SECRET")?;
/// let layer = SessionManagerLayer::new(SessionOptions::new().secret(secret).store(store))?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    sql: Statements,
    /// The quoted, possibly schema-qualified table name.
    table: String,
    /// The unqualified table name (for the constraint and index names).
    table_name: String,
    ttl_secs: i64,
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
    /// and [`PostgresStore::migrate`] create them with a new table; [`Store::reindex`] adds them to an existing
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

/// Whole seconds since the epoch, rounded up (connect-pg-simple's `Math.ceil(ms / 1000)`).
fn ceil_seconds(t: Timestamp) -> i64 {
    let ms = t.as_millis();
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)
}

impl PostgresStore {
    /// A builder, for a table name, schema, lifetimes, timeout or pruning other than the defaults.
    ///
    /// ```
    /// let builder = express_session_postgres::PostgresStore::builder().table_name("web_sessions");
    /// # let _ = builder;
    /// ```
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder::default()
    }

    /// Connects with the defaults: table `"session"`, one-day lifetime for browser-session records, 5-second
    /// timeout, pruning every 15 minutes. The table must exist (see [`migrate`](Self::migrate)).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_postgres::PostgresStore::connect("postgres://postgres@127.0.0.1/app").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`PostgresStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// Creates the table if it is missing, with the DDL connect-pg-simple ships (`table.sql`): `sid varchar`
    /// primary key (constraint `session_pkey`), `sess json not null`, `expire timestamp(6) not null` and the index
    /// `IDX_session_expire` (for another table name `N`: `N_pkey` and `IDX_N_expire`); with an
    /// [owner key](PostgresStoreBuilder::owner_key), also the generated column `owner` and its index
    /// `IDX_N_owner` (an existing table gets them from [`Store::reindex`]). Safe to call from several
    /// processes at once (it takes a transaction-level advisory lock); an existing table is left as it is.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_postgres::PostgresStore::connect("postgres://postgres@127.0.0.1/app").await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached, [`StoreError::Backend`] when the DDL fails
    /// (for example a missing schema or a missing `CREATE` privilege).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.run(async {
            let mut tx = self.inner.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(&self.inner.table).execute(&mut *tx).await?;
            let exists: bool = sqlx::query_scalar("SELECT to_regclass($1::text) IS NOT NULL")
                .bind(&self.inner.table)
                .fetch_one(&mut *tx)
                .await?;
            if !exists {
                for statement in sql::create_table(&self.inner.table, &self.inner.table_name) {
                    sqlx::query(&statement).execute(&mut *tx).await?;
                }
                if let Some(owner) = &self.inner.owner {
                    sqlx::query(&owner.sql.add_column).execute(&mut *tx).await?;
                    sqlx::query(&owner.sql.add_index).execute(&mut *tx).await?;
                }
            }
            tx.commit().await
        })
        .await
    }

    /// Deletes every expired row now, in batches, and returns how many were deleted. The pruning task calls
    /// this; call it yourself with [`PostgresStoreBuilder::prune_interval`]`(None)` to schedule pruning elsewhere.
    /// A row is expired when `expire < ceil(now)`, exactly the rows reads no longer return.
    ///
    /// ```no_run
    /// # async fn run(store: express_session_postgres::PostgresStore) -> Result<(), express_session::StoreError> {
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
    /// let store = express_session_postgres::PostgresStore::builder().connect_lazy("postgres://postgres@127.0.0.1/app")?;
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
    /// let store = express_session_postgres::PostgresStore::builder().connect_lazy("postgres://postgres@127.0.0.1/app")?;
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
    /// let store = express_session_postgres::PostgresStore::builder().connect_lazy("postgres://postgres@127.0.0.1/app")?;
    /// let pool: &sqlx::PgPool = store.pool();
    /// # let _ = pool;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The table as it appears in the SQL: quoted, and schema-qualified when a schema was given.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_postgres::PostgresStore::builder()
    ///     .schema_name("auth")
    ///     .connect_lazy("postgres://postgres@127.0.0.1/app")?;
    /// assert_eq!(store.table(), r#""auth"."session""#);
    /// # Ok(())
    /// # }
    /// ```
    pub fn table(&self) -> &str {
        &self.inner.table
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
        self.inner.core.run_owner(call, missing_column, &self.inner.table, &owner.key).await
    }

    /// `$2` of the writes: the record's expiry in seconds (rounded up), or NULL for the store's ttl.
    fn expires(record: &Record) -> Option<i64> {
        record.expires().map(ceil_seconds)
    }

    /// A plain INSERT: `true` when inserted, `false` on a unique violation (the id is taken).
    async fn insert(&self, id: &SessionId, json: &str, expires: Option<i64>) -> Result<bool, StoreError> {
        self.run(async {
            inserted(
                sqlx::query(&self.inner.sql.insert)
                    .bind(json)
                    .bind(expires)
                    .bind(id.as_str())
                    .bind(self.inner.ttl_secs)
                    .execute(&self.inner.pool)
                    .await,
            )
        })
        .await
    }
}

impl Store for PostgresStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        self.ensure_table().await?;
        let text: Option<String> = self
            .run(async {
                sqlx::query_scalar(&self.inner.sql.get).bind(id.as_str()).fetch_optional(&self.inner.pool).await
            })
            .await?;
        Ok(text.and_then(|text| express_session_sql::versioned(id, text)))
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
                .bind(&json)
                .bind(Self::expires(record))
                .bind(id.as_str())
                .bind(self.inner.ttl_secs)
                .execute(&self.inner.pool)
                .await
        })
        .await
        .map(drop)
    }

    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        self.ensure_table().await?;
        // A version this store did not make matches no row (no `json` text is empty); the statement still tells
        // Gone from Conflict.
        let expected = expected.as_bytes().and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
        let json = record.to_json();
        let (saved, live): (i64, bool) = self
            .run(async {
                sqlx::query_as(&self.inner.sql.save_if)
                    .bind(&json)
                    .bind(Self::expires(record))
                    .bind(id.as_str())
                    .bind(self.inner.ttl_secs)
                    .bind(expected)
                    .fetch_one(&self.inner.pool)
                    .await
            })
            .await?;
        Ok(match (saved > 0, live) {
            (true, _) => SaveOutcome::Saved(version_of(json)),
            (false, true) => SaveOutcome::Conflict,
            (false, false) => SaveOutcome::Gone,
        })
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.ensure_table().await?;
        let touched = self
            .run(async {
                sqlx::query(&self.inner.sql.touch)
                    .bind(id.as_str())
                    .bind(Self::expires(record))
                    .bind(self.inner.ttl_secs)
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
        let row: Option<(String, i64)> = self
            .run(async {
                sqlx::query_as(&self.inner.sql.get_with_expire).bind(id.as_str()).fetch_optional(&self.inner.pool).await
            })
            .await?;
        let Some((text, expire_ms)) = row else { return Ok(TouchOutcome::Gone) };
        let Some(Versioned { mut record, .. }) = express_session_sql::versioned(id, text) else {
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
        let rows: Vec<(String, String)> =
            self.run(async { sqlx::query_as(&self.inner.sql.all).fetch_all(&self.inner.pool).await }).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(sid, text)| {
                let id = SessionId::new(sid)?;
                let record = parse_record(&id, &text)?;
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
        let rows: Vec<(String, String, i64)> = self
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
            .filter_map(|(sid, text, expire)| {
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
        let sids: Vec<String> = self
            .run_owner(owner, async {
                sqlx::query_scalar(&owner.sql.sids_of).bind(owner_name).fetch_all(&self.inner.pool).await
            })
            .await?;
        let Some(sid) = sids
            .into_iter()
            .find(|sid| SessionId::new(sid.clone()).is_some_and(|id| SessionHandle::of(&id) == *handle))
        else {
            return Ok(false);
        };
        let deleted = self
            .run_owner(owner, async {
                sqlx::query(&owner.sql.end_one).bind(&sid).bind(owner_name).execute(&self.inner.pool).await
            })
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// One `DELETE` per [`OWNER_BATCH`](express_session::store::OWNER_BATCH) rows, each checking the row's
    /// owner as it deletes it.
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

    /// Adds the `owner` column and its index when the table lacks them (a table connect-pg-simple or an earlier
    /// version of this crate made), then counts the live rows that name an owner. Adding the column rewrites the
    /// table under an `ACCESS EXCLUSIVE` lock (see the crate documentation).
    async fn reindex(&self) -> Result<u64, StoreError> {
        let owner = self.owner("reindex")?;
        self.ensure_table().await?;
        let checked = self
            .run(async {
                let mut tx = self.inner.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(&self.inner.table)
                    .execute(&mut *tx)
                    .await?;
                let has: bool =
                    sqlx::query_scalar(&owner.sql.has_column).bind(&self.inner.table).fetch_one(&mut *tx).await?;
                let checked = if has {
                    let definition: Option<String> = sqlx::query_scalar(&owner.sql.column_definition)
                        .bind(&self.inner.table)
                        .fetch_optional(&mut *tx)
                        .await?;
                    express_session_sql::check_column_key(
                        &BACKEND,
                        definition.as_deref(),
                        &self.inner.table,
                        &owner.key,
                    )
                } else {
                    sqlx::query(&owner.sql.add_column).execute(&mut *tx).await?;
                    Ok(())
                };
                if checked.is_ok() {
                    sqlx::query(&owner.sql.add_index).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(checked)
            })
            .await?;
        checked?;
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
    fn seconds_round_up_like_connect_pg_simple() {
        assert_eq!(ceil_seconds(Timestamp::from_millis(1_893_456_061_123)), 1_893_456_062);
        assert_eq!(ceil_seconds(Timestamp::from_millis(1_893_456_061_000)), 1_893_456_061);
        assert_eq!(ceil_seconds(Timestamp::from_millis(1_893_456_060_001)), 1_893_456_061);
        assert_eq!(ceil_seconds(Timestamp::from_millis(-1_500)), -1);
    }
}
