//! The SQL the store sends, built once per store for its table. Times are milliseconds since the epoch, bound
//! from the store's clock; a row is live while `expire > now`.

/// Quotes an SQLite identifier: in double quotes, with `"` doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every statement, for one table.
#[derive(Debug)]
pub(crate) struct Sql {
    /// `?1` sid, `?2` now → `sess` of the live row.
    pub(crate) get: String,
    /// `?1` sid, `?2` sess, `?3` expire: a plain INSERT (a duplicate is a unique violation).
    pub(crate) insert: String,
    /// `?1` sid, `?2` now: deletes the row only if it is expired (so that `create` can reuse the id).
    pub(crate) delete_if_expired: String,
    /// As `insert`, but an upsert.
    pub(crate) upsert: String,
    /// `?1` sid, `?2` sess, `?3` expire, `?4` expected sess, `?5` now: updates the live row with the expected text.
    pub(crate) save_if: String,
    /// `?1` sid, `?2` now → whether the row is live (to tell Conflict from Gone).
    pub(crate) is_live: String,
    /// `?1` sid, `?2` expire, `?3` now: moves `expire` of the live row.
    pub(crate) touch: String,
    /// `?1` sid.
    pub(crate) destroy: String,
    /// `?1` now → `sid, sess` of every live row.
    pub(crate) all: String,
    /// `?1` now → `count(*)` of the live rows.
    pub(crate) len: String,
    /// Deletes every row.
    pub(crate) clear: String,
    /// `?1` now, `?2` batch size: deletes up to that many expired rows.
    pub(crate) prune_batch: String,
}

impl Sql {
    pub(crate) fn new(table: &str) -> Self {
        let t = quote_ident(table);
        Self {
            get: format!("SELECT sess FROM {t} WHERE sid = ?1 AND expire > ?2"),
            insert: format!("INSERT INTO {t} (sid, sess, expire) VALUES (?1, ?2, ?3)"),
            delete_if_expired: format!("DELETE FROM {t} WHERE sid = ?1 AND expire <= ?2"),
            upsert: format!(
                "INSERT INTO {t} (sid, sess, expire) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire"
            ),
            save_if: format!("UPDATE {t} SET sess = ?2, expire = ?3 WHERE sid = ?1 AND sess = ?4 AND expire > ?5"),
            is_live: format!("SELECT expire > ?2 FROM {t} WHERE sid = ?1"),
            touch: format!("UPDATE {t} SET expire = ?2 WHERE sid = ?1 AND expire > ?3"),
            destroy: format!("DELETE FROM {t} WHERE sid = ?1"),
            all: format!("SELECT sid, sess FROM {t} WHERE expire > ?1"),
            len: format!("SELECT count(*) FROM {t} WHERE expire > ?1"),
            clear: format!("DELETE FROM {t}"),
            prune_batch: format!("DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE expire <= ?1 LIMIT ?2)"),
        }
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
