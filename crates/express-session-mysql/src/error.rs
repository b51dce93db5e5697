//! Which MySQL / MariaDB errors mean that the server cannot be used right now (503); the rest of the
//! classification is [`express_session_sql::Backend`]'s.

use express_session_sql::Backend;
use sqlx::mysql::MySqlDatabaseError;

/// The store's name in errors and its rule for server errors.
pub(crate) const BACKEND: Backend = Backend {
    name: "mysql",
    label: "MySQL",
    unavailable: |db| {
        db.try_downcast_ref::<MySqlDatabaseError>().is_some_and(|e| unavailable_error(e.number(), e.code()))
    },
};

/// Whether a server error says that a column is missing (1054, unknown column): the owner column, on a table
/// made without it.
pub(crate) fn missing_column(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<MySqlDatabaseError>().is_some_and(|e| e.number() == 1054)
}

/// Whether a server error means that the server cannot be used right now (rather than that the statement is
/// wrong): too many connections (1040), shutting down (1053), the connection or query killed (1927 in MariaDB,
/// 1317), a read-only server (1290 `--read-only`, 1836), or SQLSTATE class 08 (connection exception).
fn unavailable_error(number: u16, sqlstate: Option<&str>) -> bool {
    matches!(number, 1040 | 1053 | 1317 | 1927 | 1290 | 1836) || sqlstate.is_some_and(|s| s.starts_with("08"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
