//! Which SQLite errors mean that the database cannot be used right now (503); the rest of the classification is
//! [`express_session_sql::Backend`]'s.

use express_session_sql::Backend;

/// The store's name in errors and its rule for database errors.
pub(crate) const BACKEND: Backend = Backend {
    name: "sqlite",
    label: "SQLite",
    unavailable: |db| db.code().and_then(|c| c.parse::<i64>().ok()).is_some_and(unavailable_code),
};

/// Whether a database error says that a column is missing (`no such column`): the owner column, on a table made
/// without it.
pub(crate) fn missing_column(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.message().contains("no such column")
}

/// Whether an SQLite result code (extended codes included) means the database cannot be used right now: busy or
/// locked by another writer past the busy timeout, an I/O error, a full disk, a file that cannot be opened.
fn unavailable_code(code: i64) -> bool {
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
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
        assert!(BACKEND.classify(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!BACKEND.classify(sqlx::Error::RowNotFound).is_unavailable());
    }
}
