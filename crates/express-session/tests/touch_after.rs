//! `SessionOptions::touch_after` (connect-mongo's `touchAfter`): a session no request modifies is refreshed in the
//! store at most once per interval, and never dropped while its cookie lives.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{ConfigError, CookieOptions, Session, SessionError, SessionManagerLayer, SessionOptions};

const MAX_AGE: Duration = Duration::from_secs(60);

fn routes() -> Router {
    Router::new()
        .route("/login", get(|s: Session| async move { s.insert("user", "alice").await.map(|()| "in") }))
        .route(
            "/me",
            get(|s: Session| async move { Ok::<_, SessionError>(s.get::<String>("user").await?.unwrap_or_default()) }),
        )
        .route("/static", get(|| async { "static" }))
}

fn with(interval: Option<Duration>, rolling: bool) -> SessionOptions {
    let options = options().cookie(CookieOptions::new().max_age(MAX_AGE)).rolling(rolling);
    match interval {
        Some(interval) => options.touch_after(interval),
        None => options,
    }
}

/// Store writes (`touch`, `refresh`, `save_if`) for 1,000 requests one second apart that never modify the
/// session, on `path`.
async fn writes_per_thousand(interval: Option<Duration>, path: &str) -> usize {
    let (app, counting) = TestApp::counting(with(interval, false), routes());
    let cookie = app.get("/login", None).await.cookie();
    counting.take();
    for _ in 0..1_000 {
        app.clock.advance(Duration::from_secs(1));
        let reply = app.get(path, Some(&cookie)).await;
        assert_eq!(reply.status, 200);
        if path == "/me" {
            assert_eq!(reply.body, "alice", "the session lives");
        }
    }
    counting.take().iter().filter(|call| matches!(**call, "touch" | "refresh" | "save_if" | "set")).count()
}

#[tokio::test]
async fn an_unmodified_session_is_refreshed_once_per_interval() {
    // A handler that reads the session (the record is loaded; express's touch at the end of the request).
    assert_eq!(writes_per_thousand(None, "/me").await, 1_000);
    let every_ten = writes_per_thousand(Some(Duration::from_secs(10)), "/me").await;
    assert!((99..=101).contains(&every_ten), "{every_ten} writes");
    // A request that never uses its session (the refresh without loading).
    assert_eq!(writes_per_thousand(None, "/static").await, 1_000);
    let every_ten = writes_per_thousand(Some(Duration::from_secs(10)), "/static").await;
    assert!((99..=101).contains(&every_ten), "{every_ten} writes");
}

#[tokio::test]
async fn an_active_client_is_never_logged_out_and_an_idle_one_is() {
    let app = TestApp::new(with(Some(Duration::from_secs(30)), false), routes());
    let cookie = app.get("/login", None).await.cookie();
    // A request every 29 s for an hour, alternately reading and not using the session.
    for i in 0..124 {
        app.clock.advance(Duration::from_secs(29));
        let path = if i % 2 == 0 { "/me" } else { "/static" };
        app.get(path, Some(&cookie)).await;
    }
    assert_eq!(app.get("/me", Some(&cookie)).await.body, "alice");
    // Idle for the whole lifetime: gone.
    app.clock.advance(MAX_AGE);
    assert_eq!(app.get("/me", Some(&cookie)).await.body, "");
}

#[tokio::test]
async fn with_rolling_the_cookie_is_sent_only_with_the_stores_refresh_and_never_outlives_it() {
    let app = TestApp::new(with(Some(Duration::from_secs(10)), true), routes());
    let login = app.get("/login", None).await;
    let (cookie, id) = (login.cookie(), express_session::SessionId::new(login.cookie_id()).unwrap());
    let mut sent = 0;
    for _ in 0..100 {
        app.clock.advance(Duration::from_secs(1));
        let reply = app.get("/me", Some(&cookie)).await;
        assert_eq!(reply.body, "alice");
        let stored = express_session::Store::get(&app.store, &id).await.unwrap().expect("live").record;
        if let Some(set_cookie) = reply.set_cookie {
            sent += 1;
            let expires = set_cookie.split("; Expires=").nth(1).unwrap().split(';').next().unwrap().to_owned();
            assert_eq!(expires, stored.expires().unwrap().to_http_date(), "the cookie's expiry is the store's");
        }
        assert!(stored.expires().unwrap() > app.clock.now(), "the stored session outlives the request");
    }
    assert!((9..=11).contains(&sent), "{sent} cookies in 100 s");
}

#[test]
fn an_interval_that_could_expire_an_active_session_is_refused() {
    for (cookie, interval) in [
        (CookieOptions::new().max_age(MAX_AGE), MAX_AGE),
        (CookieOptions::new().max_age(MAX_AGE), Duration::from_secs(3600)),
        (CookieOptions::new(), Duration::from_secs(1)),
    ] {
        let error = SessionManagerLayer::new(options().cookie(cookie).touch_after(interval)).unwrap_err();
        assert!(matches!(error, ConfigError::TouchAfter { .. }), "{error}");
        assert!(error.to_string().contains("max_age"), "{error}");
    }
    assert!(SessionManagerLayer::new(with(Some(Duration::from_secs(59)), false)).is_ok());
}
