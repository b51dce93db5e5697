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

mod memory;
#[cfg(feature = "test-suite")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-suite")))]
pub mod testing;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use memory::{MemoryStore, MemoryStoreBuilder};

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

/// What [`Store::touch`] and [`Store::refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchOutcome {
    /// The expiry was moved.
    Touched,
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
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The store as the session engine calls it: object-safe, each call one boxed future (a [`Guarded`] store).
/// Every call takes the request's [`RequestCalls`], which holds the request's time budget and failures.
pub(crate) trait DynStore: fmt::Debug + Send + Sync + 'static {
    fn get<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>>;
    fn create<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<CreateOutcome, StoreError>>;
    fn save_if<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
        record: &'a Record,
        expected: &'a Version,
    ) -> BoxFuture<'a, Result<SaveOutcome, StoreError>>;
    fn touch<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<TouchOutcome, StoreError>>;
    fn refresh<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<TouchOutcome, StoreError>>;
    fn destroy<'a>(&'a self, calls: &'a RequestCalls, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>>;
    fn is_ready(&self) -> bool;
}

/// How the layer guards the user's store (from the options).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardOptions {
    /// The time one request's store calls may take together.
    pub(crate) timeout: std::time::Duration,
    pub(crate) hash_ids: bool,
    /// `None`: no circuit breaker.
    pub(crate) breaker: Option<crate::options::CircuitBreaker>,
}

/// A user's store as the options hold it, until the layer is built and wraps it in a [`Guarded`] store
/// (type-erased here so that the options need no type parameter; the guard keeps the concrete type, so each
/// store call costs one boxed future, not two).
pub(crate) trait Guardable: fmt::Debug + Send + Sync + 'static {
    fn guarded(self: Arc<Self>, options: GuardOptions) -> Arc<dyn DynStore>;
}

impl<S: Store> Guardable for S {
    fn guarded(self: Arc<Self>, options: GuardOptions) -> Arc<dyn DynStore> {
        Arc::new(Guarded {
            inner: self,
            timeout: options.timeout,
            hash_ids: options.hash_ids,
            breaker: options.breaker.map(Breaker::new),
        })
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
}

/// What the layer wraps every store in: one time budget per request for all its store calls (a call that takes
/// longer than what is left of it is the store being unreachable, so no request waits on a dead backend longer
/// than one store timeout), no call after one that failed as unavailable in the same request, a circuit breaker
/// shared by every request (see [`CircuitBreaker`](crate::options::CircuitBreaker)), and optionally ids hashed at
/// rest.
#[derive(Debug)]
struct Guarded<S> {
    inner: Arc<S>,
    timeout: std::time::Duration,
    hash_ids: bool,
    breaker: Option<Breaker>,
}

/// Why a store call failed without the store's own error: it was not made, or it was cut short.
#[derive(Debug, thiserror::Error)]
enum NotCalled {
    /// The call took longer than what was left of the request's budget.
    #[error("session store call timed out after {0:?}")]
    TimedOut(std::time::Duration),
    /// The request went away after the call had waited this long without an answer.
    #[error(
        "session store call abandoned after {0:?} without an answer (the request went away: the client gave up \
         before the store timeout)"
    )]
    Abandoned(std::time::Duration),
    /// Nothing was left of the budget.
    #[error("not called: the request's store calls took the whole store timeout ({0:?}) together")]
    OutOfTime(std::time::Duration),
    /// An earlier call of the same request failed as unavailable.
    #[error("not called: an earlier store call of this request failed as unavailable")]
    EarlierFailure,
    /// The circuit breaker is open.
    #[error("not called: the store has been failing for {open_for:?} (circuit open; last failure: {cause})")]
    CircuitOpen {
        /// How long the breaker has been open.
        open_for: std::time::Duration,
        /// The failure that opened it (or the last probe's).
        cause: Arc<str>,
    },
}

/// An error and its causes on one line, each cause once: a cause whose text is already in the line (an error
/// that prints its source and also returns it from `source()`, or `#[error(transparent)]`) is left out.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !line.is_empty() && !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// The first store failure of a request, for the one log line the layer writes about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreFailure {
    /// The error and its causes ([`error_chain`]).
    pub(crate) message: String,
    /// How many more store calls of the request failed after it (without a call: not counted).
    pub(crate) more: u32,
    /// The first failure was the open circuit breaker refusing the call: the store failure behind it was logged
    /// by the request that made that call, and the breaker logs when it opens and closes.
    pub(crate) refused: bool,
}

/// One request's store calls: the time they took together, and whether one failed as unavailable (the next
/// calls then fail at once, without calling the store). Shared by the clones of the request's session.
#[derive(Debug, Default)]
pub(crate) struct RequestCalls {
    spent_nanos: std::sync::atomic::AtomicU64,
    unavailable: std::sync::atomic::AtomicBool,
    failure: std::sync::Mutex<Option<StoreFailure>>,
}

/// A failure the layer did not take (the response future was dropped: the client went away, or the inner service
/// failed or panicked, before the end of the request) is logged here, when the last clone of the request's
/// session goes, so that no store failure goes unlogged.
impl Drop for RequestCalls {
    fn drop(&mut self) {
        let failure = self.failure.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match failure {
            Some(failure) if failure.refused => tracing::debug!(
                error = %failure.message,
                "session store not called; the request went away before it ended"
            ),
            Some(failure) => tracing::error!(
                error = %failure.message,
                later_failures = failure.more,
                "session store failed; the request went away before it ended"
            ),
            None => {}
        }
    }
}

impl RequestCalls {
    /// The request's first store failure, if any (taken: the layer logs it once).
    pub(crate) fn take_failure(&self) -> Option<StoreFailure> {
        self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    fn failed(&self, error: &StoreError) {
        self.note(error, false);
    }

    fn refused(&self, error: &StoreError) {
        self.note(error, true);
    }

    fn note(&self, error: &StoreError, refused: bool) {
        if matches!(error, StoreError::Unavailable { .. }) {
            self.unavailable.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut slot = self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &mut *slot {
            None => *slot = Some(StoreFailure { message: error_chain(error), more: 0, refused }),
            Some(first) => first.more = first.more.saturating_add(1),
        }
    }

    fn spend(&self, time: std::time::Duration) {
        let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        self.spent_nanos.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    fn spent(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.spent_nanos.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The circuit breaker at the store guard (settings: [`CircuitBreaker`](crate::options::CircuitBreaker)).
///
/// Closed, every call goes to the store. `failure_threshold` unavailable failures in a row (refused or lost
/// connections, timeouts) open it: calls then fail at once with [`StoreError::Unavailable`], except one call at
/// a time, at most every `probe_interval`, which goes to the store as a probe. The probe's answer (any answer,
/// a backend error too: the store is reachable) closes it. Backend errors and conflicts never count as
/// failures, and the breaker never repeats a call.
///
/// A call's outcome counts only in the state it was let through in (see `epoch`): an answer to a call made
/// before the breaker opened may have left the store before the failure that opened it, so it does not close
/// the breaker; a failure of a call made before the breaker last closed is older than the probe's answer, so it
/// does not reopen it (nor hold back the next probe while open).
#[derive(Debug)]
struct Breaker {
    settings: crate::options::CircuitBreaker,
    /// Unavailable failures in a row (while closed).
    failures: std::sync::atomic::AtomicU32,
    /// Even: closed; odd: open (mirrors `state.is_some()`, so that a closed breaker costs one atomic load per
    /// call). Changed only with `state` locked, by one at each opening and closing.
    epoch: std::sync::atomic::AtomicU64,
    /// Calls refused since the breaker opened.
    refused: std::sync::atomic::AtomicU64,
    state: std::sync::Mutex<Option<OpenState>>,
}

#[derive(Debug)]
struct OpenState {
    since: tokio::time::Instant,
    next_probe: tokio::time::Instant,
    /// The probe in flight: its number, and when it is overdue (past any time the call may take, plus a probe
    /// interval: a probe whose future is kept but never polled again, or leaked, must not hold the breaker open).
    probe: Option<(u64, tokio::time::Instant)>,
    /// The number of the next probe.
    probes: u64,
    store: &'static str,
    cause: Arc<str>,
}

/// A call let through by the breaker: the epoch it was let through in, and whether it is the probe (with its
/// number). A probe dropped unfinished (the request went away) lets the next call probe at once.
struct Ticket<'a> {
    breaker: &'a Breaker,
    epoch: u64,
    probe: Option<u64>,
    done: bool,
}

impl OpenState {
    /// The probe numbered `number` is over: the next one may start (if it is still the one in flight).
    fn probe_over(&mut self, number: u64) {
        if self.probe.is_some_and(|(current, _)| current == number) {
            self.probe = None;
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(number) = self.probe
            && !self.done
        {
            let mut state = self.breaker.lock();
            if self.breaker.epoch.load(std::sync::atomic::Ordering::Relaxed) == self.epoch
                && let Some(open) = state.as_mut()
            {
                open.probe_over(number);
            }
        }
    }
}

impl Breaker {
    fn new(settings: crate::options::CircuitBreaker) -> Self {
        Self {
            settings,
            failures: std::sync::atomic::AtomicU32::new(0),
            epoch: std::sync::atomic::AtomicU64::new(0),
            refused: std::sync::atomic::AtomicU64::new(0),
            state: std::sync::Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenState>> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Ok(ticket)`: call (closed, or open and this call probes; `limit`: the most the call may take). `Err`:
    /// open, do not call.
    fn admit(&self, limit: std::time::Duration) -> Result<Ticket<'_>, StoreError> {
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        if epoch.is_multiple_of(2) {
            return Ok(Ticket { breaker: self, epoch, probe: None, done: false });
        }
        let mut state = self.lock();
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Relaxed);
        let Some(open) = state.as_mut() else { return Ok(Ticket { breaker: self, epoch, probe: None, done: false }) };
        let now = tokio::time::Instant::now();
        if now >= open.next_probe && open.probe.is_none_or(|(_, overdue)| now >= overdue) {
            let number = open.probes;
            open.probes = open.probes.wrapping_add(1);
            open.probe = Some((number, now + limit + self.settings.probe_interval));
            return Ok(Ticket { breaker: self, epoch, probe: Some(number), done: false });
        }
        let open_for = now.saturating_duration_since(open.since);
        self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Err(StoreError::unavailable(open.store, NotCalled::CircuitOpen { open_for, cause: Arc::clone(&open.cause) }))
    }

    /// The store answered the call.
    fn answered(&self, mut ticket: Ticket<'_>) {
        ticket.done = true;
        if self.epoch.load(std::sync::atomic::Ordering::Acquire) != ticket.epoch {
            // Let through before the breaker last opened or closed: old news.
            return;
        }
        if ticket.probe.is_none() {
            if self.failures.load(std::sync::atomic::Ordering::Relaxed) != 0 {
                self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
            }
            return;
        }
        let mut state = self.lock();
        if self.epoch.load(std::sync::atomic::Ordering::Relaxed) == ticket.epoch
            && let Some(open) = state.take()
        {
            self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
            self.epoch.store(ticket.epoch.wrapping_add(1), std::sync::atomic::Ordering::Release);
            let refused = self.refused.swap(0, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(after = ?open.since.elapsed(), refused, "session store answers again; circuit breaker closed");
        }
    }

    /// The store could not be reached.
    fn down(&self, mut ticket: Ticket<'_>, store: &'static str, error: &StoreError) {
        ticket.done = true;
        if self.epoch.load(std::sync::atomic::Ordering::Acquire) != ticket.epoch {
            // Let through before the breaker last opened or closed: old news.
            return;
        }
        let Some(number) = ticket.probe else {
            let failures = self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed).saturating_add(1);
            if failures < self.settings.failure_threshold {
                return;
            }
            return self.open(ticket.epoch, store, error);
        };
        let mut state = self.lock();
        if self.epoch.load(std::sync::atomic::Ordering::Relaxed) == ticket.epoch
            && let Some(open) = state.as_mut()
        {
            // The probe failed.
            open.next_probe = tokio::time::Instant::now() + self.settings.probe_interval;
            open.probe_over(number);
            open.cause = error_chain(error).into();
        }
    }

    /// Opens the breaker, if it is still closed in `epoch`.
    fn open(&self, epoch: u64, store: &'static str, error: &StoreError) {
        let now = tokio::time::Instant::now();
        let cause: Arc<str> = error_chain(error).into();
        let mut state = self.lock();
        if self.epoch.load(std::sync::atomic::Ordering::Relaxed) != epoch || state.is_some() {
            return;
        }
        *state = Some(OpenState {
            since: now,
            next_probe: now + self.settings.probe_interval,
            probe: None,
            probes: 0,
            store,
            cause,
        });
        let failures = self.failures.swap(0, std::sync::atomic::Ordering::Relaxed);
        self.epoch.store(epoch.wrapping_add(1), std::sync::atomic::Ordering::Release);
        self.refused.store(0, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            failures,
            probe_interval = ?self.settings.probe_interval,
            "session store unreachable; circuit breaker open: store calls fail at once (logged at debug) until a \
             probe gets an answer"
        );
    }
}

/// A store call waiting for its answer. Dropped while waiting (its request went away: the client gave up, a
/// timeout layer fired), a call that waited at least half the store timeout counts as timed out: the request's
/// failure (logged when the request's session goes) and, for the breaker, the store being unreachable, as a
/// timeout would have. Else, with clients less patient than the store timeout, a hung store would never open the
/// breaker, and every request would hang until its client gave up, with nothing logged.
struct Waiting<'a> {
    calls: &'a RequestCalls,
    ticket: Option<Ticket<'a>>,
    start: tokio::time::Instant,
    timeout: std::time::Duration,
    /// The call finished (answered or timed out).
    finished: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let waited = self.start.elapsed();
        self.calls.spend(waited);
        if waited < self.timeout / 2 {
            return;
        }
        let error = StoreError::unavailable("session", NotCalled::Abandoned(waited));
        if let Some(ticket) = self.ticket.take() {
            ticket.breaker.down(ticket, "session", &error);
        }
        self.calls.failed(&error);
    }
}

impl<S: Store> Guarded<S> {
    fn key<'a>(&self, id: &'a SessionId) -> std::borrow::Cow<'a, SessionId> {
        if !self.hash_ids {
            return std::borrow::Cow::Borrowed(id);
        }
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(id.as_str().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        std::borrow::Cow::Owned(SessionId::new(hex).expect("64 hex characters are a valid id"))
    }

    async fn timed<T>(
        &self,
        calls: &RequestCalls,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        // After a call that failed as unavailable, the request's later calls fail at once. Not a new failure: the
        // request's first one is what gets logged. (A backend error, a 500, does not stop later calls: each is
        // the store's answer to its own call, as in express.)
        if calls.unavailable.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::unavailable("session", NotCalled::EarlierFailure));
        }
        let Some(limit) = self.timeout.checked_sub(calls.spent()).filter(|left| !left.is_zero()) else {
            let error = StoreError::unavailable("session", NotCalled::OutOfTime(self.timeout));
            calls.failed(&error);
            return Err(error);
        };
        let mut ticket = match self.breaker.as_ref().map(|breaker| breaker.admit(limit)) {
            None => None,
            Some(Ok(ticket)) => Some(ticket),
            Some(Err(error)) => {
                calls.refused(&error);
                return Err(error);
            }
        };
        // A call that is done at its first poll (an in-process store) needs no timer: skipping it saves two clock
        // reads and a timer-wheel entry per store call.
        let mut call = std::pin::pin!(call);
        let first = std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
            std::task::Poll::Ready(result) => std::task::Poll::Ready(Some(result)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await;
        let mut timed_out = false;
        let result = match first {
            Some(result) => result,
            None => {
                let mut waiting = Waiting {
                    calls,
                    ticket: ticket.take(),
                    start: tokio::time::Instant::now(),
                    timeout: self.timeout,
                    finished: false,
                };
                let result = match tokio::time::timeout(limit, call).await {
                    Ok(result) => result,
                    Err(_) => {
                        timed_out = true;
                        Err(StoreError::unavailable("session", NotCalled::TimedOut(limit)))
                    }
                };
                calls.spend(waiting.start.elapsed());
                ticket = waiting.ticket.take();
                waiting.finished = true;
                result
            }
        };
        if let (Some(breaker), Some(ticket)) = (&self.breaker, ticket) {
            match &result {
                // A timeout with little of the budget left says the request was slow, not that the store is down.
                Err(_) if timed_out && limit < self.timeout / 2 => drop(ticket),
                Err(error @ StoreError::Unavailable { store, .. }) => breaker.down(ticket, store, error),
                _ => breaker.answered(ticket),
            }
        }
        if let Err(error) = &result {
            calls.failed(error);
        }
        result
    }
}

impl<S: Store> DynStore for Guarded<S> {
    fn get<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>> {
        Box::pin(async move { self.timed(calls, self.inner.get(&self.key(id))).await })
    }
    fn create<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<CreateOutcome, StoreError>> {
        Box::pin(async move { self.timed(calls, self.inner.create(&self.key(id), record)).await })
    }
    fn save_if<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
        record: &'a Record,
        expected: &'a Version,
    ) -> BoxFuture<'a, Result<SaveOutcome, StoreError>> {
        Box::pin(async move { self.timed(calls, self.inner.save_if(&self.key(id), record, expected)).await })
    }
    fn touch<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<TouchOutcome, StoreError>> {
        Box::pin(async move { self.timed(calls, self.inner.touch(&self.key(id), record)).await })
    }
    fn refresh<'a>(
        &'a self,
        calls: &'a RequestCalls,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<TouchOutcome, StoreError>> {
        Box::pin(async move { self.timed(calls, self.inner.refresh(&self.key(id))).await })
    }
    fn destroy<'a>(&'a self, calls: &'a RequestCalls, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.timed(calls, self.inner.destroy(&self.key(id))).await })
    }
    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }
}

/// The store as one request calls it: the layer's guarded store with the request's [`RequestCalls`].
#[derive(Clone, Copy)]
pub(crate) struct RequestStore<'a> {
    pub(crate) store: &'a dyn DynStore,
    pub(crate) calls: &'a RequestCalls,
}

impl<'a> RequestStore<'a> {
    pub(crate) fn get(self, id: &'a SessionId) -> BoxFuture<'a, Result<Option<Versioned>, StoreError>> {
        self.store.get(self.calls, id)
    }
    pub(crate) fn create(
        self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<CreateOutcome, StoreError>> {
        self.store.create(self.calls, id, record)
    }
    pub(crate) fn save_if(
        self,
        id: &'a SessionId,
        record: &'a Record,
        expected: &'a Version,
    ) -> BoxFuture<'a, Result<SaveOutcome, StoreError>> {
        self.store.save_if(self.calls, id, record, expected)
    }
    pub(crate) fn touch(
        self,
        id: &'a SessionId,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<TouchOutcome, StoreError>> {
        self.store.touch(self.calls, id, record)
    }
    pub(crate) fn refresh(self, id: &'a SessionId) -> BoxFuture<'a, Result<TouchOutcome, StoreError>> {
        self.store.refresh(self.calls, id)
    }
    pub(crate) fn destroy(self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        self.store.destroy(self.calls, id)
    }
}
