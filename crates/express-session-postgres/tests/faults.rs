//! Faults: a server that is not there, connections killed mid-call with `pg_terminate_backend`, a server that
//! goes away and comes back. Calls fail within the timeout with `StoreError::Unavailable` (503), nothing is
//! corrupted, and the store recovers by itself. The cases are `express_session_sql::testing`'s.

mod common;

use std::time::{Duration, Instant};

use express_session_postgres::PostgresStore;
use express_session_sql::testing::{self, assert_unavailable};
use sqlx::postgres::PgConnectOptions;

/// A store pointed at `port` on 127.0.0.1 with the test server's credentials, not connected yet.
fn store_at(port: u16, schema: &str, timeout: Duration) -> PostgresStore {
    let options: PgConnectOptions = common::url().parse().unwrap();
    PostgresStore::builder()
        .schema_name(schema)
        .timeout(timeout)
        .max_connections(2)
        .prune_interval(None)
        .connect_lazy_with(options.host("127.0.0.1").port(port))
        .unwrap()
}

#[tokio::test]
async fn a_closed_port_is_unavailable_within_the_timeout() {
    let port = testing::closed_port().await;
    let store = store_at(port, "public", Duration::from_millis(800));
    testing::a_closed_port_is_unavailable_within(&store, Duration::from_secs(4)).await;
    assert_unavailable(store.prune().await);

    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let started = Instant::now();
    assert_unavailable(PostgresStore::builder().timeout(Duration::from_millis(500)).connect(&url).await);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_layer_answers_503_when_the_database_is_unreachable() {
    let store = store_at(testing::closed_port().await, "public", Duration::from_millis(500));
    express_session::store::testing::an_unreachable_store_answers_503(store).await;
}

/// A store on its own schema with one connection and a unique `application_name`, and that name.
async fn single_connection_store(admin: &sqlx::PgPool) -> (PostgresStore, String) {
    let schema = common::fresh_schema(admin).await;
    let app_name = format!("es-fault-{}", testing::random_suffix());
    let store = PostgresStore::builder()
        .schema_name(schema)
        .create_table_if_missing(true)
        .application_name(&app_name)
        .max_connections(1)
        .timeout(Duration::from_secs(3))
        .prune_interval(None)
        .connect(&common::url())
        .await
        .unwrap();
    (store, app_name)
}

/// Kills the store's one connection.
async fn kill_backend(admin: &sqlx::PgPool, app_name: &str) {
    let killed: i64 =
        sqlx::query_scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1")
            .bind(app_name)
            .fetch_one(admin)
            .await
            .unwrap();
    assert_eq!(killed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_call_is_unavailable_and_the_store_recovers() {
    let Some(admin) = common::admin().await else { return };
    let (store, app_name) = single_connection_store(&admin).await;
    let (admin, lock) = (&admin, &format!("SELECT 1 FROM {} WHERE sid = $1 FOR UPDATE", store.table()));
    let hold_row = move |id: express_session::SessionId| async move {
        let mut blocker = admin.begin().await.unwrap();
        sqlx::query(lock).bind(id.as_str()).execute(&mut *blocker).await.unwrap();
        blocker
    };
    let kill = || kill_backend(admin, &app_name);
    testing::a_connection_killed_mid_call_is_unavailable_and_the_store_recovers(store, hold_row, kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_killed_between_calls_are_replaced() {
    let Some(admin) = common::admin().await else { return };
    let (store, app_name) = single_connection_store(&admin).await;
    testing::idle_connections_killed_between_calls_are_replaced(store, || kill_backend(&admin, &app_name)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_and_comes_back() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let options: PgConnectOptions = common::url().parse().unwrap();
    let proxy = testing::Proxy::to(options.get_host(), options.get_port()).await;
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .create_table_if_missing(true)
        .timeout(Duration::from_millis(1500))
        .max_connections(2)
        .prune_interval(None)
        .connect_with(options.clone().host("127.0.0.1").port(proxy.port))
        .await
        .unwrap();
    testing::a_server_that_goes_away_and_comes_back(store, &proxy).await;
}
