//! The errors of the session handle, and the value checks that produce them.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::store::StoreError;

/// An error from a [`Session`](super::Session) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session was destroyed or unset earlier in this request (express: `req.session` is gone).
    #[error("no session: it was destroyed or unset in this request")]
    NoSession,
    /// A value could not be converted to JSON.
    #[error("session value could not be serialized")]
    Serialize(#[source] serde_json::Error),
    /// A stored value does not have the requested type, or has no Rust form (a string with a lone UTF-16
    /// surrogate, nesting deeper than [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH)). The source says
    /// what was expected, never what the value holds.
    #[error("session value could not be deserialized")]
    Deserialize(#[source] serde_json::Error),
    /// The key is one express-session reserves (see [`RESERVED_KEYS`](crate::record::RESERVED_KEYS)).
    #[error("session key {0:?} is reserved by express-session")]
    ReservedKey(String),
    /// `reload()` found no stored session (express: "failed to load session").
    #[error("failed to load session")]
    NotFound,
    /// The custom `genid` returned an empty or oversized id.
    #[error("genid returned an invalid session id")]
    InvalidGeneratedId,
    /// `genid` kept returning ids that already exist in the store.
    #[error("genid returned ids that already exist")]
    IdCollision,
    /// A save kept losing races with concurrent writes of the same session.
    #[error("session save kept conflicting with concurrent requests")]
    SaveConflict,
    /// The session's JSON is larger than the configured [`max_record_size`](crate::SessionOptions::max_record_size),
    /// and larger than the stored record this request read.
    #[error("session is too large to store ({size} bytes, the limit is {limit})")]
    TooLarge {
        /// The size of the session's JSON, in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A value to store nests arrays and objects deeper than
    /// [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH), so it could not be read back: it is refused, and
    /// the session is left as it was.
    #[error("session value is nested {depth} levels deep; at most {limit} can be read back")]
    TooDeep {
        /// How deeply the value nests.
        depth: usize,
        /// [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH).
        limit: usize,
    },
}

/// Reads a stored value as a `T`. A value kept as JSON text (see
/// [`Record::raw_json`](crate::record::Record::raw_json)) is parsed now, without serde_json's recursion limit up
/// to [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH).
pub(super) fn read_value<T: DeserializeOwned>(value: &Value) -> Result<T, SessionError> {
    let read = match crate::record::raw_text(value) {
        Some(text) => crate::record::parse_raw(text),
        None => T::deserialize(value),
    };
    read.map_err(|error| SessionError::Deserialize(redact(error)))
}

/// serde's type errors quote the value (`invalid type: string "alice", expected u64`), and errors are logged:
/// keep only what the program expected.
fn redact(error: serde_json::Error) -> serde_json::Error {
    use serde::de::Error as _;
    if !error.is_data() {
        // Syntax errors (a lone surrogate, an unreadable depth) name the problem and its position only.
        return error;
    }
    let message = error.to_string();
    if message.starts_with("the stored value is nested ")
        || message.starts_with("the stored JSON value has no Rust form")
    {
        return error;
    }
    match message.rfind(", expected ") {
        Some(at) => serde_json::Error::custom(format!(
            "the stored value does not have the requested type ({})",
            &message[at + 2..]
        )),
        None => serde_json::Error::custom("the stored value does not have the requested type"),
    }
}

/// Refuses a value that could not be read back once stored.
///
/// The stand-in of a value kept as text (which a handler can get from the store's API, `Record::data()`) is
/// written as that text: it is held to the text's depth, and must be one JSON value.
pub(super) fn check_depth(value: &Value) -> Result<(), SessionError> {
    let limit = crate::record::MAX_VALUE_DEPTH;
    let depth = match crate::record::raw_text(value) {
        Some(text) => {
            if serde_json::value::RawValue::from_string(text.to_owned()).is_err() {
                use serde::ser::Error as _;
                return Err(SessionError::Serialize(serde_json::Error::custom(
                    "the stand-in of a stored JSON text holds no JSON value",
                )));
            }
            crate::record::text_depth(text)
        }
        None => crate::record::value_depth(value),
    };
    if depth > limit {
        return Err(SessionError::TooDeep { depth, limit });
    }
    Ok(())
}

impl SessionError {
    /// The HTTP status this error maps to: 503 when the store is unreachable, 500 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Store(e) if e.is_unavailable() => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
