//! What the layer does beyond express-session: limits, timeouts, failure modes, cache headers, absolute
//! timeouts, ids hashed at rest.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Fault, Faulty, TestApp, options};
use express_session::options::OnStoreError;
use express_session::{Session, SessionError, SessionManagerLayer};
use http::StatusCode;
use http::header::{CACHE_CONTROL, VARY};

async fn untouched() -> &'static str {
    "ok"
}

async fn set_user(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "bob").await?;
    Ok("ok")
}

async fn count(session: Session) -> Result<String, SessionError> {
    Ok(session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?.to_string())
}

fn routes() -> Router {
    Router::new().route("/", get(untouched)).route("/set", get(set_user)).route("/count", get(count))
}

/// An app on a [`Faulty`] store, with the system clock (timeouts are real time).
fn faulty_app(options: express_session::SessionOptions) -> (TestApp, Faulty) {
    let store = Faulty::default();
    let layer = SessionManagerLayer::new(options.store(store.clone())).unwrap();
    (TestApp { app: routes().layer(layer), store: store.inner.clone(), clock: express_session::Clock::system() }, store)
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_without_cookie_and_recovers() {
    let (t, store) = faulty_app(options());
    let first = t.get("/count", None).await;
    store.set(Fault::Refuse);
    let down = t.get("/count", Some(&first.cookie())).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.body, "session store unavailable");
    assert_eq!(down.set_cookie, None);
    assert_eq!(t.get("/set", None).await.status, StatusCode::SERVICE_UNAVAILABLE, "a failed create is a 503 too");
    store.set(Fault::None);
    // The circuit breaker opened at the first failure: it lets a probe through after its interval (100 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.get("/count", Some(&first.cookie())).await.body, "2", "nothing was lost");
}

#[tokio::test]
async fn a_hanging_store_times_out_as_unavailable() {
    let (t, store) = faulty_app(options().store_timeout(Duration::from_millis(100)));
    let first = t.get("/count", None).await;
    store.set(Fault::Hang);
    let started = std::time::Instant::now();
    let r = t.get("/count", Some(&first.cookie())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn serve_without_session_mode_keeps_serving() {
    let (t, store) = faulty_app(options().on_store_error(OnStoreError::ServeWithoutSession));
    let first = t.get("/count", None).await;
    store.set(Fault::Refuse);
    let r = t.get("/", Some(&first.cookie())).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "ok"));
    let r = t.get("/count", Some(&first.cookie())).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "a handler that needs the session gets NoSession");
    store.set(Fault::None);
    tokio::time::sleep(Duration::from_millis(300)).await; // the circuit breaker's probe interval
    assert_eq!(t.get("/count", Some(&first.cookie())).await.body, "2");
}

#[tokio::test]
async fn the_error_response_can_be_rendered_by_the_app() {
    let (t, store) = faulty_app(options().error_response(|e| (e.status(), format!("sorry ({})", e.status().as_u16()))));
    store.set(Fault::Refuse);
    let r = t.get("/", None).await;
    assert_eq!(r.status, StatusCode::OK, "no session cookie and an untouched session: nothing to read or write");
    let r = t.get("/set", None).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "sorry (503)"));
}

#[tokio::test]
async fn records_over_the_size_limit_are_refused() {
    async fn big(session: Session) -> Result<&'static str, SessionError> {
        session.insert("blob", "x".repeat(2_000)).await?;
        Ok("ok")
    }
    let t = TestApp::new(options().max_record_size(Some(1_000)), routes().route("/big", get(big)));
    let r = t.get("/big", None).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.set_cookie, None);
    assert_eq!(t.len().await, 0);
}

#[tokio::test]
async fn ids_in_a_foreign_format_are_not_looked_up() {
    let signed = express_session::wire::sign("abc.def.ghi", b"keyboard cat");
    let cookie = format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")));
    let (t, calls) = TestApp::counting(options(), routes());
    t.get("/count", Some(&cookie)).await;
    assert_eq!(calls.take(), ["create"], "not looked up");
    let (t, calls) = TestApp::counting(options().accept_any_id(true), routes());
    t.get("/count", Some(&cookie)).await;
    assert_eq!(calls.take(), ["get", "create"], "looked up when any id is accepted");
}

#[tokio::test]
async fn responses_that_use_the_session_vary_on_cookie() {
    let t = TestApp::new(options(), routes());
    let used = t.app.clone();
    let response =
        tower::ServiceExt::oneshot(used, http::Request::get("/set").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
    assert_eq!(response.headers().get(VARY).unwrap(), "Cookie");
    assert_eq!(response.headers().get(CACHE_CONTROL), None);
    let response =
        tower::ServiceExt::oneshot(t.app.clone(), http::Request::get("/").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
    assert_eq!(response.headers().get(VARY), None, "a response that never used the session does not vary");
    let t = TestApp::new(options().cache_control_no_store(true), routes());
    let response =
        tower::ServiceExt::oneshot(t.app.clone(), http::Request::get("/set").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
    assert_eq!(response.headers().get(CACHE_CONTROL).unwrap(), "no-store");
}

#[tokio::test]
async fn the_absolute_timeout_is_never_extended() {
    let t = TestApp::new(
        options()
            .rolling(true)
            .absolute_timeout(Duration::from_secs(60))
            .cookie(express_session::CookieOptions::new().max_age(Duration::from_secs(30))),
        routes(),
    );
    let first = t.get("/count", None).await;
    for n in 2..=4 {
        t.clock.advance(Duration::from_secs(19));
        assert_eq!(t.get("/count", Some(&first.cookie())).await.body, n.to_string(), "still active at {n}");
    }
    t.clock.advance(Duration::from_secs(8));
    let r = t.get("/count", Some(&first.cookie())).await;
    assert_eq!(r.body, "1", "65 s after creation the session is over, however active");
    assert_ne!(r.cookie_id(), first.cookie_id());
}

#[tokio::test]
async fn ids_can_be_hashed_at_rest() {
    let t = TestApp::new(options().hash_ids_at_rest(true), routes());
    let first = t.get("/count", None).await;
    assert_eq!(t.get("/count", Some(&first.cookie())).await.body, "2");
    let raw = express_session::SessionId::new(first.cookie_id()).unwrap();
    assert!(t.store.raw_json(&raw).is_none(), "the plain id is not a store key");
    let all = express_session::Store::all(&t.store).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0.as_str().len(), 64, "the key is a SHA-256 in hex");
}
