//! The engine's public adapter API used directly, without tower, as an adapter for another framework (actix-web)
//! uses it: plain inputs in, header values and the store outcome out.

mod common;

use common::{Fault, Faulty};
use express_session::engine::{
    Begin, DefaultResponseForError, Engine, ErrorResponse, RequestFacts, ResponseFacts, ResponseForError,
    handler_error_response,
};
use express_session::options::{OnStoreError, RequestHead, StoreNotReady};
use express_session::{SessionError, SessionOptions, StoreError};

const SECRET: &str = "a long random secret for the engine's own tests";

fn engine_of(options: SessionOptions) -> Engine {
    Engine::new(options.secret(SECRET)).expect("valid options")
}

/// The `name=value` pair a browser sends back for a `Set-Cookie` value.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap_or_default()
}

#[tokio::test]
async fn a_cookie_from_finish_is_accepted_by_the_next_begin() {
    let engine = engine_of(SessionOptions::new());
    let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
    session.insert("user", "alice").await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(finished.error().is_none());
    assert!(finished.depends_on_session());
    let set_cookie = finished.set_cookie().expect("a new, modified session sends its cookie").to_owned();
    assert!(set_cookie.starts_with("connect.sid=s%3A"), "{set_cookie}");
    let headers: Vec<(&str, &str)> = finished.headers().collect();
    // `vary_cookie` is on by default.
    assert_eq!(headers, [("set-cookie", set_cookie.as_str()), ("vary", "Cookie")]);

    // A second request with the cookie (among other cookies, in two headers) reads the session back.
    let other: &[u8] = b"theme=dark";
    let pair = cookie_pair(&set_cookie).as_bytes();
    let facts = RequestFacts::new("/").cookie_headers([other, pair]);
    let session = engine.begin(facts).into_session().expect("a session");
    assert_eq!(session.get::<String>("user").await.unwrap().as_deref(), Some("alice"));
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    // Unmodified, not rolling: no cookie again, and the response depends on the session (it was read).
    assert_eq!(finished.set_cookie(), None);
    assert!(finished.depends_on_session());

    // A tampered cookie is a new session, without the data.
    let tampered = format!("{}x", cookie_pair(&set_cookie));
    let session =
        engine.begin(RequestFacts::new("/").cookie_headers([tampered.as_bytes()])).into_session().expect("a session");
    assert_eq!(session.get::<String>("user").await.unwrap(), None);
}

#[tokio::test]
async fn the_cookie_path_gate_and_the_secure_facts() {
    let options = SessionOptions::new()
        .proxy(Some(true))
        .cookie(express_session::CookieOptions::new().path("/app").secure(express_session::Secure::Always));
    let engine = engine_of(options);
    assert!(matches!(engine.begin(RequestFacts::new("/other")), Begin::Skip));
    assert!(matches!(engine.begin(RequestFacts::new("")), Begin::Skip));

    // Not secure: the Secure cookie is held back.
    let session = engine.begin(RequestFacts::new("/app")).into_session().expect("a session");
    session.insert("n", 1).await.unwrap();
    assert_eq!(engine.finish(&session, ResponseFacts::new()).await.set_cookie(), None);

    // The trusted proxy says https: the cookie is sent.
    let facts = RequestFacts::new("/app/x").forwarded_proto(Some(b"https"));
    let session = engine.begin(facts).into_session().expect("a session");
    session.insert("n", 1).await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(finished.set_cookie().is_some_and(|c| c.contains("; Secure")), "{finished:?}");
}

#[tokio::test]
async fn the_request_head_reaches_genid() {
    let options =
        SessionOptions::new().genid(|head: &RequestHead| format!("id-for-{}", head.uri.path().trim_start_matches('/')));
    let engine = engine_of(options);
    let head = || RequestHead::new(http::Method::GET, http::Uri::from_static("/alice"), http::HeaderMap::new());
    let session = engine.begin(RequestFacts::new("/alice").request_head(head)).into_session().expect("a session");
    session.insert("n", 1).await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert_eq!(session.id().await.unwrap().map(|id| id.as_str().to_owned()).as_deref(), Some("id-for-alice"));
    assert!(finished.set_cookie().is_some());
}

#[tokio::test]
async fn vary_and_cache_control_follow_the_response() {
    let engine = engine_of(SessionOptions::new().vary_cookie(true).cache_control_no_store(true));
    let finish = |facts: ResponseFacts| {
        let engine = engine.clone();
        async move {
            let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
            session.insert("n", 1).await.unwrap();
            let finished = engine.finish(&session, facts).await;
            finished.headers().map(|(name, value)| format!("{name}: {value}")).skip(1).collect::<Vec<_>>()
        }
    };
    assert_eq!(finish(ResponseFacts::new()).await, ["vary: Cookie", "cache-control: no-store"]);
    let already = ResponseFacts::new().vary_headers([&b"Accept, cookie"[..]]).has_cache_control(true);
    assert_eq!(finish(already).await, Vec::<String>::new());
    let star = ResponseFacts::new().vary_headers([&b"Accept"[..], b"*"]);
    assert_eq!(finish(star).await, ["cache-control: no-store"]);
    // Not visible ASCII: not read (as `HeaderValue::to_str`), so Vary: Cookie is added.
    let unreadable = ResponseFacts::new().vary_headers([&b"cookie, \xff"[..]]);
    assert_eq!(finish(unreadable).await, ["vary: Cookie", "cache-control: no-store"]);

    // A session the handler never touched: nothing.
    let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(!finished.depends_on_session());
    assert_eq!(finished.headers().count(), 0);
}

fn down() -> Faulty {
    let store = Faulty::default();
    store.set(Fault::Refuse);
    store
}

#[tokio::test]
async fn a_store_error_gives_the_rendered_503() {
    let engine = engine_of(SessionOptions::new().store(down()));
    let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
    session.insert("n", 1).await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert_eq!(finished.headers().count(), 0);
    let error = finished.into_error().expect("the save failed");
    assert!(matches!(error, SessionError::Store(ref e) if e.is_unavailable()), "{error:?}");
    let response = engine.error_response(&error);
    assert_eq!((response.status(), response.body()), (503, "session store unavailable"));
    assert_eq!(
        response.headers().collect::<Vec<_>>(),
        [("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store")]
    );

    // With a renderer, the same error renders through it.
    let html =
        |error: &SessionError| ErrorResponse::new(error.status().as_u16(), "<p>later</p>").content_type("text/html");
    let engine =
        Engine::new(SessionOptions::new().secret(SECRET).store(down()).error_response(html)).expect("valid options");
    let response = engine.error_response(&error);
    assert_eq!((response.status(), response.body()), (503, "<p>later</p>"));
    assert_eq!(response.headers().next(), Some(("content-type", "text/html")));
}

#[tokio::test]
async fn a_store_error_served_without_a_session_leaves_the_response_alone() {
    let options = SessionOptions::new().store(down()).on_store_error(OnStoreError::ServeWithoutSession);
    let engine = engine_of(options);
    let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
    session.insert("n", 1).await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(finished.error().is_none());
    assert_eq!(finished.headers().count(), 0);
}

#[tokio::test]
async fn a_store_that_is_not_ready() {
    let store = common::not_ready();
    let engine = engine_of(SessionOptions::new().store(store.clone()));
    let Begin::NotReady(error) = engine.begin(RequestFacts::new("/")) else { panic!("not ready") };
    assert_eq!(engine.error_response(&error).status(), 503);

    let options = SessionOptions::new().store(store).store_not_ready(StoreNotReady::PassThrough);
    assert!(matches!(engine_of(options).begin(RequestFacts::new("/")), Begin::Skip));
}

#[test]
fn the_handler_error_response_is_the_default_one() {
    let error = SessionError::Store(StoreError::unavailable("down", std::io::Error::other("refused")));
    assert_eq!(handler_error_response(&error), DefaultResponseForError.response_for_error(&error));
    assert_eq!(handler_error_response(&SessionError::SaveConflict).status(), 500);
    assert_eq!(ErrorResponse::new(42, "x").status(), 500);
}
