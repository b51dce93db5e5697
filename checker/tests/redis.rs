//! The session contract on RedisStore (`REDIS_URL`, default `redis://127.0.0.1:6379`), each sequence under a key
//! prefix of its own, in real time: RedisStore decides expiry from the key's TTL, which Redis counts down in real
//! time, so a manual clock that jumps would keep touched sessions alive (see `checker/README.md`).

use std::sync::Arc;
use std::time::Duration;

use express_session::SessionId;
use express_session::testing::unreachable;
use express_session_redis::RedisStore;

fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_contract() {
    checker::check(checker::Backend::new("redis", false, |_clock| async move {
        let prefix = format!("checker:{}:", SessionId::generate().as_str());
        let builder = RedisStore::builder()
            .prefix(prefix)
            .ttl(Duration::from_secs(600))
            .timeout(Duration::from_secs(5))
            .owner_key(checker::exec::OWNER_KEY);
        match builder.connect(&url()).await {
            Ok(store) => Some(Arc::new(store)),
            Err(error) => unreachable(&format!("Redis at {}", url()), error),
        }
    }))
    .await;
}
