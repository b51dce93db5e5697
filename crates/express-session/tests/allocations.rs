//! Heap allocations per request on the hot path (issue 17, item 2): express's view counter on a returning
//! session in MemoryStore (the load benchmark's S1) and on a session whose record also holds an untouched 1 KiB
//! value (S4), counted through the engine's adapter API (begin, the handler's `update`, finish), without an HTTP
//! server. BENCHMARKS.md ("Allocation diet") counts the whole server under callgrind.
//!
//! This test binary counts every allocation (dhat's global allocator), so it holds this one test only.

use std::collections::BTreeMap;

use express_session::SessionOptions;
use express_session::engine::{Engine, RequestFacts, ResponseFacts};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The session layer's own allocations in one S1 request: the request's `Session` (its `Arc`), the `update`
/// closure kept for a lost race and its key, the key of express's `originalHash`, the new value as a
/// `serde_json::Value` (an `IndexMap`'s entries and index, and the key), the record read (its text and key index)
/// and written (the new text): 10. The handler adds 4: its path, its `BTreeMap` node and key, and its clone of the
/// path inside the closure. In a server the layer adds the request extension and the boxed end of the request
/// (BENCHMARKS.md). At `main` before the diet (`74a10ba`) this test counted 28.1, now 14.1.
const S1_ALLOCATIONS: u64 = 15;

/// One request of the view counter with `cookie`, as `examples/src/view_counter.rs` counts a view.
async fn count_view(engine: &Engine, cookie: &str) -> u64 {
    let session = engine.begin(RequestFacts::new("/foo").cookie_headers([cookie.as_bytes()])).into_session().unwrap();
    let key = String::from("/foo");
    let views = session
        .update("views", move |views: Option<BTreeMap<String, u64>>| {
            let mut views = views.unwrap_or_default();
            *views.entry(key.clone()).or_insert(0) += 1;
            views
        })
        .await
        .unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(finished.error().is_none());
    views["/foo"]
}

/// Allocations per request over `n` requests of a returning client.
async fn per_request(engine: &Engine, cookie: &str, n: u64) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    let mut last = 0;
    for _ in 0..n {
        last = count_view(engine, cookie).await;
    }
    let after = dhat::HeapStats::get().total_blocks;
    assert!(last >= n, "every view counted");
    println!("{:.2} allocations per request", (after - before) as f64 / n as f64);
    (after - before).div_ceil(n)
}

#[tokio::test(flavor = "current_thread")]
async fn a_returning_view_counter_request_allocates_little() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let options =
        SessionOptions::new().secret("keyboard cat").allow_short_secret(true).resave(false).save_uninitialized(true);
    let engine = Engine::new(options).unwrap();

    // S1: the first request makes the session; the next ones return with its cookie.
    let session = engine.begin(RequestFacts::new("/foo")).into_session().unwrap();
    session.update("views", |n: Option<BTreeMap<String, u64>>| n.unwrap_or_default()).await.unwrap();
    let set_cookie = engine.finish(&session, ResponseFacts::new()).await.set_cookie().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let s1 = per_request(&engine, &cookie, 200).await;
    println!("S1: {s1} allocations per request");
    assert!(s1 <= S1_ALLOCATIONS, "S1: {s1} allocations per request, more than {S1_ALLOCATIONS}");

    // S4: the record also holds 1 KiB that no request touches: it costs no allocation of its own.
    let session = engine.begin(RequestFacts::new("/fill")).into_session().unwrap();
    session.insert("blob", "x".repeat(1024)).await.unwrap();
    let set_cookie = engine.finish(&session, ResponseFacts::new()).await.set_cookie().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let s4 = per_request(&engine, &cookie, 200).await;
    println!("S4: {s4} allocations per request");
    assert!(s4 <= s1, "S4: {s4} allocations per request, more than S1's {s1}");
}
