//! The SQL the store sends, built once per store for its table and column names.
//!
//! Time is express-mysql-session's: `expires` holds whole seconds since the epoch, `Math.round(ms / 1000)`, and a
//! row is live while `expires >= round(now)`. `now` is the database's clock, read in a way that does not depend on
//! the connection's `time_zone` (`UNIX_TIMESTAMP()` plus the microseconds of `NOW(6)`, both the statement's start).

/// The database's `now` in seconds, with microseconds.
const NOW: &str = "(UNIX_TIMESTAMP() + MICROSECOND(NOW(6)) / 1000000)";

/// Quotes a MySQL identifier: in backticks, with backticks doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The table and its three columns, as express-mysql-session's `schema` option names them.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) table: String,
    pub(crate) session_id: String,
    pub(crate) expires: String,
    pub(crate) data: String,
}

/// Every statement, for one table.
#[derive(Debug)]
pub(crate) struct Sql {
    /// `? sid` → `data` of the live row.
    pub(crate) get: String,
    /// `? sid, ? expires (or NULL), ? ttl ms, ? data`: a plain INSERT (a duplicate is a unique violation).
    pub(crate) insert: String,
    /// `? sid`: deletes the row only if it is expired (so that `create` can reuse the id).
    pub(crate) delete_if_expired: String,
    /// As `insert`, but express-mysql-session's upsert.
    pub(crate) upsert: String,
    /// `? data, ? expires, ? ttl ms, ? sid, ? expected data`: updates the live row whose data is the expected text.
    pub(crate) save_if: String,
    /// `? sid` → whether the row is live (to tell Conflict from Gone).
    pub(crate) is_live: String,
    /// `? expires, ? ttl ms, ? sid`: moves `expires` of the live row.
    pub(crate) touch: String,
    /// `? sid`.
    pub(crate) destroy: String,
    /// `session_id, data` of every live row.
    pub(crate) all: String,
    /// `COUNT(*)` of the live rows.
    pub(crate) len: String,
    /// Deletes every row.
    pub(crate) clear: String,
    /// `? batch size`: deletes up to that many expired rows.
    pub(crate) prune_batch: String,
}

impl Sql {
    pub(crate) fn new(names: &Names) -> Self {
        let t = quote_ident(&names.table);
        let id = quote_ident(&names.session_id);
        let exp = quote_ident(&names.expires);
        let data = quote_ident(&names.data);
        let live = format!("{exp} >= ROUND({NOW})");
        let expired = format!("{exp} < ROUND({NOW})");
        let value = format!("COALESCE(?, ROUND({NOW} + ? / 1000))");
        Self {
            get: format!("SELECT {data} FROM {t} WHERE {id} = ? AND {live}"),
            insert: format!("INSERT INTO {t} ({id}, {exp}, {data}) VALUES (?, {value}, ?)"),
            delete_if_expired: format!("DELETE FROM {t} WHERE {id} = ? AND {expired}"),
            upsert: format!(
                "INSERT INTO {t} ({id}, {exp}, {data}) VALUES (?, {value}, ?) \
                 ON DUPLICATE KEY UPDATE {exp} = VALUES({exp}), {data} = VALUES({data})"
            ),
            save_if: format!(
                "UPDATE {t} SET {data} = ?, {exp} = {value} \
                 WHERE {id} = ? AND CAST({data} AS BINARY) = CAST(? AS BINARY) AND {live}"
            ),
            is_live: format!("SELECT {live} FROM {t} WHERE {id} = ?"),
            touch: format!("UPDATE {t} SET {exp} = {value} WHERE {id} = ? AND {live}"),
            destroy: format!("DELETE FROM {t} WHERE {id} = ?"),
            all: format!("SELECT {id}, {data} FROM {t} WHERE {live}"),
            len: format!("SELECT COUNT(*) FROM {t} WHERE {live}"),
            clear: format!("DELETE FROM {t}"),
            prune_batch: format!("DELETE FROM {t} WHERE {expired} LIMIT ?"),
        }
    }
}

/// express-mysql-session's `schema.sql` for these names.
pub(crate) fn create_table(names: &Names) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {} varchar(128) COLLATE utf8mb4_bin NOT NULL,\n  {} int(11) unsigned NOT NULL,\n  \
         {} mediumtext COLLATE utf8mb4_bin,\n  PRIMARY KEY ({})\n) ENGINE=InnoDB",
        quote_ident(&names.table),
        quote_ident(&names.session_id),
        quote_ident(&names.expires),
        quote_ident(&names.data),
        quote_ident(&names.session_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ddl_is_the_shipped_schema_sql() {
        let names = Names {
            table: "sessions".into(),
            session_id: "session_id".into(),
            expires: "expires".into(),
            data: "data".into(),
        };
        let shipped = "CREATE TABLE IF NOT EXISTS `sessions` (\n  `session_id` varchar(128) COLLATE utf8mb4_bin NOT NULL,\n  `expires` int(11) unsigned NOT NULL,\n  `data` mediumtext COLLATE utf8mb4_bin,\n  PRIMARY KEY (`session_id`)\n) ENGINE=InnoDB";
        assert_eq!(create_table(&names), shipped);
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
    }
}
