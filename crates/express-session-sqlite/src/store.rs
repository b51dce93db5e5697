//! [`SqliteStore`]: the `Store` implementation and the store's own calls (migrate, prune).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{Clock, Record, SessionId, Timestamp};
use express_session_sql::{OwnerStatements, Statements, StoreCore, inserted, parse_record, version_of};
use sqlx::sqlite::SqlitePool;

use crate::builder::SqliteStoreBuilder;
use crate::error::{BACKEND, missing_column};
use crate::sql;

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
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: SqlitePool,
    pub(crate) sql: Statements,
    pub(crate) table: String,
    pub(crate) clock: Clock,
    pub(crate) ttl_ms: i64,
    /// The owner index, when the store was built with an owner key.
    pub(crate) owner: Option<Owner>,
    /// The timeout and the pruning task.
    pub(crate) core: StoreCore,
}

/// The owner key and the owner index's statements.
#[derive(Debug)]
pub(crate) struct Owner {
    pub(crate) key: String,
    pub(crate) sql: OwnerStatements,
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
            let owner = self.inner.owner.as_ref();
            for statement in sql::create_table(&self.inner.table, owner.map(|o| o.key.as_str())) {
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
            if let Some(owner) = owner {
                // The index, when the table has the column (a table made before the owner key was set gets both
                // from `reindex`).
                let has: i64 =
                    sqlx::query_scalar(&owner.sql.has_column).bind(&self.inner.table).fetch_one(&mut *tx).await?;
                if has > 0 {
                    sqlx::query(&owner.sql.add_index).execute(&mut *tx).await?;
                }
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
        let sql = &self.inner.sql.prune_batch;
        let delete = |batch| {
            self.run(async move { sqlx::query(sql).bind(self.now_ms()).bind(batch).execute(&self.inner.pool).await })
        };
        self.inner.core.prune(|batch| async move { delete(batch).await.map(|r| r.rows_affected()) }).await
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
        self.inner.core.stop_pruning();
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
        self.inner.core.is_pruning()
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

    /// Runs one store call under the timeout.
    async fn run<T>(&self, call: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        self.inner.core.run(call).await
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
            inserted(
                sqlx::query(&self.inner.sql.insert)
                    .bind(id.as_str())
                    .bind(json)
                    .bind(expire)
                    .execute(&self.inner.pool)
                    .await,
            )
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
        Ok(text.and_then(|text| express_session_sql::versioned(id, text)))
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let json = record.to_json();
        let expire = self.expire_ms(record);
        let created = express_session_sql::insert_or_reclaim(
            || self.insert(id, &json, expire),
            || async {
                let reclaim = sqlx::query(&self.inner.sql.delete_if_expired).bind(id.as_str()).bind(self.now_ms());
                Ok(self.run(reclaim.execute(&self.inner.pool)).await?.rows_affected())
            },
        )
        .await?;
        Ok(if created { CreateOutcome::Created(version_of(json)) } else { CreateOutcome::Exists })
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

    /// Reads the row's text and its `expire` column in one statement; a row refreshed less than `interval` ago
    /// (by the column: `expire > now + cookie.originalMaxAge - interval`) is `Fresh` and nothing is written,
    /// otherwise the row is touched as [`refresh`](Store::refresh) does (a second statement, only then).
    async fn refresh_after(&self, id: &SessionId, interval: std::time::Duration) -> Result<TouchOutcome, StoreError> {
        let row: Option<(String, i64)> = self
            .run(async {
                sqlx::query_as(&self.inner.sql.get_with_expire)
                    .bind(id.as_str())
                    .bind(self.now_ms())
                    .fetch_optional(&self.inner.pool)
                    .await
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
                let record = parse_record(&id, &text)?;
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

    fn owner_key(&self) -> Option<&str> {
        self.inner.owner.as_ref().map(|owner| owner.key.as_str())
    }

    /// One statement: the owner's live rows by the `owner` index, latest expiry first, `limit + 1` of them; each
    /// record is read again ([`owner_of`](express_session::store::owner_of)).
    async fn sessions_of(&self, owner_name: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        let owner = self.owner("sessions_of")?;
        let rows: Vec<(String, String, i64)> = self
            .run_owner(owner, async {
                sqlx::query_as(&owner.sql.sessions_of)
                    .bind(owner_name)
                    .bind(self.now_ms())
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
        let sids: Vec<String> = self
            .run_owner(owner, async {
                sqlx::query_scalar(&owner.sql.sids_of)
                    .bind(owner_name)
                    .bind(self.now_ms())
                    .fetch_all(&self.inner.pool)
                    .await
            })
            .await?;
        let Some(id) = sids.into_iter().filter_map(SessionId::new).find(|id| SessionHandle::of(id) == *handle) else {
            return Ok(false);
        };
        let deleted = self
            .run_owner(owner, async {
                sqlx::query(&owner.sql.end_one)
                    .bind(id.as_str())
                    .bind(owner_name)
                    .bind(self.now_ms())
                    .execute(&self.inner.pool)
                    .await
            })
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// One `DELETE` per [`OWNER_BATCH`](express_session::store::OWNER_BATCH) rows (SQLite runs each alone).
    async fn end_sessions_of(&self, owner_name: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let owner = self.owner("end_sessions_of")?;
        let keep = keep.map_or("", SessionId::as_str);
        express_session_sql::end_in_batches(|batch| async move {
            let deleted = self
                .run_owner(owner, async {
                    sqlx::query(&owner.sql.end_batch)
                        .bind(owner_name)
                        .bind(keep)
                        .bind(self.now_ms())
                        .bind(batch)
                        .execute(&self.inner.pool)
                        .await
                })
                .await?;
            Ok(deleted.rows_affected())
        })
        .await
    }

    /// Adds the `owner` column and its index when the table lacks them (a table made before the owner key was
    /// set), then counts the live rows that name an owner. Adding a `VIRTUAL` column rewrites nothing; building
    /// the index reads every row once.
    async fn reindex(&self) -> Result<u64, StoreError> {
        let owner = self.owner("reindex")?;
        self.run(async {
            let mut tx = self.inner.pool.begin().await?;
            let has: i64 =
                sqlx::query_scalar(&owner.sql.has_column).bind(&self.inner.table).fetch_one(&mut *tx).await?;
            let checked = if has == 0 {
                sqlx::query(&owner.sql.add_column).execute(&mut *tx).await?;
                Ok(())
            } else {
                let definition: Option<String> = sqlx::query_scalar(&owner.sql.column_definition)
                    .bind(&self.inner.table)
                    .fetch_optional(&mut *tx)
                    .await?;
                express_session_sql::check_column_key(&BACKEND, definition.as_deref(), &self.inner.table, &owner.key)
            };
            if checked.is_ok() {
                sqlx::query(&owner.sql.add_index).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(checked)
        })
        .await??;
        let n: i64 = self
            .run_owner(owner, async {
                sqlx::query_scalar(&owner.sql.count).bind(self.now_ms()).fetch_one(&self.inner.pool).await
            })
            .await?;
        Ok(n.unsigned_abs())
    }
}
