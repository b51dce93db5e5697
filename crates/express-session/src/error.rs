//! [`SessionError`]: what a [`Session`](crate::engine::Session) call, or the end of a request, can fail with.
//!
//! Below the options and the engine (the error renderer option names it), above the store (a store failure is
//! one of its kinds).

use crate::store::StoreError;

/// An error from a [`Session`](crate::engine::Session) call.
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
    /// An owner call ([`Session::set_owner`](crate::Session::set_owner) and the others) on a store that keeps no
    /// owner index.
    #[error(
        "the session store keeps no owner index: build it with an owner key, for example \
         MemoryStore::builder().owner_key(\"userId\") (each store's builder has .owner_key)"
    )]
    NoOwnerIndex,
    /// [`Session::set_owner`](crate::Session::set_owner) of the owner whose session this request regenerated,
    /// when another request ended that session while this one ran (log out everywhere): the request may not log
    /// the owner back in. A save of a record that names that owner under the store's owner key (the handler wrote
    /// the key itself) fails with it too. The status is 409 (Conflict); the client logs in again.
    #[error("the session's owner was logged out everywhere while this request ran; log in again")]
    OwnerEnded,
    /// [`Session::set_owner`](crate::Session::set_owner) was given an empty owner, or one longer than
    /// [`MAX_OWNER_LEN`](crate::store::MAX_OWNER_LEN) bytes.
    #[error("a session owner must be 1 to 255 bytes long (it was {len})")]
    InvalidOwner {
        /// The owner's length in bytes.
        len: usize,
    },
}

impl SessionError {
    /// The HTTP status this error maps to: 503 when the store is unreachable, 409 for
    /// [`OwnerEnded`](Self::OwnerEnded), 500 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Store(e) if e.is_unavailable() => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::OwnerEnded => http::StatusCode::CONFLICT,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
