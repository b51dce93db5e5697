//! The owner index of the SQL stores (every session of a user): what the three stores share.
//!
//! Each store keeps the index as a **generated column** `owner` of its table, derived by the database from the
//! stored JSON under the owner key, with an index on it. The row is the index entry: it is exact whoever writes
//! the row (a Node app's upsert included), costs no extra round trip, and goes with the row when it is destroyed
//! or pruned. The column's expression agrees with [`owner_of`]: a non-empty string of at most
//! [`MAX_OWNER_LEN`](express_session::store::MAX_OWNER_LEN) bytes, or an integer within JavaScript's safe range
//! in decimal (`42` and `42.0` are `"42"`); anything else names no owner.

use std::future::Future;

use express_session::store::{OWNER_BATCH, OwnedSession, OwnerPage, check_owner_key, owner_of};
use express_session::{SessionId, StoreError, Timestamp};

use crate::core::Backend;

/// The statements of a store's owner index, built once per store for its table and owner key. Which parameters
/// each one binds is the store's own (its `sql` module says so beside each statement).
///
/// ```
/// let sql = express_session_sql::OwnerStatements {
///     count: "SELECT count(*) FROM t WHERE owner IS NOT NULL".into(),
///     ..Default::default()
/// };
/// assert!(sql.end_batch.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct OwnerStatements {
    /// Adds the generated column to an existing table (run only when it is missing).
    pub add_column: String,
    /// Creates the index on the column if it is missing.
    pub add_index: String,
    /// Whether the table has the column (one row with a boolean or an integer).
    pub has_column: String,
    /// The text that defines an existing column (its generation expression, or the table's DDL), to check that
    /// it was made for this owner key ([`check_column_key`]).
    pub column_definition: String,
    /// The id, data text and expiry (milliseconds) of an owner's live rows, latest expiry first, at most a limit.
    pub sessions_of: String,
    /// The ids of an owner's live rows.
    pub sids_of: String,
    /// Deletes the live row of an id if it is still the owner's.
    pub end_one: String,
    /// Deletes at most a given number of the owner's live rows, but the one kept.
    pub end_batch: String,
    /// The number of live rows that name an owner.
    pub count: String,
}

/// Checks a builder's owner key with [`check_owner_key`]: a [`StoreError::Backend`] that says what a valid key is.
///
/// ```
/// # let backend = express_session_sql::Backend { name: "example", label: "Example", unavailable: |_| false };
/// assert!(express_session_sql::check_key(&backend, "userId").is_ok());
/// assert!(express_session_sql::check_key(&backend, "user id").is_err());
/// ```
///
/// # Errors
///
/// As described.
pub fn check_key(backend: &Backend, key: &str) -> Result<(), StoreError> {
    check_owner_key(key).map_err(|message| StoreError::backend(backend.name, InvalidOwnerKey(message)))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InvalidOwnerKey(String);

/// The table has no owner column yet.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {label} session table {table} has no owner column (the store was built with owner_key({key:?})): call \
     the store's reindex() once to add it, or add it as the store's documentation shows"
)]
struct MissingOwnerColumn {
    label: &'static str,
    table: String,
    key: String,
}

/// The error of an owner-index call: the clear "call reindex" error when the statement failed because the
/// column is missing (`missing_column` tells that from the server's error), else the error as it was.
///
/// `Ok(StoreError)` for a missing column, `Err(error)` (to classify as usual) otherwise.
pub(crate) fn owner_call_error(
    backend: &Backend,
    error: sqlx::Error,
    missing_column: fn(&dyn sqlx::error::DatabaseError) -> bool,
    table: &str,
    key: &str,
) -> Result<StoreError, sqlx::Error> {
    match &error {
        sqlx::Error::Database(db) if missing_column(db.as_ref()) => Ok(StoreError::backend(
            backend.name,
            MissingOwnerColumn { label: backend.label, table: table.to_owned(), key: key.to_owned() },
        )),
        _ => Err(error),
    }
}

/// The owner column exists but was not made for this key.
#[derive(Debug, thiserror::Error)]
#[error(
    "the owner column of the {label} session table {table} was not made for the owner key {key:?} (another key, \
     or a column of your own named owner): drop it and call reindex() again"
)]
struct ForeignOwnerColumn {
    label: &'static str,
    table: String,
    key: String,
}

/// Checks that an existing `owner` column was made for `key`: its `definition` (the generation expression, or the
/// table's DDL) reads the key (`'key'` or `'$.key'`). A column made for another key, or a column of the
/// application's own that happens to be named `owner`, would answer for the wrong data.
///
/// ```
/// # let backend = express_session_sql::Backend { name: "example", label: "Example", unavailable: |_| false };
/// use express_session_sql::check_column_key;
/// assert!(check_column_key(&backend, Some("json_extract(sess, '$.userId')"), "t", "userId").is_ok());
/// assert!(check_column_key(&backend, Some("json_extract(sess, '$.userId')"), "t", "user").is_err());
/// assert!(check_column_key(&backend, None, "t", "user").is_err());
/// ```
///
/// # Errors
///
/// A [`StoreError::Backend`] that says to drop the column and reindex.
pub fn check_column_key(backend: &Backend, definition: Option<&str>, table: &str, key: &str) -> Result<(), StoreError> {
    let reads_key =
        definition.is_some_and(|text| text.contains(&format!("'{key}'")) || text.contains(&format!("'$.{key}'")));
    if reads_key {
        Ok(())
    } else {
        Err(StoreError::backend(
            backend.name,
            ForeignOwnerColumn { label: backend.label, table: table.to_owned(), key: key.to_owned() },
        ))
    }
}

/// The entry of one row an owner query returned, or `None` when the id is not a session id, the text does not
/// parse, or the record no longer names `owner` under `key` (the row is read again, not trusted). `expire_ms`
/// is the row's expiry column: it is the session's expiry when it is later than the record's `cookie.expires`
/// by more than a second (a touch moves only the column).
///
/// ```
/// use express_session::SessionId;
/// let id = SessionId::generate();
/// let text = r#"{"cookie":{"originalMaxAge":60000,"expires":"2030-01-01T00:00:00.000Z"},"user":"alice"}"#;
/// let entry = express_session_sql::owned_row(id.as_str().into(), text, Some(1_893_456_000_000), "user", "alice");
/// assert!(entry.is_some());
/// assert!(express_session_sql::owned_row(id.as_str().into(), text, None, "user", "bob").is_none());
/// ```
pub fn owned_row(sid: String, text: &str, expire_ms: Option<i64>, key: &str, owner: &str) -> Option<OwnedSession> {
    let id = SessionId::new(sid)?;
    let record = crate::rows::parse_record(&id, text)?;
    if owner_of(&record, key).as_deref() != Some(owner) {
        return None;
    }
    let expires = match (record.expires(), expire_ms) {
        (Some(own), Some(column)) if column > own.as_millis().saturating_add(1_000) => {
            Some(Timestamp::from_millis(column))
        }
        _ => None,
    };
    Some(OwnedSession::new(&id, &record, expires))
}

/// Runs `delete_batch` (one statement deleting at most the given number of rows) until a batch deletes fewer
/// than [`OWNER_BATCH`] rows; how many rows all batches deleted. 1,000 sessions take three statements (500, 500,
/// then none left).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), express_session::StoreError> {
/// let mut left = 1_000_u64;
/// let mut statements = 0;
/// let ended = express_session_sql::end_in_batches(|batch| {
///     statements += 1;
///     let n = left.min(batch.unsigned_abs());
///     left -= n;
///     async move { Ok(n) }
/// });
/// assert_eq!(ended.await?, 1_000);
/// assert_eq!(statements, 3);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The first error of `delete_batch`; rows deleted by earlier batches stay deleted.
pub async fn end_in_batches<F>(mut delete_batch: impl FnMut(i64) -> F) -> Result<u64, StoreError>
where
    F: Future<Output = Result<u64, StoreError>>,
{
    let batch = i64::try_from(OWNER_BATCH).unwrap_or(500);
    let mut total = 0;
    loop {
        let deleted = delete_batch(batch).await?;
        total += deleted;
        if deleted < batch.unsigned_abs() {
            return Ok(total);
        }
    }
}

/// The page of `limit` from the entries of the rows an owner query returned (see [`OwnerPage::from_sessions`]).
///
/// ```
/// let page = express_session_sql::owner_page(Vec::new(), 10);
/// assert!(page.sessions.is_empty() && !page.more);
/// ```
pub fn owner_page(sessions: Vec<OwnedSession>, limit: usize) -> OwnerPage {
    OwnerPage::from_sessions(sessions, limit)
}

/// The page size to ask the database for: one more than `limit` (to tell whether there are more), within `i64`.
///
/// ```
/// assert_eq!(express_session_sql::fetch_limit(100), 101);
/// assert_eq!(express_session_sql::fetch_limit(usize::MAX), i64::MAX);
/// ```
pub fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}
