//! Concurrent requests of one session: nothing lost, nothing resurrected. Two services (as two server
//! instances would be) share one MemoryStore; the requests run in parallel on a multi-threaded runtime.

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{MemoryStore, Session, SessionError, SessionManagerLayer, Store};

fn routes() -> Router {
    Router::new()
        .route("/login", get(|s: Session| async move { s.insert("user", "alice").await.map(|()| "ok") }))
        .route("/set/{key}", get(|s: Session, Path(key): Path<String>| async move { s.insert(&key, true).await.map(|()| "ok") }))
        .route(
            "/incr",
            get(|s: Session| async move { s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(|n| n.to_string()) }),
        )
        .route(
            "/slow/{key}",
            get(|s: Session, Path(key): Path<String>| async move {
                s.get::<String>("user").await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.insert(&key, true).await?;
                Ok::<_, SessionError>("ok")
            }),
        )
        .route("/logout", get(|s: Session| async move { s.destroy().await.map(|()| "ok") }))
}

/// Two apps ("instances") on one store, with the system clock.
fn two_instances() -> (TestApp, TestApp) {
    let store = MemoryStore::new();
    let make = || {
        let layer = SessionManagerLayer::new(options().store(store.clone())).unwrap();
        TestApp { app: routes().layer(layer), store: store.clone(), clock: express_session::Clock::system() }
    };
    (make(), make())
}

async fn in_parallel(a: &TestApp, b: &TestApp, cookie: &str, paths: Vec<String>) -> Vec<common::Reply> {
    let tasks: Vec<_> = paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let app = if i % 2 == 0 { a.app.clone() } else { b.app.clone() };
            let cookie = cookie.to_owned();
            tokio::spawn(async move {
                let t = TestApp { app, store: MemoryStore::new(), clock: express_session::Clock::system() };
                t.get(&path, Some(&cookie)).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_writes_to_different_keys_are_all_kept() {
    let (a, b) = two_instances();
    let login = a.get("/login", None).await;
    let paths = (0..64).map(|i| format!("/set/k{i}")).collect();
    for reply in in_parallel(&a, &b, &login.cookie(), paths).await {
        assert_eq!(reply.status, 200);
    }
    let id = express_session::SessionId::new(login.cookie_id()).unwrap();
    let record = a.store.get(&id).await.unwrap().unwrap().record;
    let missing: Vec<_> = (0..64).filter(|i| record.data().get(&format!("k{i}")).is_none()).collect();
    assert!(missing.is_empty(), "lost writes: {missing:?}");
    assert_eq!(record.data()["user"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_updates_of_one_key_are_atomic() {
    let (a, b) = two_instances();
    let login = a.get("/login", None).await;
    let paths = (0..200).map(|_| "/incr".to_owned()).collect();
    for reply in in_parallel(&a, &b, &login.cookie(), paths).await {
        assert_eq!(reply.status, 200);
    }
    let id = express_session::SessionId::new(login.cookie_id()).unwrap();
    assert_eq!(a.store.get(&id).await.unwrap().unwrap().record.data()["n"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_destroyed_session_is_not_brought_back_by_slower_requests() {
    let (a, b) = two_instances();
    let login = a.get("/login", None).await;
    let cookie = login.cookie();
    let slow: Vec<_> = (0..20).map(|i| format!("/slow/s{i}")).collect();
    let (a2, b2, c2) = (a.app.clone(), b.app.clone(), cookie.clone());
    let slow_requests = tokio::spawn(async move {
        let a = TestApp { app: a2, store: MemoryStore::new(), clock: express_session::Clock::system() };
        let b = TestApp { app: b2, store: MemoryStore::new(), clock: express_session::Clock::system() };
        in_parallel(&a, &b, &c2, slow).await
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(b.get("/logout", Some(&cookie)).await.status, 200);
    for reply in slow_requests.await.unwrap() {
        assert_eq!(reply.status, 200);
        // A request that read the session only after the logout starts a new one; never the destroyed id.
        if reply.set_cookie.is_some() {
            assert_ne!(reply.cookie_id(), login.cookie_id(), "a cookie for the destroyed session");
        }
    }
    let id = express_session::SessionId::new(login.cookie_id()).unwrap();
    assert!(a.store.get(&id).await.unwrap().is_none(), "the destroyed session was recreated");
}
