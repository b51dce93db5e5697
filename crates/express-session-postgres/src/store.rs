//! [`PostgresStore`]: the `Store` implementation and the store's own calls (migrate, prune).

use std::future::Future;
use std::sync::Arc;

use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{Record, SessionId, Timestamp};
use express_session_sql::{OwnerStatements, Statements, StoreCore, inserted, parse_record, version_of};
use sqlx::postgres::PgPool;

use crate::builder::PostgresStoreBuilder;
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
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: PgPool,
    pub(crate) sql: Statements,
    /// The quoted, possibly schema-qualified table name.
    pub(crate) table: String,
    /// The unqualified table name (for the constraint and index names).
    pub(crate) table_name: String,
    pub(crate) ttl_secs: i64,
    /// The owner index, when the store was built with an owner key.
    pub(crate) owner: Option<Owner>,
    /// The timeout, table creation on first use and the pruning task.
    pub(crate) core: StoreCore,
}

/// The owner key and the owner index's statements.
#[derive(Debug)]
pub(crate) struct Owner {
    pub(crate) key: String,
    pub(crate) sql: OwnerStatements,
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
