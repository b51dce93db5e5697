//! Interop with the real connect-pg-simple 10 (express-session 1.19, pg 8, from the conformance twin's lockfile):
//! Node writes rows the Rust store reads and the other way round, on one table, including touch and destroy; and
//! `migrate` creates the same table as connect-pg-simple's `createTableIfMissing`.

mod common;

use express_session::{Record, SessionId};
use express_session_postgres::PostgresStore;
use express_session_sql::testing::{self, NodeStore};
use serde_json::json;
use sqlx::PgPool;

/// connect-pg-simple on `schema`, from the conformance twin's node_modules, or `None` (skip, or panic under
/// `REQUIRE_SERVICES=1`) without node or npm.
async fn node(schema: &str) -> Option<NodeStore> {
    let twin = testing::repo_root().join("conformance/twin");
    NodeStore::new("pg", &twin, ("DATABASE_URL", common::url()), ("schema", schema.to_owned())).await
}

/// `expire` of a row, as seconds since the epoch (the column holds UTC wall-clock time).
async fn expire_of(admin: &PgPool, store: &PostgresStore, id: &SessionId) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT extract(epoch FROM expire AT TIME ZONE 'UTC')::bigint FROM {} WHERE sid = $1",
        store.table()
    ))
    .bind(id.as_str())
    .fetch_one(admin)
    .await
    .unwrap()
}

/// connect-pg-simple's `Math.ceil(expires / 1000)`.
fn ceil_seconds(record: &Record) -> i64 {
    let ms = record.expires().unwrap().as_millis();
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_share_one_table() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let Some(node) = node(&schema).await else { return };
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .prune_interval(None)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let (a, s) = (&admin, &store);
    testing::node_and_rust_share_one_table(
        &store,
        &node,
        move |id| async move { expire_of(a, s, &id).await },
        ceil_seconds,
    )
    .await;
}

/// The columns, constraints and indexes of `"session"` in `schema`, with the schema name taken out.
async fn shape(admin: &PgPool, schema: &str) -> Vec<String> {
    let mut out: Vec<String> = sqlx::query_as::<_, (String, String, String, Option<String>, Option<i32>, i32)>(
        "SELECT column_name::text, data_type::text, is_nullable::text, collation_name::text, \
         datetime_precision::int, ordinal_position::int FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'session' ORDER BY ordinal_position",
    )
    .bind(schema)
    .fetch_all(admin)
    .await
    .unwrap()
    .into_iter()
    .map(|c| format!("{c:?}"))
    .collect();
    let constraints: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT conname::text, contype::text, condeferrable, condeferred FROM pg_constraint \
         WHERE conrelid = ($1 || '.session')::regclass ORDER BY conname",
    )
    .bind(format!("\"{schema}\""))
    .fetch_all(admin)
    .await
    .unwrap();
    out.extend(constraints.into_iter().map(|c| format!("{c:?}")));
    let indexes: Vec<(String, String)> =
        sqlx::query_as("SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname")
            .bind(schema)
            .fetch_all(admin)
            .await
            .unwrap();
    out.extend(indexes.into_iter().map(|(n, d)| format!("{n}: {}", d.replace(schema, "<schema>"))));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_connect_pg_simple_s_table() {
    let Some(admin) = common::admin().await else { return };
    let theirs = common::fresh_schema(&admin).await;
    let Some(node) = node(&theirs).await else { return };
    node.call(json!({"op": "create_table"})).await;
    let ours = common::fresh_schema(&admin).await;
    let store = PostgresStore::builder().schema_name(&ours).prune_interval(None).connect(&common::url()).await.unwrap();
    // Concurrent migrations (several app instances starting at once) are fine, and idempotent.
    let (first, second) = tokio::join!(store.migrate(), store.migrate());
    first.unwrap();
    second.unwrap();
    store.migrate().await.unwrap();
    let expected = shape(&admin, &theirs).await;
    assert_eq!(expected.len(), 3 + 1 + 2, "{expected:#?}");
    assert_eq!(shape(&admin, &ours).await, expected);
}

/// Issue 13, defects 6 and 9: a lone surrogate, a 600-deep value and `sameSite: ""` written by connect-pg-simple
/// (PostgreSQL's `json` column keeps the text as given) survive the Rust layer's write byte for byte, and the user
/// stays logged in (see the case's documentation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_rust_cannot_hold_survive_a_rust_write() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let Some(node) = node(&schema).await else { return };
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .prune_interval(None)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let (a, table) = (&admin, store.table().to_owned());
    testing::values_rust_cannot_hold_survive_a_rust_write(store.clone(), &node, move |id| {
        let query = format!("SELECT sess::text FROM {table} WHERE sid = $1");
        async move { sqlx::query_scalar(&query).bind(id.as_str()).fetch_one(a).await.unwrap() }
    })
    .await;
}
