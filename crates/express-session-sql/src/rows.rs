//! The statements a SQL store sends, and how its rows become records and versions.

use std::future::Future;

use express_session::store::{StoreError, Version, Versioned};
use express_session::{Record, SessionId};

/// Every statement a SQL store sends, built once per store for its table. Which parameters each one binds, and
/// in which order, is the store's own (its `sql` module says so beside each statement).
///
/// ```
/// let sql = express_session_sql::Statements {
///     get: "SELECT sess FROM t WHERE sid = ?".into(),
///     ..Default::default()
/// };
/// assert!(sql.clear.is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Statements {
    /// The data text of the live row of an id.
    pub get: String,
    /// A plain INSERT of a row (a duplicate id is a unique violation).
    pub insert: String,
    /// Deletes the row of an id only if it is expired (so that `create` can reuse the id).
    pub delete_if_expired: String,
    /// As `insert`, but an upsert.
    pub upsert: String,
    /// Updates the live row of an id only if its data text is the expected one.
    pub save_if: String,
    /// Whether the row of an id is live (to tell Conflict from Gone after `save_if` wrote nothing); empty for a
    /// store whose `save_if` tells them apart itself.
    pub is_live: String,
    /// Moves the expiry of the live row of an id.
    pub touch: String,
    /// The data text and the expiry column, in ms since the epoch, of the live row of an id (for
    /// [`refreshed_within`]).
    pub get_with_expire: String,
    /// Deletes the row of an id.
    pub destroy: String,
    /// The id and data text of every live row.
    pub all: String,
    /// The number of live rows.
    pub len: String,
    /// Deletes every row.
    pub clear: String,
    /// Deletes up to a given number of expired rows.
    pub prune_batch: String,
}

/// Quotes an SQL identifier the standard way (PostgreSQL, SQLite): in double quotes, with `"` doubled.
///
/// ```
/// assert_eq!(express_session_sql::quote_ident(r#"we"ird"#), r#""we""ird""#);
/// ```
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The record stored as `text` for `id`, or `None` (with a warning in the log) when it does not parse: such a
/// row is treated as absent.
///
/// ```
/// let id = express_session::SessionId::generate();
/// assert!(express_session_sql::parse_record(&id, r#"{"cookie":{}}"#).is_some());
/// assert!(express_session_sql::parse_record(&id, "not json").is_none());
/// ```
pub fn parse_record(id: &SessionId, text: &str) -> Option<Record> {
    match Record::from_json(text) {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!(session = %id.log_hash(), %error, "stored session does not parse; treated as absent");
            None
        }
    }
}

/// The version of a stored text: the text itself (Node writers bump no counter, so the text is what tells a
/// change).
///
/// ```
/// let version = express_session_sql::version_of("{}".to_owned());
/// assert_eq!(version.as_bytes(), Some(&b"{}"[..]));
/// ```
pub fn version_of(text: String) -> express_session::store::Version {
    Version::from_bytes(text.into_bytes())
}

/// The record and version of a row's `text`, or `None` when it does not parse (see [`parse_record`]).
///
/// ```
/// let id = express_session::SessionId::generate();
/// let read = express_session_sql::versioned(&id, r#"{"cookie":{}}"#.to_owned()).unwrap();
/// assert_eq!(read.version.as_bytes(), Some(&br#"{"cookie":{}}"#[..]));
/// ```
pub fn versioned(id: &SessionId, text: String) -> Option<Versioned> {
    parse_record(id, &text).map(|record| Versioned { record, version: version_of(text) })
}

/// The result of a plain INSERT as "inserted": `false` on a unique violation (the id is taken).
///
/// ```
/// assert_eq!(express_session_sql::inserted(Ok::<_, sqlx::Error>(())).unwrap(), true);
/// ```
///
/// # Errors
///
/// Any other error of the INSERT.
pub fn inserted<R>(result: Result<R, sqlx::Error>) -> Result<bool, sqlx::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// `create`'s rule: `insert`; if the id is taken only by an expired row (not yet pruned), `reclaim_expired`
/// deletes that row and the insert is tried once more. `true` when a row was inserted; `false` when a live row
/// (or a concurrent create that wins the second insert) holds the id.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), express_session::StoreError> {
/// let taken = std::cell::Cell::new(true);
/// let created = express_session_sql::insert_or_reclaim(
///     || async { Ok(!taken.get()) },
///     || async { taken.set(false); Ok(1) }, // the row was expired: deleted
/// );
/// assert!(created.await?);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The first error of `insert` or `reclaim_expired`.
pub async fn insert_or_reclaim<I, IF, R, RF>(insert: I, reclaim_expired: R) -> Result<bool, StoreError>
where
    I: Fn() -> IF,
    IF: Future<Output = Result<bool, StoreError>>,
    R: FnOnce() -> RF,
    RF: Future<Output = Result<u64, StoreError>>,
{
    if insert().await? {
        return Ok(true);
    }
    Ok(reclaim_expired().await? > 0 && insert().await?)
}

/// Whether a row whose `expire` column is `expire_ms` (ms since the epoch) was refreshed less than `interval`
/// before `now`: its expiry is later than `now` plus the record's lifetime (`cookie.originalMaxAge`) less
/// `interval`, for a lifetime longer than `interval`. The column decides, not the text's `cookie.expires`, which a
/// touch leaves stale. A record without `cookie.expires` (a browser-session cookie) is never fresh.
///
/// ```
/// use express_session::{Record, Timestamp};
/// use std::time::Duration;
///
/// let record = Record::from_json(r#"{"cookie":{"originalMaxAge":60000,"expires":"2030-01-01T00:01:00.000Z"}}"#).unwrap();
/// let now = Timestamp::parse_json("2030-01-01T00:05:00.000Z").unwrap();
/// let interval = Duration::from_secs(10);
/// // Touched at 00:04:55 (the column), though the text says 00:00:00.
/// assert!(express_session_sql::refreshed_within(&record, now.as_millis() + 55_000, now, interval));
/// assert!(!express_session_sql::refreshed_within(&record, now.as_millis() + 50_000, now, interval));
/// ```
pub fn refreshed_within(
    record: &Record,
    expire_ms: i64,
    now: express_session::Timestamp,
    interval: std::time::Duration,
) -> bool {
    let interval = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    match (record.expires(), record.cookie().original_max_age()) {
        (Some(_), Some(max_age)) => {
            max_age > interval && expire_ms > now.as_millis().saturating_add(max_age).saturating_sub(interval)
        }
        _ => false,
    }
}
