//! Which PostgreSQL errors mean that the server cannot be used right now (503); the rest of the classification
//! is [`express_session_sql::Backend`]'s.

use express_session_sql::Backend;

/// The store's name in errors and its rule for server errors.
pub(crate) const BACKEND: Backend = Backend {
    name: "postgres",
    label: "PostgreSQL",
    unavailable: |db| db.code().is_some_and(|c| unavailable_sqlstate(&c)),
};

/// Whether a server error says that a column is missing (42703, undefined column): the owner column, on a table
/// made without it.
pub(crate) fn missing_column(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code().is_some_and(|c| c == "42703")
}

/// Whether a SQLSTATE means that the server cannot be used right now (rather than that the statement is wrong):
/// class 08 (connection exception), 53300 (too many connections), 57P01..57P03 (the server is shutting down,
/// crashed, or starting; `pg_terminate_backend` gives 57P01), 25006 (a read-only server, as after a fail-over to
/// a standby).
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03" | "25006")
}

#[cfg(test)]
mod tests {
    use super::*;

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
