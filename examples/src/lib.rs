//! The express-session README examples, ported, plus the start-up code they share (address, logging, graceful
//! shutdown). Each example's `main` only builds its app and serves it; the apps live here so that the tests in
//! `tests/` drive exactly what `cargo run --example ...` serves.

use std::net::SocketAddr;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::LOCATION;

pub mod login;
pub mod view_counter;

/// The address an example listens on: 127.0.0.1 and `$PORT` (default 3000).
pub fn address() -> SocketAddr {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// express's `res.redirect(url)`: a 302 with `Location`.
pub fn redirect(to: &'static str) -> Response {
    (StatusCode::FOUND, [(LOCATION, to)]).into_response()
}

/// Serves `app` on [`address`] until Ctrl-C (or SIGTERM), printing the URL first.
///
/// # Errors
///
/// When the address cannot be bound or the server fails.
pub async fn serve(app: axum::Router) -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let listener = tokio::net::TcpListener::bind(address()).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    println!("shutting down");
}
