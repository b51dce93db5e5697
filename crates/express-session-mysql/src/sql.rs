//! The SQL the store sends, built once per store for its table and column names.
//!
//! Time is express-mysql-session's: `expires` holds whole seconds since the epoch, `Math.round(ms / 1000)`, and a
//! row is live while `expires >= round(now)`. `now` is the database's clock, read in a way that does not depend on
//! the connection's `time_zone` (`UNIX_TIMESTAMP()` plus the microseconds of `NOW(6)`, both the statement's start).

use express_session_sql::Statements;

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

/// Every statement, for one table. `? ttl ms` is in milliseconds; `? expires` is whole seconds since the epoch
/// (rounded) or NULL for now + ttl.
pub(crate) fn statements(names: &Names) -> Statements {
    let t = quote_ident(&names.table);
    let id = quote_ident(&names.session_id);
    let exp = quote_ident(&names.expires);
    let data = quote_ident(&names.data);
    let live = format!("{exp} >= ROUND({NOW})");
    let expired = format!("{exp} < ROUND({NOW})");
    let value = format!("COALESCE(?, ROUND({NOW} + ? / 1000))");
    Statements {
        // ? sid -> data
        get: format!("SELECT {data} FROM {t} WHERE {id} = ? AND {live}"),
        // ? sid, ? expires, ? ttl ms, ? data
        insert: format!("INSERT INTO {t} ({id}, {exp}, {data}) VALUES (?, {value}, ?)"),
        // ? sid
        delete_if_expired: format!("DELETE FROM {t} WHERE {id} = ? AND {expired}"),
        // as insert: express-mysql-session's upsert
        upsert: format!(
            "INSERT INTO {t} ({id}, {exp}, {data}) VALUES (?, {value}, ?) \
             ON DUPLICATE KEY UPDATE {exp} = VALUES({exp}), {data} = VALUES({data})"
        ),
        // ? data, ? expires, ? ttl ms, ? sid, ? expected data
        save_if: format!(
            "UPDATE {t} SET {data} = ?, {exp} = {value} \
             WHERE {id} = ? AND CAST({data} AS BINARY) = CAST(? AS BINARY) AND {live}"
        ),
        // ? sid -> live
        is_live: format!("SELECT {live} FROM {t} WHERE {id} = ?"),
        // ? expires, ? ttl ms, ? sid
        touch: format!("UPDATE {t} SET {exp} = {value} WHERE {id} = ? AND {live}"),
        // ? sid
        destroy: format!("DELETE FROM {t} WHERE {id} = ?"),
        all: format!("SELECT {id}, {data} FROM {t} WHERE {live}"),
        len: format!("SELECT COUNT(*) FROM {t} WHERE {live}"),
        clear: format!("DELETE FROM {t}"),
        // ? batch size
        prune_batch: format!("DELETE FROM {t} WHERE {expired} LIMIT ?"),
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
