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

/// Several runtimes share one store (actix-web runs one per worker): a runtime that made calls and then stopped
/// being driven must not hold up the calls of the others. The queue's flusher lives on the runtime the store was
/// connected on, and calls from any other runtime are sent by themselves.
#[test]
fn a_runtime_that_is_no_longer_driven_holds_up_no_other() {
    if !common::redis_server_available() {
        return;
    }
    let server = common::RedisServer::start();
    let main = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = main.block_on(async {
        RedisStore::builder()
            .prefix(common::unique_prefix("runtimes"))
            .timeout(Duration::from_secs(2))
            .connect(&server.url())
            .await
            .unwrap()
    });
    let ids: Vec<SessionId> = (0..50).map(|_| SessionId::generate()).collect();
    // Another runtime makes concurrent calls, then stays alive without being driven.
    let other = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    other.block_on(async {
        let first = record(0);
        let (a, b) = tokio::join!(store.create(&ids[0], &first), store.get(&ids[1]));
        assert!(matches!(a.unwrap(), CreateOutcome::Created(_)));
        assert!(b.unwrap().is_none());
    });
    main.block_on(async {
        let tasks: Vec<_> = ids[1..]
            .iter()
            .cloned()
            .map(|id| {
                let store = store.clone();
                tokio::spawn(async move { store.create(&id, &record(1)).await })
            })
            .collect();
        for task in tasks {
            let created = task.await.unwrap().expect("no call waits for the idle runtime");
            assert!(matches!(created, CreateOutcome::Created(_)));
        }
    });
    drop(other);
}
