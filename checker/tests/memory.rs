//! The session contract on MemoryStore, on a manual clock (see `checker/README.md`).

use std::sync::Arc;

use express_session::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_contract() {
    checker::check(checker::Backend::new("memory", true, |clock| async move {
        Some(Arc::new(MemoryStore::builder().clock(clock).owner_key(checker::exec::OWNER_KEY).build()))
    }))
    .await;
}
