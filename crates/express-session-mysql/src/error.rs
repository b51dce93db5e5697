//! How sqlx's errors become [`StoreError`]s: unreachable (503) or failed (500).

use std::time::Duration;

use express_session::StoreError;

/// The store's name in [`StoreError`]s.
pub(crate) const NAME: &str = "mysql";

/// A store call that did not finish within the configured timeout.
#[derive(Debug, thiserror::Error)]
#[error("the MySQL session store did not answer within {0:?}")]
pub(crate) struct TimedOut(pub(crate) Duration);

/// A configuration mistake found when the store is built (an invalid table or column name).
#[derive(Debug, thiserror::Error)]
#[error("invalid MySQL session store configuration: {0}")]
pub(crate) struct InvalidConfig(pub(crate) &'static str);

/// Whether a server error means that the server cannot be used right now (rather than that the statement is
/// wrong): too many connections (1040), shutting down (1053), the connection or query killed (1927 in MariaDB,
/// 1317), a read-only server (1290 `--read-only`, 1836), or SQLSTATE class 08 (connection exception).
fn unavailable_error(number: u16, sqlstate: Option<&str>) -> bool {
    matches!(number, 1040 | 1053 | 1317 | 1927 | 1290 | 1836) || sqlstate.is_some_and(|s| s.starts_with("08"))
}

/// Classifies a sqlx error: connection, pool and I/O failures are [`StoreError::Unavailable`], everything
/// else [`StoreError::Backend`].
pub(crate) fn classify(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| unavailable_error(e.number(), e.code())),
        _ => false,
    };
    if unavailable { StoreError::unavailable(NAME, error) } else { StoreError::backend(NAME, error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        assert!(classify(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(classify(sqlx::Error::PoolClosed).is_unavailable());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(classify(sqlx::Error::Io(io)).is_unavailable());
        assert!(!classify(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!classify(sqlx::Error::ColumnNotFound("sess".into())).is_unavailable());
    }

    #[test]
    fn server_errors() {
        for (number, state) in [(1927, "70100"), (1053, "08S01"), (1040, "08004"), (1290, "HY000"), (2013, "08S01")] {
            assert!(unavailable_error(number, Some(state)), "{number}");
        }
        for (number, state) in [(1062, "23000"), (1146, "42S02"), (1205, "HY000"), (1064, "42000")] {
            assert!(!unavailable_error(number, Some(state)), "{number}");
        }
    }
}
