//! Redis going away mid-test: each test starts its own `redis-server` (append-only, `appendfsync always`) on a
//! free port, kills it (SIGKILL, a crash), and starts it again on the same port. While it is down every store
//! call fails with `StoreError::Unavailable` within the store's time limit (the layer answers 503); once it is
//! back the same store works again by itself, and no acknowledged write is lost or corrupted.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use express_session::store::{SaveOutcome, Store, StoreError};
use express_session::{Record, Session, SessionCookie, SessionError, SessionId, SessionManagerLayer, SessionOptions};
use express_session_redis::RedisStore;
use http::StatusCode;
use serde_json::json;

const LIMIT: Duration = Duration::from_millis(500);
/// What a failing call may take beyond the limit (scheduling on a loaded 2-core machine).
const SLACK: Duration = Duration::from_millis(400);

/// The last text of a session whose write was acknowledged, and the texts written since whose write failed (they
/// may or may not have been applied).
type Written = (String, Vec<String>);

fn record(store: &RedisStore, n: u64) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    let mut record = Record::new(cookie);
    record.data_mut().insert("n".into(), json!(n));
    record
}

async fn store_on(server: &common::RedisServer) -> RedisStore {
    RedisStore::builder().prefix(common::unique_prefix("faults")).timeout(LIMIT).connect(&server.url()).await.unwrap()
}

/// Waits until `get` works again (at most 15 s) and says how long it took.
async fn until_back(store: &RedisStore, id: &SessionId) -> Duration {
    let start = Instant::now();
    loop {
        match store.get(id).await {
            Ok(_) => return start.elapsed(),
            Err(error) => {
                assert!(error.is_unavailable(), "while coming back: {error}");
                assert!(start.elapsed() < Duration::from_secs(15), "the store did not come back: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_within_the_limit_while_redis_is_down_and_work_again_after() {
    if !common::redis_server_available() {
        return;
    }
    let mut server = common::RedisServer::start();
    let store = store_on(&server).await;
    let ids: Vec<SessionId> = (0..16).map(|_| SessionId::generate()).collect();
    let acknowledged: Arc<Mutex<HashMap<SessionId, Written>>> = Arc::default();
    for id in &ids {
        let rec = record(&store, 0);
        store.create(id, &rec).await.unwrap();
        acknowledged.lock().unwrap().insert(id.clone(), (rec.to_json(), Vec::new()));
    }

    // Writers keep incrementing every session while the server dies under them.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let (store, stop, acknowledged) = (store.clone(), Arc::clone(&stop), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(Some(read)) = store.get(&id).await else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let n = read.record.data()["n"].as_u64().unwrap();
                    let next = record(&store, n + 1);
                    let json = next.to_json();
                    match store.save_if(&id, &next, &read.version).await {
                        Ok(SaveOutcome::Saved(_)) => {
                            acknowledged.lock().unwrap().insert(id.clone(), (json, Vec::new()));
                        }
                        Ok(other) => panic!("nobody else writes these sessions: {other:?}"),
                        Err(error) => {
                            assert!(error.is_unavailable(), "a dead server is unavailable: {error}");
                            acknowledged.lock().unwrap().get_mut(&id).unwrap().1.push(json);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop();

    // Down: 200 concurrent calls all fail as Unavailable, each within the limit; nothing queues up.
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let (store, id) = (store.clone(), ids[i % ids.len()].clone());
            tokio::spawn(async move {
                let start = Instant::now();
                let result = store.get(&id).await;
                (result.map(|_| ()), start.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (result, took) = call.await.unwrap();
        let error = result.expect_err("Redis is down");
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error}");
        assert!(took <= LIMIT + SLACK, "a call took {took:?} (limit {LIMIT:?})");
    }
    // Every kind of call.
    let (id, rec) = (&ids[0], record(&store, 99));
    let version = express_session::store::Version::from_bytes(vec![0; 8]);
    let started = Instant::now();
    assert!(store.get(id).await.unwrap_err().is_unavailable());
    assert!(store.create(&SessionId::generate(), &rec).await.unwrap_err().is_unavailable());
    assert!(store.set(id, &rec).await.unwrap_err().is_unavailable());
    assert!(store.save_if(id, &rec, &version).await.unwrap_err().is_unavailable());
    assert!(store.touch(id, &rec).await.unwrap_err().is_unavailable());
    assert!(store.refresh(id).await.unwrap_err().is_unavailable());
    assert!(store.destroy(&SessionId::generate()).await.unwrap_err().is_unavailable());
    assert!(store.all().await.unwrap_err().is_unavailable());
    assert!(store.len().await.unwrap_err().is_unavailable());
    assert!(store.clear().await.unwrap_err().is_unavailable());
    assert!(started.elapsed() <= 10 * (LIMIT + SLACK), "{:?}", started.elapsed());
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }

    // Back on the same port: the same store works again by itself, and every session is as last acknowledged
    // (or carries a write whose acknowledgement was lost with the server).
    server.restart();
    let took = until_back(&store, &ids[0]).await;
    eprintln!("store usable again {took:?} after the restart");
    for id in &ids {
        let read = store.get(id).await.unwrap().expect("no session lost");
        let json = read.record.to_json();
        let (last, in_doubt) = acknowledged.lock().unwrap()[id].clone();
        assert!(json == last || in_doubt.contains(&json), "session lost writes or is corrupted: {json} vs {last}");
        let mut next = read.record.clone();
        next.data_mut().insert("after".into(), json!(true));
        assert!(matches!(store.save_if(id, &next, &read.version).await.unwrap(), SaveOutcome::Saved(_)));
    }
    assert_eq!(store.len().await.unwrap(), ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_hung_server_fail_within_the_limit() {
    if !common::redis_server_available() {
        return;
    }
    // A server that keeps the connection open but answers nothing (SIGSTOP): no I/O error ever comes, so only the
    // store's time limit ends the calls.
    let server = common::RedisServer::start();
    let store = store_on(&server).await;
    let id = SessionId::generate();
    store.create(&id, &record(&store, 1)).await.unwrap();
    let read = store.get(&id).await.unwrap().unwrap();
    server.freeze(true);
    let started = Instant::now();
    let calls = (0..4).map(|which| {
        let (store, id, read) = (store.clone(), id.clone(), read.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let result = match which {
                0 => store.get(&id).await.map(drop),
                1 => store.save_if(&id, &record(&store, 2), &read.version).await.map(drop),
                2 => store.refresh(&id).await.map(drop),
                _ => store.create(&SessionId::generate(), &record(&store, 3)).await.map(drop),
            };
            (result, start.elapsed())
        })
    });
    for call in calls.collect::<Vec<_>>() {
        let (result, took) = call.await.unwrap();
        let error = result.expect_err("a hung server answers nothing");
        assert!(matches!(error, StoreError::Unavailable { .. }), "{error}");
        assert!(took >= LIMIT, "failed before the limit ({took:?}): {error}");
        assert!(took <= LIMIT + SLACK, "a call took {took:?} (limit {LIMIT:?})");
    }
    assert!(started.elapsed() <= 2 * (LIMIT + SLACK), "the calls queued up: {:?}", started.elapsed());
    server.freeze(false);
    // Back: the same store works again (the save that timed out may or may not have been applied).
    until_back(&store, &id).await;
    let now = store.get(&id).await.unwrap().unwrap();
    assert!(matches!(now.record.data()["n"].as_u64(), Some(1 | 2)), "{:?}", now.record.data());
    assert!(matches!(store.save_if(&id, &record(&store, 4), &now.version).await.unwrap(), SaveOutcome::Saved(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_store_starts_while_redis_is_down() {
    if !common::redis_server_available() {
        return;
    }
    let mut server = common::RedisServer::start();
    server.stop();
    let store =
        RedisStore::builder().prefix(common::unique_prefix("lazy")).timeout(LIMIT).connect_lazy(&server.url()).unwrap();
    let id = SessionId::generate();
    let start = Instant::now();
    assert!(store.get(&id).await.unwrap_err().is_unavailable());
    assert!(start.elapsed() <= LIMIT + SLACK);
    server.restart();
    until_back(&store, &id).await;
    store.create(&id, &record(&store, 1)).await.unwrap();
    assert_eq!(store.get(&id).await.unwrap().unwrap().record.data()["n"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_dead_server_is_unavailable() {
    let url = format!("redis://127.0.0.1:{}", common::free_port());
    let start = Instant::now();
    let error = RedisStore::builder().timeout(LIMIT).connect(&url).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(start.elapsed() <= LIMIT + SLACK);
    let error = RedisStore::builder().connect("http://not-redis").await.unwrap_err();
    assert!(matches!(error, StoreError::Backend { .. }), "{error}");
}

async fn me(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("user").await?.unwrap_or_else(|| "anonymous".into()))
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "alice").await?;
    Ok("logged in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_answers_503_while_redis_is_down_then_serves_the_same_session() {
    if !common::redis_server_available() {
        return;
    }
    let mut server = common::RedisServer::start();
    let store = store_on(&server).await;
    let layer = SessionManagerLayer::new(
        SessionOptions::new().secret("a secret of at least thirty-two bytes, for the test").store(store.clone()),
    )
    .unwrap();
    let app = Router::new().route("/login", get(login)).route("/me", get(me)).layer(layer);

    let (status, cookie, _) = common::call(&app, "/login", None).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.expect("a session cookie");
    assert_eq!(common::call(&app, "/me", Some(&cookie)).await.2, "alice");

    server.stop();
    // (A request without a cookie that only reads needs no store, and is served as usual.)
    assert_eq!(common::call(&app, "/me", None).await.0, StatusCode::OK);
    for (path, cookie) in [("/me", Some(cookie.as_str())), ("/login", None), ("/login", Some(cookie.as_str()))] {
        let start = Instant::now();
        let (status, set_cookie, body) = common::call(&app, path, cookie).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(set_cookie, None, "no cookie for unsaved state");
        assert!(start.elapsed() <= 2 * (LIMIT + SLACK), "{path} took {:?}", start.elapsed());
    }

    server.restart();
    let start = Instant::now();
    loop {
        let (status, _, body) = common::call(&app, "/me", Some(&cookie)).await;
        if status == StatusCode::OK {
            assert_eq!(body, "alice", "the session survived the outage");
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(start.elapsed() < Duration::from_secs(15), "the app did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, cookie, _) = common::call(&app, "/login", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cookie.is_some());
}

/// The layer's store timeout in the outage tests; the store's own (3 s) is longer, so that the layer's one
/// budget per request is what ends a call to a hung server.
const LAYER_TIMEOUT: Duration = Duration::from_secs(1);

async fn outage_store(server: &common::RedisServer) -> RedisStore {
    RedisStore::builder()
        .prefix(common::unique_prefix("outage"))
        .timeout(Duration::from_secs(3))
        .connect(&server.url())
        .await
        .unwrap()
}

/// Redis killed (SIGKILL): the first request answers 503 within one store timeout, the next ones in a median
/// under 50 ms (the circuit breaker), and once a new server answers on the same port, the first 200 comes
/// within 1 s. The targets and margins are `an_outage_fails_fast_and_recovers`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_fails_fast_while_redis_is_dead_and_is_back_within_a_second() {
    if !common::redis_server_available() {
        return;
    }
    let server = common::RedisServer::start();
    let store = outage_store(&server).await;
    let server = Mutex::new(server);
    let figures = express_session::testing::an_outage_fails_fast_and_recovers(
        store,
        express_session::testing::Outage::Dead,
        LAYER_TIMEOUT,
        || async { server.lock().unwrap().stop() },
        || async { server.lock().unwrap().restart() },
    )
    .await;
    eprintln!("Redis killed: {figures:?}");
}

/// Redis hung (SIGSTOP): the first request waits at most one store timeout, the next ones answer 503 in a
/// median under 100 ms, and after SIGCONT the first 200 comes within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_fails_fast_while_redis_is_hung_and_is_back_within_a_second() {
    if !common::redis_server_available() {
        return;
    }
    let server = common::RedisServer::start();
    let store = outage_store(&server).await;
    let figures = express_session::testing::an_outage_fails_fast_and_recovers(
        store,
        express_session::testing::Outage::Hung,
        LAYER_TIMEOUT,
        || async { server.freeze(true) },
        || async { server.freeze(false) },
    )
    .await;
    assert!(figures.first >= LAYER_TIMEOUT, "a hung server is only noticed at the timeout: {figures:?}");
    eprintln!("Redis hung: {figures:?}");
}
