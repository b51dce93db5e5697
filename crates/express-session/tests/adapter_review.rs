//! Adversarial tests of the adapter API and the tower layer built on it (issue #14's review): behaviour through
//! the layer (stacked layers, `nest`, the secure facts, the error renderer and its marker, the error in the
//! response extensions), the response future (inner errors, dropped handler and finish futures, `Send`), and the
//! engine used directly (misuse, odd inputs).

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{Fault, Faulty, TestApp, options};
use express_session::engine::{Begin, Engine, ErrorResponse, RequestFacts, ResponseFacts};
use express_session::layer::{IsSecure, ResponseFuture};
use express_session::options::OnStoreError;
use express_session::{
    CookieOptions, Secure, Session, SessionError, SessionManager, SessionManagerLayer, SessionOptions, Store,
    TlsConnection,
};
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Request, StatusCode};
use tower::{Layer, Service, ServiceExt};

const SECRET: &str = "a long random secret for the engine's own tests";

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

async fn counter(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    Ok(n.to_string())
}

async fn body_of(response: Response) -> String {
    String::from_utf8_lossy(&axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap()).into_owned()
}

// ---- the layer: stacked, nested, secure ----

#[tokio::test]
async fn two_stacked_layers_set_one_cookie_and_save_once() {
    let clock = express_session::Clock::manual(express_session::Timestamp::from_millis(1_893_456_000_123));
    let inner_store = express_session::MemoryStore::builder().clock(clock.clone()).build();
    let inner = SessionManagerLayer::new(options().clock(clock.clone()).store(inner_store.clone())).unwrap();
    let test = TestApp::new(options(), Router::new().route("/", get(counter)).layer(inner));
    let first = test.get("/", None).await;
    assert_eq!((first.status, first.body.as_str()), (StatusCode::OK, "1"));
    let second = test.get("/", Some(&first.cookie())).await;
    assert_eq!(second.body, "2");
    assert_eq!(test.len().await, 1, "the outer layer saves");
    assert_eq!(inner_store.len().await.unwrap(), 0, "the inner layer passes through");
}

#[tokio::test]
async fn the_path_gate_reads_the_original_uri_under_nest() {
    let clock = express_session::Clock::manual(express_session::Timestamp::from_millis(1_893_456_000_123));
    let store = express_session::MemoryStore::builder().clock(clock.clone()).build();
    let layer =
        SessionManagerLayer::new(options().clock(clock).store(store.clone()).cookie(CookieOptions::new().path("/app")))
            .unwrap();
    let nested = Router::new().route("/count", get(counter)).layer(layer);
    let app = Router::new().nest("/app", nested);
    let response = app.clone().oneshot(Request::get("/app/count").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(SET_COOKIE).is_some(), "/app/count is under the cookie path /app");
    assert_eq!(store.len().await.unwrap(), 1);
}

/// The secure facts through the layer: `TlsConnection` always counts, `IsSecure` only with `proxy` unset,
/// `X-Forwarded-Proto` only with `proxy(Some(true))`.
#[tokio::test]
async fn the_secure_facts_through_the_layer() {
    async fn sends_cookie(proxy: Option<bool>, tls: bool, is_secure: bool, xfp: Option<&str>) -> bool {
        let layer = SessionManagerLayer::new(
            options().proxy(proxy).save_uninitialized(true).cookie(CookieOptions::new().secure(Secure::Always)),
        )
        .unwrap();
        let app = Router::new().route("/", get(|| async { "ok" })).layer(layer);
        let mut request = Request::get("/").body(Body::empty()).unwrap();
        if tls {
            request.extensions_mut().insert(TlsConnection);
        }
        request.extensions_mut().insert(IsSecure(is_secure));
        if let Some(xfp) = xfp {
            request.headers_mut().insert("x-forwarded-proto", xfp.parse().unwrap());
        }
        app.oneshot(request).await.unwrap().headers().get(SET_COOKIE).is_some()
    }
    for proxy in [None, Some(false), Some(true)] {
        assert!(sends_cookie(proxy, true, false, None).await, "TLS counts with proxy {proxy:?}");
        assert!(!sends_cookie(proxy, false, false, None).await, "nothing makes it secure, proxy {proxy:?}");
    }
    assert!(sends_cookie(None, false, true, None).await);
    assert!(!sends_cookie(Some(false), false, true, Some("https")).await);
    assert!(!sends_cookie(Some(true), false, true, None).await, "IsSecure is not read with proxy(Some(true))");
    assert!(sends_cookie(Some(true), false, false, Some("HTTPS, http")).await);
    assert!(!sends_cookie(Some(true), false, false, Some("http, https")).await);
    assert!(!sends_cookie(None, false, false, Some("https")).await, "X-Forwarded-Proto not trusted by default");
}

// ---- the error renderer, its marker, the error in the extensions ----

fn custom(error: &SessionError) -> ErrorResponse {
    ErrorResponse::new(error.status().as_u16(), "custom").content_type("text/x-custom")
}

/// An outer middleware sees the error, as one `Arc<SessionError>`, on each of the layer's error paths, and the
/// configured renderer answered each.
#[tokio::test]
async fn outer_middleware_sees_the_error_on_every_error_path() {
    let store = Faulty::default();
    let layer = SessionManagerLayer::new(options().store(store.clone()).error_response(custom)).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let outer = axum::middleware::map_response({
        let seen = Arc::clone(&seen);
        move |response: Response| {
            let seen = Arc::clone(&seen);
            async move {
                let error = response.extensions().get::<Arc<SessionError>>().map(|e| format!("{e}"));
                seen.lock().unwrap().push(error.unwrap_or_else(|| "none".into()));
                response
            }
        }
    });
    let app = Router::new()
        .route("/count", get(counter))
        .route("/plain", get(|session: Session| async move { session.insert("x", 1).await.map(|()| "ok") }))
        .layer(layer)
        .layer(outer);
    // The handler's error (`?` on a store failure).
    store.set(Fault::Refuse);
    let cookie = {
        store.set(Fault::None);
        let r = app.clone().oneshot(Request::get("/count").body(Body::empty()).unwrap()).await.unwrap();
        r.headers().get(SET_COOKIE).unwrap().to_str().unwrap().split(';').next().unwrap().to_owned()
    };
    store.set(Fault::Refuse);
    let request = Request::get("/count").header(COOKIE, &cookie).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["content-type"], "text/x-custom");
    assert_eq!(response.headers().get_all(CACHE_CONTROL).iter().count(), 1);
    assert!(response.headers().get(SET_COOKIE).is_none());
    assert_eq!(body_of(response).await, "custom");
    // The end of the request's error (the save fails).
    let response = app.clone().oneshot(Request::get("/plain").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_of(response).await, "custom");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], "none");
    assert_ne!(seen[1], "none");
    assert_ne!(seen[2], "none");
}

/// A handler (or a middleware between the layer and the handler) that turns a `SessionError` into a response of
/// its own (here a redirect to a maintenance page) keeps it, as before the renderer: with `ServeWithoutSession`
/// the layer keeps the handler's response, so the redirect must stay a redirect.
#[tokio::test]
async fn serve_without_session_keeps_a_reworked_session_error_response() {
    let store = Faulty::default();
    let layer = SessionManagerLayer::new(
        options().store(store.clone()).error_response(custom).on_store_error(OnStoreError::ServeWithoutSession),
    )
    .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                match session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await {
                    Ok(n) => n.to_string().into_response(),
                    Err(error) => {
                        let mut response = error.into_response();
                        *response.status_mut() = StatusCode::SEE_OTHER;
                        response.headers_mut().insert("location", "/maintenance".parse().unwrap());
                        response
                    }
                }
            }),
        )
        .route("/plain", get(counter))
        .layer(layer);
    let first = app.clone().oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    store.set(Fault::Refuse);
    let request = Request::get("/").header(COOKIE, &cookie).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the handler's redirect was re-rendered");
    assert_eq!(response.headers()["location"], "/maintenance");
    // A plain `?`: the handler's SessionError (NoSession: the store failed) answered by the configured renderer.
    let request = Request::get("/plain").header(COOKIE, &cookie).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get(SET_COOKIE).is_none());
    assert_eq!(body_of(response).await, "custom");
}

// ---- the response future ----

#[tokio::test]
async fn an_inner_error_passes_through_and_nothing_is_saved() {
    let store = express_session::MemoryStore::default();
    let layer = SessionManagerLayer::new(options().store(store.clone()).save_uninitialized(true)).unwrap();
    let inner = tower::service_fn(|request: Request<String>| async move {
        let session = request.extensions().get::<Session>().expect("a session").clone();
        session.insert("n", 1).await.unwrap();
        Err::<http::Response<String>, _>("inner failed")
    });
    let result = layer.layer(inner).oneshot(Request::new(String::new())).await;
    assert_eq!(result.unwrap_err(), "inner failed");
    assert_eq!(store.len().await.unwrap(), 0);
}

/// A handler dropped mid-way (the client went away) saves nothing; a finish dropped while the store hangs saves
/// nothing either, and neither panics. A new future after that works.
#[tokio::test]
async fn dropped_handler_and_finish_futures_save_nothing() {
    let store = Faulty::default();
    let layer = SessionManagerLayer::new(options().store(store.clone()).save_uninitialized(true)).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let inner = tower::service_fn(move |request: Request<String>| {
        let rx = Arc::clone(&rx);
        async move {
            let session = request.extensions().get::<Session>().expect("a session").clone();
            session.insert("n", 1).await.unwrap();
            if let Some(rx) = rx.lock().await.take() {
                let _ = rx.await;
            }
            Ok::<_, Infallible>(http::Response::new(String::from("done")))
        }
    });
    let mut service = layer.layer(inner);
    // The handler waits: dropped mid-way.
    let mut future = Box::pin(service.call(Request::new(String::new())));
    assert!(poll_once(future.as_mut()).is_pending());
    drop(future);
    drop(tx);
    assert_eq!(store.inner.len().await.unwrap(), 0);
    // The handler is done, the finish hangs on the store: dropped mid-way.
    store.set(Fault::Hang);
    let mut future = Box::pin(service.call(Request::new(String::new())));
    for _ in 0..10 {
        assert!(poll_once(future.as_mut()).is_pending());
    }
    assert!(format!("{future:?}").contains("Finishing"), "{future:?}");
    drop(future);
    store.set(Fault::None);
    assert_eq!(store.inner.len().await.unwrap(), 0);
    let response = service.call(Request::new(String::new())).await.unwrap();
    assert!(response.headers().get(SET_COOKIE).is_some());
    assert_eq!(store.inner.len().await.unwrap(), 1);
}

/// With a `Send` inner future the response future is `Send` (axum needs it), and the layer works in an axum
/// `Router` served on a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_future_is_send_with_a_send_inner() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let layer = SessionManagerLayer::new(options()).unwrap();
    let inner = tower::service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(http::Response::new(Body::from("x")))
    });
    let mut service: SessionManager<_> = layer.layer(inner);
    let future: ResponseFuture<_, Body> = service.call(Request::new(Body::empty()));
    assert_send(&future);
    let handle = tokio::spawn(future);
    assert_eq!(handle.await.unwrap().unwrap().status(), StatusCode::OK);
}

// ---- the engine used directly ----

fn engine_of(options: SessionOptions) -> Engine {
    Engine::new(options.secret(SECRET)).expect("valid options")
}

/// A session finished by another engine than the one it began with is finished with the options it began with
/// (as `Engine::finish`'s docs promise), headers included.
#[tokio::test]
async fn a_session_finished_by_another_engine_keeps_its_options() {
    let with_vary = engine_of(SessionOptions::new().vary_cookie(true).cache_control_no_store(true));
    let without = engine_of(SessionOptions::new().vary_cookie(false).cache_control_no_store(false));
    let session = with_vary.begin(RequestFacts::new("/")).into_session().unwrap();
    session.insert("n", 1).await.unwrap();
    let finished = without.finish(&session, ResponseFacts::new()).await;
    let names: Vec<&str> = finished.headers().map(|(name, _)| name).collect();
    assert_eq!(names, ["set-cookie", "vary", "cache-control"]);
}

/// Finishing twice saves once: the second finish of a session (an adapter's retry, or a handler that finishes
/// the session the layer finishes too) writes nothing.
#[tokio::test]
async fn finishing_twice_does_not_save_twice() {
    for resave in [false, true] {
        let store = common::Counting::new(express_session::MemoryStore::default());
        let engine = engine_of(SessionOptions::new().store(store.clone()).resave(resave));
        let session = engine.begin(RequestFacts::new("/")).into_session().unwrap();
        session.insert("n", 1).await.unwrap();
        let first = engine.finish(&session, ResponseFacts::new()).await;
        assert!(first.set_cookie().is_some());
        let first_calls = store.take();
        assert!(!first_calls.is_empty());
        let second = engine.finish(&session, ResponseFacts::new()).await;
        assert_eq!(store.take(), Vec::<&str>::new(), "resave {resave}: the second finish wrote");
        assert!(second.set_cookie().is_none(), "resave {resave}: a second Set-Cookie");
    }
}

#[tokio::test]
async fn odd_inputs_do_not_panic() {
    let engine = engine_of(SessionOptions::new().proxy(Some(true)));
    let long_path = "/".repeat(1 << 20);
    let garbage: Vec<u8> = (0..=255u8).cycle().take(1 << 16).collect();
    let many: Vec<&[u8]> = std::iter::repeat_n(&garbage[..], 1000).collect();
    /// A path, `Cookie` header values, an `X-Forwarded-Proto`.
    type Case<'a> = (&'a str, Vec<&'a [u8]>, Option<&'a [u8]>);
    let cases: Vec<Case<'_>> = vec![
        ("", vec![], None),
        (&long_path, many, Some(&garbage[..])),
        ("/", vec![b"connect.sid=", b"connect.sid=s%3A", b"connect.sid=s%3A.", b"=;;;=", b"\xff\xfe"], Some(b"")),
        ("/", vec![b"connect.sid=s%3A%E0%A4%A.x", b"connect.sid=%"], Some(b",,,")),
        ("/\u{0}\u{feff}", vec![], Some(b"\xffhttps")),
    ];
    for (path, cookies, proto) in cases {
        let facts = RequestFacts::new(path).cookie_headers(cookies).forwarded_proto(proto);
        let session = engine.begin(facts).into_session().expect("a session");
        let finished =
            engine.finish(&session, ResponseFacts::new().vary_headers([&garbage[..], b"", b",,cookie\xff"])).await;
        assert!(finished.error().is_none());
    }
    assert!(matches!(engine.begin(RequestFacts::new("")), Begin::Session(_)));
    assert!(matches!(engine.begin(RequestFacts::new("\u{0}")), Begin::Skip), "outside the cookie path /");
    let response = ErrorResponse::new(u16::MAX, "x").content_type("bad\r\nheader");
    assert_eq!(response.status(), 500);
}

/// A renderer that answers a header value `http` refuses: the layer logs it and answers without it, no panic.
#[tokio::test]
async fn a_renderer_with_a_bad_content_type_does_not_panic() {
    let store = Faulty::default();
    store.set(Fault::Refuse);
    let layer = SessionManagerLayer::new(
        options()
            .store(store)
            .error_response(|_: &SessionError| ErrorResponse::new(503, "x").content_type("a\r\nb: c")),
    )
    .unwrap();
    let app = Router::new().route("/", get(counter)).layer(layer);
    let response = app.clone().oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    assert!(response.headers().get(VARY).is_none());
}

/// A middleware between the layer and the handler that describes the body of the handler's `SessionError`
/// response (its length, its encoding, as a compression layer does) does not make the re-rendered response lie
/// about its new body.
#[tokio::test]
async fn a_rerendered_error_response_drops_the_old_bodys_length_and_encoding() {
    let store = Faulty::default();
    // Served without a session: the end of the request does not fail, the handler's response (its `?` on the
    // NoSession of a store failure) is the one sent.
    let options =
        options().store(store.clone()).error_response(custom).on_store_error(OnStoreError::ServeWithoutSession);
    let layer = SessionManagerLayer::new(options).unwrap();
    let describe_body = axum::middleware::map_response(|mut response: Response| async move {
        if response.status().is_server_error() {
            response.headers_mut().insert("content-length", "25".parse().unwrap());
            response.headers_mut().insert("content-encoding", "gzip".parse().unwrap());
        }
        response
    });
    let app = Router::new().route("/", get(counter)).layer(describe_body).layer(layer);
    let first = app.clone().oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    store.set(Fault::Refuse);
    let request = Request::get("/").header(COOKIE, cookie).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get("content-encoding").is_none());
    assert!(response.headers().get("content-length").is_none_or(|length| length == "6"));
    assert_eq!(body_of(response).await, "custom");
}

/// `vary_headers` given in two calls (an adapter that reads two header maps) keeps what the first one said.
#[tokio::test]
async fn vary_headers_given_twice_add_up() {
    let engine = engine_of(SessionOptions::new().vary_cookie(true));
    let session = engine.begin(RequestFacts::new("/")).into_session().unwrap();
    session.insert("n", 1).await.unwrap();
    let facts = ResponseFacts::new().vary_headers([&b"Cookie"[..]]).vary_headers([&b"Accept"[..]]);
    let finished = engine.finish(&session, facts).await;
    assert!(finished.headers().all(|(name, _)| name != "vary"), "the response varies on Cookie already");
}

/// `Finished`'s `Debug` (an adapter's log line) does not show the session cookie's value, a credential, as
/// `RequestFacts`'s does not show the `Cookie` headers.
#[tokio::test]
async fn finished_does_not_debug_print_the_cookie_value() {
    let engine = engine_of(SessionOptions::new());
    let session = engine.begin(RequestFacts::new("/")).into_session().unwrap();
    session.insert("n", 1).await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    let cookie = finished.set_cookie().unwrap().to_owned();
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let printed = format!("{finished:?}");
    assert!(!printed.contains(value), "{printed}");
    assert!(printed.contains("connect.sid=[redacted]; Path=/"), "{printed}");
}

/// A change made after the end of the request (in a task the handler spawned) is not saved by the ended request,
/// as in express; an explicit `save()` writes it, as `req.session.save()` does after the response in express.
#[tokio::test]
async fn a_change_after_the_end_is_saved_only_by_an_explicit_save() {
    let engine = Engine::new(options()).expect("valid options");
    let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
    session.insert("n", 1).await.expect("inserted");
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    let cookie = finished.set_cookie().expect("a new session sends its cookie").split(';').next().unwrap().to_owned();
    let read = |engine: Engine, cookie: String| async move {
        let session = engine.begin(RequestFacts::new("/").cookie_headers([cookie.as_bytes()])).into_session().unwrap();
        session.get::<u32>("n").await.expect("read")
    };

    // Changed after the end: the ended request does not write it again.
    session.insert("n", 2).await.expect("inserted");
    assert!(engine.finish(&session, ResponseFacts::new()).await.set_cookie().is_none());
    assert_eq!(read(engine.clone(), cookie.clone()).await, Some(1));

    // An explicit save writes it.
    session.save().await.expect("saved");
    assert_eq!(read(engine.clone(), cookie.clone()).await, Some(2));
}
