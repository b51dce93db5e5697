//! The view-counter app on axum + tower-sessions (its MemoryStore, or tower-sessions-redis-store), written the
//! way tower-sessions' own counter example reads and writes a value: `get`, change, `insert`.
//!
//! `STORE=memory|redis`, `PORT`, `REDIS_URL`. One worker thread by default: the benchmark pins the server to one
//! core; `WORKERS=2` gives the runtime two worker threads (still on that one core) for the multi-thread and
//! hot-session rows.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::get;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

type Views = BTreeMap<String, u64>;

fn fail(error: tower_sessions::session::Error) -> StatusCode {
    eprintln!("session error: {error}");
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn count_view(session: Session, request: Request) -> Result<String, StatusCode> {
    let path = request.uri().path().to_owned();
    let mut views: Views = session.get("views").await.map_err(fail)?.unwrap_or_default();
    let n = {
        let n = views.entry(path).or_insert(0);
        *n += 1;
        *n
    };
    session.insert("views", &views).await.map_err(fail)?;
    Ok(format!("you viewed this page {n} times"))
}

async fn fill(session: Session, request: Request) -> Result<String, StatusCode> {
    session.insert("blob", "x".repeat(1024)).await.map_err(fail)?;
    count_view(session, request).await
}

async fn ok() -> &'static str {
    "ok"
}

fn routes() -> Router {
    Router::new()
        .route("/foo", get(count_view))
        .route("/bar", get(count_view))
        .route("/fill", get(fill))
        .route("/static", get(ok))
}

/// `WORKERS`, default 1.
fn workers() -> usize {
    std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()).filter(|&w| w > 0).unwrap_or(1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).enable_all().build()?;
    runtime.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let store = std::env::var("STORE").unwrap_or_else(|_| "memory".into());
    // Secure(false) so that the cookie works over plain HTTP, as express's default; everything else default.
    let app = match store.as_str() {
        "memory" => routes().layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false)),
        "redis" => {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
            // One connection, as the other Redis clients here (redis-rs' ConnectionManager multiplexes one).
            let pool = Pool::new(Config::from_url(&url)?, None, None, None, 1)?;
            let _task = pool.connect();
            pool.wait_for_connect().await?;
            routes().layer(SessionManagerLayer::new(RedisStore::new(pool)).with_secure(false))
        }
        other => return Err(format!("unknown STORE {other}").into()),
    };
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on 127.0.0.1:{port} (tower-sessions, {store})");
    axum::serve(listener, app).await?;
    Ok(())
}
