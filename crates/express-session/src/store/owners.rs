//! Every session of a user: the owner index's types, shared by every store that keeps one.
//!
//! A store built with an owner key (for example [`MemoryStoreBuilder::owner_key`](super::MemoryStoreBuilder::owner_key))
//! keeps an index from each owner to their live sessions. A session's owner is the value its record holds under
//! that data key: a string, or an integer (a Node app's `req.session.userId = 42` is owner `"42"`). The index is
//! derived from the records, so sessions a Node app writes are found too; nothing it reads changes.
//!
//! The store offers the index's operations ([`Store::sessions_of`](super::Store::sessions_of),
//! [`Store::end_session_of`](super::Store::end_session_of), [`Store::end_sessions_of`](super::Store::end_sessions_of),
//! [`Store::reindex`](super::Store::reindex)) for tools that hold only the store; handlers use the
//! [`Session`](crate::Session) methods built on them.
//!
//! ```
//! use express_session::store::{OwnerPage, SessionHandle, Store};
//! use express_session::{MemoryStore, Record, SessionCookie, SessionId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), express_session::StoreError> {
//! let store = MemoryStore::builder().owner_key("user").build();
//! let mut record = Record::new(SessionCookie::default());
//! record.data_mut().insert("user".into(), "alice".into());
//! for _ in 0..3 {
//!     store.create(&SessionId::generate(), &record).await?;
//! }
//!
//! // A "your devices" page, from the store alone: handles, never ids.
//! let page: OwnerPage = store.sessions_of("alice", OwnerPage::DEFAULT_LIMIT).await?;
//! assert_eq!(page.sessions.len(), 3);
//!
//! // End one of them by its handle, then all the others.
//! assert!(store.end_session_of("alice", &page.sessions[0].handle).await?);
//! assert_eq!(store.end_sessions_of("alice", None).await?, 2);
//! assert!(store.sessions_of("alice", 10).await?.sessions.is_empty());
//! # Ok(())
//! # }
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::id::SessionId;
use crate::record::Record;
use crate::time::Timestamp;

/// The longest owner an index holds, in bytes. A longer value under the owner key names no owner.
pub const MAX_OWNER_LEN: usize = 255;

/// The owner a record names under `key`: a non-empty string of at most [`MAX_OWNER_LEN`] bytes, or an integer
/// (within JavaScript's safe range, as Node writes it) in decimal. Anything else names no owner.
///
/// ```
/// use express_session::store::owner_of;
/// use express_session::Record;
///
/// let record = Record::from_json(r#"{"cookie":{"originalMaxAge":null},"userId":42}"#).unwrap();
/// assert_eq!(owner_of(&record, "userId").as_deref(), Some("42"));
/// assert_eq!(owner_of(&record, "user"), None);
/// ```
pub fn owner_of(record: &Record, key: &str) -> Option<String> {
    owner_from_value(record.fields().get(key)?)
}

/// [`owner_of`] on a value.
pub(crate) fn owner_from_value(value: &Value) -> Option<String> {
    const SAFE: i64 = (1 << 53) - 1;
    match value {
        Value::String(owner) => (!owner.is_empty() && owner.len() <= MAX_OWNER_LEN).then(|| owner.clone()),
        Value::Number(n) => {
            let n = n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= SAFE as f64).map(|f| f as i64))?;
            (-SAFE..=SAFE).contains(&n).then(|| n.to_string())
        }
        _ => None,
    }
}

/// Checks an owner key given to a store builder: 1 to 64 ASCII letters, digits or `_`, not a key express-session
/// reserves, and not starting with `__` (the layer's own keys, such as the creation stamp). Such a key is the same in JSON, in a JSON path (`$.key`) and in SQL.
///
/// ```
/// use express_session::store::check_owner_key;
///
/// assert!(check_owner_key("userId").is_ok());
/// assert!(check_owner_key("user id").is_err());
/// assert!(check_owner_key("cookie").is_err());
/// ```
///
/// # Errors
///
/// A message that says what a valid key is.
pub fn check_owner_key(key: &str) -> Result<(), String> {
    let valid = !key.is_empty()
        && key.len() <= 64
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !crate::record::is_reserved_key(key)
        // The layer's own keys (the creation stamp, SealedStore's `__sealed`, which the owner would overwrite).
        && !key.starts_with("__");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "owner key {key:?} is not valid: use 1 to 64 ASCII letters, digits or '_' (for example \"userId\"), \
             not starting with \"__\" and not a key express-session reserves (\"cookie\", \"id\", ...)"
        ))
    }
}

/// Names one session in an owner's list without being its id (ids are bearer secrets; a handle is safe to put
/// in a page). It is a hash of the id as the store keeps it: 22 URL-safe characters.
///
/// ```
/// use express_session::store::SessionHandle;
/// use express_session::SessionId;
///
/// let id = SessionId::generate();
/// let handle = SessionHandle::of(&id);
/// assert_eq!(handle.as_str().len(), 22);
/// assert_ne!(handle.as_str(), id.as_str());
/// assert_eq!(SessionHandle::parse(handle.as_str()), Some(handle));
/// assert_eq!(SessionHandle::parse("not a handle"), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionHandle(String);

impl SessionHandle {
    /// The handle of the session stored under `id`.
    pub fn of(id: &SessionId) -> Self {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"express-session handle\0");
        hasher.update(id.as_str().as_bytes());
        Self(URL_SAFE_NO_PAD.encode(&hasher.finalize()[..16]))
    }

    /// A handle as a client sent it back (a form field, a path segment); `None` unless it has a handle's form.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == 22 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Self(text.to_owned()))
    }

    /// The handle's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({})", self.0)
    }
}

/// One live session of an owner, as a "your devices" page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnedSession {
    /// Names the session for [`Store::end_session_of`](super::Store::end_session_of).
    pub handle: SessionHandle,
    /// When the session was created: its creation stamp, which [`Session::set_owner`](crate::Session::set_owner)
    /// writes (sessions a Node app made have none).
    pub created: Option<Timestamp>,
    /// When the session's expiry was last moved (its last save or touch): its expiry less its lifetime. `None` for
    /// a browser-session cookie.
    pub last_seen: Option<Timestamp>,
    /// When the session expires, if it does.
    pub expires: Option<Timestamp>,
    /// Whether this is the session of the request that asked ([`Session::owner_sessions`](crate::Session::owner_sessions));
    /// always `false` from the store alone.
    pub current: bool,
}

impl OwnedSession {
    /// The entry of the session stored under `id` with `record`. `expires` overrides the record's
    /// `cookie.expires` when the store knows better (a touch that moved only a key's TTL).
    ///
    /// ```
    /// use express_session::store::{OwnedSession, SessionHandle};
    /// use express_session::{Record, SessionId};
    ///
    /// let json = r#"{"cookie":{"originalMaxAge":60000,"expires":"2030-01-01T00:01:00.000Z"},"userId":"alice"}"#;
    /// let record = Record::from_json(json).unwrap();
    /// let id = SessionId::generate();
    /// let entry = OwnedSession::new(&id, &record, None);
    /// assert_eq!(entry.handle, SessionHandle::of(&id));
    /// assert_eq!(entry.last_seen.unwrap().to_json(), "2030-01-01T00:00:00.000Z");
    /// assert_eq!((entry.created, entry.current), (None, false));
    ///
    /// // A session stamped by `Session::set_owner` has its creation time.
    /// let json = r#"{"cookie":{"originalMaxAge":null},"userId":"alice","__sessionCreatedAt":1893456000000}"#;
    /// let entry = OwnedSession::new(&id, &Record::from_json(json).unwrap(), None);
    /// assert_eq!(entry.created.unwrap().to_json(), "2030-01-01T00:00:00.000Z");
    /// ```
    pub fn new(id: &SessionId, record: &Record, expires: Option<Timestamp>) -> Self {
        let expires = expires.or_else(|| record.expires());
        // A number, or a number kept as its JSON text.
        let created = record
            .data()
            .get(crate::record::CREATED_AT_KEY)
            .and_then(Value::as_i64)
            .or_else(|| record.raw_json(crate::record::CREATED_AT_KEY).and_then(|raw| raw.trim().parse::<i64>().ok()))
            .map(Timestamp::from_millis);
        let last_seen = match (expires, record.cookie().original_max_age()) {
            (Some(expires), Some(max_age)) => Some(Timestamp::from_millis(expires.as_millis().saturating_sub(max_age))),
            _ => None,
        };
        Self { handle: SessionHandle::of(id), created, last_seen, expires, current: false }
    }
}

/// A page of an owner's live sessions: at most the limit asked for, most recently seen first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnerPage {
    /// The sessions, most recently seen first (then by handle).
    pub sessions: Vec<OwnedSession>,
    /// The owner has more live sessions than the page holds.
    pub more: bool,
}

impl OwnerPage {
    /// The page size the [`Session`](crate::Session) methods use: 100.
    pub const DEFAULT_LIMIT: usize = 100;

    /// The page of `limit` from every live session of an owner: sorts them (most recently seen first) and cuts.
    ///
    /// ```
    /// use express_session::store::{OwnedSession, OwnerPage};
    /// use express_session::{Record, SessionCookie, SessionId};
    ///
    /// let record = Record::new(SessionCookie::default());
    /// let sessions = (0..3).map(|_| OwnedSession::new(&SessionId::generate(), &record, None)).collect();
    /// let page = OwnerPage::from_sessions(sessions, 2);
    /// assert_eq!((page.sessions.len(), page.more), (2, true));
    /// ```
    pub fn from_sessions(mut sessions: Vec<OwnedSession>, limit: usize) -> Self {
        sessions.sort_by(|a, b| {
            let seen = |s: &OwnedSession| s.last_seen.or(s.created).map_or(i64::MIN, Timestamp::as_millis);
            seen(b).cmp(&seen(a)).then_with(|| a.handle.0.cmp(&b.handle.0))
        });
        let more = sessions.len() > limit;
        sessions.truncate(limit);
        Self { sessions, more }
    }
}

/// How many sessions the index operations of a store handle in one round trip (a batch of `end_sessions_of`,
/// a page of `reindex`): 500.
pub const OWNER_BATCH: usize = 500;
