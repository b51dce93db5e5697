//! The devices example: every session of a user. Log in by name, see your sessions (one per browser or device)
//! in a table with this device marked, end one of them, log out the other devices, or log out everywhere.
//!
//! The app needs a store that keeps an owner index (here under the data key `user`):
//! `MemoryStore::builder().owner_key("user")`, or `RedisStore::builder().owner_key("user")`. The example's
//! `main` (`cargo run --example devices`) is in `examples/stores/devices.rs`, next to the Redis store.
//!
//! ```
//! use express_session::MemoryStore;
//! use express_session_examples::devices;
//!
//! let store = MemoryStore::builder().owner_key("user").build();
//! let app = devices::app(devices::options().store(store)).expect("valid options");
//! # let _: axum::Router = app;
//! ```
//!
//! Routes: `GET /` (the login form, or your sessions), `POST /login` (`user`), `POST /end` (`handle`: a
//! session's [`SessionHandle`], never its id), `POST /logout-others`, `POST /logout-everywhere`, `POST /logout`.
//! Every change is a `POST` and the cookie is `SameSite=Lax`, so another site cannot log you out with a link or
//! a form (a real app adds a CSRF token too).

use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use express_session::store::{MAX_OWNER_LEN, OwnedSession, OwnerPage, SessionHandle};
use express_session::{
    ConfigError, CookieOptions, SameSite, Session, SessionError, SessionManagerLayer, SessionOptions, Timestamp,
};
use serde::Deserialize;

use crate::pages::escape_html;

/// The message after "log out" (this device only).
pub const LOGGED_OUT: &str = "You are logged out.";
/// The message after ending this device's own row, or "log out everywhere": the page of the now logged-out device.
pub const LOGGED_OUT_HERE: &str = "This device is logged out.";
/// The message when a posted handle names no live session of the user: nothing was ended.
pub const NOTHING_ENDED: &str = "That is not one of your sessions: nothing was ended.";
/// The message when a change is asked for without being logged in.
pub const NOT_LOGGED_IN: &str = "You are not logged in.";

async fn home(session: Session) -> Result<Html<String>, SessionError> {
    let info = session.take_flash("info").await?;
    let errors = session.take_flash("error").await?;
    match session.owner().await? {
        Some(user) => Ok(Html(sessions_page(&user, &session.owner_sessions().await?, &info, &errors))),
        None => Ok(Html(login_page(&info, &errors))),
    }
}

/// The login form's field.
#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

async fn login(session: Session, Form(form): Form<LoginForm>) -> Result<Response, SessionError> {
    if form.user.trim().is_empty() || form.user.len() > MAX_OWNER_LEN {
        session.flash("error", format!("A name is 1 to {MAX_OWNER_LEN} bytes, not only spaces.")).await?;
        return Ok(crate::redirect("/"));
    }
    // Authentication would go here. A new session id against session fixation, then the owner: from now on the
    // store lists this session under the name.
    session.regenerate().await?;
    session.set_owner(form.user).await?;
    // Saved before the redirect, so that the next page finds it (and lists it).
    session.save().await?;
    Ok(crate::redirect("/"))
}

/// The end button's field.
#[derive(Deserialize)]
struct EndForm {
    handle: String,
}

async fn end(session: Session, Form(form): Form<EndForm>) -> Result<Response, SessionError> {
    if session.owner().await?.is_none() {
        session.flash("error", NOT_LOGGED_IN).await?;
        return Ok(crate::redirect("/"));
    }
    // A handle that is not one (or one of another user's session) ends nothing.
    let Some(handle) = SessionHandle::parse(&form.handle) else {
        session.flash("error", NOTHING_ENDED).await?;
        return Ok(crate::redirect("/"));
    };
    if !session.end_owner_session(&handle).await? {
        session.flash("error", NOTHING_ENDED).await?;
        return Ok(crate::redirect("/"));
    }
    if matches!(session.owner().await, Err(SessionError::NoSession)) {
        // This device's own row: the session is destroyed (its cookie cleared), so there is nowhere to keep a
        // flash message: the answer is the page itself.
        return Ok(Html(login_page(&[LOGGED_OUT_HERE.to_owned()], &[])).into_response());
    }
    session.flash("info", "That session is ended: its device is logged out.").await?;
    Ok(crate::redirect("/"))
}

async fn logout_others(session: Session) -> Result<Response, SessionError> {
    if session.owner().await?.is_none() {
        session.flash("error", NOT_LOGGED_IN).await?;
        return Ok(crate::redirect("/"));
    }
    let ended = session.end_other_sessions().await?;
    session.flash("info", format!("Logged out {ended} other {}.", plural(ended, "device", "devices"))).await?;
    Ok(crate::redirect("/"))
}

async fn logout_everywhere(session: Session) -> Result<Response, SessionError> {
    if session.owner().await?.is_none() {
        session.flash("error", NOT_LOGGED_IN).await?;
        return Ok(crate::redirect("/"));
    }
    let ended = session.end_all_sessions().await?;
    let message = format!("Logged out everywhere: {ended} {} ended.", plural(ended, "session", "sessions"));
    Ok(Html(login_page(&[message, LOGGED_OUT_HERE.to_owned()], &[])).into_response())
}

async fn logout(session: Session) -> Result<Response, SessionError> {
    // Destroys this session's record (the owner index drops it) and starts an empty one, for the message.
    session.regenerate().await?;
    session.flash("info", LOGGED_OUT).await?;
    Ok(crate::redirect("/"))
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The app: the routes above behind the session layer. `options` must name a store that keeps an owner index;
/// without one every page is a `500` ([`SessionError::NoOwnerIndex`]).
///
/// # Errors
///
/// The layer's validation of `options`.
pub fn app(options: SessionOptions) -> Result<Router, ConfigError> {
    let sessions = SessionManagerLayer::new(options)?;
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/end", post(end))
        .route("/logout-others", post(logout_others))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/logout", post(logout))
        .layer(sessions))
}

/// The example's options, without a store: a week's `maxAge` (so that the table has a last-seen time and an
/// expiry), `SameSite=Lax`, `resave: false`, `saveUninitialized: false` (a visitor gets a session at login).
pub fn options() -> SessionOptions {
    SessionOptions::new()
        // A real app reads a long random secret from its configuration.
        .secret("the devices example's secret: use a long random one")
        .cookie(CookieOptions::new().max_age(Duration::from_secs(7 * 24 * 3600)).same_site(SameSite::Lax))
        .resave(false)
        .save_uninitialized(false)
}

const HEAD: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your devices</title><style>\
     body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #999;\
     padding:2px 6px;text-align:left}tr.current{background:#eef}form.inline{display:inline}\
     .flash{color:#060}.error{color:#a00}</style></head><body>";
const TAIL: &str = "</body></html>";

fn messages(page: &mut String, info: &[String], errors: &[String]) {
    for message in info {
        page.push_str(&format!("<p class=\"flash\">{}</p>", escape_html(message)));
    }
    for message in errors {
        page.push_str(&format!("<p class=\"error\">{}</p>", escape_html(message)));
    }
}

/// The login page: the messages waiting for it (`info` then `errors`), then the form (a name, no password).
pub fn login_page(info: &[String], errors: &[String]) -> String {
    let mut page = HEAD.to_owned();
    messages(&mut page, info, errors);
    page.push_str(
        "<form action=\"/login\" method=\"post\"><label>Name: <input name=\"user\" autofocus></label> \
         <button type=\"submit\">Log in</button></form>",
    );
    page.push_str(TAIL);
    page
}

/// A time as the table shows it (`2030-01-01 00:01:00 UTC`, the exact instant in the `datetime` attribute), or a
/// dash for none.
fn when(time: Option<Timestamp>) -> String {
    match time {
        Some(time) => {
            let json = time.to_json();
            let shown = format!("{} UTC", json.get(..19).unwrap_or(&json).replace('T', " "));
            format!("<time datetime=\"{json}\">{shown}</time>")
        }
        None => "&mdash;".to_owned(),
    }
}

fn row(page: &mut String, session: &OwnedSession) {
    let handle = escape_html(session.handle.as_str());
    let (class, marker, button) =
        if session.current { (" class=\"current\"", "this device", "log out") } else { ("", "", "end") };
    page.push_str(&format!(
        "<tr{class} data-handle=\"{handle}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"device\">{marker}</td>\
         <td><form class=\"inline\" action=\"/end\" method=\"post\"><input type=\"hidden\" name=\"handle\" \
         value=\"{handle}\"><button type=\"submit\">{button}</button></form></td></tr>",
        when(session.created),
        when(session.last_seen),
        when(session.expires),
    ));
}

/// The page of a logged-in user: the messages, a greeting, the table of their sessions (most recently seen
/// first, this device marked, a button per row that posts its handle), and the three log-out buttons.
pub fn sessions_page(user: &str, sessions: &OwnerPage, info: &[String], errors: &[String]) -> String {
    let mut page = HEAD.to_owned();
    messages(&mut page, info, errors);
    page.push_str(&format!("<h1>hello, {}!</h1><h2>Your sessions</h2>", escape_html(user)));
    page.push_str(
        "<table id=\"sessions\"><thead><tr><th>created</th><th>last seen</th><th>expires</th><th></th><th></th>\
         </tr></thead><tbody>",
    );
    for session in &sessions.sessions {
        row(&mut page, session);
    }
    page.push_str("</tbody></table>");
    if sessions.more {
        page.push_str("<p>and more, not shown.</p>");
    }
    page.push_str(
        "<p><form class=\"inline\" action=\"/logout-others\" method=\"post\"><button type=\"submit\">Log out other \
         devices</button></form> <form class=\"inline\" action=\"/logout-everywhere\" method=\"post\"><button \
         type=\"submit\">Log out everywhere</button></form> <form class=\"inline\" action=\"/logout\" \
         method=\"post\"><button type=\"submit\">Log out</button></form></p>",
    );
    page.push_str(TAIL);
    page
}
