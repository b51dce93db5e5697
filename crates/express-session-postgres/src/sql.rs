//! The SQL the store sends, built once per store for its table.
//!
//! Time is connect-pg-simple's: `expire` is a `timestamp without time zone` holding UTC wall-clock time, written
//! as `to_timestamp(seconds)` with the seconds rounded **up**, and a row is live while
//! `expire >= to_timestamp(ceil(now))`. Every statement names the time zone (`AT TIME ZONE 'UTC'`), so what is
//! written and compared does not depend on the connection's `TimeZone` setting; connections the store opens also
//! pin `TimeZone=UTC`, as the Node side must.

use express_session_sql::{OwnerStatements, Statements, quote_ident};

/// `now`, rounded up to the whole second, as the UTC wall-clock `timestamp` the column holds: the database's
/// clock, with connect-pg-simple's ceiling.
const NOW_CEIL: &str = "(to_timestamp(ceil(extract(epoch FROM now()))::float8) AT TIME ZONE 'UTC')";

/// The value written to `expire`: `$expires` (whole seconds since the epoch, already rounded up) or, when it is
/// NULL (a browser-session cookie), the database's `now` plus `$ttl` seconds, rounded up.
fn expire_value(expires: u8, ttl: u8) -> String {
    format!(
        "(to_timestamp(coalesce(${expires}::float8, ceil(extract(epoch FROM now())::float8 + ${ttl}::float8))) \
         AT TIME ZONE 'UTC')"
    )
}

/// Every statement, for one table (quoted, possibly schema-qualified). `$ttl` is in seconds; `$expires` is whole
/// seconds since the epoch (rounded up) or NULL for now + ttl.
pub(crate) fn statements(table: &str) -> Statements {
    let live = format!("expire >= {NOW_CEIL}");
    let expired = format!("expire < {NOW_CEIL}");
    Statements {
        // $1 sid -> sess::text
        get: format!("SELECT sess::text FROM {table} WHERE sid = $1 AND {live}"),
        // $1 sess, $2 expires, $3 sid, $4 ttl
        insert: format!("INSERT INTO {table} (sess, expire, sid) VALUES ($1::json, {}, $3)", expire_value(2, 4)),
        // $1 sid
        delete_if_expired: format!("DELETE FROM {table} WHERE sid = $1 AND {expired}"),
        // as insert: connect-pg-simple's upsert
        upsert: format!(
            "INSERT INTO {table} (sess, expire, sid) VALUES ($1::json, {}, $3) \
             ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire",
            expire_value(2, 4)
        ),
        // $1 sess, $2 expires, $3 sid, $4 ttl, $5 the expected sess text -> (saved, live).
        // One statement, no lock unless it writes: the UPDATE matches only the row whose text is the expected
        // one and that is live (under READ COMMITTED a concurrently changed row is re-checked after its writer
        // commits, and a stale version takes no lock at all, so losers of a race do not queue behind the row);
        // `live` (the row as of the statement's snapshot) tells Conflict from Gone. A missing row is never
        // inserted.
        save_if: format!(
            "WITH upd AS (UPDATE {table} SET sess = $1::json, expire = {} \
             WHERE sid = $3 AND sess::text = $5 AND {live} RETURNING 1) \
             SELECT (SELECT count(*) FROM upd) AS saved, EXISTS (SELECT 1 FROM {table} WHERE sid = $3 AND {live}) AS live",
            expire_value(2, 4)
        ),
        is_live: String::new(),
        // $1 sid -> sess::text, expire in ms
        get_with_expire: format!(
            "SELECT sess::text, (extract(epoch FROM expire) * 1000)::bigint FROM {table} WHERE sid = $1 AND {live}"
        ),
        // $1 sid, $2 expires, $3 ttl
        touch: format!("UPDATE {table} SET expire = {} WHERE sid = $1 AND {live}", expire_value(2, 3)),
        // $1 sid
        destroy: format!("DELETE FROM {table} WHERE sid = $1"),
        all: format!("SELECT sid, sess::text FROM {table} WHERE {live}"),
        len: format!("SELECT count(*) FROM {table} WHERE {live}"),
        clear: format!("DELETE FROM {table}"),
        // $1 batch size; skips rows other transactions hold
        prune_batch: format!(
            "DELETE FROM {table} WHERE sid IN \
             (SELECT sid FROM {table} WHERE {expired} LIMIT $1 FOR UPDATE SKIP LOCKED) AND {expired}"
        ),
    }
}

/// The owner column's expression for the (checked) owner key `key`: [`owner_of`](express_session::store::owner_of)
/// computed by PostgreSQL from `sess`. A record whose text holds an escaped NUL or surrogate (`\u0000`,
/// `\ud800`) names no owner here: PostgreSQL's json operators refuse such text, and the column must never make a
/// write fail. Numbers go through `numeric` only when their text is short enough that the cast cannot fail.
pub(crate) fn owner_expression(key: &str) -> String {
    let v = format!("(sess ->> '{key}')");
    let n = format!("{v}::numeric");
    format!(
        "CASE WHEN sess::text ~ '\\\\u(0000|[dD][89a-fA-F])' THEN NULL ELSE \
         CASE json_typeof(sess -> '{key}') \
         WHEN 'string' THEN CASE WHEN octet_length({v}) BETWEEN 1 AND 255 THEN {v} END \
         WHEN 'number' THEN CASE \
         WHEN {v} !~ '^-?[0-9]{{1,20}}(\\.[0-9]{{1,40}})?([eE][-+]?[0-9]{{1,2}})?$' THEN NULL \
         WHEN abs({n}) > 9007199254740991 THEN NULL \
         WHEN {n} <> trunc({n}) THEN NULL \
         ELSE ({n})::bigint::text END \
         END END"
    )
}

/// The owner index's statements for one table (quoted, possibly schema-qualified; `name` unqualified) and owner
/// key: the generated column `owner` and its index `IDX_{name}_owner`.
pub(crate) fn owner_statements(table: &str, name: &str, key: &str) -> OwnerStatements {
    let live = format!("expire >= {NOW_CEIL}");
    OwnerStatements {
        add_column: format!(
            "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS \"owner\" text GENERATED ALWAYS AS ({}) STORED",
            owner_expression(key)
        ),
        add_index: format!(
            "CREATE INDEX IF NOT EXISTS {} ON {table} (\"owner\")",
            quote_ident(&format!("IDX_{name}_owner"))
        ),
        // $1 the table as text
        has_column: "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1::text) \
                     AND attname = 'owner' AND NOT attisdropped)"
            .into(),
        // $1 the table as text -> the column's generation expression
        column_definition: "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a \
                            ON a.attrelid = d.adrelid AND a.attnum = d.adnum \
                            WHERE d.adrelid = to_regclass($1::text) AND a.attname = 'owner'"
            .into(),
        // $1 owner, $2 limit -> sid, sess::text, expire in ms
        sessions_of: format!(
            "SELECT sid, sess::text, (extract(epoch FROM expire) * 1000)::bigint FROM {table} \
             WHERE \"owner\" = $1 AND {live} ORDER BY expire DESC LIMIT $2"
        ),
        // $1 owner -> sid
        sids_of: format!("SELECT sid FROM {table} WHERE \"owner\" = $1 AND {live}"),
        // $1 sid, $2 owner
        end_one: format!("DELETE FROM {table} WHERE sid = $1 AND \"owner\" = $2 AND {live}"),
        // $1 owner, $2 the kept sid ('' for none), $3 batch size. The outer condition is checked again on the
        // row as it is when deleted: a row whose owner changed meanwhile is left alone.
        end_batch: format!(
            "DELETE FROM {table} WHERE sid IN (SELECT sid FROM {table} WHERE \"owner\" = $1 AND sid <> $2 AND {live} \
             LIMIT $3) AND \"owner\" = $1 AND sid <> $2"
        ),
        count: format!("SELECT count(*) FROM {table} WHERE \"owner\" IS NOT NULL AND {live}"),
    }
}

/// connect-pg-simple's `table.sql` for `table` (quoted, possibly schema-qualified): the table, its primary key
/// and the index on `expire`. The constraint and index are named `{name}_pkey` and `IDX_{name}_expire` after the
/// unqualified table name, which gives exactly the shipped `session_pkey` and `IDX_session_expire` for the
/// default name.
pub(crate) fn create_table(table: &str, name: &str) -> [String; 3] {
    [
        format!(
            "CREATE TABLE {table} (\n  \"sid\" varchar NOT NULL COLLATE \"default\",\n  \"sess\" json NOT NULL,\n  \
             \"expire\" timestamp(6) NOT NULL\n)\nWITH (OIDS=FALSE)"
        ),
        format!(
            "ALTER TABLE {table} ADD CONSTRAINT {} PRIMARY KEY (\"sid\") NOT DEFERRABLE INITIALLY IMMEDIATE",
            quote_ident(&format!("{name}_pkey"))
        ),
        format!("CREATE INDEX {} ON {table} (\"expire\")", quote_ident(&format!("IDX_{name}_expire"))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_connect_pg_simple() {
        assert_eq!(quote_ident("session"), "\"session\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn default_ddl_is_the_shipped_table_sql() {
        let shipped = "CREATE TABLE \"session\" (\n  \"sid\" varchar NOT NULL COLLATE \"default\",\n  \"sess\" json NOT NULL,\n  \"expire\" timestamp(6) NOT NULL\n)\nWITH (OIDS=FALSE);\n\nALTER TABLE \"session\" ADD CONSTRAINT \"session_pkey\" PRIMARY KEY (\"sid\") NOT DEFERRABLE INITIALLY IMMEDIATE;\n\nCREATE INDEX \"IDX_session_expire\" ON \"session\" (\"expire\");\n";
        let ours = create_table("\"session\"", "session").map(|s| s + ";").join("\n\n") + "\n";
        assert_eq!(ours, shipped);
    }
}
