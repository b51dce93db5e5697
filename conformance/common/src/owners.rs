//! The owner ops of `conformance/README.md` (issue 16): `login`, `sessionsOf`, `logoutOthers`,
//! `logoutEverywhere`, on the [`Session`]'s owner calls. Every store the servers build keeps an owner index under
//! [`OWNER_KEY`].

use express_session::store::MAX_OWNER_LEN;
use express_session::{Session, SessionError};
use serde_json::{Value, json};

/// The data key that names a session's owner in every store the conformance servers build (the stores' owner
/// key). No scenario sets it except through `login`; `user`, which the scenarios and the concurrency cases set
/// as plain data, stays plain data.
///
/// ```
/// assert_eq!(conformance_common::OWNER_KEY, "owner");
/// ```
pub const OWNER_KEY: &str = "owner";

/// The message of a `login` whose value is not an owner; the Node twin answers the same one.
const NOT_AN_OWNER: &str = "login needs an owner: a string of 1 to 255 bytes";

/// Runs the owner op `name` with its `value`; `None` when `name` is not an owner op. `Err` is the op's message.
pub(crate) async fn run(session: &Session, name: &str, value: &Value) -> Option<Result<Value, String>> {
    let message = |e: SessionError| super::message(&e);
    Some(match name {
        "login" => login(session, value).await,
        // One page of the owner's sessions: at most `OwnerPage::DEFAULT_LIMIT` (100).
        "sessionsOf" => session.owner_sessions().await.map(|page| json!(page.sessions.len())).map_err(message),
        "logoutOthers" => session.end_other_sessions().await.map(|n| json!(n)).map_err(message),
        "logoutEverywhere" => session.end_all_sessions().await.map(|n| json!(n)).map_err(message),
        _ => return None,
    })
}

/// `login`, as an app logs a user in: the value checked first (nothing happens for one that is not an owner),
/// then `regenerate` (a new id against session fixation, the old session destroyed), then `set_owner`.
async fn login(session: &Session, value: &Value) -> Result<Value, String> {
    let owner = value.as_str().filter(|o| !o.is_empty() && o.len() <= MAX_OWNER_LEN).ok_or(NOT_AN_OWNER)?;
    session.regenerate().await.map_err(|e| super::message(&e))?;
    session.set_owner(owner).await.map_err(|e| super::message(&e))?;
    Ok(Value::Null)
}
