//! Faults: a server that is not there, connections killed mid-call with `pg_terminate_backend`, a server that
//! goes away and comes back. Calls fail within the timeout with `StoreError::Unavailable` (503), nothing is
//! corrupted, and the store recovers by itself.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use express_session::store::testing::record;
use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError};
use express_session::{Session, SessionError, SessionId, SessionManagerLayer, SessionOptions};
use express_session_postgres::PostgresStore;
use http::{Request, StatusCode};
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use tower::ServiceExt;

const SECRET: &str = "a test secret that is long enough for the layer's checks";

fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(e) if e.is_unavailable() => {}
        other => panic!("expected StoreError::Unavailable, got {other:?}"),
    }
}

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
    let port = common::closed_port().await;
    let store = store_at(port, "public", Duration::from_millis(800));
    let started = Instant::now();
    assert_unavailable(store.get(&SessionId::generate()).await);
    assert_unavailable(store.create(&SessionId::generate(), &record(&store, Some(1000), json!({}))).await);
    assert_unavailable(store.prune().await);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let started = Instant::now();
    assert_unavailable(PostgresStore::builder().timeout(Duration::from_millis(500)).connect(&url).await);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_layer_answers_503_when_the_database_is_unreachable() {
    let store = store_at(common::closed_port().await, "public", Duration::from_millis(500));
    let layer =
        SessionManagerLayer::new(SessionOptions::new().secret(SECRET).save_uninitialized(true).store(store)).unwrap();
    async fn handler(session: Session) -> Result<String, SessionError> {
        let views = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(format!("{views}"))
    }
    let app = Router::new().route("/", get(handler)).layer(layer);
    // A returning client (a validly signed cookie): the handler's first use of the session reads the store.
    let signed = express_session::signature::sign(SessionId::generate().as_str(), SECRET.as_bytes());
    let cookie = format!("connect.sid={}", express_session::cookie::encode_uri_component(&format!("s:{signed}")));
    let response = app
        .clone()
        .oneshot(Request::builder().uri("/").header("cookie", &cookie).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("set-cookie").is_none());
    // A new client: the session is created at the end of the request.
    let response = app.oneshot(Request::builder().uri("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("set-cookie").is_none());
}

/// A store on its own schema with one connection and a unique `application_name`, and that name.
async fn single_connection_store(admin: &sqlx::PgPool) -> (PostgresStore, String) {
    let schema = common::fresh_schema(admin).await;
    let app_name = format!("es-fault-{}", common::random_suffix());
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

async fn kill_backends(admin: &sqlx::PgPool, app_name: &str) -> i64 {
    sqlx::query_scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1")
        .bind(app_name)
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_call_is_unavailable_and_the_store_recovers() {
    let Some(admin) = common::admin().await else { return };
    let (store, app_name) = single_connection_store(&admin).await;
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap();
    let read = store.get(&id).await.unwrap().unwrap();

    // Hold the row, so that the store's save_if waits on it; then kill the store's connection.
    let mut blocker = admin.begin().await.unwrap();
    sqlx::query(&format!("SELECT 1 FROM {} WHERE sid = $1 FOR UPDATE", store.table()))
        .bind(id.as_str())
        .execute(&mut *blocker)
        .await
        .unwrap();
    let pending = {
        let (store, id, version) = (store.clone(), id.clone(), read.version.clone());
        tokio::spawn(async move {
            let next = record(&store, Some(60_000), json!({"v": 2}));
            store.save_if(&id, &next, &version).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kill_backends(&admin, &app_name).await, 1);
    assert_unavailable(pending.await.unwrap());
    blocker.rollback().await.unwrap();

    // Nothing was written, and the next calls reconnect.
    let after = store.get(&id).await.unwrap().expect("the record is still there");
    assert_eq!(after.record.data()["v"], 1);
    assert_eq!(after.version, read.version);
    let saved = store.save_if(&id, &record(&store, Some(60_000), json!({"v": 3})), &read.version).await.unwrap();
    assert!(matches!(saved, SaveOutcome::Saved(_)));
    assert_eq!(store.get(&id).await.unwrap().unwrap().record.data()["v"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_killed_between_calls_are_replaced() {
    let Some(admin) = common::admin().await else { return };
    let (store, app_name) = single_connection_store(&admin).await;
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap();
    for _ in 0..3 {
        assert_eq!(kill_backends(&admin, &app_name).await, 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The pool tests a connection before handing it out; at worst one call sees the dead one.
        let mut result = store.get(&id).await;
        if let Err(e) = &result {
            assert!(e.is_unavailable(), "{e:?}");
            result = store.get(&id).await;
        }
        assert_eq!(result.unwrap().unwrap().record.data()["v"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_and_comes_back() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let options: PgConnectOptions = common::url().parse().unwrap();
    let target: SocketAddr = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .unwrap()
        .find(SocketAddr::is_ipv4)
        .unwrap();
    let proxy = common::Proxy::new(target).await;
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .create_table_if_missing(true)
        .timeout(Duration::from_millis(1500))
        .max_connections(2)
        .prune_interval(None)
        .connect_with(options.clone().host("127.0.0.1").port(proxy.port))
        .await
        .unwrap();
    let id = SessionId::generate();
    let created = store.create(&id, &record(&store, Some(60_000), json!({"user": "alice"}))).await.unwrap();
    let CreateOutcome::Created(version) = created else { panic!("{created:?}") };

    proxy.stop().await;
    let started = Instant::now();
    assert_unavailable(store.get(&id).await);
    assert_unavailable(store.save_if(&id, &record(&store, Some(60_000), json!({"user": "bob"})), &version).await);
    assert_unavailable(store.destroy(&id).await);
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());

    proxy.start().await;
    let back = store.get(&id).await.unwrap().expect("the record survived");
    assert_eq!(back.record.data()["user"], "alice");
    assert_eq!(back.version, version);
    proxy.stop().await;
}
