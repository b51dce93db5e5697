//! The owner index on SQLite (the generated column `owner`): `reindex` adds the column to a table made without
//! it; the column agrees with `owner_of`; expired rows leave nothing; and the figures of ending 1,000 sessions
//! (run with `--nocapture` to see them).

mod common;

use express_session::SessionId;
use express_session::store::Store;
use express_session::testing::record;
use express_session_sql::testing;
use express_session_sqlite::SqliteStore;
use serde_json::json;

async fn owned_store(path: &std::path::Path) -> SqliteStore {
    SqliteStore::builder().owner_key("user").prune_interval(None).open(path).await.unwrap()
}

/// The `owner` column of a row.
async fn column_of(store: &SqliteStore, id: &SessionId) -> Option<String> {
    sqlx::query_scalar("SELECT owner FROM session WHERE sid = ?1")
        .bind(id.as_str())
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_adds_the_column_to_a_table_made_without_it() {
    let path = common::fresh_file();
    let plain = SqliteStore::builder().prune_interval(None).open(&path).await.unwrap();
    let store = owned_store(&path).await; // opens the table as it is: no column yet
    let plain = &plain;
    testing::reindex_adds_the_column(&store, |id, owner| async move {
        plain.create(&id, &record(plain, Some(60_000), json!({ "user": owner }))).await.unwrap();
    })
    .await;
    let index: Option<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'IDX_session_owner'")
            .fetch_optional(store.pool())
            .await
            .unwrap();
    assert!(index.is_some_and(|sql| sql.contains("(owner)")));
    // A store without the owner key keeps writing the table, and the column follows its writes.
    let id = SessionId::generate();
    plain.create(&id, &record(plain, Some(60_000), json!({"user": "late"}))).await.unwrap();
    assert_eq!(column_of(&store, &id).await.as_deref(), Some("late"));
    // Opening again with the owner key finds the column and the index as they are.
    let again = owned_store(&path).await;
    assert_eq!(again.sessions_of("late", 10).await.unwrap().sessions.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_refuses_a_column_made_for_another_key() {
    let path = common::fresh_file();
    owned_store(&path).await; // the column, made for "user"
    let other = SqliteStore::builder().owner_key("userId").prune_interval(None).open(&path).await.unwrap();
    testing::reindex_refuses_a_column_made_for_another_key(&other).await;
    assert_eq!(owned_store(&path).await.reindex().await.unwrap(), 0, "the key it was made for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_column_agrees_with_owner_of() {
    let store = owned_store(&common::fresh_file()).await;
    let s = &store;
    // As in the PostgreSQL store, a record holding an escaped NUL or surrogate names no owner.
    // (A surrogate pair written as escapes is stored as its character, as `JSON.stringify` writes it: indexed.)
    let unindexed = [r#""x\u0000y""#];
    testing::the_column_agrees_with_owner_of(&store, |id| async move { column_of(s, &id).await }, &unindexed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_owned_rows_leave_nothing() {
    let store = owned_store(&common::fresh_file()).await;
    let s = &store;
    testing::expired_owned_rows_leave_nothing(
        &store,
        || async { s.prune().await.unwrap() },
        |owner| async move {
            sqlx::query_scalar("SELECT count(*) FROM session WHERE owner = ?1")
                .bind(owner)
                .fetch_one(s.pool())
                .await
                .unwrap()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_owner_key_is_refused_when_the_store_is_built() {
    let error = SqliteStore::builder().owner_key("").open_in_memory().await.unwrap_err();
    let message = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    assert!(message.contains("is not valid"), "{message}");
    let plain = SqliteStore::builder().open_in_memory().await.unwrap();
    assert_eq!(plain.owner_key(), None);
    assert!(matches!(plain.end_sessions_of("a", None).await, Err(express_session::StoreError::Unsupported { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_ending_a_thousand_sessions_and_the_cost_of_a_write() {
    let store = owned_store(&common::fresh_file()).await;
    testing::time_ending_a_thousand_sessions("SQLite", store.clone()).await;
    let plain = SqliteStore::builder().prune_interval(None).open(common::fresh_file()).await.unwrap();
    for _ in 0..2 {
        testing::time_sequential_creates("SQLite without the owner column", &plain, 500).await;
        testing::time_sequential_creates("SQLite with the owner column", &store, 500).await;
    }
}
