//! The session contract on SqliteStore, on a manual clock, each sequence on a database file of its own (see
//! `checker/README.md`).

use std::path::PathBuf;
use std::sync::Arc;

use express_session::SessionId;
use express_session_sqlite::SqliteStore;

fn fresh_file() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("checker-sqlite");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{}.db", SessionId::generate().as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_contract() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("checker-sqlite");
    let _ = std::fs::remove_dir_all(&dir);
    checker::check(checker::Backend::new("sqlite", true, |clock| async move {
        let store = SqliteStore::builder()
            .clock(clock)
            .owner_key(checker::exec::OWNER_KEY)
            .prune_interval(None)
            .open(fresh_file())
            .await
            .expect("open");
        Some(Arc::new(store))
    }))
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
