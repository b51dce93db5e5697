//! The owner index on PostgreSQL (the generated column `owner`): rows connect-pg-simple writes are found with no
//! reindex and Node keeps reading and writing the table; `reindex` adds the column to connect-pg-simple's own
//! table; the column agrees with `owner_of`; expired rows leave nothing; and the figures of ending 1,000
//! sessions (run with `--nocapture` to see them).

mod common;

use express_session::SessionId;
use express_session::store::Store;
use express_session_postgres::PostgresStore;
use express_session_sql::testing::{self, NodeStore};
use serde_json::json;
use sqlx::PgPool;

async fn node(schema: &str) -> Option<NodeStore> {
    let twin = testing::repo_root().join("conformance/twin");
    NodeStore::new("pg", &twin, ("DATABASE_URL", common::url()), ("schema", schema.to_owned())).await
}

/// A store on `schema` with the owner key `user`, creating its table (with the column) when asked.
async fn owned_store(schema: &str, create: bool) -> PostgresStore {
    PostgresStore::builder()
        .schema_name(schema)
        .owner_key("user")
        .create_table_if_missing(create)
        .prune_interval(None)
        .max_connections(8)
        .connect(&common::url())
        .await
        .unwrap()
}

/// The `owner` column of a row.
async fn column_of(admin: &PgPool, store: &PostgresStore, id: &SessionId) -> Option<String> {
    sqlx::query_scalar(&format!("SELECT owner FROM {} WHERE sid = $1", store.table()))
        .bind(id.as_str())
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_rows_name_their_owner() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let Some(node) = node(&schema).await else { return };
    let store = owned_store(&schema, true).await;
    testing::node_rows_name_their_owner(&store, &node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_adds_the_column_to_connect_pg_simple_s_table() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let Some(node) = node(&schema).await else { return };
    node.call(json!({"op": "create_table"})).await;
    let store = owned_store(&schema, false).await;
    let node = &node;
    testing::reindex_adds_the_column(&store, |id, owner| async move {
        node.call(json!({"op": "set", "sid": id.as_str(), "max_age": 60_000, "data": {"user": owner}})).await;
    })
    .await;
    let index: Option<String> =
        sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'IDX_session_owner'")
            .bind(&schema)
            .fetch_optional(&admin)
            .await
            .unwrap();
    assert!(index.is_some_and(|def| def.contains("(owner)")), "the index on the column");
    // connect-pg-simple still writes the table.
    let id = SessionId::generate();
    node.call(json!({"op": "set", "sid": id.as_str(), "max_age": 60_000, "data": {"user": "late"}})).await;
    assert_eq!(column_of(&admin, &store, &id).await.as_deref(), Some("late"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_refuses_a_column_made_for_another_key() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    owned_store(&schema, true).await; // the column, made for "user"
    let other = PostgresStore::builder().schema_name(&schema).owner_key("userId").prune_interval(None);
    testing::reindex_refuses_a_column_made_for_another_key(&other.connect(&common::url()).await.unwrap()).await;
    assert_eq!(owned_store(&schema, false).await.reindex().await.unwrap(), 0, "the key it was made for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_column_agrees_with_owner_of() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let store = owned_store(&schema, true).await;
    let (a, s) = (&admin, &store);
    // PostgreSQL's json operators refuse an escaped NUL or surrogate: such records name no owner here.
    // (A surrogate pair written as escapes is stored as its character, as `JSON.stringify` writes it: indexed.)
    let unindexed = [r#""x\u0000y""#];
    testing::the_column_agrees_with_owner_of(&store, |id| async move { column_of(a, s, &id).await }, &unindexed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_owned_rows_leave_nothing() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let store = owned_store(&schema, true).await;
    let (a, s) = (&admin, &store);
    testing::expired_owned_rows_leave_nothing(
        &store,
        || async { s.prune().await.unwrap() },
        |owner| async move {
            let sql = format!("SELECT count(*) FROM {} WHERE owner = $1", s.table());
            sqlx::query_scalar(&sql).bind(owner).fetch_one(a).await.unwrap()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_owner_key_is_refused_when_the_store_is_built() {
    let error = PostgresStore::builder().owner_key("user id").connect_lazy(&common::url()).unwrap_err();
    let message = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    assert!(message.contains("owner key \"user id\" is not valid"), "{message}");
    assert!(PostgresStore::builder().owner_key("cookie").connect_lazy(&common::url()).is_err());
    let plain = PostgresStore::builder().connect_lazy(&common::url()).unwrap();
    assert_eq!(plain.owner_key(), None);
    assert!(matches!(plain.sessions_of("a", 1).await, Err(express_session::StoreError::Unsupported { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_ending_a_thousand_sessions_and_the_cost_of_a_write() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let store = owned_store(&schema, true).await;
    testing::time_ending_a_thousand_sessions("PostgreSQL", store.clone()).await;
    let plain_schema = common::fresh_schema(&admin).await;
    let plain = PostgresStore::builder()
        .schema_name(&plain_schema)
        .create_table_if_missing(true)
        .prune_interval(None)
        .connect(&common::url())
        .await
        .unwrap();
    for _ in 0..2 {
        testing::time_sequential_creates("PostgreSQL without the owner column", &plain, 500).await;
        testing::time_sequential_creates("PostgreSQL with the owner column", &store, 500).await;
    }
}
