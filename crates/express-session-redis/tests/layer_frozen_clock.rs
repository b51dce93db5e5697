//! The session layer over this store with a frozen clock (the layer's and the store's), on the Redis at
//! `REDIS_URL`: issue 13's scenarios at their real scale (minutes), where the shared store suite runs them in a
//! few seconds of real time. Keys' TTLs run in real time inside Redis; the test takes well under a second of it.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use express_session::{
    Clock, CookieOptions, Session, SessionError, SessionId, SessionManagerLayer, SessionOptions, Store, Timestamp,
};
use express_session_redis::RedisStore;
use http::Request;
use tower::ServiceExt;

async fn frozen(what: &str) -> Option<(RedisStore, Clock)> {
    common::store().await?;
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let store =
        common::builder(&common::unique_prefix(what)).clock(clock.clone()).connect(&common::redis_url()).await.unwrap();
    Some((store, clock))
}

/// Sends a GET and returns the status, the body and the `name=value` of the `Set-Cookie`, if any.
async fn send(app: &Router, path: &str, cookie: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let set_cookie =
        response.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned(), set_cookie)
}

fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').unwrap().1;
    let decoded = express_session::wire::decode_uri_component(value.as_bytes()).unwrap();
    SessionId::new(decoded.strip_prefix("s:").unwrap().rsplit_once('.').unwrap().0).unwrap()
}

/// Issue 13, defect 1, as reported: maxAge 60 s; log in; three read-only requests 40 s apart (each touch moves
/// only the key's TTL: the stored text keeps the first `cookie.expires`); then a handler inserts a key and calls
/// `save()`. The session survives (the save's record expires 60 s after it), and the next request is logged in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_save_after_touches_keeps_the_session() {
    let Some((store, clock)) = frozen("save-after-touches").await else { return };
    async fn login(session: Session) -> Result<&'static str, SessionError> {
        session.insert("user", "alice").await?;
        Ok("ok")
    }
    async fn read(session: Session) -> Result<String, SessionError> {
        Ok(session.get::<String>("user").await?.unwrap_or_else(|| "anonymous".into()))
    }
    async fn save(session: Session) -> Result<&'static str, SessionError> {
        session.insert("k", true).await?;
        session.save().await?;
        Ok("saved")
    }
    let options = SessionOptions::new()
        .secret("a test secret that is long enough for the checks")
        .cookie(CookieOptions::new().max_age(Duration::from_secs(60)))
        .clock(clock.clone())
        .store(store.clone());
    let app = Router::new()
        .route("/login", get(login))
        .route("/read", get(read))
        .route("/save", get(save))
        .layer(SessionManagerLayer::new(options).unwrap());
    let (_, _, cookie) = send(&app, "/login", None).await;
    let cookie = cookie.expect("a session cookie");
    for _ in 0..3 {
        clock.advance(Duration::from_secs(40));
        assert_eq!(send(&app, "/read", Some(&cookie)).await, (200, "alice".into(), None));
    }
    clock.advance(Duration::from_secs(10));
    assert_eq!(send(&app, "/save", Some(&cookie)).await.1, "saved");
    let stored = store.get(&id_of(&cookie)).await.unwrap().expect("the session outlived the explicit save");
    assert_eq!(stored.record.expires(), Some(clock.now().add_millis(60_000)));
    assert_eq!(stored.record.data()["k"], true);
    clock.advance(Duration::from_secs(40));
    assert_eq!(send(&app, "/read", Some(&cookie)).await, (200, "alice".into(), None), "the client is logged in");
}
