//! Issue 13's defects in the layer and the session handle, each reproduced through the HTTP layer (an axum router
//! driven with `oneshot`) on MemoryStore with a manual clock. The same scenarios on every store, in real time,
//! are in the shared store suite (`express_session::testing`).

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{
    CookieOptions, MemoryStore, Record, Secure, Session, SessionError, SessionId, SessionManagerLayer, Store,
    TlsConnection, Unset,
};
use http::Request;
use http::header::SET_COOKIE;
use serde_json::json;
use tower::ServiceExt;

async fn set_user(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "bob").await?;
    Ok("ok")
}

async fn read_user(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("user").await?.unwrap_or_else(|| "anonymous".into()))
}

fn routes() -> Router {
    Router::new().route("/set", get(set_user)).route("/read", get(read_user))
}

fn max_age(d: Duration) -> CookieOptions {
    CookieOptions::new().max_age(d)
}

/// The `name=value` cookie for `id`, signed with the test secret ("keyboard cat").
fn cookie_for(id: &SessionId) -> String {
    let signed = express_session::wire::sign(id.as_str(), b"keyboard cat");
    format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")))
}

// ----- defect 1: an explicit save() stores the live expiry -----

/// maxAge 60 s; log in; three read-only requests 40 s apart; then a handler inserts a key and calls `save()`.
/// The record it writes expires 60 s from that save (express's touch at write time), not at the loaded expiry,
/// and the session lives on.
#[tokio::test]
async fn an_explicit_save_after_touches_stores_the_live_expiry() {
    let t = TestApp::new(options().cookie(max_age(Duration::from_secs(60))), routes());
    // The record as the explicit save left it, read inside the handler (the end of the request touches again).
    let (store, clock) = (t.store.clone(), t.clock.clone());
    let save = move |session: Session| {
        let (store, clock) = (store.clone(), clock.clone());
        async move {
            session.insert("k", true).await?;
            session.save().await?;
            let id = session.id().await?.expect("an id");
            let stored = store.get(&id).await.expect("get").expect("the session survived the explicit save");
            assert_eq!(stored.record.data()["k"], true);
            let expires = stored.record.expires().expect("an expiry");
            Ok::<_, SessionError>(if expires == clock.now().add_millis(60_000) {
                "live".to_owned()
            } else {
                format!("{expires:?}")
            })
        }
    };
    let t = TestApp {
        app: routes().route("/save", get(save)).layer(
            SessionManagerLayer::new(
                options().cookie(max_age(Duration::from_secs(60))).store(t.store.clone()).clock(t.clock.clone()),
            )
            .unwrap(),
        ),
        ..t
    };
    let login = t.get("/set", None).await;
    let id = SessionId::new(login.cookie_id()).unwrap();
    for _ in 0..3 {
        t.clock.advance(Duration::from_secs(40));
        assert_eq!(t.get("/read", Some(&login.cookie())).await.body, "bob");
    }
    t.clock.advance(Duration::from_secs(10));
    assert_eq!(t.get("/save", Some(&login.cookie())).await.body, "live", "save() stores now + maxAge");
    assert!(t.store.get(&id).await.unwrap().is_some());
    t.clock.advance(Duration::from_secs(59));
    assert_eq!(t.get("/read", Some(&login.cookie())).await.body, "bob");
}

// ----- defect 3: the absolute timeout ends sessions without a creation stamp -----

/// A record the Node app wrote (no creation stamp), a 60 s absolute timeout, a 60 s maxAge, read by read-only
/// requests every 59 s through two layers (two server instances) on one store: it ends at the first read 60 s
/// or more after it was first seen.
#[tokio::test]
async fn the_absolute_timeout_ends_a_session_read_every_59_seconds() {
    let session_options =
        || options().cookie(max_age(Duration::from_secs(60))).absolute_timeout(Duration::from_secs(60));
    let a = TestApp::new(session_options(), routes());
    let layer = SessionManagerLayer::new(session_options().store(a.store.clone()).clock(a.clock.clone())).unwrap();
    let b = TestApp { app: routes().layer(layer), store: a.store.clone(), clock: a.clock.clone() };
    let id = SessionId::generate();
    let mut cookie = express_session::SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(60)), a.clock.now());
    let data = json!({"user": "node"}).as_object().unwrap().clone();
    a.store.create(&id, &Record::from_parts(cookie, data)).await.unwrap();
    let cookie = cookie_for(&id);
    assert_eq!(a.get("/read", Some(&cookie)).await.body, "node", "first seen");
    a.clock.advance(Duration::from_secs(59));
    assert_eq!(b.get("/read", Some(&cookie)).await.body, "node", "59 s after it was first seen");
    a.clock.advance(Duration::from_secs(59));
    assert_eq!(a.get("/read", Some(&cookie)).await.body, "anonymous", "118 s after it was first seen");
    assert!(a.store.get(&id).await.unwrap().is_none(), "the timed-out session is destroyed");
}

// ----- defect 4: only what the server established makes a request secure -----

/// `GET https://example.com/set HTTP/1.1` over plain TCP: the client chose the scheme, so it is not TLS. A
/// `Secure` cookie is held back; `Secure::Auto` and `SameSite` auto resolve as for plain HTTP. The server's
/// `TlsConnection` extension makes it secure, whatever `proxy` says.
#[tokio::test]
async fn a_client_chosen_https_uri_is_not_tls() {
    fn absolute(uri: &str) -> Request<Body> {
        Request::builder().uri(uri).body(Body::empty()).unwrap()
    }
    let always =
        TestApp::new(options().proxy(Some(false)).cookie(CookieOptions::new().secure(Secure::Always)), routes());
    let r = always.request(absolute("https://example.com/set")).await;
    assert_eq!(r.set_cookie, None, "a Secure cookie sent over plain HTTP");
    let mut tls = absolute("https://example.com/set");
    tls.extensions_mut().insert(TlsConnection);
    assert!(always.request(tls).await.set_cookie.unwrap().contains("; Secure"));
    let mut tls = absolute("/set");
    tls.extensions_mut().insert(TlsConnection);
    assert!(always.request(tls).await.set_cookie.unwrap().contains("; Secure"), "an origin-form request over TLS");

    for proxy in [None, Some(true)] {
        let auto = TestApp::new(
            options().proxy(proxy).cookie(CookieOptions::new().secure(Secure::Auto).same_site_auto()),
            routes(),
        );
        let cookie = auto.request(absolute("https://example.com/set")).await.set_cookie.unwrap();
        assert!(!cookie.contains("Secure"), "{proxy:?}: {cookie}");
        assert!(cookie.ends_with("SameSite=Lax"), "{proxy:?}: {cookie}");
        let mut tls = absolute("/set");
        tls.extensions_mut().insert(TlsConnection);
        let cookie = auto.request(tls).await.set_cookie.unwrap();
        assert!(cookie.ends_with("; Secure; SameSite=None"), "{proxy:?}: {cookie}");
    }
    // The server's own `req.secure` still counts with `proxy` unset.
    let auto = TestApp::new(options().cookie(CookieOptions::new().secure(Secure::Auto)), routes());
    let mut request = absolute("/set");
    request.extensions_mut().insert(express_session::layer::IsSecure(true));
    assert!(auto.request(request).await.set_cookie.unwrap().contains("; Secure"));
}

/// The same attack over a real TCP connection to hyper (axum::serve): hyper puts the absolute-form target's
/// `https` scheme into the request URI, and the layer must not take it for TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_https_request_over_plain_tcp_gets_no_secure_cookie() {
    use std::io::{Read as _, Write as _};
    let layer =
        SessionManagerLayer::new(options().proxy(Some(false)).cookie(CookieOptions::new().secure(Secure::Always)))
            .unwrap();
    let app = routes()
        .route("/scheme", get(|request: Request<Body>| async move { format!("{:?}", request.uri().scheme_str()) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app.layer(layer)).into_future());
    let exchange = |target: &'static str| {
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            write!(stream, "GET {target} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n").unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
    };
    let scheme = exchange("https://example.com/scheme").await.unwrap();
    assert!(scheme.ends_with("Some(\"https\")"), "hyper keeps the client's scheme: {scheme}");
    let response = exchange("https://example.com/set").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(!response.to_ascii_lowercase().contains("set-cookie"), "a Secure cookie over plain TCP: {response}");
    server.abort();
}

// ----- defect 5: a second session layer on the same request does nothing -----

/// Two session layers on one router (each with its own store): the outer one gives the request its session;
/// the inner one passes the request through untouched, as express skips a second session middleware when
/// `req.session` exists. One `Set-Cookie`, one stored session.
#[tokio::test]
async fn a_second_session_layer_passes_the_request_through() {
    let outer_store = MemoryStore::new();
    let inner_store = MemoryStore::new();
    let outer = SessionManagerLayer::new(options().save_uninitialized(true).store(outer_store.clone())).unwrap();
    let inner = SessionManagerLayer::new(options().save_uninitialized(true).store(inner_store.clone())).unwrap();
    let app = routes().layer(inner).layer(outer);
    let response = app.clone().oneshot(Request::builder().uri("/set").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookies: Vec<_> = response.headers().get_all(SET_COOKIE).iter().collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(outer_store.len().await.unwrap(), 1);
    assert_eq!(inner_store.len().await.unwrap(), 0, "the inner layer ran too");
    // The returning client reads the outer layer's session.
    let cookie = cookies[0].to_str().unwrap().split(';').next().unwrap().to_owned();
    let request = Request::builder().uri("/read").header("cookie", cookie).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.headers().get_all(SET_COOKIE).iter().count(), 0);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    assert_eq!(&body[..], b"bob");
    assert_eq!(inner_store.len().await.unwrap(), 0);
}

// ----- defect 7: the cookie-path gate sees the original URI under `nest` -----

/// A layer with `path("/api")` inside a router nested at `/api`: express checks `originalUrl`, so `/api/set` is
/// under the cookie path although the nested router sees `/set`.
#[tokio::test]
async fn the_cookie_path_gate_reads_the_original_uri_under_nest() {
    let layer = SessionManagerLayer::new(options().cookie(CookieOptions::new().path("/api"))).unwrap();
    let app = Router::new().nest("/api", routes().layer(layer)).route(
        "/set",
        get(|session: Option<Session>| async move { if session.is_some() { "session" } else { "none" } }),
    );
    let response = app.clone().oneshot(Request::builder().uri("/api/set").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers().get(SET_COOKIE).expect("a session cookie").to_str().unwrap().to_owned();
    assert!(cookie.contains("; Path=/api;"), "{cookie}");
    let id = cookie.split(';').next().unwrap().to_owned();
    let request = Request::builder().uri("/api/read").header("cookie", id).body(Body::empty()).unwrap();
    let body = axum::body::to_bytes(app.clone().oneshot(request).await.unwrap().into_body(), 1 << 16).await.unwrap();
    assert_eq!(&body[..], b"bob");
    let outside = app.oneshot(Request::builder().uri("/set").body(Body::empty()).unwrap()).await.unwrap();
    let body = axum::body::to_bytes(outside.into_body(), 1 << 16).await.unwrap();
    assert_eq!(&body[..], b"none", "a route outside the nest has no layer");
}

/// A layer nested deeper than its cookie path allows still gates on the original URI: `path("/api/v2")` in a
/// router nested at `/api` serves `/api/v2...` and passes `/api/v1...` through without a session.
#[tokio::test]
async fn the_original_uri_gate_also_refuses_paths_outside_the_cookie_path() {
    let layer = SessionManagerLayer::new(options().cookie(CookieOptions::new().path("/api/v2"))).unwrap();
    let inner = Router::new()
        .route(
            "/{version}/probe",
            get(|session: Option<Session>| async move { if session.is_some() { "session" } else { "none" } }),
        )
        .layer(layer);
    let app = Router::new().nest("/api", inner);
    for (path, expected) in [("/api/v2/probe", "session"), ("/api/v1/probe", "none")] {
        let response = app.clone().oneshot(Request::builder().uri(path).body(Body::empty()).unwrap()).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], expected.as_bytes(), "{path}");
    }
}

// ----- Session::id() after destroy -----

/// express keeps `req.sessionID` after `destroy()`: `id()` returns the id the session had, for a loaded
/// session and for a new one (whose id is generated then), and after `unset()`.
#[tokio::test]
async fn the_id_stays_readable_after_destroy_and_unset() {
    async fn destroy(session: Session) -> Result<String, SessionError> {
        session.destroy().await?;
        Ok(session.id().await?.map(|id| id.as_str().to_owned()).unwrap_or_else(|| "none".into()))
    }
    async fn destroy_after_id(session: Session) -> Result<String, SessionError> {
        let before = session.id().await?;
        session.destroy().await?;
        assert_eq!(session.id().await?, before);
        Ok(before.map(|id| id.as_str().to_owned()).unwrap_or_default())
    }
    async fn unset(session: Session) -> Result<String, SessionError> {
        session.unset().await?;
        Ok(session.id().await?.map(|id| id.as_str().to_owned()).unwrap_or_else(|| "none".into()))
    }
    let routes = routes().route("/destroy", get(destroy)).route("/destroy-after-id", get(destroy_after_id));
    let t = TestApp::new(options(), routes.route("/unset", get(unset)));
    let login = t.get("/set", None).await;
    assert_eq!(t.get("/destroy", Some(&login.cookie())).await.body, login.cookie_id(), "a loaded session");
    assert_eq!(t.len().await, 0);
    let fresh = t.get("/destroy", None).await;
    assert_eq!(fresh.body.len(), 32, "a new session's generated id: {:?}", fresh.body);
    assert_eq!(fresh.set_cookie, None);
    assert_eq!(t.len().await, 0, "nothing is stored for a destroyed new session");
    let login = t.get("/set", None).await;
    assert_eq!(t.get("/destroy-after-id", Some(&login.cookie())).await.body, login.cookie_id());
    let login = t.get("/set", None).await;
    assert_eq!(t.get("/unset", Some(&login.cookie())).await.body, login.cookie_id(), "after unset");
    assert_eq!(t.get("/unset", None).await.body.len(), 32, "after unset of a new session");

    // unset: 'destroy' on a new session destroys nothing (nothing was stored) and still keeps the id.
    let (t, counting) = TestApp::counting(options().unset(Unset::Destroy), Router::new().route("/unset", get(unset)));
    assert_eq!(t.get("/unset", None).await.body.len(), 32);
    assert_eq!(counting.take(), Vec::<&str>::new(), "no store call for a session that was never stored");
}
