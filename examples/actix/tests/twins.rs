//! Each actix example behaves exactly like its axum twin: both are served on 127.0.0.1 and driven over TCP by
//! the same requests; their replies (status, body, the headers a browser acts on, the cookie's name and
//! attributes) are compared, and the flows checked as the axum examples' own tests check them. The Redis twins
//! (`actix-redis-login`, `redis-login`) need Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`): without it
//! their test skips loudly, or fails with `REQUIRE_SERVICES=1`.

use std::net::SocketAddr;
use std::time::Duration;

use express_session::{SessionId, Store};
use express_session_actix::SessionMiddleware;
use express_session_examples::Limits;
use express_session_examples_actix as actix_examples;
use express_session_redis::RedisStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The headers compared (`date` and `connection` are the servers' own).
const COMPARED: [&str; 6] = ["content-type", "content-length", "location", "cache-control", "vary", "allow"];

/// A reply as a browser sees it, with the session id taken out of the cookie (each server makes its own).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    /// The `Set-Cookie`, its value replaced by `<id>` (`connect.sid=<id>; Path=/; HttpOnly`).
    set_cookie: Option<String>,
    body: String,
    /// The `name=value` pair of the `Set-Cookie`, for the next requests (not compared).
    cookie: Option<String>,
}

impl Reply {
    /// What must be the same: everything, for the examples' own pages. For the frameworks' own rejections (a
    /// method not allowed, an unknown path, a form without its content type) the status and the cookie: their
    /// wording is each framework's.
    fn compared(&self) -> (u16, &[(String, String)], Option<&str>, &str) {
        if self.status >= 400 {
            return (self.status, &[], self.set_cookie.as_deref(), "");
        }
        (self.status, &self.headers, self.set_cookie.as_deref(), &self.body)
    }
}

async fn send(address: SocketAddr, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    let body = form.unwrap_or_default();
    if form.is_some() {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header");
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let mut headers = Vec::new();
    let mut set_cookie = None;
    let mut cookie = None;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let (name, value) = (name.to_ascii_lowercase(), value.trim().to_owned());
        if name == "set-cookie" {
            let (pair, attributes) = value.split_once(';').unwrap_or((&value, ""));
            let cookie_name = pair.split('=').next().unwrap_or_default();
            set_cookie = Some(format!("{cookie_name}=<id>;{attributes}"));
            cookie = Some(pair.to_owned());
        } else if COMPARED.contains(&name.as_str()) {
            // `Allow: GET, HEAD` (actix-web) and `GET,HEAD` (axum) are one list.
            let value = if name == "allow" { value.replace(' ', "") } else { value };
            headers.push((name, value));
        }
    }
    headers.sort();
    Reply { status, headers, set_cookie, body: body.to_owned(), cookie }
}

/// The actix example's server on an ephemeral port.
fn serve_actix(sessions: SessionMiddleware, routes: fn(&mut actix_web::web::ServiceConfig)) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = actix_examples::server(sessions, routes, listener).expect("serve");
    actix_web::rt::spawn(server);
    address
}

/// The axum example's server on an ephemeral port, served as `cargo run --example` serves it.
async fn serve_axum(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    actix_web::rt::spawn(express_session_examples::serve_with(
        listener,
        app,
        Limits::default(),
        std::future::pending(),
    ));
    address
}

/// The view counter's visit: the pages and cookies a browser gets.
async fn view_counter_visit(address: SocketAddr) -> Vec<Reply> {
    let mut replies = Vec::new();
    let first = send(address, "GET", "/foo", None, None).await;
    let cookie = first.cookie.clone().expect("a new session gets a cookie");
    replies.push(first);
    for (method, path) in
        [("GET", "/foo"), ("GET", "/bar"), ("GET", "/foo"), ("GET", "/nothing"), ("POST", "/foo"), ("HEAD", "/bar")]
    {
        replies.push(send(address, method, path, Some(&cookie), None).await);
    }
    replies
}

/// The login example's visit: form, login, greeting, logout, the old ids, and an escaped name.
async fn login_visit(address: SocketAddr) -> Vec<Reply> {
    let mut replies = Vec::new();
    let form = send(address, "GET", "/", None, None).await;
    let anonymous = form.cookie.clone().expect("saveUninitialized: the form visit gets a session");
    replies.push(form);
    let logged_in = send(address, "POST", "/login", Some(&anonymous), Some("user=alice&pass=x")).await;
    let alice = logged_in.cookie.clone().expect("a new cookie at login");
    assert_ne!(alice, anonymous, "login regenerates the session id");
    replies.push(logged_in);
    replies.push(send(address, "GET", "/", Some(&alice), None).await);
    replies.push(send(address, "GET", "/", Some(&anonymous), None).await);
    let logged_out = send(address, "GET", "/logout", Some(&alice), None).await;
    let after = logged_out.cookie.clone().expect("a new cookie at logout");
    assert_ne!(after, alice);
    replies.push(logged_out);
    replies.push(send(address, "GET", "/", Some(&after), None).await);
    replies.push(send(address, "GET", "/", Some(&alice), None).await);
    let mallory = send(address, "POST", "/login", None, Some("user=%3Cb%3Em%26m%3C%2Fb%3E&pass=x")).await;
    let mallory_cookie = mallory.cookie.clone().expect("a cookie");
    replies.push(mallory);
    replies.push(send(address, "GET", "/", Some(&mallory_cookie), None).await);
    replies.push(send(address, "GET", "/logout", None, None).await);
    for (method, path) in [("GET", "/login"), ("HEAD", "/"), ("POST", "/login"), ("DELETE", "/logout")] {
        replies.push(send(address, method, path, Some(&mallory_cookie), None).await);
    }
    replies
}

fn assert_twins(actix: &[Reply], axum: &[Reply]) {
    assert_eq!(actix.len(), axum.len());
    for (i, (actix, axum)) in actix.iter().zip(axum).enumerate() {
        assert_eq!(actix.compared(), axum.compared(), "reply {i} differs:\nactix {actix:#?}\naxum {axum:#?}");
        if actix.status == 405 {
            assert_eq!(actix.headers, axum.headers, "the same methods allowed");
        }
    }
}

#[actix_web::test]
async fn actix_view_counter_is_the_twin_of_view_counter() {
    let actix = serve_actix(
        SessionMiddleware::new(actix_examples::view_counter::options()).unwrap(),
        actix_examples::view_counter::routes,
    );
    let axum = serve_axum(
        express_session_examples::view_counter::app(express_session_examples::view_counter::options()).unwrap(),
    )
    .await;
    let (actix, axum) = (view_counter_visit(actix).await, view_counter_visit(axum).await);
    let bodies: Vec<&str> = actix.iter().take(4).map(|reply| reply.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "you viewed this page 1 times",
            "you viewed this page 2 times",
            "you viewed this page 1 times",
            "you viewed this page 3 times"
        ]
    );
    assert_eq!(actix[0].set_cookie.as_deref(), Some("connect.sid=<id>; Path=/; HttpOnly"));
    assert_eq!(actix[1].set_cookie, None, "no Set-Cookie on a returning visit");
    assert_twins(&actix, &axum);
}

#[actix_web::test]
async fn actix_login_is_the_twin_of_login() {
    let actix =
        serve_actix(SessionMiddleware::new(actix_examples::login::options()).unwrap(), actix_examples::login::routes);
    let axum =
        serve_axum(express_session_examples::login::app(express_session_examples::login::options()).unwrap()).await;
    let (actix, axum) = (login_visit(actix).await, login_visit(axum).await);
    assert!(actix[0].body.contains("<form action=\"/login\" method=\"post\">"));
    assert_eq!(
        (actix[1].status, actix[1].headers.iter().find(|(n, _)| n == "location").map(|(_, v)| v.as_str())),
        (302, Some("/"))
    );
    assert_eq!(actix[2].body, "hello, alice! <a href=\"/logout\">Logout</a>");
    assert!(actix[3].body.contains("<form"), "the old id is not logged in");
    assert!(actix[5].body.contains("<form") && actix[6].body.contains("<form"), "logged out");
    assert!(actix[5].body.starts_with("<p class=\"flash\">You are logged out.</p>"), "the logout's flash message");
    assert_eq!(actix[8].body, "hello, &lt;b&gt;m&amp;m&lt;/b&gt;! <a href=\"/logout\">Logout</a>");
    assert_twins(&actix, &axum);
}

/// The session id in a `connect.sid=s%3A<id>.<signature>` pair.
fn cookie_id(cookie: &str) -> SessionId {
    let value = cookie.strip_prefix("connect.sid=s%3A").expect("a signed connect.sid");
    SessionId::new(value.split('.').next().unwrap_or_default()).expect("a session id")
}

/// The Redis store of `actix-redis-login` and `redis-login`, under a key prefix of this run's own rather than
/// their `sess:` (the Redis may be shared); `None` (skipped loudly) without Redis, unless `REQUIRE_SERVICES=1`.
async fn redis_store() -> Option<RedisStore> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("es-examples-actix-test:{}:", SessionId::generate().as_str());
    RedisStore::builder()
        .prefix(prefix)
        .ttl(Duration::from_secs(600))
        .timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .map_or_else(|error| express_session::testing::unreachable(&format!("Redis at {url}"), error), Some)
}

/// `actix-redis-login` (actix's login routes and options on a `RedisStore`) against `redis-login` (axum's), both
/// on one Redis: each visit compares as on MemoryStore, and since they share the store and the secret, a login
/// on actix is a login on axum and a logout on axum a logout on actix, as in e2e/three.test.js.
#[actix_web::test]
async fn actix_redis_login_is_the_twin_of_redis_login_and_shares_its_logins() {
    let Some(store) = redis_store().await else { return };
    let actix = serve_actix(
        SessionMiddleware::new(actix_examples::login::options().store(store.clone())).unwrap(),
        actix_examples::login::routes,
    );
    let axum = serve_axum(
        express_session_examples::login::app(express_session_examples::login::options().store(store.clone())).unwrap(),
    )
    .await;
    let (actix_visit, axum_visit) = (login_visit(actix).await, login_visit(axum).await);
    assert_eq!(actix_visit[2].body, "hello, alice! <a href=\"/logout\">Logout</a>");
    assert_twins(&actix_visit, &axum_visit);

    let login = send(actix, "POST", "/login", None, Some("user=carol&pass=x")).await;
    let cookie = login.cookie.expect("a cookie at login");
    let id = cookie_id(&cookie);
    let record = store.get(&id).await.expect("read").expect("actix saved the login in Redis").record;
    assert_eq!(record.data()["user"], "carol");
    assert_eq!(send(axum, "GET", "/", Some(&cookie), None).await.body, "hello, carol! <a href=\"/logout\">Logout</a>");
    let logout = send(axum, "GET", "/logout", Some(&cookie), None).await;
    assert_ne!(logout.cookie.as_deref(), Some(cookie.as_str()), "axum regenerated the session");
    assert!(store.get(&id).await.expect("read").is_none(), "axum deleted the logged-in session");
    assert!(send(actix, "GET", "/", Some(&cookie), None).await.body.contains("<form"), "logged out on actix");
    store.clear().await.expect("delete this test's keys");
}
