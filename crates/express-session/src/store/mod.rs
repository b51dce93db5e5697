//! The `Store` trait, its error type, and the embedded [`MemoryStore`].
//!
//! A store holds express-session's records ([`Record`]) by session id. Its verbs are express's
//! (`get`, `set`, `destroy`, `touch`, `all`, `length`, `clear`) in Rust spelling, plus the conditional writes
//! that let the session layer promise what express cannot: concurrent requests of one session never lose each
//! other's writes, and a destroyed session is never brought back by a slower request.
//!
//! # Contract
//!
//! Every method is atomic with respect to the others for one id.
//!
//! - [`get`](Store::get) returns the record and an opaque [`Version`], or `None` when the record is missing
//!   **or expired** (its `cookie.expires` is at or before the store's clock). A store never returns an expired
//!   record, whatever its backend's TTL or sweeping does.
//! - [`create`](Store::create) inserts only if no live record has that id, and says which happened. It never
//!   overwrites.
//! - [`save_if`](Store::save_if) replaces the record only if it is still the version that was read. It reports
//!   [`SaveOutcome::Conflict`] when another write came in between and [`SaveOutcome::Gone`] when the record was
//!   destroyed or expired meanwhile; it never recreates a missing record. Saving a record whose `cookie.expires`
//!   has already passed is therefore a conditional destroy (`get` no longer returns it): the layer's
//!   `Session::cycle_id` retires the old id that way.
//! - [`set`](Store::set) is express's unconditional upsert, for tools and migrations; the layer does not use it.
//! - [`touch`](Store::touch) moves the expiry (to the given record's `cookie.expires`) only if the record exists;
//!   it does not change the stored data and does not change the version.
//! - [`refresh`](Store::refresh) is `get` followed by a `touch` of the record's own lifetime, for requests that
//!   never used their session; a store may do it in one round trip.
//! - [`destroy`](Store::destroy) removes the record; removing a missing record is not an error.
//! - [`all`](Store::all), [`len`](Store::len) and [`clear`](Store::clear) are optional: a store that cannot
//!   offer them returns [`StoreError::Unsupported`], never an approximation.
//!
//! - The owner index ([`owner_key`](Store::owner_key), [`sessions_of`](Store::sessions_of),
//!   [`end_session_of`](Store::end_session_of), [`end_sessions_of`](Store::end_sessions_of),
//!   [`reindex`](Store::reindex)) is optional too (see [`owners`]). A store that keeps one promises:
//!   - a session is listed and ended under the owner its **current** record names ([`owner_of`]), whoever wrote
//!     the record (this crate, or a Node app followed by a [`reindex`](Store::reindex));
//!   - `end_sessions_of` removes every live session the owner had when it began (except `keep`) before it returns;
//!     a write of an ended session after that is [`SaveOutcome::Gone`] (never a new record), and a session
//!     created for the owner after it returned is kept;
//!   - index entries do not outlive their sessions: an expired or destroyed session leaves nothing behind for
//!     longer than the store's own expiry of records takes;
//!   - ordinary writes cost no extra round trip.
//!
//! Records whose text does not parse are treated as absent by `get` (and logged), never as an error that would
//! fail every request of that client.
//!
//! # Implementing a store
//!
//! Implement the trait with plain `async fn`s, and run the shared test suite against it (feature
//! `test-suite`, see [`testing`]):
//!
//! ```
//! use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
//! use express_session::{Record, SessionId, Timestamp};
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! /// A toy store without expiry, to show the shape of the trait.
//! #[derive(Debug, Default)]
//! struct MapStore(Mutex<HashMap<String, (Record, u64)>>);
//!
//! impl Store for MapStore {
//!     async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
//!         let map = self.0.lock().unwrap();
//!         Ok(map.get(id.as_str()).map(|(r, v)| Versioned { record: r.clone(), version: Version::from_u64(*v) }))
//!     }
//!     async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         if map.contains_key(id.as_str()) {
//!             return Ok(CreateOutcome::Exists);
//!         }
//!         map.insert(id.as_str().into(), (record.clone(), 1));
//!         Ok(CreateOutcome::Created(Version::from_u64(1)))
//!     }
//!     async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         let next = map.get(id.as_str()).map_or(1, |(_, v)| v + 1);
//!         map.insert(id.as_str().into(), (record.clone(), next));
//!         Ok(())
//!     }
//!     async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         match map.get_mut(id.as_str()) {
//!             None => Ok(SaveOutcome::Gone),
//!             Some((_, v)) if Version::from_u64(*v) != *expected => Ok(SaveOutcome::Conflict),
//!             Some(entry) => {
//!                 *entry = (record.clone(), entry.1 + 1);
//!                 Ok(SaveOutcome::Saved(Version::from_u64(entry.1)))
//!             }
//!         }
//!     }
//!     async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         match map.get_mut(id.as_str()) {
//!             None => Ok(TouchOutcome::Gone),
//!             Some((stored, _)) => {
//!                 *stored.cookie_mut() = record.cookie().clone();
//!                 Ok(TouchOutcome::Touched)
//!             }
//!         }
//!     }
//!     async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
//!         self.0.lock().unwrap().remove(id.as_str());
//!         Ok(())
//!     }
//!     fn now(&self) -> Timestamp {
//!         Timestamp::now()
//!     }
//! }
//! ```
// The suite's page: in these docs when they are built with it, else on docs.rs (where every feature is on).
#![cfg_attr(feature = "test-suite", doc = "\n\n[`testing`]: crate::testing")]
#![cfg_attr(
    not(feature = "test-suite"),
    doc = "\n\n[`testing`]: https://docs.rs/express-session/latest/express_session/testing/index.html"
)]

mod memory;
pub mod owners;
#[cfg(feature = "sealed")]
#[cfg_attr(docsrs, doc(cfg(feature = "sealed")))]
mod sealed;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use memory::{MemoryStore, MemoryStoreBuilder};
pub use owners::{MAX_OWNER_LEN, OWNER_BATCH, OwnedSession, OwnerPage, SessionHandle, check_owner_key, owner_of};
#[cfg(feature = "sealed")]
pub use sealed::{SEALED_KEY, SealedStore, SealingKey, SealingKeyError};

use crate::id::SessionId;
use crate::record::Record;
use crate::time::Timestamp;

/// A boxed error from a store's backend.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An opaque token for the state of a record when it was read, checked by [`Store::save_if`].
///
/// Stores choose what it holds: a counter (MemoryStore), or the stored text itself (stores shared with Node,
/// whose writes bump no counter).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Version(VersionRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum VersionRepr {
    Number(u64),
    Bytes(Arc<[u8]>),
}

impl Version {
    /// A version that is a number.
    pub fn from_u64(n: u64) -> Self {
        Self(VersionRepr::Number(n))
    }

    /// A version that is some bytes (for example the stored text, or a hash of it).
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Self {
        Self(VersionRepr::Bytes(bytes.into()))
    }

    /// The number, for a version made by [`from_u64`](Self::from_u64).
    pub fn as_u64(&self) -> Option<u64> {
        match &self.0 {
            VersionRepr::Number(n) => Some(*n),
            VersionRepr::Bytes(_) => None,
        }
    }

    /// The bytes, for a version made by [`from_bytes`](Self::from_bytes).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.0 {
            VersionRepr::Number(_) => None,
            VersionRepr::Bytes(b) => Some(b),
        }
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            VersionRepr::Number(n) => write!(f, "Version({n})"),
            VersionRepr::Bytes(b) => write!(f, "Version({} bytes)", b.len()),
        }
    }
}

/// A record as read, with the version [`Store::save_if`] compares against.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// The record.
    pub record: Record,
    /// Its version when it was read.
    pub version: Version,
}

/// What [`Store::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The record was inserted; this is its version.
    Created(Version),
    /// A live record with that id exists; nothing was written.
    Exists,
}

/// What [`Store::save_if`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// The record was replaced; this is its new version.
    Saved(Version),
    /// The record changed since it was read; nothing was written.
    Conflict,
    /// The record no longer exists (destroyed or expired); nothing was written.
    Gone,
}

/// What [`Store::touch`], [`Store::refresh`] and [`Store::refresh_after`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchOutcome {
    /// The expiry was moved.
    Touched,
    /// Live, and refreshed within the interval given to [`Store::refresh_after`]: nothing was written. Only
    /// `refresh_after` answers it.
    Fresh,
    /// No live record has that id; nothing was written.
    Gone,
}

/// A store failure. `Display` names what failed, never the session id nor the backend's message; the cause is
/// reachable through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached (connection refused or lost, timeout). The layer answers 503.
    #[error("session store {store} is unavailable")]
    Unavailable {
        /// The store's name.
        store: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The backend failed otherwise. The layer answers 500.
    #[error("session store {store} failed")]
    Backend {
        /// The store's name.
        store: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The store does not offer this operation (for the optional `all`, `len`, `clear`).
    #[error("session store does not support {operation}")]
    Unsupported {
        /// The operation's name.
        operation: &'static str,
    },
    /// The store is full and could not make room (a capacity-bounded store).
    #[error("session store {store} is full")]
    Full {
        /// The store's name.
        store: &'static str,
    },
}

impl StoreError {
    /// A backend failure that means "unreachable" (503).
    pub fn unavailable(store: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable { store, source: source.into() }
    }

    /// Any other backend failure (500).
    pub fn backend(store: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Backend { store, source: source.into() }
    }

    /// Whether the store was unreachable (the layer answers 503 rather than 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Full { .. })
    }
}

/// Where sessions live. See the [module documentation](self) for the contract every method follows.
#[allow(clippy::len_without_is_empty)] // `len` is express's optional `length`; an `is_empty` would add nothing.
pub trait Store: fmt::Debug + Send + Sync + 'static {
    /// The live record with this id and its version, or `None` if it is missing or expired.
    fn get(&self, id: &SessionId) -> impl Future<Output = Result<Option<Versioned>, StoreError>> + Send;

    /// Inserts the record unless a live record has this id.
    fn create(&self, id: &SessionId, record: &Record)
    -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;

    /// express's `set`: insert or replace, unconditionally.
    fn set(&self, id: &SessionId, record: &Record) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the record only if its version is still `expected`.
    fn save_if(
        &self,
        id: &SessionId,
        record: &Record,
        expected: &Version,
    ) -> impl Future<Output = Result<SaveOutcome, StoreError>> + Send;

    /// express's `touch`: moves the expiry to `record`'s, only if a live record exists; keeps the stored data.
    fn touch(&self, id: &SessionId, record: &Record) -> impl Future<Output = Result<TouchOutcome, StoreError>> + Send;

    /// express's `destroy`: removes the record; idempotent.
    fn destroy(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The store's clock, which its expiry checks use.
    fn now(&self) -> Timestamp;

    /// `get`, then `touch` with the record's cookie touched at [`now`](Self::now): what the layer does for a
    /// request that never used its session. Override it to do both in one round trip.
    fn refresh(&self, id: &SessionId) -> impl Future<Output = Result<TouchOutcome, StoreError>> + Send {
        async move {
            let Some(Versioned { mut record, .. }) = self.get(id).await? else {
                return Ok(TouchOutcome::Gone);
            };
            record.cookie_mut().touch(self.now());
            self.touch(id, &record).await
        }
    }

    /// [`refresh`](Self::refresh), unless the record's expiry was moved less than `interval` ago (its expiry is
    /// later than now plus its lifetime, `cookie.originalMaxAge`, less `interval`): then nothing is written and
    /// the answer is [`TouchOutcome::Fresh`]. What the layer calls, when
    /// [`SessionOptions::touch_after`](crate::SessionOptions::touch_after) is set, for a request that never used
    /// its session and for one that used it without changing it. A record whose lifetime is not longer than
    /// `interval`, or that has none, is always refreshed.
    ///
    /// This default decides from the record's text (`cookie.expires`), which is right for a store whose touch
    /// rewrites the text; a store whose touch moves only a TTL or a column must override it and decide from that
    /// real expiry (the text's goes stale), in one round trip where it can.
    fn refresh_after(
        &self,
        id: &SessionId,
        interval: std::time::Duration,
    ) -> impl Future<Output = Result<TouchOutcome, StoreError>> + Send {
        async move {
            let Some(Versioned { mut record, .. }) = self.get(id).await? else {
                return Ok(TouchOutcome::Gone);
            };
            let now = self.now();
            if touched_within(&record, now, interval) {
                return Ok(TouchOutcome::Fresh);
            }
            record.cookie_mut().touch(now);
            self.touch(id, &record).await
        }
    }

    /// express's `all`: every live session.
    fn all(&self) -> impl Future<Output = Result<Vec<(SessionId, Record)>, StoreError>> + Send {
        async { Err(StoreError::Unsupported { operation: "all" }) }
    }

    /// express's `length`: how many live sessions there are.
    fn len(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async { Err(StoreError::Unsupported { operation: "len" }) }
    }

    /// express's `clear`: removes every session.
    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Err(StoreError::Unsupported { operation: "clear" }) }
    }

    /// Whether the store can serve requests now (express: `connect` / `disconnect` events). The default is
    /// always ready.
    fn is_ready(&self) -> bool {
        true
    }

    /// The data key that names a session's owner, when this store keeps an owner index (see [`owners`]); `None`
    /// (the default) when it keeps none.
    fn owner_key(&self) -> Option<&str> {
        None
    }

    /// The owner's live sessions: at most `limit` of them, most recently seen first ([`OwnerPage`]).
    fn sessions_of(&self, owner: &str, limit: usize) -> impl Future<Output = Result<OwnerPage, StoreError>> + Send {
        let _ = (owner, limit);
        async { Err(StoreError::Unsupported { operation: "sessions_of" }) }
    }

    /// Ends the owner's session named by `handle`; whether there was one. A handle of another owner's session ends
    /// nothing.
    fn end_session_of(
        &self,
        owner: &str,
        handle: &SessionHandle,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (owner, handle);
        async { Err(StoreError::Unsupported { operation: "end_session_of" }) }
    }

    /// Ends every live session of the owner except the one stored under `keep`, in one round trip per
    /// [`OWNER_BATCH`] sessions; how many it ended.
    fn end_sessions_of(
        &self,
        owner: &str,
        keep: Option<&SessionId>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let _ = (owner, keep);
        async { Err(StoreError::Unsupported { operation: "end_sessions_of" }) }
    }

    /// Scans every stored session once and indexes those whose record names an owner (sessions a Node app wrote
    /// before the index existed, or since); how many owned sessions it found.
    fn reindex(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async { Err(StoreError::Unsupported { operation: "reindex" }) }
    }
}

impl<S: Store> Store for Arc<S> {
    fn get(&self, id: &SessionId) -> impl Future<Output = Result<Option<Versioned>, StoreError>> + Send {
        S::get(self, id)
    }
    fn create(
        &self,
        id: &SessionId,
        record: &Record,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send {
        S::create(self, id, record)
    }
    fn set(&self, id: &SessionId, record: &Record) -> impl Future<Output = Result<(), StoreError>> + Send {
        S::set(self, id, record)
    }
    fn save_if(
        &self,
        id: &SessionId,
        record: &Record,
        expected: &Version,
    ) -> impl Future<Output = Result<SaveOutcome, StoreError>> + Send {
        S::save_if(self, id, record, expected)
    }
    fn touch(&self, id: &SessionId, record: &Record) -> impl Future<Output = Result<TouchOutcome, StoreError>> + Send {
        S::touch(self, id, record)
    }
    fn destroy(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        S::destroy(self, id)
    }
    fn now(&self) -> Timestamp {
        S::now(self)
    }
    fn refresh(&self, id: &SessionId) -> impl Future<Output = Result<TouchOutcome, StoreError>> + Send {
        S::refresh(self, id)
    }
    fn refresh_after(
        &self,
        id: &SessionId,
        interval: std::time::Duration,
    ) -> impl Future<Output = Result<TouchOutcome, StoreError>> + Send {
        S::refresh_after(self, id, interval)
    }
    fn all(&self) -> impl Future<Output = Result<Vec<(SessionId, Record)>, StoreError>> + Send {
        S::all(self)
    }
    fn len(&self) -> impl Future<Output = Result<usize, StoreError>> + Send {
        S::len(self)
    }
    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        S::clear(self)
    }
    fn is_ready(&self) -> bool {
        S::is_ready(self)
    }
    fn owner_key(&self) -> Option<&str> {
        S::owner_key(self)
    }
    fn sessions_of(&self, owner: &str, limit: usize) -> impl Future<Output = Result<OwnerPage, StoreError>> + Send {
        S::sessions_of(self, owner, limit)
    }
    fn end_session_of(
        &self,
        owner: &str,
        handle: &SessionHandle,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::end_session_of(self, owner, handle)
    }
    fn end_sessions_of(
        &self,
        owner: &str,
        keep: Option<&SessionId>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        S::end_sessions_of(self, owner, keep)
    }
    fn reindex(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        S::reindex(self)
    }
}

/// Whether `record`'s expiry was moved less than `interval` before `now` (by its text: `cookie.expires` less
/// `cookie.originalMaxAge`), and its lifetime is longer than `interval`: what
/// [`Store::refresh_after`] and the layer's `touch_after` skip.
///
/// ```
/// use express_session::store::touched_within;
/// use express_session::{Record, Timestamp};
/// use std::time::Duration;
///
/// // Touched at 00:00:00 with a 60 s lifetime.
/// let json = r#"{"cookie":{"originalMaxAge":60000,"expires":"2030-01-01T00:01:00.000Z"}}"#;
/// let record = Record::from_json(json).unwrap();
/// let at = |s: &str| Timestamp::parse_json(s).unwrap();
/// assert!(touched_within(&record, at("2030-01-01T00:00:09.999Z"), Duration::from_secs(10)));
/// assert!(!touched_within(&record, at("2030-01-01T00:00:10.000Z"), Duration::from_secs(10)));
/// assert!(!touched_within(&record, at("2030-01-01T00:00:01.000Z"), Duration::from_secs(60)), "not shorter than its lifetime");
/// ```
pub fn touched_within(record: &Record, now: Timestamp, interval: std::time::Duration) -> bool {
    let interval = crate::time::duration_millis(interval);
    match (record.expires(), record.cookie().original_max_age()) {
        (Some(expires), Some(max_age)) if max_age > interval => {
            now.as_millis() < expires.as_millis().saturating_sub(max_age).saturating_add(interval)
        }
        _ => false,
    }
}

/// A boxed store future.
pub(crate) type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A [`Store`] with its type erased, as the options hold it and the engine's guard calls it: each call is one
/// boxed future, except on [`MemoryStore`], which the guard calls directly (see [`as_memory`](Self::as_memory)).
pub(crate) trait ErasedStore: fmt::Debug + Send + Sync + 'static {
    /// The store, when it is the built-in [`MemoryStore`] (the default): its calls then need no boxed future.
    fn as_memory(&self) -> Option<&MemoryStore>;
    fn get<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>>;
    fn create<'a>(&'a self, id: &'a SessionId, record: &'a Record) -> BoxFuture<'a, Result<CreateOutcome, StoreError>>;
    fn save_if<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
        expected: &'a Version,
    ) -> BoxFuture<'a, Result<SaveOutcome, StoreError>>;
    fn touch<'a>(&'a self, id: &'a SessionId, record: &'a Record) -> BoxFuture<'a, Result<TouchOutcome, StoreError>>;
    fn refresh<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<TouchOutcome, StoreError>>;
    fn refresh_after<'a>(
        &'a self,
        id: &'a SessionId,
        interval: std::time::Duration,
    ) -> BoxFuture<'a, Result<TouchOutcome, StoreError>>;
    fn destroy<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>>;
    fn is_ready(&self) -> bool;
    fn owner_key(&self) -> Option<&str>;
    fn sessions_of<'a>(&'a self, owner: &'a str, limit: usize) -> BoxFuture<'a, Result<OwnerPage, StoreError>>;
    fn end_session_of<'a>(
        &'a self,
        owner: &'a str,
        handle: &'a SessionHandle,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn end_sessions_of<'a>(
        &'a self,
        owner: &'a str,
        keep: Option<&'a SessionId>,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
}

impl<S: Store> ErasedStore for S {
    fn as_memory(&self) -> Option<&MemoryStore> {
        (self as &dyn std::any::Any).downcast_ref::<MemoryStore>()
    }
    fn get<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>> {
        Box::pin(Store::get(self, id))
    }
    fn create<'a>(&'a self, id: &'a SessionId, record: &'a Record) -> BoxFuture<'a, Result<CreateOutcome, StoreError>> {
        Box::pin(Store::create(self, id, record))
    }
    fn save_if<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
        expected: &'a Version,
    ) -> BoxFuture<'a, Result<SaveOutcome, StoreError>> {
        Box::pin(Store::save_if(self, id, record, expected))
    }
    fn touch<'a>(&'a self, id: &'a SessionId, record: &'a Record) -> BoxFuture<'a, Result<TouchOutcome, StoreError>> {
        Box::pin(Store::touch(self, id, record))
    }
    fn refresh<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<TouchOutcome, StoreError>> {
        Box::pin(Store::refresh(self, id))
    }
    fn refresh_after<'a>(
        &'a self,
        id: &'a SessionId,
        interval: std::time::Duration,
    ) -> BoxFuture<'a, Result<TouchOutcome, StoreError>> {
        Box::pin(Store::refresh_after(self, id, interval))
    }
    fn destroy<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::destroy(self, id))
    }
    fn is_ready(&self) -> bool {
        Store::is_ready(self)
    }
    fn owner_key(&self) -> Option<&str> {
        Store::owner_key(self)
    }
    fn sessions_of<'a>(&'a self, owner: &'a str, limit: usize) -> BoxFuture<'a, Result<OwnerPage, StoreError>> {
        Box::pin(Store::sessions_of(self, owner, limit))
    }
    fn end_session_of<'a>(
        &'a self,
        owner: &'a str,
        handle: &'a SessionHandle,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(Store::end_session_of(self, owner, handle))
    }
    fn end_sessions_of<'a>(
        &'a self,
        owner: &'a str,
        keep: Option<&'a SessionId>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(Store::end_sessions_of(self, owner, keep))
    }
}
