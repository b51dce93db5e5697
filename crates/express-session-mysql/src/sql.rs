//! The SQL the store sends, built once per store for its table and column names.
//!
//! Time is express-mysql-session's: `expires` holds whole seconds since the epoch, `Math.round(ms / 1000)`, and a
//! row is live while `expires >= round(now)`. `now` is the database's clock, read in a way that does not depend on
//! the connection's `time_zone` (`UNIX_TIMESTAMP()` plus the microseconds of `NOW(6)`, both the statement's start).

use express_session_sql::{OwnerStatements, Statements};

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
        // ? sid -> data, expires in ms
        get_with_expire: format!("SELECT {data}, CAST({exp} AS SIGNED) * 1000 FROM {t} WHERE {id} = ? AND {live}"),
        // ? sid
        destroy: format!("DELETE FROM {t} WHERE {id} = ?"),
        all: format!("SELECT {id}, {data} FROM {t} WHERE {live}"),
        len: format!("SELECT COUNT(*) FROM {t} WHERE {live}"),
        clear: format!("DELETE FROM {t}"),
        // ? batch size
        prune_batch: format!("DELETE FROM {t} WHERE {expired} LIMIT ?"),
    }
}

/// express-mysql-session's `schema.sql` for these names; with an owner key, also the generated column `owner`
/// and its index `owner`.
pub(crate) fn create_table(names: &Names, owner_key: Option<&str>) -> String {
    let owner = owner_key.map_or_else(String::new, |key| {
        format!(",\n  {},\n  KEY `owner` (`owner`)", owner_column(&quote_ident(&names.data), key))
    });
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {} varchar(128) COLLATE utf8mb4_bin NOT NULL,\n  {} int(11) unsigned NOT NULL,\n  \
         {} mediumtext COLLATE utf8mb4_bin,\n  PRIMARY KEY ({}){owner}\n) ENGINE=InnoDB",
        quote_ident(&names.table),
        quote_ident(&names.session_id),
        quote_ident(&names.expires),
        quote_ident(&names.data),
        quote_ident(&names.session_id),
    )
}

/// The owner column's definition for the (checked) owner key `key`: [`owner_of`](express_session::store::owner_of)
/// computed by the server from the data column (quoted), `STORED`. Guarded so that it never makes a write fail:
/// text that is not valid JSON names no owner, and numbers are cast only when their text is short enough that
/// the cast cannot fail in strict mode. `varchar(255)` holds any owner of at most 255 bytes.
pub(crate) fn owner_column(data: &str, key: &str) -> String {
    let v = format!("JSON_VALUE({data}, '$.{key}')");
    let kind = format!("JSON_TYPE(JSON_EXTRACT({data}, '$.{key}'))");
    let d = format!("CAST({v} AS DOUBLE)");
    format!(
        "`owner` varchar(255) COLLATE utf8mb4_bin AS (IF(JSON_VALID({data}), CASE \
         WHEN {kind} = 'STRING' THEN IF(LENGTH({v}) BETWEEN 1 AND 255, {v}, NULL) \
         WHEN {kind} IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL') THEN \
         IF({v} REGEXP '^-?[0-9]{{1,16}}$', \
         IF(ABS(CAST({v} AS SIGNED)) > 9007199254740991, NULL, CAST(CAST({v} AS SIGNED) AS CHAR)), \
         IF({v} REGEXP '^-?[0-9]{{1,20}}([.][0-9]{{1,30}})?([eE][-+]?[0-9]{{1,2}})?$', \
         IF(ABS({d}) > 9007199254740991 OR {d} <> FLOOR({d}), NULL, CAST(CAST({d} AS SIGNED) AS CHAR)), NULL)) \
         END, NULL)) STORED"
    )
}

/// The owner index's statements for these names and owner key.
pub(crate) fn owner_statements(names: &Names, key: &str) -> OwnerStatements {
    let t = quote_ident(&names.table);
    let id = quote_ident(&names.session_id);
    let exp = quote_ident(&names.expires);
    let data = quote_ident(&names.data);
    let live = format!("{exp} >= ROUND({NOW})");
    OwnerStatements {
        // One ALTER: the table is rebuilt once for both.
        add_column: format!("ALTER TABLE {t} ADD COLUMN {}, ADD INDEX `owner` (`owner`)", owner_column(&data, key)),
        add_index: format!("ALTER TABLE {t} ADD INDEX `owner` (`owner`)"),
        // ? table -> (has the column, has the index)
        has_column: "SELECT \
             (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
              AND COLUMN_NAME = 'owner'), \
             (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
              AND INDEX_NAME = 'owner')"
            .into(),
        // ? table -> the column's generation expression
        column_definition: "SELECT CAST(GENERATION_EXPRESSION AS CHAR) FROM information_schema.COLUMNS \
                            WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'owner'"
            .into(),
        // ? owner, ? limit -> sid, data, expires in ms
        sessions_of: format!(
            "SELECT {id}, {data}, CAST({exp} AS SIGNED) * 1000 FROM {t} WHERE `owner` = ? AND {live} \
             ORDER BY {exp} DESC LIMIT ?"
        ),
        // ? owner -> sid
        sids_of: format!("SELECT {id} FROM {t} WHERE `owner` = ? AND {live}"),
        // ? sid, ? owner
        end_one: format!("DELETE FROM {t} WHERE {id} = ? AND `owner` = ? AND {live}"),
        // ? owner, ? the kept sid ('' for none), ? batch size
        end_batch: format!("DELETE FROM {t} WHERE `owner` = ? AND {id} <> ? AND {live} LIMIT ?"),
        count: format!("SELECT COUNT(*) FROM {t} WHERE `owner` IS NOT NULL AND {live}"),
    }
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
        assert_eq!(create_table(&names, None), shipped);
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
    }
}
