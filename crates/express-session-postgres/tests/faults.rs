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
    express_session::testing::an_unreachable_store_answers_503(store).await;
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

/// The layer's store timeout in the outage tests; the store's own (3 s) is longer, so that the layer's one
/// budget per request is what ends a call that waits.
const LAYER_TIMEOUT: Duration = Duration::from_secs(1);

/// Terminates every backend of the store's pool (found by its `application_name`), on the shared server.
async fn terminate_backends(admin: &sqlx::PgPool, app_name: &str) {
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
        .bind(app_name)
        .execute(admin)
        .await
        .unwrap();
}

/// The database gone: the store reaches PostgreSQL through a proxy, which stops listening (new connections are
/// refused), and the pool's backends are terminated with `pg_terminate_backend`. The layer answers the first
/// request 503 within one store timeout, the next ones in a median under 50 ms, and once the proxy listens
/// again the first 200 comes within 1 s (targets and margins: `an_outage_fails_fast_and_recovers`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_fails_fast_while_the_database_is_gone_and_is_back_within_a_second() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let options: PgConnectOptions = common::url().parse().unwrap();
    let proxy = testing::Proxy::to(options.get_host(), options.get_port()).await;
    let app_name = format!("es-outage-{}", testing::random_suffix());
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .create_table_if_missing(true)
        .application_name(&app_name)
        .timeout(Duration::from_secs(3))
        .max_connections(4)
        .prune_interval(None)
        .connect_with(options.clone().host("127.0.0.1").port(proxy.port))
        .await
        .unwrap();
    let figures = express_session::testing::an_outage_fails_fast_and_recovers(
        store,
        express_session::testing::Outage::Dead,
        LAYER_TIMEOUT,
        || async {
            proxy.stop().await;
            terminate_backends(&admin, &app_name).await;
        },
        || proxy.start(),
    )
    .await;
    eprintln!("PostgreSQL gone: {figures:?}");
}

/// The database hung: an admin transaction holds `ACCESS EXCLUSIVE` on the store's table, so every store query
/// waits. The first request waits at most one store timeout, the next ones answer 503 in a median under 100
/// ms, and once the lock is released the first 200 comes within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_fails_fast_while_the_database_hangs_and_is_back_within_a_second() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .create_table_if_missing(true)
        .timeout(Duration::from_secs(3))
        .max_connections(4)
        .prune_interval(None)
        .connect(&common::url())
        .await
        .unwrap();
    let lock = format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", store.table());
    let holder = tokio::sync::Mutex::new(None);
    let figures = express_session::testing::an_outage_fails_fast_and_recovers(
        store,
        express_session::testing::Outage::Hung,
        LAYER_TIMEOUT,
        || async {
            let mut transaction = admin.begin().await.unwrap();
            sqlx::query(&lock).execute(&mut *transaction).await.unwrap();
            *holder.lock().await = Some(transaction);
        },
        || async {
            holder.lock().await.take().expect("the lock is held").rollback().await.unwrap();
        },
    )
    .await;
    assert!(figures.first >= LAYER_TIMEOUT, "a hung database is only noticed at the timeout: {figures:?}");
    eprintln!("PostgreSQL hung: {figures:?}");
}
