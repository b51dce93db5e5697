//! The outage cases: what the layer does when the store's backend is unreachable, or goes away and comes back.
//! Not part of [`store_suite!`](crate::store_suite): the store crate must break (and fix) its backend itself.

use std::sync::Arc;
use std::time::Duration;

use super::{cookie_for, harness, id_of};
use crate::engine::session::Session;
use crate::id::SessionId;
use crate::layer::SessionManagerLayer;
use crate::options::SessionOptions;
use crate::store::Store;

/// Through the HTTP layer, over a store whose backend cannot be reached (its calls fail with
/// [`StoreError::Unavailable`](crate::store::StoreError::Unavailable)): a returning client's request and a new
/// client's request that use the session both answer 503, without a `Set-Cookie`. Not part of
/// [`store_suite!`](crate::store_suite): the store must be made unreachable (for example pointed at a closed port).
pub async fn an_unreachable_store_answers_503<S: Store>(store: S) {
    let store = Arc::new(store);
    let views = |s: Session, _| async move { s.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(drop) };
    let cookie = cookie_for(&SessionId::generate());
    // A returning client: the handler's first use of the session reads the store.
    let returning = harness::send(harness::instance(&store, views), "/", Some(&cookie)).await;
    assert_eq!(returning, (503, None));
    // A new client: the session is created at the end of the request.
    assert_eq!(harness::send(harness::instance(&store, views), "/", None).await, (503, None));
}

/// What an outage does to the store's backend, for [`an_outage_fails_fast_and_recovers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The backend is gone (killed, connections refused): calls fail by themselves.
    Dead,
    /// The backend keeps its connections but answers nothing (SIGSTOP, a lock): only the timeout ends a call.
    Hung,
}

/// What [`an_outage_fails_fast_and_recovers`] measured.
#[derive(Debug, Clone)]
pub struct OutageFigures {
    /// The first request after the outage began, until its 503.
    pub first: Duration,
    /// The median of the next requests, one at a time, until their 503.
    pub median: Duration,
    /// The median of 32 concurrent requests, until their 503.
    pub concurrent_median: Duration,
    /// From the end of the outage to the first 200.
    pub back: Duration,
}

/// Targets, with margins for a loaded 2-core machine: the median target is the (50 ms dead, 100 ms
/// hung) since a refused call costs microseconds; single requests get a second of slack beyond the timeout.
const OUTAGE_SLACK: Duration = Duration::from_secs(1);

/// Through the HTTP layer with a store timeout of `timeout` (give the store's own timeout more, so that the
/// layer's budget is what ends a hung call): `break_backend` starts an outage of the given kind, `fix_backend`
/// ends it. While it lasts, the first request answers 503 within one store timeout (plus slack), the next ones
/// (returning and new clients, one at a time and 32 at once) have a median 503 within 50 ms (dead) or 100 ms
/// (hung), and every one within one store timeout plus slack; once it is over, the first 200 comes within
/// 1 s, and the counter the requests increment lost no acknowledged increment and gained none that was not
/// requested. Not part of [`store_suite!`](crate::store_suite): the backend must be broken and fixed.
///
/// # Panics
///
/// When a target is missed.
pub async fn an_outage_fails_fast_and_recovers<S, B, BF, F, FF>(
    store: S,
    outage: Outage,
    timeout: Duration,
    break_backend: B,
    fix_backend: F,
) -> OutageFigures
where
    S: Store,
    B: FnOnce() -> BF,
    BF: std::future::Future<Output = ()>,
    F: FnOnce() -> FF,
    FF: std::future::Future<Output = ()>,
{
    use std::time::Instant;
    use tower_layer::Layer as _;

    let store = Arc::new(store);
    let target = match outage {
        Outage::Dead => Duration::from_millis(50),
        Outage::Hung => Duration::from_millis(100),
    };
    let count = |s: Session, _| async move { s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(drop) };
    let options = SessionOptions::new().secret(harness::SECRET).shared_store(Arc::clone(&store));
    let layer = SessionManagerLayer::new(options.store_timeout(timeout)).expect("valid options");
    let handler: harness::Handler = Arc::new(move |s, p| Box::pin(count(s, p)));
    let app = layer.layer(harness::App { handler });
    let timed = |cookie: Option<String>| {
        let app = app.clone();
        async move {
            let started = Instant::now();
            let (status, _) = harness::send(app, "/count", cookie.as_deref()).await;
            (status, started.elapsed())
        }
    };
    let (status, cookie) = harness::send(app.clone(), "/count", None).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("a session cookie");
    let id = id_of(&cookie);
    assert_eq!(timed(Some(cookie.clone())).await.0, 200);
    let acknowledged = 2;

    break_backend().await;
    let (status, first) = timed(Some(cookie.clone())).await;
    assert_eq!(status, 503, "the first request in the outage");
    assert!(first <= timeout + OUTAGE_SLACK, "the first request took {first:?} (store timeout {timeout:?})");
    // One at a time, returning and new clients: a request that probes the store may wait the timeout; the rest
    // answer at once.
    let mut times = Vec::new();
    for i in 0..40 {
        let (status, took) = timed((i % 2 == 0).then(|| cookie.clone())).await;
        assert_eq!(status, 503, "request {i} in the outage");
        assert!(took <= timeout + OUTAGE_SLACK, "request {i} took {took:?}");
        times.push(took);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    times.sort();
    let median = times[times.len() / 2];
    assert!(median <= target, "median {median:?} over {target:?}: {times:?}");
    let fast = times.iter().filter(|t| **t <= target).count();
    assert!(fast * 10 >= times.len() * 8, "only {fast} of {} within {target:?}: {times:?}", times.len());
    // 32 at once.
    let batch: Vec<_> = (0..32).map(|i| tokio::spawn(timed((i % 2 == 0).then(|| cookie.clone())))).collect();
    let mut concurrent = Vec::new();
    for request in batch {
        let (status, took) = request.await.expect("the request task");
        assert_eq!(status, 503);
        assert!(took <= timeout + OUTAGE_SLACK, "a concurrent request took {took:?}");
        concurrent.push(took);
    }
    concurrent.sort();
    let concurrent_median = concurrent[concurrent.len() / 2];
    assert!(concurrent_median <= target, "concurrent median {concurrent_median:?}: {concurrent:?}");

    fix_backend().await;
    let started = Instant::now();
    let back = loop {
        let (status, _) = timed(Some(cookie.clone())).await;
        if status == 200 {
            break started.elapsed();
        }
        assert_eq!(status, 503);
        assert!(started.elapsed() <= Duration::from_secs(5), "not back after 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(back <= Duration::from_secs(1), "the first 200 came {back:?} after the store answered again");
    // Every acknowledged increment counted once; the ones answered 503 may have landed (a 503 does not mean "not
    // written"), but none twice.
    let n = store.get(&id).await.expect("get").expect("the session survived").record.data()["n"].as_u64();
    let n = n.expect("a number");
    let attempted_in_doubt = 1 + 40 / 2 + 32 / 2;
    assert!(n > acknowledged && n <= acknowledged + 1 + attempted_in_doubt, "n = {n}");
    OutageFigures { first, median, concurrent_median, back }
}
