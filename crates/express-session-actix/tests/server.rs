//! The middleware in real `HttpServer`s with several workers (each a single-threaded runtime), driven over TCP:
//! on MemoryStore and on the Redis store (`REDIS_URL`, default `redis://127.0.0.1:6379`, under a key prefix of
//! each test's own). Two servers ("instances") share one store; the requests of a case alternate between them
//! and run in parallel.
//!
//! The shared concurrency cases: parallel writes of different keys keep every key, parallel `update`s count
//! exactly, a logout during slow requests brings nothing back; and hostile cookies are a new session, never a
//! 500.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use express_session::{MemoryStore, SessionId, SessionOptions, Store};
use express_session_actix::{Session, SessionError, SessionMiddleware};
use express_session_redis::RedisStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/login",
            web::get().to(|s: Session| async move {
                s.insert("user", "alice").await.map(|()| "ok").map_err(SessionError::from)
            }),
        )
        .route(
            "/set/{key}",
            web::get().to(|s: Session, key: web::Path<String>| async move {
                s.insert(&key, true).await.map(|()| "ok").map_err(SessionError::from)
            }),
        )
        .route(
            "/incr",
            web::get().to(|s: Session| async move {
                s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
                    .await
                    .map(|n| n.to_string())
                    .map_err(SessionError::from)
            }),
        )
        .route(
            "/count",
            web::get().to(|s: Session| async move {
                s.update("views", |n: Option<u64>| n.unwrap_or(0) + 1)
                    .await
                    .map(|n| n.to_string())
                    .map_err(SessionError::from)
            }),
        )
        .route(
            "/slow/{key}",
            web::get().to(|s: Session, key: web::Path<String>| async move {
                s.get::<String>("user").await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.insert(&key, true).await?;
                Ok::<_, SessionError>("ok")
            }),
        )
        .route(
            "/logout",
            web::get().to(|s: Session| async move { s.destroy().await.map(|()| "ok").map_err(SessionError::from) }),
        );
}

/// A server with two workers on an ephemeral port of 127.0.0.1, on `store`.
fn start<S: Store + Clone>(store: &S) -> (SocketAddr, ServerHandle) {
    let options = SessionOptions::new().secret("keyboard cat").allow_short_secret(true).store(store.clone());
    let sessions = SessionMiddleware::new(options).expect("valid options");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = HttpServer::new(move || App::new().wrap(sessions.clone()).configure(routes))
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (address, handle)
}

/// A reply, as the raw HTTP/1.1 client read it.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    set_cookie: Option<String>,
    body: String,
}

impl Reply {
    /// The `name=value` pair of the `Set-Cookie`, for the next request's `Cookie`.
    fn cookie(&self) -> String {
        let set_cookie = self.set_cookie.as_deref().expect("a Set-Cookie");
        set_cookie.split(';').next().unwrap_or_default().to_owned()
    }

    /// The session id in the `Set-Cookie` (`s%3A<id>.<signature>`).
    fn cookie_id(&self) -> String {
        let value = self.cookie();
        let signed = value.split_once("=s%3A").expect("a signed cookie").1;
        signed.rsplit_once('.').expect("a signature").0.to_owned()
    }
}

/// `GET path` with an optional `Cookie` header, over a new connection (`Connection: close`).
async fn get(address: SocketAddr, path: &str, cookie: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header");
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let set_cookie = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.trim().to_owned());
    Reply { status, set_cookie, body: body.to_owned() }
}

/// `paths` in parallel, alternating between the servers `a` and `b`, all with `cookie`.
async fn in_parallel(a: SocketAddr, b: SocketAddr, cookie: &str, paths: Vec<String>) -> Vec<Reply> {
    let tasks: Vec<_> = paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let address = if i % 2 == 0 { a } else { b };
            let cookie = cookie.to_owned();
            actix_web::rt::spawn(async move { get(address, &path, Some(&cookie)).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("a request task"));
    }
    replies
}

/// A store on Redis under a key prefix of this case's own; `None` (the case skipped loudly) without Redis, unless
/// `REQUIRE_SERVICES=1`.
async fn redis_store(case: &str) -> Option<RedisStore> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("es-actix-test:{case}:{}:", SessionId::generate().as_str());
    RedisStore::builder()
        .prefix(prefix)
        .ttl(Duration::from_secs(600))
        .timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .map_or_else(|error| express_session::testing::unreachable(&format!("Redis at {url}"), error), Some)
}

async fn stop(handles: [ServerHandle; 2]) {
    for handle in handles {
        handle.stop(true).await;
    }
}

async fn new_session_and_counter<S: Store + Clone>(store: S) {
    let ((a, ha), (b, hb)) = (start(&store), start(&store));
    let first = get(a, "/count", None).await;
    assert_eq!((first.status, first.body.as_str()), (200, "1"));
    let cookie = first.cookie();
    assert!(first.set_cookie.as_deref().is_some_and(|c| c.contains("Path=/; HttpOnly")), "{first:?}");
    for n in 2..=6 {
        let server = if n % 2 == 0 { b } else { a };
        let reply = get(server, "/count", Some(&cookie)).await;
        assert_eq!((reply.status, reply.body), (200, n.to_string()));
        assert_eq!(reply.set_cookie, None, "no second cookie");
    }
    stop([ha, hb]).await;
}

async fn parallel_writes_to_different_keys_are_all_kept<S: Store + Clone>(store: S) {
    let ((a, ha), (b, hb)) = (start(&store), start(&store));
    let login = get(a, "/login", None).await;
    let paths = (0..64).map(|i| format!("/set/k{i}")).collect();
    for reply in in_parallel(a, b, &login.cookie(), paths).await {
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let id = SessionId::new(login.cookie_id()).expect("an id");
    let record = store.get(&id).await.expect("read").expect("the session").record;
    let missing: Vec<_> = (0..64).filter(|i| record.data().get(&format!("k{i}")).is_none()).collect();
    assert!(missing.is_empty(), "lost writes: {missing:?}");
    assert_eq!(record.data()["user"], "alice");
    stop([ha, hb]).await;
}

async fn parallel_updates_of_one_key_are_atomic<S: Store + Clone>(store: S) {
    let ((a, ha), (b, hb)) = (start(&store), start(&store));
    let login = get(a, "/login", None).await;
    let paths = (0..200).map(|_| "/incr".to_owned()).collect();
    for reply in in_parallel(a, b, &login.cookie(), paths).await {
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let id = SessionId::new(login.cookie_id()).expect("an id");
    assert_eq!(store.get(&id).await.expect("read").expect("the session").record.data()["n"], 200);
    stop([ha, hb]).await;
}

async fn a_destroyed_session_is_not_brought_back_by_slower_requests<S: Store + Clone>(store: S) {
    let ((a, ha), (b, hb)) = (start(&store), start(&store));
    let login = get(a, "/login", None).await;
    let cookie = login.cookie();
    let slow: Vec<_> = (0..20).map(|i| format!("/slow/s{i}")).collect();
    let slow_cookie = cookie.clone();
    let slow_requests = actix_web::rt::spawn(async move { in_parallel(a, b, &slow_cookie, slow).await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(get(b, "/logout", Some(&cookie)).await.status, 200);
    for reply in slow_requests.await.expect("the slow requests") {
        assert_eq!(reply.status, 200, "{reply:?}");
        // A request that read the session only after the logout starts a new one; never the destroyed id.
        if reply.set_cookie.is_some() {
            assert_ne!(reply.cookie_id(), login.cookie_id(), "a cookie for the destroyed session");
        }
    }
    let id = SessionId::new(login.cookie_id()).expect("an id");
    assert!(store.get(&id).await.expect("read").is_none(), "the destroyed session was recreated");
    let after = get(a, "/count", Some(&cookie)).await;
    assert_eq!((after.status, after.body.as_str()), (200, "1"), "the old cookie is a new session");
    stop([ha, hb]).await;
}

async fn hostile_cookies_are_a_new_session_never_a_500<S: Store + Clone>(store: S) {
    let ((a, ha), (b, hb)) = (start(&store), start(&store));
    let valid = get(a, "/count", None).await.cookie();
    let cases = common::hostile_cookies(&valid);
    for (i, cookie) in cases.iter().enumerate() {
        let reply = get(if i % 2 == 0 { a } else { b }, "/count", Some(cookie)).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, "1"), "{cookie}");
        assert!(reply.set_cookie.is_some(), "a new session: {cookie}");
    }
    stop([ha, hb]).await;
}

#[actix_web::test]
async fn memory_new_session_and_counter() {
    new_session_and_counter(MemoryStore::new()).await;
}

#[actix_web::test]
async fn memory_parallel_writes_to_different_keys_are_all_kept() {
    parallel_writes_to_different_keys_are_all_kept(MemoryStore::new()).await;
}

#[actix_web::test]
async fn memory_parallel_updates_of_one_key_are_atomic() {
    parallel_updates_of_one_key_are_atomic(MemoryStore::new()).await;
}

#[actix_web::test]
async fn memory_a_destroyed_session_is_not_brought_back_by_slower_requests() {
    a_destroyed_session_is_not_brought_back_by_slower_requests(MemoryStore::new()).await;
}

#[actix_web::test]
async fn memory_hostile_cookies_are_a_new_session_never_a_500() {
    hostile_cookies_are_a_new_session_never_a_500(MemoryStore::new()).await;
}

#[actix_web::test]
async fn redis_new_session_and_counter() {
    if let Some(store) = redis_store("counter").await {
        new_session_and_counter(store).await;
    }
}

#[actix_web::test]
async fn redis_parallel_writes_to_different_keys_are_all_kept() {
    if let Some(store) = redis_store("keys").await {
        parallel_writes_to_different_keys_are_all_kept(store).await;
    }
}

#[actix_web::test]
async fn redis_parallel_updates_of_one_key_are_atomic() {
    if let Some(store) = redis_store("updates").await {
        parallel_updates_of_one_key_are_atomic(store).await;
    }
}

#[actix_web::test]
async fn redis_a_destroyed_session_is_not_brought_back_by_slower_requests() {
    if let Some(store) = redis_store("logout").await {
        a_destroyed_session_is_not_brought_back_by_slower_requests(store).await;
    }
}

#[actix_web::test]
async fn redis_hostile_cookies_are_a_new_session_never_a_500() {
    if let Some(store) = redis_store("hostile").await {
        hostile_cookies_are_a_new_session_never_a_500(store).await;
    }
}
