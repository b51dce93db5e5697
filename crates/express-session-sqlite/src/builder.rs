//! [`SqliteStoreBuilder`]: the table, the lifetimes, the timeout, pruning and the owner index, then the connection.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use express_session::Clock;
use express_session::store::StoreError;
use express_session_sql::{SqlOptions, StoreCore};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::error::BACKEND;
use crate::sql;

use crate::store::{Inner, Owner, SqliteStore};

/// Builds a [`SqliteStore`]: the table, the clock, the lifetimes, the timeout and pruning.
///
/// ```no_run
/// use std::time::Duration;
/// use express_session_sqlite::SqliteStore;
///
/// # async fn run() -> Result<(), express_session::StoreError> {
/// let store = SqliteStore::builder()
///     .table_name("web_sessions")
///     .ttl(Duration::from_secs(3600))
///     .prune_interval(Some(Duration::from_secs(600)))
///     .open("/var/lib/app/sessions.db")
///     .await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `open`, `open_in_memory` or `build` is called"]
pub struct SqliteStoreBuilder {
    table_name: String,
    clock: Clock,
    options: SqlOptions,
    owner_key: Option<String>,
}

impl Default for SqliteStoreBuilder {
    fn default() -> Self {
        let mut options = SqlOptions::default();
        options.set_max_connections(4);
        Self { table_name: "session".into(), clock: Clock::system(), options, owner_key: None }
    }
}

impl SqliteStoreBuilder {
    /// The table's name (default `"session"`). It is quoted, so any name works.
    ///
    /// ```
    /// let builder = express_session_sqlite::SqliteStore::builder().table_name("web_sessions");
    /// # let _ = builder;
    /// ```
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = name.into();
        self
    }

    /// Keeps an owner index (every session of a user, see [`express_session::store::owners`]): the data key
    /// that names a session's owner, for example `"userId"` (1 to 64 ASCII letters, digits or `_`). Off by
    /// default; without it the table and every statement are as before.
    ///
    /// The index is a `VIRTUAL` generated column `owner` of the table, computed by SQLite from `sess` on every
    /// write, with the index `IDX_{table}_owner`. A new table gets them when the store opens it; an existing
    /// table gets them from [`Store::reindex`](express_session::Store::reindex). See the crate documentation for the costs and limits.
    ///
    /// ```
    /// let builder = express_session_sqlite::SqliteStore::builder().owner_key("userId");
    /// # let _ = builder;
    /// ```
    pub fn owner_key(mut self, key: impl Into<String>) -> Self {
        self.owner_key = Some(key.into());
        self
    }

    /// The clock expiry is checked against (default: the system clock). Give the session layer the same one.
    ///
    /// ```
    /// use express_session::{Clock, Timestamp};
    /// let builder = express_session_sqlite::SqliteStore::builder().clock(Clock::manual(Timestamp::from_millis(0)));
    /// # let _ = builder;
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a browser-session record (no `cookie.expires`) lives after each write or touch (default one day).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_sqlite::SqliteStore::builder().ttl(Duration::from_secs(3600));
    /// # let _ = builder;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.options.set_ttl(ttl);
        self
    }

    /// How long a store call may take, waiting for the file lock of another writer included, before it fails
    /// with [`StoreError::Unavailable`] (the session layer answers 503). Default 5 seconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_sqlite::SqliteStore::builder().timeout(Duration::from_secs(2));
    /// # let _ = builder;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.set_timeout(timeout);
        self
    }

    /// The most connections to a database file (default 4, at least 1): readers run in parallel (WAL mode),
    /// writers one at a time. A database in memory always has exactly one.
    ///
    /// ```
    /// let builder = express_session_sqlite::SqliteStore::builder().max_connections(8);
    /// # let _ = builder;
    /// ```
    pub fn max_connections(mut self, max: u32) -> Self {
        self.options.set_max_connections(max);
        self
    }

    /// How often a background task deletes expired rows (default 15 minutes); `None` turns it off. The task
    /// needs a Tokio runtime when the store is built (without one it is not started, and a warning is logged),
    /// deletes in batches of [`prune_batch_size`](Self::prune_batch_size), and ends with the last clone of the
    /// store or with [`SqliteStore::stop_pruning`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let builder = express_session_sqlite::SqliteStore::builder().prune_interval(Some(Duration::from_secs(60)));
    /// # let _ = builder;
    /// ```
    pub fn prune_interval(mut self, every: Option<Duration>) -> Self {
        self.options.set_prune_interval(every);
        self
    }

    /// How many expired rows one pruning statement deletes at most (default 1000, at least 1), so that pruning
    /// never holds the write lock for long.
    ///
    /// ```
    /// let builder = express_session_sqlite::SqliteStore::builder().prune_batch_size(500);
    /// # let _ = builder;
    /// ```
    pub fn prune_batch_size(mut self, rows: u32) -> Self {
        self.options.set_prune_batch_size(rows);
        self
    }

    /// Opens (creating if missing) the database file at `path`, in WAL mode, and creates the table if missing.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::builder().open("sessions.db").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the file cannot be opened or is locked past the timeout,
    /// [`StoreError::Backend`] for an invalid table name or a failed table creation.
    pub async fn open(self, path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(self.options.timeout());
        let pool = SqlitePoolOptions::new()
            .max_connections(self.options.max_connections())
            .acquire_timeout(self.options.timeout())
            .connect_lazy_with(options);
        self.build(pool).await
    }

    /// A database in memory, gone with the last clone of the store: for tests and single-process apps that need no
    /// persistence. It lives on exactly one connection, which is never recycled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::builder().open_in_memory().await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid table name.
    pub async fn open_in_memory(self) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new().in_memory(true).busy_timeout(self.options.timeout());
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(self.options.timeout())
            .connect_lazy_with(options);
        self.build(pool).await
    }

    /// A store over an existing pool, configured by the caller; creates the table if missing.
    ///
    /// ```
    /// use sqlx::sqlite::SqlitePoolOptions;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await?;
    /// let store = express_session_sqlite::SqliteStore::builder().build(pool).await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub async fn build(self, pool: SqlitePool) -> Result<SqliteStore, StoreError> {
        BACKEND.check_names([self.table_name.as_str()], "the table name")?;
        if let Some(key) = &self.owner_key {
            express_session_sql::check_key(&BACKEND, key)?;
        }
        let store = SqliteStore {
            inner: Arc::new(Inner {
                pool,
                sql: sql::statements(&self.table_name),
                owner: self.owner_key.map(|key| Owner { sql: sql::owner_statements(&self.table_name, &key), key }),
                table: self.table_name,
                clock: self.clock,
                ttl_ms: self.options.ttl_millis(),
                core: StoreCore::new(BACKEND, &self.options),
            }),
        };
        store.migrate().await?;
        let inner = &store.inner;
        inner.core.start_pruning(Arc::downgrade(inner), |inner| async move { SqliteStore { inner }.prune().await });
        Ok(store)
    }
}
