//! The view-counter app (express-session's first README example) on our crate: `examples/src/view_counter.rs`,
//! plus the benchmark's `/static` (never touches the session) and `/fill` (stores 1 KiB once, then counts).
//!
//! `STORE=memory|redis`, `PORT`, `REDIS_URL`. One worker thread by default: the benchmark pins the server to one
//! core; `WORKERS=2` gives the runtime two worker threads (still on that one core) for the multi-thread and
//! hot-session rows.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use express_session::{Session, SessionError, SessionManagerLayer, SessionOptions};

type Views = BTreeMap<String, u64>;

/// `examples/src/view_counter.rs`'s handler, verbatim.
async fn count_view(session: Session, request: Request) -> Result<String, SessionError> {
    let path = request.uri().path().to_owned();
    let key = path.clone();
    // `update` is atomic per key: concurrent requests of one session never lose a view.
    let views = session
        .update("views", move |views: Option<Views>| {
            let mut views = views.unwrap_or_default();
            *views.entry(key.clone()).or_insert(0) += 1;
            views
        })
        .await?;
    Ok(format!("you viewed this page {} times", views.get(&path).copied().unwrap_or(0)))
}

/// S4's setup: the session gets a 1 KiB string, then the view is counted as on `/foo`.
async fn fill(session: Session, request: Request) -> Result<String, SessionError> {
    session.insert("blob", "x".repeat(1024)).await?;
    count_view(session, request).await
}

async fn ok() -> &'static str {
    "ok"
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
    // express's example options, as `view_counter::options()`.
    let options =
        SessionOptions::new().secret("keyboard cat").allow_short_secret(true).resave(false).save_uninitialized(true);
    let store = std::env::var("STORE").unwrap_or_else(|_| "memory".into());
    // OWNER_KEY=user: the store keeps an owner index (issue #16), which requests that name no owner must not pay for.
    let owner_key = std::env::var("OWNER_KEY").ok();
    let options = match (store.as_str(), owner_key) {
        ("memory", None) => options,
        ("memory", Some(key)) => options.store(express_session::MemoryStore::builder().owner_key(key).build()),
        #[cfg(feature = "redis")]
        ("redis", owner_key) => {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
            let builder = express_session_redis::RedisStore::builder();
            let builder = match owner_key {
                Some(key) => builder.owner_key(key),
                None => builder,
            };
            options.store(builder.connect(&url).await?)
        }
        (other, _) => return Err(format!("unknown STORE {other}").into()),
    };
    let app = Router::new()
        .route("/foo", get(count_view))
        .route("/bar", get(count_view))
        .route("/fill", get(fill))
        .route("/static", get(ok))
        .layer(SessionManagerLayer::new(options)?);
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on 127.0.0.1:{port} (ours, {store})");
    axum::serve(listener, app).await?;
    Ok(())
}
