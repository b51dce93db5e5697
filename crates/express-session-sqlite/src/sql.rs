//! The SQL the store sends, built once per store for its table. Times are milliseconds since the epoch, bound
//! from the store's clock; a row is live while `expire > now`.

use express_session_sql::{OwnerStatements, Statements, quote_ident};

/// Every statement, for one table.
pub(crate) fn statements(table: &str) -> Statements {
    let t = quote_ident(table);
    Statements {
        // ?1 sid, ?2 now -> sess
        get: format!("SELECT sess FROM {t} WHERE sid = ?1 AND expire > ?2"),
        // ?1 sid, ?2 sess, ?3 expire
        insert: format!("INSERT INTO {t} (sid, sess, expire) VALUES (?1, ?2, ?3)"),
        // ?1 sid, ?2 now
        delete_if_expired: format!("DELETE FROM {t} WHERE sid = ?1 AND expire <= ?2"),
        // as insert
        upsert: format!(
            "INSERT INTO {t} (sid, sess, expire) VALUES (?1, ?2, ?3) \
             ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire"
        ),
        // ?1 sid, ?2 sess, ?3 expire, ?4 expected sess, ?5 now
        save_if: format!("UPDATE {t} SET sess = ?2, expire = ?3 WHERE sid = ?1 AND sess = ?4 AND expire > ?5"),
        // ?1 sid, ?2 now -> live
        is_live: format!("SELECT expire > ?2 FROM {t} WHERE sid = ?1"),
        // ?1 sid, ?2 expire, ?3 now
        touch: format!("UPDATE {t} SET expire = ?2 WHERE sid = ?1 AND expire > ?3"),
        // ?1 sid, ?2 now -> sess, expire
        get_with_expire: format!("SELECT sess, expire FROM {t} WHERE sid = ?1 AND expire > ?2"),
        // ?1 sid
        destroy: format!("DELETE FROM {t} WHERE sid = ?1"),
        // ?1 now, for all and len
        all: format!("SELECT sid, sess FROM {t} WHERE expire > ?1"),
        len: format!("SELECT count(*) FROM {t} WHERE expire > ?1"),
        clear: format!("DELETE FROM {t}"),
        // ?1 now, ?2 batch size
        prune_batch: format!("DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE expire <= ?1 LIMIT ?2)"),
    }
}

/// The table, the shape of connect-pg-simple's: `sid` primary key, `sess` the JSON text, `expire` (here
/// milliseconds since the epoch) with its index; with an owner key, also the generated column `owner` (whose
/// index [`owner_statements`]' `add_index` creates).
pub(crate) fn create_table(table: &str, owner_key: Option<&str>) -> [String; 2] {
    let owner = owner_key.map_or_else(String::new, |key| format!(",\n  {}", owner_column(key)));
    [
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n  \"sid\" TEXT NOT NULL,\n  \"sess\" TEXT NOT NULL,\n  \
             \"expire\" INTEGER NOT NULL{owner},\n  CONSTRAINT {} PRIMARY KEY (\"sid\")\n)",
            quote_ident(table),
            quote_ident(&format!("{table}_pkey"))
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (\"expire\")",
            quote_ident(&format!("IDX_{table}_expire")),
            quote_ident(table)
        ),
    ]
}

/// The owner column's definition for the (checked) owner key `key`: [`owner_of`](express_session::store::owner_of)
/// computed by SQLite from `sess`, `VIRTUAL` (computed on write for its index, stored only there). Text that is
/// not valid JSON names no owner, and so does a record holding an escaped NUL or surrogate (`\u0000`,
/// `\ud800`), as in the PostgreSQL store.
pub(crate) fn owner_column(key: &str) -> String {
    let v = format!("json_extract(\"sess\", '$.{key}')");
    let safe = "BETWEEN -9007199254740991 AND 9007199254740991";
    format!(
        "\"owner\" TEXT GENERATED ALWAYS AS (CASE \
         WHEN NOT json_valid(\"sess\") THEN NULL \
         WHEN \"sess\" GLOB '*\\u0000*' OR \"sess\" GLOB '*\\u[dD][89abcdefABCDEF]*' THEN NULL \
         ELSE CASE json_type(\"sess\", '$.{key}') \
         WHEN 'text' THEN CASE WHEN length(CAST({v} AS BLOB)) BETWEEN 1 AND 255 THEN {v} END \
         WHEN 'integer' THEN CASE WHEN {v} {safe} THEN CAST({v} AS TEXT) END \
         WHEN 'real' THEN CASE WHEN {v} {safe} AND {v} = CAST({v} AS INTEGER) \
         THEN CAST(CAST({v} AS INTEGER) AS TEXT) END \
         END END) VIRTUAL"
    )
}

/// The owner index's statements for one table and owner key. `?now` is the store's clock in milliseconds. The
/// column is named bare (`owner`), never `"owner"`: SQLite reads a double-quoted name that is no column as a
/// string, so on a table without the column `"owner" = ?` would compare two strings instead of failing.
pub(crate) fn owner_statements(table: &str, key: &str) -> OwnerStatements {
    let t = quote_ident(table);
    OwnerStatements {
        add_column: format!("ALTER TABLE {t} ADD COLUMN {}", owner_column(key)),
        add_index: format!("CREATE INDEX IF NOT EXISTS {} ON {t} (owner)", quote_ident(&format!("IDX_{table}_owner"))),
        // ?1 table -> has the column (table_xinfo lists generated columns, table_info does not)
        has_column: "SELECT count(*) FROM pragma_table_xinfo(?1) WHERE name = 'owner'".into(),
        // ?1 table -> the table's DDL (the column's expression in it)
        column_definition: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1".into(),
        // ?1 owner, ?2 now, ?3 limit -> sid, sess, expire
        sessions_of: format!(
            "SELECT sid, sess, expire FROM {t} WHERE owner = ?1 AND expire > ?2 ORDER BY expire DESC LIMIT ?3"
        ),
        // ?1 owner, ?2 now -> sid
        sids_of: format!("SELECT sid FROM {t} WHERE owner = ?1 AND expire > ?2"),
        // ?1 sid, ?2 owner, ?3 now
        end_one: format!("DELETE FROM {t} WHERE sid = ?1 AND owner = ?2 AND expire > ?3"),
        // ?1 owner, ?2 the kept sid ('' for none), ?3 now, ?4 batch size
        end_batch: format!(
            "DELETE FROM {t} WHERE rowid IN \
             (SELECT rowid FROM {t} WHERE owner = ?1 AND sid <> ?2 AND expire > ?3 LIMIT ?4)"
        ),
        // ?1 now
        count: format!("SELECT count(*) FROM {t} WHERE owner IS NOT NULL AND expire > ?1"),
    }
}
