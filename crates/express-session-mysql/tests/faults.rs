//! Faults: a server that is not there, connections killed mid-call with `KILL`, a server that goes away and comes
//! back. Calls fail within the timeout with `StoreError::Unavailable` (503), nothing is corrupted, and the store
//! recovers by itself. The cases are `express_session_sql::testing`'s.

mod common;

use std::time::{Duration, Instant};

use express_session_mysql::MySqlStore;
use express_session_sql::testing::{self, assert_unavailable};
use sqlx::mysql::MySqlConnectOptions;

/// A store pointed at `port` on 127.0.0.1 with the test server's credentials, not connected yet.
fn store_at(port: u16, table: &str, timeout: Duration) -> MySqlStore {
    let options: MySqlConnectOptions = common::url().parse().unwrap();
    MySqlStore::builder()
        .table_name(table)
        .timeout(timeout)
        .max_connections(2)
        .prune_interval(None)
        .connect_lazy_with(options.host("127.0.0.1").port(port))
        .unwrap()
}

#[tokio::test]
async fn a_closed_port_is_unavailable_within_the_timeout() {
    let port = testing::closed_port().await;
    let store = store_at(port, "sessions", Duration::from_millis(800));
    testing::a_closed_port_is_unavailable_within(&store, Duration::from_secs(4)).await;
    assert_unavailable(store.prune().await);

    let url = format!("mysql://root@127.0.0.1:{port}/test");
    let started = Instant::now();
    assert_unavailable(MySqlStore::builder().timeout(Duration::from_millis(500)).connect(&url).await);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_layer_answers_503_when_the_database_is_unreachable() {
    let store = store_at(testing::closed_port().await, "sessions", Duration::from_millis(500));
    express_session::testing::an_unreachable_store_answers_503(store).await;
}

/// A store on its own table with one connection.
async fn single_connection_store(admin: &sqlx::MySqlPool) -> MySqlStore {
    MySqlStore::builder()
        .table_name(common::fresh_table(admin).await)
        .create_table_if_missing(true)
        .max_connections(1)
        .timeout(Duration::from_secs(3))
        .prune_interval(None)
        .connect(&common::url())
        .await
        .unwrap()
}

/// Kills the connection `store` uses now (its only one).
async fn kill_connection(admin: &sqlx::MySqlPool, connection: u64) {
    sqlx::query(&format!("KILL {connection}")).execute(admin).await.unwrap();
}

async fn connection_id(store: &MySqlStore) -> u64 {
    sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(store.pool()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_call_is_unavailable_and_the_store_recovers() {
    let Some(admin) = common::admin().await else { return };
    let store = single_connection_store(&admin).await;
    let connection = connection_id(&store).await;
    let (admin, lock) = (&admin, &format!("SELECT 1 FROM `{}` WHERE session_id = ? FOR UPDATE", store.table()));
    let hold_row = move |id: express_session::SessionId| async move {
        let mut blocker = admin.begin().await.unwrap();
        sqlx::query(lock).bind(id.as_str()).execute(&mut *blocker).await.unwrap();
        blocker
    };
    let kill = || kill_connection(admin, connection);
    testing::a_connection_killed_mid_call_is_unavailable_and_the_store_recovers(store, hold_row, kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_killed_between_calls_are_replaced() {
    let Some(admin) = common::admin().await else { return };
    let store = single_connection_store(&admin).await;
    let (admin, killed) = (&admin, store.clone());
    let kill = move || {
        let store = killed.clone();
        async move { kill_connection(admin, connection_id(&store).await).await }
    };
    testing::idle_connections_killed_between_calls_are_replaced(store, kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_and_comes_back() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let options: MySqlConnectOptions = common::url().parse().unwrap();
    let proxy = testing::Proxy::to(options.get_host(), options.get_port()).await;
    let store = MySqlStore::builder()
        .table_name(&table)
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

/// The database gone: the store (one connection) reaches MariaDB/MySQL through a proxy, which stops listening
/// (new connections are refused), and the store's connection is killed with `KILL`. The layer answers the first
/// request 503 within one store timeout, the next ones in a median under 50 ms, and once the proxy listens
/// again the first 200 comes within 1 s (targets and margins: `an_outage_fails_fast_and_recovers`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_fails_fast_while_the_database_is_gone_and_is_back_within_a_second() {
    let Some(admin) = common::admin().await else { return };
    let table = common::fresh_table(&admin).await;
    let options: MySqlConnectOptions = common::url().parse().unwrap();
    let proxy = testing::Proxy::to(options.get_host(), options.get_port()).await;
    let store = MySqlStore::builder()
        .table_name(&table)
        .create_table_if_missing(true)
        .timeout(Duration::from_secs(3))
        .max_connections(1)
        .prune_interval(None)
        .connect_with(options.clone().host("127.0.0.1").port(proxy.port))
        .await
        .unwrap();
    let connection = connection_id(&store).await;
    let figures = express_session::testing::an_outage_fails_fast_and_recovers(
        store,
        express_session::testing::Outage::Dead,
        LAYER_TIMEOUT,
        || async {
            proxy.stop().await;
            // The proxy's cut may have ended it already.
            let _ = sqlx::query(&format!("KILL {connection}")).execute(&admin).await;
        },
        || proxy.start(),
    )
    .await;
    eprintln!("MySQL gone: {figures:?}");
}

/// The database hung: an admin connection holds `LOCK TABLES … WRITE` on the store's table, so every store
/// query waits. The first request waits at most one store timeout, the next ones answer 503 in a median under
/// 100 ms, and once the lock is released the first 200 comes within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_fails_fast_while_the_database_hangs_and_is_back_within_a_second() {
    use sqlx::Connection as _;
    let Some(admin) = common::admin().await else { return };
    let store = MySqlStore::builder()
        .table_name(common::fresh_table(&admin).await)
        .create_table_if_missing(true)
        .timeout(Duration::from_secs(3))
        .max_connections(4)
        .prune_interval(None)
        .connect(&common::url())
        .await
        .unwrap();
    let lock = format!("LOCK TABLES `{}` WRITE", store.table());
    let holder = tokio::sync::Mutex::new(sqlx::MySqlConnection::connect(&common::url()).await.unwrap());
    let figures = express_session::testing::an_outage_fails_fast_and_recovers(
        store,
        express_session::testing::Outage::Hung,
        LAYER_TIMEOUT,
        || async {
            sqlx::query(&lock).execute(&mut *holder.lock().await).await.unwrap();
        },
        || async {
            sqlx::query("UNLOCK TABLES").execute(&mut *holder.lock().await).await.unwrap();
        },
    )
    .await;
    assert!(figures.first >= LAYER_TIMEOUT, "a hung database is only noticed at the timeout: {figures:?}");
    eprintln!("MySQL hung: {figures:?}");
}
