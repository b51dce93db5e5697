//! The express-session README examples, ported, plus the start-up code they share (address, logging, connection
//! limits, graceful shutdown). Each example's `main` only builds its app and serves it; the apps live here so
//! that the tests in `tests/` drive exactly what `cargo run --example ...` serves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::LOCATION;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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

/// Serves `app` on [`address`] until Ctrl-C (or SIGTERM), printing the URL first, with the default [`Limits`].
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve(app: axum::Router) -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let listener = TcpListener::bind(address()).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve_with(listener, app, Limits::default(), shutdown()).await;
    Ok(())
}

/// What a client may hold of the server: without limits, clients that connect and send nothing (or a header
/// a byte a minute) each keep a socket open for ever, and a few hundred of them exhaust the process's file
/// descriptors, so that nobody else is answered.
///
/// ```
/// use express_session_examples::Limits;
/// use std::time::Duration;
///
/// let limits = Limits { header_read_timeout: Duration::from_secs(5), max_connections: 256 };
/// assert!(limits.max_connections < 1024, "below the usual limit of open files");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client has to send a request's whole header, counted from the moment the server waits for
    /// it: on a new connection, and between the requests of a kept-alive one. Then the connection is closed.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// The most connections open at once (default 512, half the usual limit of 1024 open files, leaving room
    /// for the store's connections). Further clients wait in the listen backlog until one closes, which the
    /// header timeout guarantees for idle ones.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_read_timeout: Duration::from_secs(10), max_connections: 512 }
    }
}

/// Serves `app` on `listener` (HTTP/1.1) within `limits` until `signal` completes, then stops accepting and
/// waits for the requests in flight, as `axum::serve(..).with_graceful_shutdown(signal)` does.
///
/// ```no_run
/// use express_session_examples::{Limits, serve_with, view_counter};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let app = view_counter::app(view_counter::options())?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// serve_with(listener, app, Limits::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await;
/// # Ok(())
/// # }
/// ```
pub async fn serve_with(listener: TcpListener, app: axum::Router, limits: Limits, signal: impl Future<Output = ()>) {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut signal = std::pin::pin!(signal);
    loop {
        // A slot first, then a connection: at the limit, new clients stay in the kernel's backlog and cost
        // this process no file descriptor.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut signal => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors after all (other files, the store's connections), or the client
                    // left: try again shortly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Among others, a client that did not send its header in time.
                tracing::debug!(%error, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
