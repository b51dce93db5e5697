//! Sessions for API clients without a cookie jar (a mobile app, a script): the session travels in the
//! `X-Session` header ([`SessionOptions::header`]), with the cookie's signing and rules.
//!
//! - `POST /login` with `{"user": NAME}` logs in (a new session id, against fixation) and answers the session in
//!   the `X-Session` response header;
//! - `GET /me` with that header answers `{"user": NAME}`, and `{"user": null}` without it or with a tampered one;
//! - `POST /logout` ends the session.
//!
//! ```text
//! $ curl -si -X POST localhost:3000/login -H 'content-type: application/json' -d '{"user":"alice"}' | grep -i x-session
//! x-session: s%3A...
//! $ curl -s localhost:3000/me -H 'X-Session: s%3A...'
//! {"user":"alice"}
//! ```

use axum::routing::{get, post};
use axum::{Json, Router};
use express_session::{ConfigError, Session, SessionError, SessionManagerLayer, SessionOptions};
use serde::{Deserialize, Serialize};

/// The body of `POST /login`, and the answer of `GET /me`.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct User {
    /// The user's name; `null` when not logged in.
    pub user: Option<String>,
}

async fn login(session: Session, Json(body): Json<User>) -> Result<Json<User>, SessionError> {
    // Authentication would go here.
    session.regenerate().await?;
    session.insert("user", &body.user).await?;
    Ok(Json(body))
}

async fn me(session: Session) -> Result<Json<User>, SessionError> {
    Ok(Json(User { user: session.get::<Option<String>>("user").await?.flatten() }))
}

async fn logout(session: Session) -> Result<Json<User>, SessionError> {
    session.destroy().await?;
    Ok(Json(User { user: None }))
}

/// The example's options: express's login example's, with the session also in the `X-Session` header. The secret
/// comes from `SESSION_SECRET`, else a fixed one for the demo.
pub fn options() -> SessionOptions {
    let secret = std::env::var("SESSION_SECRET")
        .unwrap_or_else(|_| "an example secret: set SESSION_SECRET to at least 32 random bytes".into());
    SessionOptions::new().secret(secret).header("X-Session")
}

/// The app: `POST /login`, `GET /me`, `POST /logout` behind the session layer.
///
/// # Errors
///
/// A [`ConfigError`] for invalid options.
pub fn app(options: SessionOptions) -> Result<Router, ConfigError> {
    Ok(Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .layer(SessionManagerLayer::new(options)?))
}
