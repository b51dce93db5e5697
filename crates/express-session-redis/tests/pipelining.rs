//! The store's commands are pipelined when many calls are in flight (on one server): each call still gets its own
//! reply, and a server error fails only the call whose command it answers. (What pipelining saves, Redis' reads and
//! CPU per request, depends on the scheduling of a real server's requests; the load benchmark measures it.) Each
//! test starts its own `redis-server`.

mod common;

use std::time::Duration;

use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError};
use express_session::{Record, SessionCookie, SessionId};
use express_session_redis::RedisStore;
use redis::AsyncCommands;
use serde_json::json;

fn record(n: u64) -> Record {
    let mut record = Record::new(SessionCookie::default());
    record.data_mut().insert("n".into(), json!(n));
    record
}

/// The benchmark's runtime (one worker of a multi-thread runtime), where the connection's driver would otherwise
/// send each command by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn concurrent_calls_get_their_own_replies() {
    if !common::redis_server_available() {
        return;
    }
    let server = common::RedisServer::start();
    let store = RedisStore::builder()
        .prefix(common::unique_prefix("pipe"))
        .timeout(Duration::from_secs(5))
        .connect(&server.url())
        .await
        .unwrap();
    let ids: Vec<SessionId> = (0..64).map(|_| SessionId::generate()).collect();
    for id in &ids {
        assert!(matches!(store.create(id, &record(0)).await.unwrap(), CreateOutcome::Created(_)));
    }
    const ROUNDS: u64 = 20;
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let tasks: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 1..=ROUNDS {
                    // All tasks wake together (as requests woken by their sockets do), then each makes its calls.
                    tokio::time::sleep_until(start + Duration::from_millis(20 * n)).await;
                    let read = store.get(&id).await.unwrap().expect("the session is there");
                    assert_eq!(read.record.data()["n"], n - 1, "each call gets its own reply");
                    let saved = store.save_if(&id, &record(n), &read.version).await.unwrap();
                    assert!(matches!(saved, SaveOutcome::Saved(_)));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for id in &ids {
        assert_eq!(store.get(id).await.unwrap().unwrap().record.data()["n"], ROUNDS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_server_error_fails_only_its_own_call() {
    if !common::redis_server_available() {
        return;
    }
    let server = common::RedisServer::start();
    let store = RedisStore::builder().prefix(common::unique_prefix("pipe")).connect(&server.url()).await.unwrap();
    // A key of the wrong type: GET on it is a WRONGTYPE error.
    let broken = SessionId::generate();
    let mut raw = common::raw(&server.url()).await;
    let () = raw.rpush(store.key(&broken), "not a session").await.unwrap();
    let ids: Vec<SessionId> = (0..32).map(|_| SessionId::generate()).collect();
    for id in &ids {
        store.create(id, &record(7)).await.unwrap();
    }
    for _ in 0..10 {
        let calls: Vec<_> = ids
            .iter()
            .cloned()
            .map(Some)
            .chain([None])
            .map(|id| {
                let (store, broken) = (store.clone(), broken.clone());
                tokio::spawn(async move {
                    match id {
                        Some(id) => Ok(store.get(&id).await.unwrap().unwrap().record.data()["n"].clone()),
                        None => store.get(&broken).await.map(|_| json!(null)),
                    }
                })
            })
            .collect();
        for call in calls {
            match call.await.unwrap() {
                Ok(value) => assert_eq!(value, 7),
                Err(error) => {
                    assert!(matches!(error, StoreError::Backend { .. }), "WRONGTYPE is a backend error: {error}")
                }
            }
        }
    }
    assert!(matches!(store.get(&broken).await.unwrap_err(), StoreError::Backend { .. }));
}
