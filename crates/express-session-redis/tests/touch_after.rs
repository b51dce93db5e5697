//! `touch_after` on Redis, where a touch moves only the key's TTL: the key's PTTL decides (`refresh_after.lua`),
//! so untouched requests write nothing within the interval, and a rolling cookie never outlives the key.

mod common;
#[path = "common/touch_after.rs"]
mod touch_after;

use std::time::Duration;

use express_session::Timestamp;
use touch_after::{rolling_cookies_never_outlive_the_store, writes_per_thousand};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_requests_write_nothing_within_the_interval() {
    for owned in [false, true] {
        let store = if owned { common::owned_store().await } else { common::store().await };
        let Some(store) = store else { return };
        let interval = Some(Duration::from_secs(10));
        for path in ["/me", "/static"] {
            let (without, slow) = writes_per_thousand(store.clone(), None, path).await;
            let (with, fast) = writes_per_thousand(store.clone(), interval, path).await;
            eprintln!(
                "Redis (owner index: {owned}) {path}: {without} writes without touch_after ({slow:?} a request), \
                 {with} with 10 s ({fast:?})"
            );
            assert_eq!(without, 1_000);
            assert_eq!(with, 0, "the login wrote less than the interval ago");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_cookies_never_outlive_the_key() {
    let prefix = common::unique_prefix("touch-after");
    let Ok(store) = common::builder(&prefix).connect(&common::redis_url()).await else {
        let _ = common::store().await; // the loud skip
        return;
    };
    let client = redis::Client::open(common::redis_url()).unwrap();
    let connection = client.get_multiplexed_async_connection().await.unwrap();
    rolling_cookies_never_outlive_the_store(store, |id| {
        let (mut connection, key) = (connection.clone(), format!("{prefix}{}", id.as_str()));
        async move {
            let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut connection).await.unwrap();
            assert!(pttl > 0, "the key has a TTL");
            Timestamp::now().as_millis() + pttl
        }
    })
    .await;
}
