//! The middleware in real `HttpServer`s with several workers (each a single-threaded runtime), driven over TCP:
//! on MemoryStore and on the Redis store (`REDIS_URL`, default `redis://127.0.0.1:6379`, under a key prefix of
//! each test's own). Two servers ("instances") share one store, built once on the test's runtime and used from
//! every worker's: a view counter, counted in turn and then in parallel across both servers and all their
//! workers.
//!
//! The shared concurrency cases (64 parallel keys, 200 parallel updates, a logout during 20 slow requests, two
//! instances on one store) and the hostile cookies run over the conformance protocol against the actix-web
//! conformance server (several workers) on MemoryStore, Redis and PostgreSQL: `conformance/concurrency.js`,
//! which `conformance/run.sh` runs for every Rust server and store.

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
    config.route(
        "/count",
        web::get().to(|s: Session| async move {
            s.update("views", |n: Option<u64>| n.unwrap_or(0) + 1)
                .await
                .map(|n| n.to_string())
                .map_err(SessionError::from)
        }),
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

/// One session counted in turn on both servers (a cookie only for the new session), then by 40 requests in
/// parallel across both servers and all their workers: none is lost, the next count is 47.
async fn a_counter_across_servers_and_workers<S: Store + Clone>(store: S) {
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
    for reply in in_parallel(a, b, &cookie, vec!["/count".to_owned(); 40]).await {
        assert_eq!((reply.status, reply.set_cookie.as_deref()), (200, None), "{reply:?}");
    }
    let last = get(b, "/count", Some(&cookie)).await;
    assert_eq!((last.status, last.body.as_str()), (200, "47"), "a parallel count was lost");
    stop([ha, hb]).await;
}

#[actix_web::test]
async fn memory_a_counter_across_servers_and_workers() {
    a_counter_across_servers_and_workers(MemoryStore::new()).await;
}

#[actix_web::test]
async fn redis_a_counter_across_servers_and_workers() {
    if let Some(store) = redis_store("counter").await {
        a_counter_across_servers_and_workers(store).await;
    }
}
