//! [`MySqlStore`]: the `Store` implementation and the store's own calls (migrate, prune).

use std::future::Future;
use std::sync::Arc;

use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{Record, SessionId, Timestamp};
use express_session_sql::{OwnerStatements, Statements, StoreCore, inserted, parse_record, version_of};
use sqlx::mysql::MySqlPool;

use crate::builder::MySqlStoreBuilder;
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
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) pool: MySqlPool,
    pub(crate) sql: Statements,
    pub(crate) names: Names,
    pub(crate) ttl_ms: i64,
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
        self.run(|| async { sqlx::query(&ddl).execute(&self.inner.pool).await }).await.map(drop)
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
        let delete =
            |batch| self.run(move || async move { sqlx::query(sql).bind(batch).execute(&self.inner.pool).await });
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

    /// Runs one store call under the timeout. A call InnoDB chose as a deadlock's victim (error 1213: its
    /// statement or transaction was rolled back whole, so it changed nothing) is made again, up to
    /// [`DEADLOCK_RETRIES`] times within the same timeout: a `DELETE` of an owner's rows, which locks them through
    /// the `owner` index, and a write of one of those rows, which locks it through the primary key first, can
    /// each wait for the other.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        self.inner.core.run(retry_deadlocks(call)).await
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
    async fn run_owner<T, F, Fut>(&self, owner: &Owner, call: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        self.inner.core.run_owner(retry_deadlocks(call), missing_column, &self.inner.names.table, &owner.key).await
    }

    /// The `expires` of the writes: the record's expiry in seconds (rounded), or NULL for the store's ttl.
    fn expires(record: &Record) -> Option<i64> {
        record.expires().map(round_seconds)
    }

    /// A plain INSERT: `true` when inserted, `false` on a unique violation (the id is taken).
    async fn insert(&self, id: &SessionId, json: &str, expires: Option<i64>) -> Result<bool, StoreError> {
        self.run(|| async {
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
            .run(|| async {
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
                let deleted = self.run(|| sqlx::query(sql).bind(id.as_str()).execute(&self.inner.pool)).await?;
                Ok(deleted.rows_affected())
            },
        )
        .await?;
        Ok(if created { CreateOutcome::Created(version_of(json)) } else { CreateOutcome::Exists })
    }

    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.ensure_table().await?;
        let json = record.to_json();
        self.run(|| async {
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
            .run(|| async {
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
            .run(|| async {
                sqlx::query_scalar(&self.inner.sql.is_live).bind(id.as_str()).fetch_optional(&self.inner.pool).await
            })
            .await?;
        Ok(if live.unwrap_or(0) != 0 { SaveOutcome::Conflict } else { SaveOutcome::Gone })
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.ensure_table().await?;
        let touched = self
            .run(|| async {
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
            .run(|| async {
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
        self.run(|| async { sqlx::query(&self.inner.sql.destroy).bind(id.as_str()).execute(&self.inner.pool).await })
            .await
            .map(drop)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn all(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        self.ensure_table().await?;
        let rows: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            self.run(|| async { sqlx::query_as(&self.inner.sql.all).fetch_all(&self.inner.pool).await }).await?;
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
            self.run(|| async { sqlx::query_scalar(&self.inner.sql.len).fetch_one(&self.inner.pool).await }).await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.ensure_table().await?;
        self.run(|| async { sqlx::query(&self.inner.sql.clear).execute(&self.inner.pool).await }).await.map(drop)
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
            .run_owner(owner, || async {
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
            .run_owner(owner, || async {
                sqlx::query_scalar(&owner.sql.sids_of).bind(owner_name).fetch_all(&self.inner.pool).await
            })
            .await?;
        let found = sids.into_iter().filter_map(|sid| SessionId::new(String::from_utf8(sid).ok()?));
        let Some(id) = found.into_iter().find(|id| SessionHandle::of(id) == *handle) else {
            return Ok(false);
        };
        let deleted = self
            .run_owner(owner, || async {
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
                .run_owner(owner, || async {
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
        self.run(|| async {
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
            .run_owner(owner, || async { sqlx::query_scalar(&owner.sql.count).fetch_one(&self.inner.pool).await })
            .await?;
        Ok(n.unsigned_abs())
    }
}

/// How many times a call chosen as a deadlock's victim is made again (within the call's timeout).
const DEADLOCK_RETRIES: u32 = 8;

/// Makes `call` again while InnoDB answers that it was a deadlock's victim (MySQL/MariaDB error 1213, rolled back
/// whole), at most [`DEADLOCK_RETRIES`] times; any other outcome is returned as it is.
async fn retry_deadlocks<T, F, Fut>(call: F) -> Result<T, sqlx::Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut retries = 0;
    loop {
        match call().await {
            Err(sqlx::Error::Database(error))
                if retries < DEADLOCK_RETRIES
                    && error
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .is_some_and(|e| e.number() == 1213) =>
            {
                retries += 1;
            }
            other => return other,
        }
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
