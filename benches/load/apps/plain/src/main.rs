//! The ceiling: the same axum app and routes with no session layer (`/foo` answers as a first view would).
//!
//! `PORT`. One worker thread by default: the benchmark pins the server to one core; `WORKERS=2` gives the runtime
//! two worker threads (still on that one core) for the multi-thread rows.

use axum::Router;
use axum::extract::Request;
use axum::routing::get;

async fn count_view(request: Request) -> String {
    let _path = request.uri().path().to_owned();
    format!("you viewed this page {} times", 1)
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
    let app = Router::new()
        .route("/foo", get(count_view))
        .route("/bar", get(count_view))
        .route("/fill", get(count_view))
        .route("/static", get(ok));
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on 127.0.0.1:{port} (axum, no session layer)");
    axum::serve(listener, app).await?;
    Ok(())
}
