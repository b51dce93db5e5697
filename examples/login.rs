//! express-session's second README example: log in and out, regenerating the session against fixation.
//!
//! Run it with `cargo run --example login` and open <http://127.0.0.1:3000/>.

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use express_session::{Session, SessionError, SessionManagerLayer, SessionOptions};
use serde::Deserialize;

/// Escapes text for HTML, as the `escape-html` package the Node example uses.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn home(session: Session) -> Result<Html<String>, SessionError> {
    match session.get::<String>("user").await? {
        Some(user) => Ok(Html(format!("hello, {}! <a href=\"/logout\">Logout</a>", escape_html(&user)))),
        None => Ok(Html(
            "<form action=\"/login\" method=\"post\">\
             Username: <input name=\"user\"><br>\
             Password: <input name=\"pass\" type=\"password\"><br>\
             <input type=\"submit\" text=\"Login\"></form>"
                .to_owned(),
        )),
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
    #[allow(dead_code)]
    pass: String,
}

async fn login(session: Session, Form(form): Form<Login>) -> Result<Response, SessionError> {
    // Authentication would go here. Regenerate the session to guard against session fixation.
    session.regenerate().await?;
    session.insert("user", form.user).await?;
    // Save before redirecting, so the next request finds the session.
    session.save().await?;
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: Session) -> Result<Response, SessionError> {
    // Clear the user and save, so that the old session is no longer logged in even if it is reused.
    session.insert("user", serde_json_null()).await?;
    session.save().await?;
    // Regenerate the session, which is good practice to help guard against forms of session fixation.
    session.regenerate().await?;
    Ok(Redirect::to("/").into_response())
}

fn serde_json_null() -> Option<String> {
    None
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions =
        SessionManagerLayer::new(SessionOptions::new().secret("keyboard cat").resave(false).save_uninitialized(true))?;
    let app =
        Router::new().route("/", get(home)).route("/login", post(login)).route("/logout", get(logout)).layer(sessions);
    express_session_examples::serve(app).await?;
    Ok(())
}
