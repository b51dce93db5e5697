//! The express-session README examples, ported, plus the start-up code they share (address, logging, connection
//! limits, graceful shutdown). Each example's `main` only builds its app and serves it; the apps live here so
//! that the tests in `tests/` drive exactly what `cargo run --example ...` serves.
//!
//! The login example on the Redis and PostgreSQL stores (`redis-login`, `postgres-login`) is in the package next
//! door, `examples/stores`, so that `view-counter` and `login` build without the store clients; so is the `main`
//! of the devices example (MemoryStore, or Redis), whose app is [`devices`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::LOCATION;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub mod api_client;
pub mod devices;
pub mod login;
pub mod pages;
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
/// let limits = Limits { header_read_timeout: Duration::from_secs(5), max_connections: 256, ..Limits::default() };
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
    /// How long a request may take once its header is in: reading its body and answering it. Then it is
    /// answered `408 Request Timeout` and the connection is closed, so that a client trickling a body (a
    /// form field a byte a second) cannot hold a connection for ever either. Default 30 s.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
            request_timeout: Duration::from_secs(30),
        }
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
    // Tokio's semaphore holds at most MAX_PERMITS (2^61 - 1) and panics beyond: that many is no limit anyway.
    let connections = Arc::new(Semaphore::new(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
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
        let connection = http.serve_connection(TokioIo::new(stream), within(limits.request_timeout, app.clone()));
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

/// `app` as a hyper service whose requests are answered `408 Request Timeout`, and their connection closed, when
/// reading their body and answering them takes longer than `timeout` (hyper's header timeout ends with the
/// header).
fn within(
    timeout: Duration,
    app: axum::Router,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let app = app.clone();
        async move {
            match tokio::time::timeout(timeout, tower::ServiceExt::oneshot(app, request)).await {
                Ok(answered) => answered,
                // The request is dropped with its body unread: hyper closes the connection after this answer.
                Err(_) => Ok((StatusCode::REQUEST_TIMEOUT, [(http::header::CONNECTION, "close")]).into_response()),
            }
        }
    })
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
