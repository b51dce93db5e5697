//! What the shared suite does not cover: persistence across a restart, the exact expiry rule on a manual clock,
//! a locked database (Unavailable within the timeout, then recovery), and pruning.

mod common;

use std::time::{Duration, Instant};

use express_session::store::{CreateOutcome, SaveOutcome, Store};
use express_session::testing::record;
use express_session::{Clock, SessionId, Timestamp};
use express_session_sqlite::SqliteStore;
use serde_json::json;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

#[tokio::test]
async fn sessions_survive_a_restart() {
    let path = common::fresh_file();
    let id = SessionId::generate();
    let version = {
        let store = SqliteStore::open(&path).await.unwrap();
        let CreateOutcome::Created(v) =
            store.create(&id, &record(&store, Some(60_000), json!({"user": "alice"}))).await.unwrap()
        else {
            panic!("not created")
        };
        store.pool().close().await;
        v
    };
    let store = SqliteStore::open(&path).await.unwrap();
    let read = store.get(&id).await.unwrap().expect("still there after reopening");
    assert_eq!(read.record.data()["user"], "alice");
    assert_eq!(read.version, version);
}

#[tokio::test]
async fn expiry_is_exact_on_the_store_s_clock() {
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let store = SqliteStore::builder()
        .clock(clock.clone())
        .ttl(Duration::from_secs(10))
        .prune_interval(None)
        .open_in_memory()
        .await
        .unwrap();
    let (a, b) = (SessionId::generate(), SessionId::generate());
    store.create(&a, &record(&store, Some(1_000), json!({}))).await.unwrap();
    store.create(&b, &record(&store, None, json!({}))).await.unwrap();
    clock.advance(Duration::from_millis(999));
    assert!(store.get(&a).await.unwrap().is_some());
    clock.advance(Duration::from_millis(1));
    assert!(store.get(&a).await.unwrap().is_none(), "gone at its cookie.expires");
    clock.advance(Duration::from_millis(8_999));
    assert!(store.get(&b).await.unwrap().is_some());
    clock.advance(Duration::from_millis(1));
    assert!(store.get(&b).await.unwrap().is_none(), "a browser-session record lives for the ttl");
    assert_eq!(store.prune().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_unavailable_within_the_timeout_then_recovers() {
    let path = common::fresh_file();
    let store =
        SqliteStore::builder().timeout(Duration::from_millis(500)).prune_interval(None).open(&path).await.unwrap();
    let id = SessionId::generate();
    let CreateOutcome::Created(version) =
        store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap()
    else {
        panic!("not created")
    };
    // Another process holds the write lock.
    let mut other = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let started = Instant::now();
    let next = record(&store, Some(60_000), json!({"v": 2}));
    match store.save_if(&id, &next, &version).await {
        Err(e) if e.is_unavailable() => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    // Readers are not blocked (WAL), and nothing was written.
    assert_eq!(store.get(&id).await.unwrap().unwrap().record.data()["v"], 1);
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert!(matches!(store.save_if(&id, &next, &version).await.unwrap(), SaveOutcome::Saved(_)));
    assert_eq!(store.get(&id).await.unwrap().unwrap().record.data()["v"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_in_batches_and_in_the_background() {
    let store = SqliteStore::builder()
        .prune_interval(Some(Duration::from_millis(200)))
        .prune_batch_size(3)
        .open(common::fresh_file())
        .await
        .unwrap();
    assert!(store.is_pruning());
    for _ in 0..7 {
        store.set(&SessionId::generate(), &record(&store, Some(-5_000), json!({}))).await.unwrap();
    }
    store.create(&SessionId::generate(), &record(&store, Some(60_000), json!({}))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM session").fetch_one(store.pool()).await.unwrap();
    assert_eq!(rows, 1);
    store.stop_pruning();
    assert!(!store.is_pruning());
    for _ in 0..4 {
        store.set(&SessionId::generate(), &record(&store, Some(-5_000), json!({}))).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.prune().await.unwrap(), 4, "a stopped task left them; a manual prune takes them");
    let index: String = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'session' AND name LIKE 'IDX%'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(index, "IDX_session_expire");
}
