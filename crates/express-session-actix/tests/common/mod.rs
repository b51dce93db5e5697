//! What the actix crate's test files share: the options, two handlers, and the hostile cookies.
#![allow(dead_code)] // each test file uses its own part

use express_session::{MemoryStore, SessionOptions};
use express_session_actix::{Session, SessionError};

/// Options on a fresh MemoryStore, with the short secret express's docs use.
pub(crate) fn options() -> SessionOptions {
    SessionOptions::new().secret("keyboard cat").allow_short_secret(true).store(MemoryStore::new())
}

/// A view counter: the session's `n`, incremented atomically.
pub(crate) async fn count(session: Session) -> Result<String, SessionError> {
    let n = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    Ok(n.to_string())
}

/// Whether the request has a session.
pub(crate) async fn maybe(session: Option<Session>) -> &'static str {
    if session.is_some() { "session" } else { "none" }
}

/// `Cookie` headers a lying or broken client sends, around a valid `name=value` pair: each must be a new session,
/// never a 500.
pub(crate) fn hostile_cookies(valid: &str) -> Vec<String> {
    vec![
        "connect.sid=".to_owned(),
        "connect.sid=s%3A".to_owned(),
        "connect.sid=%".to_owned(),
        "connect.sid=s%3A%E0%A4.x".to_owned(),
        format!("connect.sid=s%3A{}.sig", "a".repeat(5000)),
        format!("{valid}x"),
        format!("connect.sid=garbage; {valid}"),
        format!("{valid}{valid}"),
        "=;=;;;".to_owned(),
    ]
}
