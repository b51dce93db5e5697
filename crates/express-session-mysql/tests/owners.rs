//! The owner index on MySQL / MariaDB (the generated column `owner`): rows express-mysql-session writes are
//! found with no reindex and Node keeps reading and writing the table; `reindex` adds the column to
//! express-mysql-session's own table; the column agrees with `owner_of`; expired rows leave nothing; and the
//! figures of ending 1,000 sessions (run with `--nocapture` to see them).

mod common;

use express_session::SessionId;
use express_session::store::Store;
use express_session_mysql::MySqlStore;
use express_session_sql::testing::{self, NodeStore};
use serde_json::json;
use sqlx::MySqlPool;

async fn node(table: &str) -> Option<NodeStore> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    NodeStore::new("mysql", &dir, ("MYSQL_URL", common::url()), ("table", table.to_owned())).await
}

/// A store on `table` with the owner key `user`, creating its table (with the column) when asked.
async fn owned_store(table: &str, create: bool) -> MySqlStore {
    MySqlStore::builder()
        .table_name(table)
        .owner_key("user")
        .create_table_if_missing(create)
        .prune_interval(None)
        .max_connections(8)
        .connect(&common::url())
        .await
        .unwrap()
}

/// The `owner` column of a row.
async fn column_of(admin: &MySqlPool, table: &str, id: &SessionId) -> Option<String> {
    let bytes: Option<Vec<u8>> = sqlx::query_scalar(&format!("SELECT owner FROM `{table}` WHERE session_id = ?"))
        .bind(id.as_str())
        .fetch_one(admin)
        .await
        .unwrap();
    bytes.map(|b| String::from_utf8(b).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_rows_name_their_owner() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let Some(node) = node(&table).await else { return };
    let store = owned_store(&table, true).await;
    testing::node_rows_name_their_owner(&store, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_adds_the_column_to_express_mysql_session_s_table() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let Some(node) = node(&table).await else { return };
    node.call(json!({"op": "create_table"})).await;
    let store = owned_store(&table, false).await;
    let node = &node;
    testing::reindex_adds_the_column(&store, |id, owner| async move {
        node.call(json!({"op": "set", "sid": id.as_str(), "max_age": 60_000, "data": {"user": owner}})).await;
    })
    .await;
    let (_, ddl): (String, String) =
        sqlx::query_as(&format!("SHOW CREATE TABLE `{table}`")).fetch_one(&admin).await.unwrap();
    assert!(ddl.contains("KEY `owner` (`owner`)"), "{ddl}");
    // express-mysql-session still writes the table.
    let id = SessionId::generate();
    node.call(json!({"op": "set", "sid": id.as_str(), "max_age": 60_000, "data": {"user": "late"}})).await;
    assert_eq!(column_of(&admin, &table, &id).await.as_deref(), Some("late"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_refuses_a_column_made_for_another_key() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    owned_store(&table, true).await; // the column, made for "user"
    let other = MySqlStore::builder().table_name(&table).owner_key("userId").prune_interval(None);
    testing::reindex_refuses_a_column_made_for_another_key(&other.connect(&common::url()).await.unwrap()).await;
    assert_eq!(owned_store(&table, false).await.reindex().await.unwrap(), 0, "the key it was made for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_column_agrees_with_owner_of() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = owned_store(&table, true).await;
    let (a, t) = (&admin, table.as_str());
    testing::the_column_agrees_with_owner_of(&store, |id| async move { column_of(a, t, &id).await }, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_owned_rows_leave_nothing() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = owned_store(&table, true).await;
    let (a, s, t) = (&admin, &store, table.as_str());
    testing::expired_owned_rows_leave_nothing(
        &store,
        || async { s.prune().await.unwrap() },
        |owner| async move {
            let sql = format!("SELECT COUNT(*) FROM `{t}` WHERE owner = ?");
            sqlx::query_scalar(&sql).bind(owner).fetch_one(a).await.unwrap()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_owner_key_is_refused_when_the_store_is_built() {
    let error = MySqlStore::builder().owner_key("$.user").connect_lazy(&common::url()).unwrap_err();
    let message = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    assert!(message.contains("is not valid"), "{message}");
    let plain = MySqlStore::builder().connect_lazy(&common::url()).unwrap();
    assert_eq!(plain.owner_key(), None);
    assert!(matches!(plain.reindex().await, Err(express_session::StoreError::Unsupported { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_ending_a_thousand_sessions_and_the_cost_of_a_write() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = owned_store(&table, true).await;
    testing::time_ending_a_thousand_sessions("MariaDB", store.clone()).await;
    let plain_table = common::fresh_table(&admin).await;
    let plain = MySqlStore::builder()
        .table_name(&plain_table)
        .create_table_if_missing(true)
        .prune_interval(None)
        .connect(&common::url())
        .await
        .unwrap();
    for _ in 0..2 {
        testing::time_sequential_creates("MariaDB without the owner column", &plain, 500).await;
        testing::time_sequential_creates("MariaDB with the owner column", &store, 500).await;
    }
}

/// A statement InnoDB chooses as a deadlock's victim is made again, not failed (found by the model-based checker:
/// `end_others` failed with error 1213 while requests wrote the owner's sessions). Made to happen here: another
/// transaction, heavier (it has written rows), locks the owner's second session; `end_sessions_of`'s `DELETE`
/// locks the first through the `owner` index and waits for the second; the other transaction then asks for the
/// first, and InnoDB rolls the lighter `DELETE` back. Made again once the other commits, it ends both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_victim_is_made_again_not_failed() {
    use express_session::{Record, SessionCookie};
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = owned_store(&table, true).await;
    let (a, b) = ("a".repeat(32), "b".repeat(32));
    for id in [&a, &b] {
        let mut record = Record::new(SessionCookie::default());
        record.data_mut().insert("user".into(), json!("u"));
        store.set(&SessionId::new(id).unwrap(), &record).await.unwrap();
    }
    let scratch = format!("{table}_heavy");
    sqlx::query(&format!("CREATE TABLE `{scratch}` (n INT PRIMARY KEY) ENGINE=InnoDB")).execute(&admin).await.unwrap();
    let mut other = admin.begin().await.unwrap();
    for n in 0..200 {
        sqlx::query(&format!("INSERT INTO `{scratch}` VALUES (?)")).bind(n).execute(&mut *other).await.unwrap();
    }
    let lock = format!("SELECT session_id FROM `{table}` WHERE session_id = ? FOR UPDATE");
    sqlx::query(&lock).bind(&b).execute(&mut *other).await.unwrap();
    let ending = tokio::spawn({
        let store = store.clone();
        async move { store.end_sessions_of("u", None).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the DELETE holds `a`, waits for `b`
    sqlx::query(&lock).bind(&a).execute(&mut *other).await.unwrap();
    other.commit().await.unwrap();
    let ended = ending.await.unwrap();
    sqlx::query(&format!("DROP TABLE `{scratch}`")).execute(&admin).await.unwrap();
    assert_eq!(ended.expect("the deadlock's victim is made again"), 2);
}
