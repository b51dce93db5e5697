//! express-session's second README example: log in and out, regenerating the session against fixation (the twin
//! of `express_session_examples::login`).

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};
use express_session::SessionOptions;
use express_session_actix::{Session, SessionError};
use serde::Deserialize;

/// The pages, shared with the axum twin (`examples/src/pages.rs`), so that both answer alike.
#[path = "../../src/pages.rs"]
pub mod pages;

pub use pages::escape_html;
use pages::{LOGGED_OUT, greeting, login_form};

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::html()).body(body)
}

async fn home(session: Session) -> Result<HttpResponse, SessionError> {
    // `user` is `null` after a logout; both mean "not logged in".
    match session.get::<Option<String>>("user").await?.flatten() {
        Some(user) => Ok(html(greeting(&user))),
        // The messages flashed for this page ("You are logged out."), shown once.
        None => Ok(html(login_form(&session.take_flash("info").await?))),
    }
}

/// The login form's fields.
#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

async fn login(session: Session, form: web::Form<LoginForm>) -> Result<HttpResponse, SessionError> {
    // Authentication would go here. Regenerate the session to guard against session fixation.
    session.regenerate().await?;
    // Store user information in the session, typically a user id.
    session.insert("user", form.into_inner().user).await?;
    // Save before redirecting, so the next request finds the session.
    session.save().await?;
    Ok(crate::redirect("/"))
}

async fn logout(session: Session) -> Result<HttpResponse, SessionError> {
    // Clear the user from the session and save it, so that a reuse of the old session id is not logged in.
    session.insert("user", None::<String>).await?;
    session.save().await?;
    // Regenerate the session, which is good practice to help guard against forms of session fixation.
    session.regenerate().await?;
    // A message for the next page, kept in the new session (connect-flash's `req.flash("info", ...)`).
    session.flash("info", LOGGED_OUT).await?;
    Ok(crate::redirect("/"))
}

/// The routes: `GET /`, `POST /login`, `GET /logout` (and `HEAD` where `GET` is, as axum's `get` answers it).
///
/// ```
/// use actix_web::App;
/// use express_session_actix::SessionMiddleware;
/// use express_session_examples_actix::login;
///
/// let sessions = SessionMiddleware::new(login::options()).expect("valid options");
/// let app = App::new().wrap(sessions).configure(login::routes);
/// # let _ = app;
/// ```
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/").route(web::get().to(home)).route(web::head().to(home)))
        .service(web::resource("/login").route(web::post().to(login)))
        .service(web::resource("/logout").route(web::get().to(logout)).route(web::head().to(logout)));
}

/// express's example options: secret "keyboard cat", `resave: false`, `saveUninitialized: true`.
pub fn options() -> SessionOptions {
    // express's example secret is short; real apps use a long random one (the middleware refuses short ones
    // unless told otherwise).
    SessionOptions::new().secret("keyboard cat").allow_short_secret(true).resave(false).save_uninitialized(true)
}
