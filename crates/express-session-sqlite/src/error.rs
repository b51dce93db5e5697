//! How sqlx's errors become [`StoreError`]s: unavailable (503) or failed (500).

use std::time::Duration;

use express_session::StoreError;

/// The store's name in [`StoreError`]s.
pub(crate) const NAME: &str = "sqlite";

/// A store call that did not finish within the configured timeout.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite session store did not answer within {0:?}")]
pub(crate) struct TimedOut(pub(crate) Duration);

/// A configuration mistake found when the store is built (an invalid table name).
#[derive(Debug, thiserror::Error)]
#[error("invalid SQLite session store configuration: {0}")]
pub(crate) struct InvalidConfig(pub(crate) &'static str);

/// Whether an SQLite result code (extended codes included) means the database cannot be used right now: busy or
/// locked by another writer past the busy timeout, an I/O error, a full disk, a file that cannot be opened.
fn unavailable_code(code: i64) -> bool {
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
}

/// Classifies a sqlx error: pool, I/O, lock and disk failures are [`StoreError::Unavailable`], everything else
/// [`StoreError::Backend`].
pub(crate) fn classify(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()).is_some_and(unavailable_code),
        _ => false,
    };
    if unavailable { StoreError::unavailable(NAME, error) } else { StoreError::backend(NAME, error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes() {
        for code in [5, 517, 6, 262, 10, 3338, 13, 14] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in [1, 19, 1555, 2067, 11] {
            assert!(!unavailable_code(code), "{code}");
        }
        assert!(classify(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!classify(sqlx::Error::RowNotFound).is_unavailable());
    }
}
