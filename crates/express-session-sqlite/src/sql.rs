//! The SQL the store sends, built once per store for its table. Times are milliseconds since the epoch, bound
//! from the store's clock; a row is live while `expire > now`.

use express_session_sql::{Statements, quote_ident};

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
/// milliseconds since the epoch) with its index.
pub(crate) fn create_table(table: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n  \"sid\" TEXT NOT NULL,\n  \"sess\" TEXT NOT NULL,\n  \
             \"expire\" INTEGER NOT NULL,\n  CONSTRAINT {} PRIMARY KEY (\"sid\")\n)",
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
