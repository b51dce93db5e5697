//! [`SqliteStore`] and its builder.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use express_session::{Clock, Record, SessionId, Timestamp};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::watch;

use crate::error::{InvalidConfig, NAME, TimedOut, classify};
use crate::sql::{self, Sql};

/// An embedded, persistent session store: one SQLite database file (or a database in memory), no server.
///
/// See the [crate documentation](crate) for the table and the time rules. Clones share one pool and one pruning
/// task.
///
/// ```no_run
/// use express_session::{SessionManagerLayer, SessionOptions};
/// use express_session_sqlite::SqliteStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteStore::open("sessions.db").await?; // created with its table if missing
/// let secret = std::env::var("SESSION_SECRET")?;
/// let layer = SessionManagerLayer::new(SessionOptions::new().secret(secret).store(store))?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: SqlitePool,
    sql: Sql,
    table: String,
    clock: Clock,
    ttl_ms: i64,
    timeout: Duration,
    prune_batch_size: i64,
    /// Dropping or sending to it stops the pruning task.
    pruner: Mutex<Option<watch::Sender<bool>>>,
}

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
    ttl: Duration,
    timeout: Duration,
    max_connections: u32,
    prune_interval: Option<Duration>,
    prune_batch_size: u32,
}

impl Default for SqliteStoreBuilder {
    fn default() -> Self {
        Self {
            table_name: "session".into(),
            clock: Clock::system(),
            ttl: Duration::from_secs(86_400),
            timeout: Duration::from_secs(5),
            max_connections: 4,
            prune_interval: Some(Duration::from_secs(15 * 60)),
            prune_batch_size: 1_000,
        }
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
        self.ttl = ttl;
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
        self.timeout = timeout;
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
        self.max_connections = max.max(1);
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
        self.prune_interval = every.filter(|d| !d.is_zero());
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
        self.prune_batch_size = rows.max(1);
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
            .busy_timeout(self.timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.timeout)
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
        let options = SqliteConnectOptions::new().in_memory(true).busy_timeout(self.timeout);
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(self.timeout)
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
        if self.table_name.is_empty() || self.table_name.contains('\0') {
            return Err(StoreError::backend(NAME, InvalidConfig("the table name must be non-empty text")));
        }
        let store = SqliteStore {
            inner: Arc::new(Inner {
                pool,
                sql: Sql::new(&self.table_name),
                table: self.table_name,
                clock: self.clock,
                ttl_ms: i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX),
                timeout: self.timeout,
                prune_batch_size: i64::from(self.prune_batch_size),
                pruner: Mutex::new(None),
            }),
        };
        store.migrate().await?;
        if let Some(every) = self.prune_interval {
            store.start_pruning(every);
        }
        Ok(store)
    }
}

fn parse(id: &SessionId, text: &str) -> Option<Record> {
    match Record::from_json(text) {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!(session = %id.log_hash(), %error, "stored session does not parse; treated as absent");
            None
        }
    }
}

fn version_of(text: String) -> Version {
    Version::from_bytes(text.into_bytes())
}

impl SqliteStore {
    /// A builder, for a table name, clock, lifetimes, timeout or pruning other than the defaults.
    ///
    /// ```
    /// let builder = express_session_sqlite::SqliteStore::builder().table_name("web_sessions");
    /// # let _ = builder;
    /// ```
    pub fn builder() -> SqliteStoreBuilder {
        SqliteStoreBuilder::default()
    }

    /// Opens the database file at `path` with the defaults (see [`SqliteStoreBuilder::open`]).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::open("sessions.db").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`SqliteStoreBuilder::open`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::builder().open(path).await
    }

    /// A database in memory with the defaults (see [`SqliteStoreBuilder::open_in_memory`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::in_memory().await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`SqliteStoreBuilder::open_in_memory`].
    pub async fn in_memory() -> Result<Self, StoreError> {
        Self::builder().open_in_memory().await
    }

    /// Creates the table and its index if they are missing (the store does it when it is built).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::in_memory().await?;
    /// store.migrate().await?; // nothing to do
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the database is locked past the timeout, [`StoreError::Backend`] when
    /// the DDL fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.run(async {
            let mut tx = self.inner.pool.begin().await?;
            for statement in sql::create_table(&self.inner.table) {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
            tx.commit().await
        })
        .await
    }

    /// Deletes every expired row now, in batches, and returns how many were deleted. The pruning task calls
    /// this; call it yourself with [`SqliteStoreBuilder::prune_interval`]`(None)` to schedule pruning elsewhere.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::in_memory().await?;
    /// assert_eq!(store.prune().await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As every store call; rows deleted by earlier batches stay deleted.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let deleted = self
                .run(async {
                    sqlx::query(&self.inner.sql.prune_batch)
                        .bind(self.now_ms())
                        .bind(self.inner.prune_batch_size)
                        .execute(&self.inner.pool)
                        .await
                        .map(|r| r.rows_affected())
                })
                .await?;
            total += deleted;
            if deleted < self.inner.prune_batch_size.unsigned_abs() {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Stops the background pruning task, if any. Pruning also stops when the last clone of the store is dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::in_memory().await?;
    /// store.stop_pruning();
    /// assert!(!store.is_pruning());
    /// # Ok(())
    /// # }
    /// ```
    pub fn stop_pruning(&self) {
        if let Some(stop) = self.inner.pruner.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(true);
        }
    }

    /// Whether the background pruning task is running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::in_memory().await?;
    /// assert!(store.is_pruning());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_pruning(&self) -> bool {
        self.inner.pruner.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|tx| !tx.is_closed())
    }

    /// The connection pool, for queries of your own on the session table.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::in_memory().await?;
    /// let pool: &sqlx::SqlitePool = store.pool();
    /// # let _ = pool;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// The table's name.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::StoreError> {
    /// let store = express_session_sqlite::SqliteStore::in_memory().await?;
    /// assert_eq!(store.table(), "session");
    /// # Ok(())
    /// # }
    /// ```
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    fn start_pruning(&self, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no Tokio runtime when the SQLite session store was built; expired rows are not pruned");
            return;
        };
        let (stop, mut stopped) = watch::channel(false);
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    // A stop, or the store dropped (the sender lives in it).
                    _ = stopped.changed() => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                match (SqliteStore { inner }).prune().await {
                    Ok(deleted) => tracing::debug!(deleted, "pruned expired sessions"),
                    Err(error) => tracing::warn!(%error, "pruning expired sessions failed; will try again"),
                }
            }
        });
        *self.inner.pruner.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop);
    }

    /// Runs one store call under the timeout.
    async fn run<T>(&self, call: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(result) => result.map_err(classify),
            Err(_) => Err(StoreError::unavailable(NAME, TimedOut(self.inner.timeout))),
        }
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now().as_millis()
    }

    /// When the record expires: its cookie's expiry, or now + ttl.
    fn expire_ms(&self, record: &Record) -> i64 {
        match record.expires() {
            Some(t) => t.as_millis(),
            None => self.now_ms().saturating_add(self.inner.ttl_ms),
        }
    }

    /// A plain INSERT: `true` when inserted, `false` on a unique violation (the id is taken).
    async fn insert(&self, id: &SessionId, json: &str, expire: i64) -> Result<bool, StoreError> {
        self.run(async {
            let result = sqlx::query(&self.inner.sql.insert)
                .bind(id.as_str())
                .bind(json)
                .bind(expire)
                .execute(&self.inner.pool)
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

impl Store for SqliteStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        let text: Option<String> = self
            .run(async {
                sqlx::query_scalar(&self.inner.sql.get)
                    .bind(id.as_str())
                    .bind(self.now_ms())
                    .fetch_optional(&self.inner.pool)
                    .await
            })
            .await?;
        Ok(text.and_then(|text| parse(id, &text).map(|record| Versioned { record, version: version_of(text) })))
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let json = record.to_json();
        let expire = self.expire_ms(record);
        if self.insert(id, &json, expire).await? {
            return Ok(CreateOutcome::Created(version_of(json)));
        }
        // The id is taken. If only by an expired row (not yet pruned), delete that row and insert once more.
        let reclaimed = self
            .run(async {
                sqlx::query(&self.inner.sql.delete_if_expired)
                    .bind(id.as_str())
                    .bind(self.now_ms())
                    .execute(&self.inner.pool)
                    .await
            })
            .await?
            .rows_affected();
        if reclaimed > 0 && self.insert(id, &json, expire).await? {
            return Ok(CreateOutcome::Created(version_of(json)));
        }
        Ok(CreateOutcome::Exists)
    }

    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let json = record.to_json();
        self.run(async {
            sqlx::query(&self.inner.sql.upsert)
                .bind(id.as_str())
                .bind(&json)
                .bind(self.expire_ms(record))
                .execute(&self.inner.pool)
                .await
        })
        .await
        .map(drop)
    }

    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        let expected = expected.as_bytes().and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
        let json = record.to_json();
        let expire = self.expire_ms(record);
        let now = self.now_ms();
        // One transaction: the UPDATE takes the database's write lock, so the second statement sees the row as the
        // UPDATE left it, and the answer (saved, conflict or gone) is exact. A missing row is never inserted.
        self.run(async {
            let mut tx = self.inner.pool.begin().await?;
            let matched = sqlx::query(&self.inner.sql.save_if)
                .bind(id.as_str())
                .bind(&json)
                .bind(expire)
                .bind(expected)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let outcome = if matched > 0 {
                SaveOutcome::Saved(version_of(json))
            } else {
                let live: Option<bool> = sqlx::query_scalar(&self.inner.sql.is_live)
                    .bind(id.as_str())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if live == Some(true) { SaveOutcome::Conflict } else { SaveOutcome::Gone }
            };
            tx.commit().await?;
            Ok(outcome)
        })
        .await
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        let touched = self
            .run(async {
                sqlx::query(&self.inner.sql.touch)
                    .bind(id.as_str())
                    .bind(self.expire_ms(record))
                    .bind(self.now_ms())
                    .execute(&self.inner.pool)
                    .await
            })
            .await?
            .rows_affected();
        Ok(if touched > 0 { TouchOutcome::Touched } else { TouchOutcome::Gone })
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.run(async { sqlx::query(&self.inner.sql.destroy).bind(id.as_str()).execute(&self.inner.pool).await })
            .await
            .map(drop)
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    async fn all(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        let rows: Vec<(String, String)> = self
            .run(async { sqlx::query_as(&self.inner.sql.all).bind(self.now_ms()).fetch_all(&self.inner.pool).await })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(sid, text)| {
                let id = SessionId::new(sid)?;
                let record = parse(&id, &text)?;
                Some((id, record))
            })
            .collect())
    }

    async fn len(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .run(async {
                sqlx::query_scalar(&self.inner.sql.len).bind(self.now_ms()).fetch_one(&self.inner.pool).await
            })
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.run(async { sqlx::query(&self.inner.sql.clear).execute(&self.inner.pool).await }).await.map(drop)
    }
}
