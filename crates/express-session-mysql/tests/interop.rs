//! Interop with the real express-mysql-session 3 (express-session 1.19, mysql2, from tests/node's lockfile): Node
//! writes rows the Rust store reads and the other way round, on one table, including touch and destroy; and
//! `migrate` creates the same table as express-mysql-session's `createDatabaseTable`.

mod common;

use express_session::{Record, SessionId};
use express_session_mysql::MySqlStore;
use express_session_sql::testing::{self, NodeStore};
use serde_json::json;
use sqlx::MySqlPool;

/// express-mysql-session on `table`, from tests/node's lockfile, or `None` (skip, or panic under
/// `REQUIRE_SERVICES=1`) without node or npm.
async fn node(table: &str) -> Option<NodeStore> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    NodeStore::new("mysql", &dir, ("MYSQL_URL", common::url()), ("table", table.to_owned())).await
}

/// `expires` of a row, in seconds since the epoch.
async fn expire_of(admin: &MySqlPool, store: &MySqlStore, id: &SessionId) -> i64 {
    sqlx::query_scalar(&format!("SELECT CAST(expires AS SIGNED) FROM `{}` WHERE session_id = ?", store.table()))
        .bind(id.as_str())
        .fetch_one(admin)
        .await
        .unwrap()
}

/// express-mysql-session's `Math.round(expires / 1000)`.
fn round_seconds(record: &Record) -> i64 {
    (record.expires().unwrap().as_millis() + 500).div_euclid(1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_share_one_table() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let Some(node) = node(&table).await else { return };
    let store = MySqlStore::builder()
        .table_name(&table)
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
        round_seconds,
    )
    .await;
}

/// `SHOW CREATE TABLE`, with the table name taken out.
async fn shape(admin: &MySqlPool, table: &str) -> String {
    let (_, ddl): (String, String) =
        sqlx::query_as(&format!("SHOW CREATE TABLE `{table}`")).fetch_one(admin).await.unwrap();
    ddl.replace(table, "<table>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_express_mysql_session_s_table() {
    let Some(admin) = common::admin().await else { return };
    let theirs = common::fresh_table(&admin).await;
    let Some(node) = node(&theirs).await else { return };
    node.call(json!({"op": "create_table"})).await;
    let ours = common::fresh_table(&admin).await;
    let store = MySqlStore::builder().table_name(&ours).prune_interval(None).connect(&common::url()).await.unwrap();
    let (first, second) = tokio::join!(store.migrate(), store.migrate());
    first.unwrap();
    second.unwrap();
    let expected = shape(&admin, &theirs).await;
    assert!(expected.contains("`session_id` varchar(128)"), "{expected}");
    assert_eq!(shape(&admin, &ours).await, expected);
}

/// Issue 13, defects 6 and 9: a lone surrogate, a 600-deep value and `sameSite: ""` written by
/// express-mysql-session survive the Rust layer's write byte for byte, and the user stays logged in (see the
/// case's documentation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_rust_cannot_hold_survive_a_rust_write() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let Some(node) = node(&table).await else { return };
    let store = MySqlStore::builder()
        .table_name(&table)
        .prune_interval(None)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let a = &admin;
    testing::values_rust_cannot_hold_survive_a_rust_write(store.clone(), &node, move |id| {
        let query = format!("SELECT data FROM `{table}` WHERE session_id = ?");
        async move {
            // `utf8mb4_bin` text comes back as bytes.
            let bytes: Vec<u8> = sqlx::query_scalar(&query).bind(id.as_str()).fetch_one(a).await.unwrap();
            String::from_utf8(bytes).unwrap()
        }
    })
    .await;
}
