//! How sqlx's errors become [`StoreError`]s: unreachable (503) or failed (500).

use std::time::Duration;

use express_session::StoreError;

/// The store's name in [`StoreError`]s.
pub(crate) const NAME: &str = "postgres";

/// A store call that did not finish within the configured timeout.
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL session store did not answer within {0:?}")]
pub(crate) struct TimedOut(pub(crate) Duration);

/// A configuration mistake found when the store is built (an invalid table or schema name).
#[derive(Debug, thiserror::Error)]
#[error("invalid PostgreSQL session store configuration: {0}")]
pub(crate) struct InvalidConfig(pub(crate) &'static str);

/// Whether a SQLSTATE means that the server cannot be used right now (rather than that the statement is wrong):
/// class 08 (connection exception), 53300 (too many connections), 57P01..57P03 (the server is shutting down,
/// crashed, or starting; `pg_terminate_backend` gives 57P01), 25006 (a read-only server, as after a fail-over to
/// a standby).
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03" | "25006")
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
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_sqlstate(&code)),
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
    fn sqlstates() {
        for code in ["08006", "08001", "57P01", "57P03", "53300", "25006"] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "22P02"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
    }
}
