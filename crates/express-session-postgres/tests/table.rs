//! The table's time rules and upkeep: UTC whatever the connection's `TimeZone`, the exact expiry boundary, batched
//! pruning (manual and periodic), and the table created on first use.

mod common;

use std::time::Duration;

use express_session::store::{CreateOutcome, Store};
use express_session::testing::record;
use express_session::{SessionId, Timestamp};
use express_session_postgres::PostgresStore;
use express_session_sql::testing;
use serde_json::json;
use sqlx::Executor;
use sqlx::postgres::PgPoolOptions;

async fn store_in(schema: &str) -> PostgresStore {
    let store = PostgresStore::builder()
        .schema_name(schema)
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
async fn connections_are_pinned_to_utc_and_statements_do_not_depend_on_it() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let store = store_in(&schema).await;
    let zone: String = sqlx::query_scalar("SHOW TimeZone").fetch_one(store.pool()).await.unwrap();
    assert_eq!(zone, "UTC");

    // A caller's pool in New York: what is written and read is still UTC.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET TIME ZONE 'America/New_York'").await?;
                Ok(())
            })
        })
        .connect(&common::url())
        .await
        .unwrap();
    let ny = PostgresStore::builder().schema_name(&schema).prune_interval(None).build(pool).unwrap();
    let id = SessionId::generate();
    let rec = record(&ny, Some(60_000), json!({}));
    ny.create(&id, &rec).await.unwrap();
    let stored: i64 = sqlx::query_scalar(&format!(
        "SELECT extract(epoch FROM expire AT TIME ZONE 'UTC')::bigint FROM {} WHERE sid = $1",
        ny.table()
    ))
    .bind(id.as_str())
    .fetch_one(&admin)
    .await
    .unwrap();
    let ms = rec.expires().unwrap().as_millis();
    assert_eq!(stored, ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0));
    assert!(ny.get(&id).await.unwrap().is_some());
    assert!(store.get(&id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_is_live_through_the_second_its_cookie_expires_in() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let store = store_in(&schema).await;
    // connect-pg-simple's rule: expire = ceil(expires); live while expire >= ceil(now).
    let db_now_ms: f64 =
        sqlx::query_scalar("SELECT (extract(epoch FROM now()) * 1000)::float8").fetch_one(&admin).await.unwrap();
    let now = Timestamp::from_millis(db_now_ms as i64);
    let id = SessionId::generate();
    let mut rec = record(&store, None, json!({}));
    // Expires at the start of the current second: rounded up it is the current second, so still live.
    let start_of_second = Timestamp::from_millis(now.as_millis().div_euclid(1000) * 1000 + 1);
    rec.cookie_mut().set_expires(Some(start_of_second), now);
    store.set(&id, &rec).await.unwrap();
    if Timestamp::now().as_millis().div_euclid(1000) == now.as_millis().div_euclid(1000) {
        assert!(store.get(&id).await.unwrap().is_some(), "found within the second of its expiry, as connect-pg-simple");
    }
    // One second earlier than that: gone.
    let id = SessionId::generate();
    rec.cookie_mut().set_expires(Some(start_of_second.add_millis(-1_000)), now);
    store.set(&id, &rec).await.unwrap();
    assert!(store.get(&id).await.unwrap().is_none());
}

/// `count(*)` of every row of the store's table, expired or not.
async fn count_rows(admin: &sqlx::PgPool, store: &PostgresStore) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {}", store.table())).fetch_one(admin).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_exactly_the_expired_rows_in_batches() {
    let Some(admin) = common::admin().await else { return };
    let store = store_in(&common::fresh_schema(&admin).await).await;
    let (prune, count) = (|| store.prune(), || count_rows(&admin, &store));
    testing::prune_deletes_exactly_the_expired_rows_in_batches(store.clone(), prune, count).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pruning_task_runs_and_stops() {
    let Some(admin) = common::admin().await else { return };
    let store = PostgresStore::builder()
        .schema_name(common::fresh_schema(&admin).await)
        .create_table_if_missing(true)
        .prune_interval(Some(Duration::from_millis(200)))
        .prune_batch_size(3)
        .connect(&common::url())
        .await
        .unwrap();
    let count = || count_rows(&admin, &store);
    testing::the_pruning_task_runs_and_stops(
        store.clone(),
        count,
        PostgresStore::stop_pruning,
        PostgresStore::is_pruning,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_is_created_on_first_use_when_asked() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    // Lazy: no connection and no table yet; the first call creates it.
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .table_name("web \"sessions\"")
        .create_table_if_missing(true)
        .prune_interval(None)
        .connect_lazy(&common::url())
        .unwrap();
    assert_eq!(store.table(), format!("\"{schema}\".\"web \"\"sessions\"\"\""));
    let id = SessionId::generate();
    assert!(matches!(
        store.create(&id, &record(&store, Some(60_000), json!({}))).await.unwrap(),
        CreateOutcome::Created(_)
    ));
    let index: Option<String> =
        sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'IDX_%'")
            .bind(&schema)
            .fetch_optional(&admin)
            .await
            .unwrap();
    assert_eq!(index.as_deref(), Some("IDX_web \"sessions\"_expire"));
}
