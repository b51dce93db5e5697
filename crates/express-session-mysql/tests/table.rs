//! The table's time rules and upkeep: the same `expires` whatever the connection's `time_zone`, batched pruning
//! (manual and periodic), custom names, and the table created on first use.

mod common;

use std::time::Duration;

use express_session::SessionId;
use express_session::store::{CreateOutcome, SaveOutcome, Store};
use express_session::testing::record;
use express_session_mysql::MySqlStore;
use express_session_sql::testing;
use serde_json::json;
use sqlx::Executor;
use sqlx::mysql::MySqlPoolOptions;

async fn store_on(table: &str) -> MySqlStore {
    let store = MySqlStore::builder()
        .table_name(table)
        .prune_interval(None)
        .prune_batch_size(10)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_do_not_depend_on_the_connection_time_zone() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = store_on(&table).await;
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET time_zone = '-05:00'").await?;
                Ok(())
            })
        })
        .connect(&common::url())
        .await
        .unwrap();
    let shifted = MySqlStore::builder().table_name(&table).prune_interval(None).build(pool).unwrap();
    // A browser-session record: `expires` comes from the database's clock, so both must agree on it.
    let (a, b) = (SessionId::generate(), SessionId::generate());
    store.create(&a, &record(&store, None, json!({}))).await.unwrap();
    shifted.create(&b, &record(&store, None, json!({}))).await.unwrap();
    let expires: Vec<i64> =
        sqlx::query_scalar(&format!("SELECT CAST(expires AS SIGNED) FROM `{table}` WHERE session_id IN (?, ?)"))
            .bind(a.as_str())
            .bind(b.as_str())
            .fetch_all(&admin)
            .await
            .unwrap();
    assert_eq!(expires.len(), 2);
    assert!((expires[0] - expires[1]).abs() <= 1, "{expires:?}");
    assert!(shifted.get(&a).await.unwrap().is_some());
    assert!(store.get(&b).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_the_same_text_again_is_saved_not_gone() {
    let Some(admin) = common::admin().await else { return };
    let store = store_on(&common::fresh_table(&admin).await).await;
    let id = SessionId::generate();
    let rec = record(&store, Some(60_000), json!({"v": 1}));
    let CreateOutcome::Created(version) = store.create(&id, &rec).await.unwrap() else { panic!() };
    // No column changes: MySQL reports 0 changed rows, but the store counts matched rows.
    assert_eq!(store.save_if(&id, &rec, &version).await.unwrap(), SaveOutcome::Saved(version));
}

/// `COUNT(*)` of every row of `table`, expired or not.
async fn count_rows(admin: &sqlx::MySqlPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM `{table}`")).fetch_one(admin).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_exactly_the_expired_rows_in_batches() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = store_on(&table).await;
    let (prune, count) = (|| store.prune(), || count_rows(&admin, &table));
    testing::prune_deletes_exactly_the_expired_rows_in_batches(store.clone(), prune, count).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pruning_task_runs_and_stops() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = MySqlStore::builder()
        .table_name(&table)
        .create_table_if_missing(true)
        .prune_interval(Some(Duration::from_millis(200)))
        .prune_batch_size(3)
        .connect(&common::url())
        .await
        .unwrap();
    let count = || count_rows(&admin, &table);
    testing::the_pruning_task_runs_and_stops(store.clone(), count, MySqlStore::stop_pruning, MySqlStore::is_pruning)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_names_and_the_table_created_on_first_use() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let store = MySqlStore::builder()
        .table_name(&table)
        .column_names("sid", "expires at", "sess`json")
        .create_table_if_missing(true)
        .prune_interval(None)
        .connect_lazy(&common::url())
        .unwrap();
    let id = SessionId::generate();
    let rec = record(&store, Some(60_000), json!({"k": 1}));
    assert!(matches!(store.create(&id, &rec).await.unwrap(), CreateOutcome::Created(_)));
    let stored: Option<String> = sqlx::query_scalar(&format!(
        "SELECT CAST(`sess``json` AS CHAR) FROM `{table}` WHERE sid = ? AND `expires at` > 0"
    ))
    .bind(id.as_str())
    .fetch_optional(&admin)
    .await
    .unwrap();
    assert_eq!(stored, Some(rec.to_json()));
    assert_eq!(store.all().await.unwrap().len(), 1);
}
