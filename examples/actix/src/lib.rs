//! The express-session README examples on actix-web, twins of the axum ones (`examples/src`): the same routes,
//! pages and cookies. Each example's `main` builds the middleware and serves the routes; the routes live here so
//! that the tests in `tests/` drive exactly what `cargo run --example actix-...` serves.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::header::LOCATION;
use actix_web::{App, HttpResponse, HttpServer, web};
use express_session_actix::SessionMiddleware;

pub mod login;
pub mod view_counter;

/// The address an example listens on: 127.0.0.1 and `$PORT` (default 3000), as the axum examples.
pub fn address() -> SocketAddr {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// express's `res.redirect(url)`: a 302 with `Location`.
///
/// ```
/// let response = express_session_examples_actix::redirect("/");
/// assert_eq!(response.status(), 302);
/// ```
pub fn redirect(to: &'static str) -> HttpResponse {
    HttpResponse::Found().insert_header((LOCATION, to)).finish()
}

/// The server an example runs: `routes` behind `sessions` on `listener`, with the axum examples' limits (10 s
/// for a request's header, 512 connections; actix-web stops on Ctrl-C or SIGTERM, waiting for the requests in
/// flight).
///
/// # Errors
///
/// When the listener cannot be served.
///
/// ```no_run
/// use express_session_actix::SessionMiddleware;
/// use express_session_examples_actix::{server, view_counter};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let sessions = SessionMiddleware::new(view_counter::options())?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// server(sessions, view_counter::routes, listener)?.await?;
/// # Ok(())
/// # }
/// ```
pub fn server(
    sessions: SessionMiddleware,
    routes: fn(&mut web::ServiceConfig),
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(HttpServer::new(move || App::new().wrap(sessions.clone()).configure(routes))
        .client_request_timeout(Duration::from_secs(10))
        .max_connections(512)
        .listen(listener)?
        .run())
}

/// Serves `routes` behind `sessions` on [`address`] until Ctrl-C (or SIGTERM), printing the URL first.
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve(sessions: SessionMiddleware, routes: fn(&mut web::ServiceConfig)) -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let listener = std::net::TcpListener::bind(address())?;
    println!("listening on http://{}", listener.local_addr()?);
    server(sessions, routes, listener)?.await?;
    println!("shutting down");
    Ok(())
}
