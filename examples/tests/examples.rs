//! The two examples behave like the express originals.

use axum::Router;
use axum::body::Body;
use express_session_examples::{login, view_counter};
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::{Request, StatusCode};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    cookie: Option<String>,
    location: Option<String>,
    body: String,
}

async fn send(app: &Router, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let body = match form {
        Some(form) => {
            request = request.header("content-type", "application/x-www-form-urlencoded");
            Body::from(form.to_owned())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let header = |name| response.headers().get(name).map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned());
    let cookie = header(SET_COOKIE).map(|c| c.split(';').next().unwrap().to_owned());
    let (status, location) = (response.status(), header(LOCATION));
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    Reply { status, cookie, location, body: String::from_utf8(body.to_vec()).unwrap() }
}

#[tokio::test]
async fn view_counter_counts_per_path_and_sets_the_cookie_once() {
    let app = view_counter::app(view_counter::options()).unwrap();
    let first = send(&app, "GET", "/foo", None, None).await;
    assert_eq!(first.body, "you viewed this page 1 times");
    let cookie = first.cookie.expect("a new session gets a cookie");
    assert!(cookie.starts_with("connect.sid=s%3A"));
    let second = send(&app, "GET", "/foo", Some(&cookie), None).await;
    assert_eq!(second.body, "you viewed this page 2 times");
    assert_eq!(second.cookie, None, "no Set-Cookie on a returning visit");
    let bar = send(&app, "GET", "/bar", Some(&cookie), None).await;
    assert_eq!(bar.body, "you viewed this page 1 times");
    assert_eq!(send(&app, "GET", "/foo", Some(&cookie), None).await.body, "you viewed this page 3 times");
}

#[tokio::test]
async fn login_regenerates_greets_escapes_and_logs_out() {
    let app = login::app(login::options()).unwrap();
    let form = send(&app, "GET", "/", None, None).await;
    assert!(form.body.contains("<form action=\"/login\" method=\"post\">"));
    let anonymous = form.cookie.expect("saveUninitialized: the form visit gets a session");

    let logged_in = send(&app, "POST", "/login", Some(&anonymous), Some("user=alice&pass=x")).await;
    assert_eq!(logged_in.status, StatusCode::FOUND);
    assert_eq!(logged_in.location.as_deref(), Some("/"));
    let alice = logged_in.cookie.expect("a new cookie at login");
    assert_ne!(alice, anonymous, "login regenerates the session id");
    assert_eq!(send(&app, "GET", "/", Some(&alice), None).await.body, "hello, alice! <a href=\"/logout\">Logout</a>");
    assert!(send(&app, "GET", "/", Some(&anonymous), None).await.body.contains("<form"), "the old id is not logged in");

    let logged_out = send(&app, "GET", "/logout", Some(&alice), None).await;
    assert_eq!(logged_out.status, StatusCode::FOUND);
    let after = logged_out.cookie.expect("a new cookie at logout");
    assert_ne!(after, alice);
    let form = send(&app, "GET", "/", Some(&after), None).await.body;
    assert!(form.starts_with("<p class=\"flash\">You are logged out.</p><form"), "the flash, once: {form}");
    let again = send(&app, "GET", "/", Some(&after), None).await.body;
    assert!(again.starts_with("<form"), "a flash message is shown once: {again}");
    let old = send(&app, "GET", "/", Some(&alice), None).await.body;
    assert!(old.starts_with("<form"), "the old id is logged out, and its session has no flash: {old}");

    let mallory = send(&app, "POST", "/login", None, Some("user=%3Cb%3Em%26m%3C%2Fb%3E&pass=x")).await;
    let page = send(&app, "GET", "/", Some(&mallory.cookie.unwrap()), None).await;
    assert_eq!(page.body, "hello, &lt;b&gt;m&amp;m&lt;/b&gt;! <a href=\"/logout\">Logout</a>");
}

/// `api-client`: the session in the `X-Session` header, for a client that keeps no cookies.
#[tokio::test]
async fn api_client_logs_in_by_header_and_refuses_a_tampered_one() {
    use express_session_examples::api_client;
    let app = api_client::app(api_client::options()).unwrap();
    let call = |method: &'static str, path: &'static str, header: Option<String>, body: Option<&'static str>| {
        let app = app.clone();
        async move {
            let mut request = Request::builder().method(method).uri(path);
            if let Some(header) = header {
                request = request.header("X-Session", header);
            }
            let body = match body {
                Some(json) => {
                    request = request.header("content-type", "application/json");
                    Body::from(json)
                }
                None => Body::empty(),
            };
            let response = app.oneshot(request.body(body).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let header = response.headers().get("x-session").map(|v| v.to_str().unwrap().to_owned());
            let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
            (header, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (header, body) = call("POST", "/login", None, Some(r#"{"user":"alice"}"#)).await;
    assert_eq!(body, r#"{"user":"alice"}"#);
    let header = header.expect("the login answers the session header");
    assert_eq!(call("GET", "/me", Some(header.clone()), None).await.1, r#"{"user":"alice"}"#);
    assert_eq!(call("GET", "/me", None, None).await.1, r#"{"user":null}"#);
    let last = if header.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{last}", &header[..header.len() - 1]);
    assert_eq!(call("GET", "/me", Some(tampered), None).await.1, r#"{"user":null}"#);
    assert_eq!(call("POST", "/logout", Some(header.clone()), None).await.1, r#"{"user":null}"#);
    assert_eq!(call("GET", "/me", Some(header), None).await.1, r#"{"user":null}"#, "logged out");
}
