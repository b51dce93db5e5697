//! express-session's second README example: log in and out, regenerating the session against fixation.

use axum::Form;
use axum::Router;
use axum::response::{Html, Response};
use axum::routing::{get, post};
use express_session::{ConfigError, Session, SessionError, SessionManagerLayer, SessionOptions};
use serde::Deserialize;

pub use crate::pages::escape_html;
use crate::pages::{LOGGED_OUT, greeting, login_form};

async fn home(session: Session) -> Result<Html<String>, SessionError> {
    // `user` is `null` after a logout; both mean "not logged in".
    match session.get::<Option<String>>("user").await?.flatten() {
        Some(user) => Ok(Html(greeting(&user))),
        // The messages flashed for this page ("You are logged out."), shown once.
        None => Ok(Html(login_form(&session.take_flash("info").await?))),
    }
}

/// The login form's fields.
#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

async fn login(session: Session, Form(form): Form<LoginForm>) -> Result<Response, SessionError> {
    // Authentication would go here. Regenerate the session to guard against session fixation.
    session.regenerate().await?;
    // Store user information in the session, typically a user id.
    session.insert("user", form.user).await?;
    // Save before redirecting, so the next request finds the session.
    session.save().await?;
    Ok(crate::redirect("/"))
}

async fn logout(session: Session) -> Result<Response, SessionError> {
    // Clear the user from the session and save it, so that a reuse of the old session id is not logged in.
    session.insert("user", None::<String>).await?;
    session.save().await?;
    // Regenerate the session, which is good practice to help guard against forms of session fixation.
    session.regenerate().await?;
    // A message for the next page, kept in the new session (connect-flash's `req.flash("info", ...)`).
    session.flash("info", LOGGED_OUT).await?;
    Ok(crate::redirect("/"))
}

/// The app: `GET /`, `POST /login`, `GET /logout` behind the session layer.
///
/// # Errors
///
/// The layer's validation of `options`.
pub fn app(options: SessionOptions) -> Result<Router, ConfigError> {
    let sessions = SessionManagerLayer::new(options)?;
    Ok(Router::new().route("/", get(home)).route("/login", post(login)).route("/logout", get(logout)).layer(sessions))
}

/// express's example options: secret "keyboard cat", `resave: false`, `saveUninitialized: true`.
pub fn options() -> SessionOptions {
    // express's example secret is short; real apps use a long random one (the layer refuses short ones unless
    // told otherwise).
    SessionOptions::new().secret("keyboard cat").allow_short_secret(true).resave(false).save_uninitialized(true)
}
