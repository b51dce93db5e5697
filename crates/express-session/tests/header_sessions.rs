//! Sessions in a header (`SessionOptions::header`), for clients without a cookie jar: the same signed value as
//! the cookie, sent back in a response header of the same name when the session is new or its id changes, with
//! every rule of the cookie (signing, rotation, strict format, fixation, destroy), and off by default.

mod common;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{get, post};
use common::options;
use express_session::{ConfigError, MemoryStore, Session, SessionError, SessionManagerLayer, SessionOptions};
use http::Request;
use http::header::{COOKIE, SET_COOKIE};
use tower::ServiceExt;

const HEADER: &str = "x-session";

fn routes() -> Router {
    Router::new()
        .route(
            "/login",
            post(|s: Session| async move {
                s.regenerate().await?;
                s.insert("user", "alice").await?;
                Ok::<_, SessionError>("in")
            }),
        )
        .route("/me", get(|s: Session| async move { Ok::<_, SessionError>(s.get::<String>("user").await?.unwrap_or_default()) }))
        .route("/n", get(|s: Session| async move { s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(|n| n.to_string()) }))
        .route("/cycle", post(|s: Session| async move { s.cycle_id().await.map(|()| "cycled") }))
        .route("/logout", post(|s: Session| async move { s.destroy().await.map(|()| "out") }))
}

struct App(Router);

struct Answer {
    body: String,
    header: Option<String>,
    set_cookie: Option<String>,
}

impl App {
    fn new(options: SessionOptions) -> Self {
        Self(routes().layer(SessionManagerLayer::new(options.store(MemoryStore::new())).unwrap()))
    }

    async fn send(&self, method: &str, path: &str, header: Option<&str>, cookie: Option<&str>) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(value) = header {
            request = request.header("X-Session", value);
        }
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let response: Response = self.0.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let header = response.headers().get(HEADER).map(|v| v.to_str().unwrap().to_owned());
        let set_cookie = response.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        Answer { body: String::from_utf8(body.to_vec()).unwrap(), header, set_cookie }
    }
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

#[tokio::test]
async fn a_client_without_cookies_logs_in_and_is_known_by_its_header() {
    let app = App::new(options().header("X-Session"));
    let login = app.send("POST", "/login", None, None).await;
    let header = login.header.expect("the new session's header");
    assert!(header.starts_with("s%3A"), "the cookie's value: {header}");
    assert_eq!(cookie_value(login.set_cookie.as_deref().expect("the cookie too")), header);

    let me = app.send("GET", "/me", Some(&header), None).await;
    assert_eq!(me.body, "alice");
    assert_eq!(me.header, None, "an unchanged id is not sent again");
    // The decoded form (`s:` unescaped) is read too.
    let decoded = header.replace("%3A", ":");
    assert_eq!(app.send("GET", "/me", Some(&decoded), None).await.body, "alice");
    // Without it, or tampered: no session.
    assert_eq!(app.send("GET", "/me", None, None).await.body, "");
    let last = if header.ends_with('x') { 'y' } else { 'x' };
    let tampered = format!("{}{last}", &header[..header.len() - 1]);
    let answer = app.send("GET", "/me", Some(&tampered), None).await;
    assert_eq!(answer.body, "");
    assert_eq!(answer.header, None, "an untouched new session is not saved (saveUninitialized false)");
}

#[tokio::test]
async fn a_new_or_changed_id_is_answered_in_the_header_and_the_old_one_ends() {
    let app = App::new(options().header("X-Session"));
    let first = app.send("POST", "/login", None, None).await.header.unwrap();
    assert_eq!(app.send("GET", "/n", Some(&first), None).await.body, "1");
    let cycled = app.send("POST", "/cycle", Some(&first), None).await.header.expect("a new id is sent");
    assert_ne!(cycled, first);
    assert_eq!(app.send("GET", "/me", Some(&cycled), None).await.body, "alice");
    assert_eq!(app.send("GET", "/me", Some(&first), None).await.body, "", "the old id is gone");
    // Fixation: a login regenerates, whatever id the client brought.
    let relogged = app.send("POST", "/login", Some(&cycled), None).await.header.expect("a new id");
    assert_ne!(relogged, cycled);
    assert_eq!(app.send("GET", "/me", Some(&cycled), None).await.body, "");
    let out = app.send("POST", "/logout", Some(&relogged), None).await;
    assert_eq!(out.header, None, "a destroyed session gets no header");
    assert_eq!(app.send("GET", "/me", Some(&relogged), None).await.body, "");
}

#[tokio::test]
async fn a_valid_cookie_wins_over_the_header() {
    let app = App::new(options().header("X-Session"));
    let alice = app.send("POST", "/login", None, None).await;
    let cookie = alice.set_cookie.unwrap().split(';').next().unwrap().to_owned();
    let other = app.send("GET", "/n", None, None).await.header.expect("another session");
    assert_eq!(app.send("GET", "/me", Some(&other), Some(&cookie)).await.body, "alice");
    // A cookie that does not verify does not hide a valid header.
    let me = app.send("GET", "/me", Some(&alice.header.unwrap()), Some("connect.sid=s%3Aforged.mac")).await;
    assert_eq!(me.body, "alice");
}

#[tokio::test]
async fn the_header_follows_secret_rotation() {
    let store = MemoryStore::new();
    let layer = |options: SessionOptions| {
        App(routes().layer(SessionManagerLayer::new(options.header("X-Session").store(store.clone())).unwrap()))
    };
    let old = layer(options());
    let header = old.send("POST", "/login", None, None).await.header.unwrap();
    // The new secret signs, the old one still verifies: the header signed with "keyboard cat" is read.
    let secrets = ["a new secret that is long enough for the checks", "keyboard cat"];
    let rotated = layer(SessionOptions::new().secrets(secrets).allow_short_secret(true));
    assert_eq!(rotated.send("GET", "/me", Some(&header), None).await.body, "alice");
    let only_new = layer(SessionOptions::new().secret(secrets[0]));
    assert_eq!(only_new.send("GET", "/me", Some(&header), None).await.body, "", "a retired secret");
}

#[tokio::test]
async fn hostile_headers_are_no_session_never_an_error() {
    let app = App::new(options().header("X-Session"));
    let valid = app.send("POST", "/login", None, None).await.header.unwrap();
    let long = "s%3A".to_owned() + &"A".repeat(10_000);
    let hostile = [
        "",
        "   ",
        "s%3A",
        "s:",
        "s%3A.",
        "%",
        "%ZZ",
        "s%3A%FF%FE.mac",
        "undefined",
        "s%3Anot-an-id.bad",
        long.as_str(),
        &valid[4..],                // unsigned prefix missing
        &valid[..valid.len() - 10], // truncated MAC
    ];
    for value in hostile {
        let answer = app.send("GET", "/n", Some(value), None).await;
        assert_eq!(answer.body, "1", "{value:?} gave a session");
        assert!(answer.header.is_some_and(|h| h != valid), "a fresh session for {value:?}");
    }
    assert_eq!(app.send("GET", "/me", Some(&valid), None).await.body, "alice", "the victim's session is intact");
}

#[tokio::test]
async fn off_by_default_the_header_is_neither_read_nor_sent() {
    let with = App::new(options().header("X-Session"));
    let header = with.send("POST", "/login", None, None).await.header.unwrap();
    let without = App::new(options());
    let login = without.send("POST", "/login", None, None).await;
    assert_eq!(login.header, None);
    assert!(login.set_cookie.is_some());
    assert_eq!(without.send("GET", "/me", Some(&header), None).await.body, "");
}

#[test]
fn header_names_that_http_uses_are_refused_when_the_layer_is_built() {
    for name in [
        "Cookie",
        "set-cookie",
        "Authorization",
        "x session",
        "",
        "x-séssion",
        "Location",
        "content-type",
        "Cache-Control",
        "Connection",
        "Transfer-Encoding",
        "Proxy-Authorization",
        "proxy-session",
        "X-Forwarded-For",
        "Access-Control-Allow-Origin",
    ] {
        let error = SessionManagerLayer::new(options().header(name)).unwrap_err();
        assert!(matches!(error, ConfigError::InvalidHeader { .. }), "{name:?}: {error}");
        assert!(error.to_string().contains("X-Session"), "the message says what to use: {error}");
    }
    for name in ["X-Session", "x-session-id", "Session", "X-Auth-Session"] {
        assert!(SessionManagerLayer::new(options().header(name)).is_ok(), "{name:?} is a fine session header");
    }
}
