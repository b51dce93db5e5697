//! `SessionOptions::touch_after` over this store (the review of #18 item 3): the store writes that 100 requests
//! one second apart make when none modifies its session, seen with `MONITOR`, on the Redis at `REDIS_URL`. The
//! store's `touch` moves only the key's TTL (as connect-redis's does), so the stored `cookie.expires` keeps the
//! last save's expiry.

mod common;
#[path = "common/monitor.rs"]
mod monitor;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use express_session::{Clock, CookieOptions, Session, SessionError, SessionManagerLayer, SessionOptions, Timestamp};
use http::Request;
use monitor::Monitor;
use tower::ServiceExt;

async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Option<String> {
    let mut request = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
}

/// Writes (`EXPIRE`, `SET`, ...) and commands of 100 unmodifying requests one (manual) second apart, on `path`.
async fn writes(what: &str, path: &str, interval: Option<Duration>) -> Option<(usize, usize)> {
    common::store().await?;
    let url = common::redis_url();
    let prefix = common::unique_prefix(what);
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let store = common::builder(&prefix).clock(clock.clone()).connect(&url).await.unwrap();
    let mut options = SessionOptions::new()
        .secret("a long random secret, from your configuration")
        .cookie(CookieOptions::new().max_age(Duration::from_secs(60)))
        .clock(clock.clone())
        .store(store);
    if let Some(interval) = interval {
        options = options.touch_after(interval);
    }
    let app = Router::new()
        .route("/login", get(|s: Session| async move { s.insert("user", "alice").await.map(|()| "in") }))
        .route("/me", get(|s: Session| async move { s.get::<String>("user").await.map(Option::unwrap_or_default) }))
        .route("/static", get(|| async { "static" }))
        .layer(SessionManagerLayer::new(options).unwrap());
    let cookie = send(&app, "/login", None).await.expect("a cookie");
    let monitor = Monitor::start(&url, &prefix).await;
    let ((), seen) = monitor
        .during(&url, &prefix, async {
            for _ in 0..100 {
                clock.advance(Duration::from_secs(1));
                send(&app, path, Some(&cookie)).await;
            }
        })
        .await;
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    for seen in &seen {
        *names.entry(format!("{}{}", if seen.from_script { "lua:" } else { "" }, seen.args[0])).or_default() += 1;
    }
    eprintln!("{what}: {names:?}");
    let commands = seen.iter().filter(|seen| !seen.from_script).count();
    Some((seen.iter().filter(|seen| seen.is_write()).count(), commands))
}

/// A reading client (the record is loaded) with a 10 s interval: about 10 writes, as on MemoryStore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_client_is_refreshed_once_per_interval() -> Result<(), SessionError> {
    let Some(without) = writes("touch-after-me-off", "/me", None).await else { return Ok(()) };
    let with = writes("touch-after-me-on", "/me", Some(Duration::from_secs(10))).await.unwrap();
    // Round trips are more than 100: each request loads its record (a GET, or get_with_ttl's script once the
    // manual clock has passed the text's expiry) before its touch.
    assert_eq!(without.0, 100, "one EXPIRE per request: {without:?} (writes, round trips)");
    assert!(with.0 <= 11, "{with:?} (writes, round trips) of 100 requests with touch_after(10 s)");
    Ok(())
}

/// A client whose requests never use the session (the refresh without loading): about 10 writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_refreshed_once_per_interval() -> Result<(), SessionError> {
    let Some(without) = writes("touch-after-static-off", "/static", None).await else { return Ok(()) };
    let with = writes("touch-after-static-on", "/static", Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(without, (100, 100), "one EVALSHA (its EXPIRE is the script's) per request");
    assert!(with.0 <= 11 && with.1 <= 100, "{with:?} (writes, round trips) of 100 requests with touch_after(10 s)");
    Ok(())
}
