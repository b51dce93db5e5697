//! The session handle handlers use, and the per-request state behind it.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, MutexGuard};

use crate::cookie::SessionCookie;
use crate::engine::config::Config;
use crate::id::SessionId;
use crate::lifecycle::{self, Decision, Facts, Rules, StoreAction};
use crate::options::{OnStoreError, RequestHead, Unset};
use crate::record::{CREATED_AT_KEY, Record, is_reserved_key};
use crate::store::{
    CreateOutcome, RequestCalls, RequestStore, SaveOutcome, StoreError, TouchOutcome, Version, Versioned,
};
use crate::time::Timestamp;

/// An error from a [`Session`] call.
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

/// Reads a stored value as a `T`. A value kept as JSON text (see [`Record::raw_json`]) is parsed now, without
/// serde_json's recursion limit up to [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH).
fn read_value<T: DeserializeOwned>(value: &Value) -> Result<T, SessionError> {
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
fn check_depth(value: &Value) -> Result<(), SessionError> {
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

type UpdateFn = Arc<dyn Fn(Option<&Value>) -> Result<Value, SessionError> + Send + Sync>;

/// One change a handler made, kept so that it can be re-applied on the latest record when a save loses a race.
#[derive(Clone)]
enum Change {
    Set(String, Value),
    Remove(String),
    Update(String, UpdateFn),
    Clear,
}

impl Change {
    /// The one key the change sets or updates; `None` for a change that can remove keys (and so move them).
    fn key(&self) -> Option<&str> {
        match self {
            Change::Set(key, _) | Change::Update(key, _) => Some(key),
            Change::Remove(_) | Change::Clear => None,
        }
    }

    fn apply(&self, data: &mut Map<String, Value>) -> Result<(), SessionError> {
        // Replacing a key's value keeps its place (as assigning to a JS object's existing key does).
        fn put(data: &mut Map<String, Value>, key: &str, value: Value) {
            match data.get_mut(key) {
                // A value kept as its stored text that the new value equals (the handler wrote back what it read):
                // the text stays, so that the data is not modified (express hashes `JSON.stringify`, which gives
                // the same text) and Node's bytes are kept.
                Some(slot)
                    if crate::record::raw_text(slot).is_some_and(|text| {
                        crate::record::parse_raw(text).is_ok_and(|old| same_json(&old, &value))
                    }) => {}
                Some(slot) => *slot = value,
                None => {
                    data.insert(key.to_owned(), value);
                }
            }
        }
        match self {
            Change::Set(k, v) => put(data, k, v.clone()),
            Change::Remove(k) => {
                data.shift_remove(k);
            }
            Change::Update(k, f) => {
                let new = f(data.get(k))?;
                check_depth(&new)?;
                put(data, k, new);
            }
            // The creation stamp is the session's age, not its data: clearing keeps it, or clearing would
            // restart the absolute timeout.
            Change::Clear => data.retain(|key, _| key == CREATED_AT_KEY),
        }
        Ok(())
    }
}

/// express's `savedHash`, lazily: `Original` means "the data as loaded or created".
#[derive(Clone, PartialEq)]
enum SavedHash {
    Unset,
    Original,
    Value(Map<String, Value>),
}

/// Whether two values serialize to the same JSON, which is how express decides "modified" (it hashes
/// `JSON.stringify` of the session). Unlike `==` on `serde_json::Map`, key order counts, as it does in the text.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => same_data(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b)),
        _ => a == b,
    }
}

/// [`same_json`] for the session data.
fn same_data(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
}

/// express's `originalHash` (the data as loaded, to tell whether the request modified it), kept as small as it
/// can be: while the request only sets or updates keys, the original values of those keys (assigning to a key
/// keeps its place and a new key goes last, so nothing else can differ); once a key is removed, the data is
/// cleared or reloaded, a copy of the whole original data.
enum Original {
    Keys(Vec<(String, Option<Value>)>),
    Full(Map<String, Value>),
}

impl Original {
    /// Remembers what `key` (`None`: every key) holds in `data` before a change, unless already known.
    fn note(&mut self, data: &Map<String, Value>, key: Option<&str>) {
        match (&mut *self, key) {
            (Original::Full(_), _) => {}
            (Original::Keys(keys), Some(key)) => {
                if !keys.iter().any(|(k, _)| k == key) {
                    keys.push((key.to_owned(), data.get(key).cloned()));
                }
            }
            (Original::Keys(keys), None) => {
                // Put the noted keys back: set keys in place, new keys (appended last) out.
                let mut full = data.clone();
                for (key, value) in keys.drain(..) {
                    match value {
                        Some(value) => {
                            if let Some(slot) = full.get_mut(&key) {
                                *slot = value;
                            }
                        }
                        None => {
                            full.shift_remove(&key);
                        }
                    }
                }
                *self = Original::Full(full);
            }
        }
    }

    /// Whether `data` has the same JSON text as the original.
    fn same_as(&self, data: &Map<String, Value>) -> bool {
        match self {
            Original::Full(original) => same_data(original, data),
            Original::Keys(keys) => keys.iter().all(|(key, original)| match (original, data.get(key)) {
                (None, None) => true,
                (Some(a), Some(b)) => same_json(a, b),
                _ => false,
            }),
        }
    }
}

/// The session as this request sees it (express's `req.session` plus the middleware's bookkeeping).
struct Active {
    /// `None` until a new session's id is needed (generated lazily).
    id: Option<SessionId>,
    record: Record,
    /// The store's version, when the record is known to be stored.
    version: Option<Version>,
    /// Changes since the record was last read or written, for re-application on a conflict.
    changes: Vec<Change>,
    /// The handler changed a cookie field (it then wins over a concurrent request's cookie).
    cookie_changed: bool,
    /// `cycle_id` moved the session to `id`, and the move is not written yet: the record still lives under the
    /// old id, at this version. The first write creates the new record and retires the old one.
    moved_from: Option<MovedFrom>,
}

/// Where a session `cycle_id` moved was stored, until the move is written.
#[derive(Clone)]
struct MovedFrom {
    id: SessionId,
    version: Version,
}

impl Active {
    fn fresh(record: Record, id: Option<SessionId>) -> Self {
        Self { id, record, version: None, changes: Vec::new(), cookie_changed: false, moved_from: None }
    }
}

enum Phase {
    /// A valid cookie arrived; the record has not been read yet.
    Unloaded,
    /// `req.session` exists.
    Active(Active),
    /// `destroy()` or `unset()` removed `req.session`; `req.sessionID` is kept.
    Gone(Gone),
}

/// What is left of a session after `destroy()` or `unset()`.
struct Gone {
    /// express's `req.sessionID`: the id the session had (generated now for a new session that had none yet).
    id: Option<SessionId>,
    /// The session was known to be stored under `id` (so `unset: 'destroy'` has something to destroy).
    stored: bool,
    /// The cookie of a session that was destroyed (not merely unset with `unset: 'keep'`), for the removal cookie.
    destroyed_cookie: Option<SessionCookie>,
}

struct State {
    phase: Phase,
    /// express's `originalHash`: a copy of the data taken before the first change (`None`: not yet needed).
    original: Option<Original>,
    /// The data may differ from the original (a change or a reload happened).
    touched_data: bool,
    saved_hash: SavedHash,
    /// `regenerate()` ran: the id is no longer the one the request started with.
    id_changed: bool,
    /// express wraps `save` only on sessions it created or loaded, not on regenerated ones.
    wrapped: bool,
    /// The handler used the session (for `Vary: Cookie` and `Cache-Control`).
    accessed: bool,
}

struct Shared {
    config: Arc<Config>,
    cookie_id: Option<SessionId>,
    request_secure: bool,
    head: Option<RequestHead>,
    /// The request's store calls: their common time budget and failures.
    calls: RequestCalls,
    state: Mutex<State>,
}

/// The session of one request: express's `req.session`.
///
/// Handlers get it from the request extensions (the axum extractor does that). It is cheap to clone; clones
/// share the same state. Nothing is read from the store until a method needs the data, and nothing is written
/// until the response is ready (or [`save`](Self::save) is called).
///
/// ```
/// # async fn handler(session: express_session::Session) -> Result<String, express_session::SessionError> {
/// let views: u64 = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
/// session.insert("last_path", "/foo").await?;
/// let user: Option<String> = session.get("user").await?;
/// Ok(format!("{views} views, user {user:?}"))
/// # }
/// ```
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("cookie_id", &self.shared.cookie_id).finish_non_exhaustive()
    }
}

/// What the end of a request produced.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    /// The `Set-Cookie` value to append, if express would send one (or the removal cookie after a destroy).
    pub(crate) set_cookie: Option<String>,
    /// The handler used the session or a cookie is sent: the response depends on the session.
    pub(crate) used: bool,
    /// A `Secure` cookie would have been sent but the request is not secure (express: "not secured").
    pub(crate) secure_cookie_held_back: bool,
}

impl Session {
    /// Starts a request's session: `cookie_id` is the verified id from the cookie, if any.
    pub(crate) fn begin(
        config: Arc<Config>,
        cookie_id: Option<SessionId>,
        request_secure: bool,
        head: Option<RequestHead>,
    ) -> Self {
        let phase = if cookie_id.is_some() {
            Phase::Unloaded
        } else {
            let mut record = Record::new(config.new_cookie(request_secure));
            if config.hardening.absolute_timeout.is_some() {
                record.data_mut().insert(CREATED_AT_KEY.into(), config.clock.now().as_millis().into());
            }
            Phase::Active(Active::fresh(record, None))
        };
        let state = State {
            phase,
            original: None,
            touched_data: false,
            saved_hash: SavedHash::Unset,
            id_changed: false,
            wrapped: true,
            accessed: false,
        };
        Self {
            shared: Arc::new(Shared {
                config,
                cookie_id,
                request_secure,
                head,
                calls: RequestCalls::default(),
                state: Mutex::new(state),
            }),
        }
    }

    fn config(&self) -> &Config {
        &self.shared.config
    }

    fn now(&self) -> Timestamp {
        self.config().clock.now()
    }

    /// The store, as this request calls it: one time budget for all the request's calls, and no call after one
    /// that failed as unavailable.
    fn store(&self) -> RequestStore<'_> {
        RequestStore { store: &*self.shared.config.store, calls: &self.shared.calls }
    }

    /// The request's first store failure, for the layer's one log line about it.
    pub(crate) fn take_store_failure(&self) -> Option<crate::store::StoreFailure> {
        self.shared.calls.take_failure()
    }

    /// Reads the record for the cookie's id, or starts a new session when there is none (express's `store.get`
    /// at the start of the request).
    async fn load(&self, state: &mut State) -> Result<(), SessionError> {
        let Some(id) = self.shared.cookie_id.clone() else { return Ok(()) };
        match self.store().get(&id).await {
            Ok(Some(found)) if self.past_absolute_timeout(&found.record) => {
                tracing::info!(session = %id.log_hash(), "session reached its absolute timeout; starting a new one");
                self.store().destroy(&id).await?;
                let cookie = self.config().new_cookie(self.shared.request_secure);
                state.phase = Phase::Active(self.fresh_active(Record::new(cookie), None));
            }
            Ok(Some(found)) => {
                let unstamped = self.config().hardening.absolute_timeout.is_some()
                    && creation_stamp(found.record.data().get(CREATED_AT_KEY)).is_none();
                let mut active = Active::fresh(found.record, Some(id));
                active.version = Some(found.version);
                state.phase = Phase::Active(active);
                if !self.config().resave {
                    state.saved_hash = SavedHash::Original;
                }
                if unstamped {
                    // A session created before the option (or by Node): its lifetime starts now, and the stamp is
                    // stored at once, even by a read-only request, or the absolute timeout would never end it.
                    self.store_creation_stamp(state).await?;
                }
            }
            Ok(None) => {
                // Strict ids: a client-supplied id is never adopted.
                tracing::info!(session = %id.log_hash(), "cookie names no live session; starting a new one");
                let cookie = self.config().new_cookie(self.shared.request_secure);
                state.phase = Phase::Active(self.fresh_active(Record::new(cookie), None));
            }
            // Logged once, by the layer, at the end of the request.
            Err(_) if self.config().hardening.on_store_error == OnStoreError::ServeWithoutSession => {
                state.phase = Phase::Gone(Gone { id: None, stored: false, destroyed_cookie: None });
                return Err(SessionError::NoSession);
            }
            // The phase stays `Unloaded`: a later call, or the end of the request, tries again.
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }

    /// Stores the creation stamp of a loaded session that had none, with a conditional write (the stamp of another
    /// request or server instance that got there first wins). Nothing else the request does is written with it.
    async fn store_creation_stamp(&self, state: &mut State) -> Result<(), SessionError> {
        let now = self.now().as_millis();
        let stamp = Change::Update(
            CREATED_AT_KEY.into(),
            Arc::new(move |stored: Option<&Value>| Ok(creation_stamp(stored).map_or_else(|| now.into(), Value::from))),
        );
        let active = Self::active_mut(state);
        stamp.apply(active.record.data_mut())?;
        active.changes.push(stamp);
        let id = active.id.clone();
        match self.write(state).await {
            Ok(WriteOutcome::Written) => Ok(()),
            Ok(WriteOutcome::Gone) => {
                // Destroyed meanwhile: as if the cookie had named no live session (a new session has no saved
                // hash, so that `saveUninitialized` stores it before its cookie is sent).
                let cookie = self.config().new_cookie(self.shared.request_secure);
                state.phase = Phase::Active(self.fresh_active(Record::new(cookie), None));
                state.saved_hash = SavedHash::Unset;
                Ok(())
            }
            Err(SessionError::Store(error))
                if self.config().hardening.on_store_error == OnStoreError::ServeWithoutSession =>
            {
                tracing::error!(%error, "session store failed; serving the request without a session");
                state.phase = Phase::Gone(Gone { id: None, stored: false, destroyed_cookie: None });
                Err(SessionError::NoSession)
            }
            Err(error @ SessionError::Store(_)) => {
                // As when the read fails: a later call, or the end of the request, tries again.
                state.phase = Phase::Unloaded;
                Err(error)
            }
            Err(error) => {
                // The record cannot be written back as it is (too large, or lost every race): the stamp stays in
                // this request's copy and is written with its next save; a later request tries again.
                tracing::warn!(
                    session = ?id.as_ref().map(SessionId::log_hash),
                    %error,
                    "the session's creation stamp (absolute timeout) could not be stored"
                );
                Ok(())
            }
        }
    }

    /// A new session's state, stamped with its creation time when there is an absolute timeout.
    fn fresh_active(&self, mut record: Record, id: Option<SessionId>) -> Active {
        if self.config().hardening.absolute_timeout.is_some() {
            record.data_mut().insert(CREATED_AT_KEY.into(), self.now().as_millis().into());
        }
        Active::fresh(record, id)
    }

    fn past_absolute_timeout(&self, record: &Record) -> bool {
        let Some(timeout) = self.config().hardening.absolute_timeout else { return false };
        let Some(created) = creation_stamp(record.data().get(CREATED_AT_KEY)) else { return false };
        self.now().millis_since(Timestamp::from_millis(created)) >= crate::time::duration_millis(timeout)
    }

    /// Locks the state with the session loaded, and returns the active session or `NoSession`.
    async fn active(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        let mut state = self.shared.state.lock().await;
        state.accessed = true;
        if matches!(state.phase, Phase::Unloaded) {
            self.load(&mut state).await?;
        }
        match state.phase {
            Phase::Active(_) => Ok(state),
            Phase::Gone(_) | Phase::Unloaded => Err(SessionError::NoSession),
        }
    }

    fn active_mut(state: &mut State) -> &mut Active {
        match &mut state.phase {
            Phase::Active(a) => a,
            _ => unreachable!("checked by Session::active"),
        }
    }

    /// Notes that the data is about to change (`key`, or every key): remembers the original first.
    fn before_change(state: &mut State, key: Option<&str>) {
        let State { phase, original, .. } = state;
        if let Phase::Active(active) = phase {
            original.get_or_insert_with(|| Original::Keys(Vec::new())).note(active.record.data(), key);
        }
        state.touched_data = true;
    }

    fn change(state: &mut State, change: Change) -> Result<(), SessionError> {
        Self::before_change(state, change.key());
        let active = Self::active_mut(state);
        change.apply(active.record.data_mut())?;
        active.changes.push(change);
        Ok(())
    }

    /// The value under `key`, deserialized; `None` when absent.
    ///
    /// A value the Node app stored that has no Rust form (a string with a lone UTF-16 surrogate, nesting deeper
    /// than [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH)) fails only this read: the session and its other
    /// keys are unaffected, and the value is written back unchanged unless the handler replaces or removes it.
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] when the value has another shape or no Rust form (its message never quotes
    /// the value), [`SessionError::Store`] when loading failed, [`SessionError::NoSession`] after
    /// `destroy`/`unset`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let mut state = self.active().await?;
        match Self::active_mut(&mut state).record.data().get(key) {
            None => Ok(None),
            Some(v) => read_value(v).map(Some),
        }
    }

    /// The JSON value under `key`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, SessionError> {
        let mut state = self.active().await?;
        match Self::active_mut(&mut state).record.data().get(key) {
            None => Ok(None),
            Some(v) => read_value(v).map(Some),
        }
    }

    /// Sets `key` to `value` (express: `req.session[key] = value`).
    ///
    /// # Errors
    ///
    /// [`SessionError::Serialize`], [`SessionError::ReservedKey`] for a key express reserves,
    /// [`SessionError::TooDeep`] for a value that could not be read back, and the errors of [`get`](Self::get).
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), SessionError> {
        let value = serde_json::to_value(value).map_err(SessionError::Serialize)?;
        self.insert_value(key, value).await
    }

    /// Sets `key` to a JSON value.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub async fn insert_value(&self, key: &str, value: Value) -> Result<(), SessionError> {
        if is_reserved_key(key) || key == CREATED_AT_KEY || crate::record::key_text(key).is_some() {
            return Err(SessionError::ReservedKey(key.to_owned()));
        }
        check_depth(&value)?;
        let mut state = self.active().await?;
        Self::change(&mut state, Change::Set(key.to_owned(), value))
    }

    /// Removes `key` and returns its old value (express: `delete req.session[key]`).
    ///
    /// # Errors
    ///
    /// [`SessionError::ReservedKey`] for the creation stamp ([`CREATED_AT_KEY`]), which the layer keeps, and
    /// the errors of [`get`](Self::get). The key is removed even when its old value cannot be read as a `T`
    /// ([`SessionError::Deserialize`] then says why).
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        if key == CREATED_AT_KEY {
            return Err(SessionError::ReservedKey(key.to_owned()));
        }
        let mut state = self.active().await?;
        let old = Self::active_mut(&mut state).record.data().get(key).cloned();
        if old.is_some() {
            Self::change(&mut state, Change::Remove(key.to_owned()))?;
        }
        match old {
            None => Ok(None),
            Some(v) => read_value(&v).map(Some),
        }
    }

    /// Replaces the value under `key` with `f(old)` and returns the new value.
    ///
    /// Unlike a `get` followed by an `insert`, this is atomic across concurrent requests of the same session:
    /// if another request saved the session in between, `f` runs again on the value it saved before this
    /// request's save goes through. `f` may therefore run more than once, and should have no side effects.
    ///
    /// ```
    /// # async fn handler(session: express_session::Session) -> Result<(), express_session::SessionError> {
    /// let views = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    /// # let _ = views; Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] when the stored value is not a `T` (or has no Rust form, see
    /// [`get`](Self::get)), and the errors of [`insert`](Self::insert).
    pub async fn update<T, F>(&self, key: &str, f: F) -> Result<T, SessionError>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync + 'static,
    {
        if is_reserved_key(key) || key == CREATED_AT_KEY || crate::record::key_text(key).is_some() {
            return Err(SessionError::ReservedKey(key.to_owned()));
        }
        let erased: UpdateFn = Arc::new(move |old: Option<&Value>| {
            let old = match old {
                None => None,
                Some(v) => Some(read_value(v)?),
            };
            serde_json::to_value(f(old)).map_err(SessionError::Serialize)
        });
        let mut state = self.active().await?;
        Self::change(&mut state, Change::Update(key.to_owned(), erased))?;
        let new = Self::active_mut(&mut state).record.data().get(key).unwrap_or(&Value::Null);
        read_value(new)
    }

    /// Removes every key (the cookie stays, and so does the creation stamp of the
    /// [`absolute_timeout`](crate::SessionOptions::absolute_timeout): clearing the data does not make the session
    /// younger).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn clear(&self) -> Result<(), SessionError> {
        let mut state = self.active().await?;
        Self::change(&mut state, Change::Clear)
    }

    /// The keys, in insertion order.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn keys(&self) -> Result<Vec<String>, SessionError> {
        let mut state = self.active().await?;
        // A key without a Rust form (a lone surrogate, kept as its text) is not listed: no `&str` can name it.
        let keys = Self::active_mut(&mut state).record.data().keys();
        Ok(keys.filter(|key| crate::record::key_text(key).is_none()).cloned().collect())
    }

    /// A copy of all the data. A value without a Rust form (see [`get`](Self::get)) is left out; [`keys`](Self::keys)
    /// lists it.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn data(&self) -> Result<Map<String, Value>, SessionError> {
        let mut state = self.active().await?;
        let data = Self::active_mut(&mut state).record.data();
        Ok(data
            .iter()
            .filter(|(k, _)| crate::record::key_text(k).is_none())
            .filter_map(|(k, v)| match crate::record::raw_text(v) {
                None => Some((k.clone(), v.clone())),
                Some(text) => crate::record::parse_raw(text).ok().map(|v| (k.clone(), v)),
            })
            .collect())
    }

    /// The session id (express: `req.sessionID`), generating it for a new session. After `destroy` or `unset`
    /// it is the id the session had, as in express.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when loading failed, [`SessionError::InvalidGeneratedId`] from a custom `genid`.
    pub async fn id(&self) -> Result<Option<SessionId>, SessionError> {
        let mut state = self.shared.state.lock().await;
        state.accessed = true;
        if matches!(state.phase, Phase::Unloaded) {
            self.load(&mut state).await?;
        }
        match &mut state.phase {
            Phase::Active(active) => Ok(Some(self.ensure_id(active)?)),
            Phase::Gone(gone) => Ok(gone.id.clone()),
            Phase::Unloaded => Ok(None),
        }
    }

    fn ensure_id(&self, active: &mut Active) -> Result<SessionId, SessionError> {
        if let Some(id) = &active.id {
            return Ok(id.clone());
        }
        let id = self.config().generate_id(self.shared.head.as_ref())?;
        active.id = Some(id.clone());
        Ok(id)
    }

    /// A copy of the session's cookie (express: `req.session.cookie`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn cookie(&self) -> Result<SessionCookie, SessionError> {
        let mut state = self.active().await?;
        Ok(Self::active_mut(&mut state).record.cookie().clone())
    }

    /// Changes the session's cookie (express: assigning `req.session.cookie.*`). Changing only the cookie does
    /// not count as modifying the session, as in express.
    ///
    /// ```
    /// # async fn handler(session: express_session::Session) -> Result<(), express_session::SessionError> {
    /// use express_session::SameSite;
    /// session.modify_cookie(|cookie, _now| cookie.set_same_site(Some(SameSite::Strict))).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn modify_cookie<F>(&self, f: F) -> Result<(), SessionError>
    where
        F: FnOnce(&mut SessionCookie, Timestamp),
    {
        let now = self.now();
        let mut state = self.active().await?;
        let active = Self::active_mut(&mut state);
        f(active.record.cookie_mut(), now);
        active.cookie_changed = true;
        Ok(())
    }

    /// express's `req.session.cookie.maxAge = ms`: the cookie expires `max_age` from now; `None` makes it a
    /// browser-session cookie.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn set_max_age(&self, max_age: Option<Duration>) -> Result<(), SessionError> {
        self.modify_cookie(|cookie, now| cookie.set_max_age(max_age, now)).await
    }

    /// express's `req.session.cookie.expires = date`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn set_expires(&self, expires: Option<Timestamp>) -> Result<(), SessionError> {
        self.modify_cookie(|cookie, now| cookie.set_expires(expires, now)).await
    }

    /// express's `req.session.touch()`: the expiry becomes now plus the original max age. No store I/O.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn touch(&self) -> Result<(), SessionError> {
        let now = self.now();
        let mut state = self.active().await?;
        Self::active_mut(&mut state).record.cookie_mut().touch(now);
        Ok(())
    }

    /// express's `req.session.resetMaxAge()`: the same as [`touch`](Self::touch).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn reset_max_age(&self) -> Result<(), SessionError> {
        self.touch().await
    }

    /// express's `req.session.regenerate()`: destroys the stored session and starts a new, empty one with a new
    /// id and a cookie from the options. Use it at login against session fixation.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the old session could not be destroyed (the new session is started anyway,
    /// as in express), and the errors of [`get`](Self::get).
    pub async fn regenerate(&self) -> Result<(), SessionError> {
        let mut state = self.active().await?;
        let old = Self::active_mut(&mut state).id.clone();
        let moved_from = Self::active_mut(&mut state).moved_from.take();
        let mut destroyed = match (&old, Self::active_mut(&mut state).version.is_some()) {
            (Some(id), true) => self.store().destroy(id).await,
            _ => Ok(()),
        };
        if let (Some(from), Ok(())) = (moved_from, &destroyed) {
            // A `cycle_id` earlier in this request that is not written yet: the session still lives there.
            destroyed = self.store().destroy(&from.id).await;
        }
        let new_id = self.config().generate_id(self.shared.head.as_ref())?;
        let record = Record::new(self.config().new_cookie(self.shared.request_secure));
        state.phase = Phase::Active(self.fresh_active(record, Some(new_id)));
        state.id_changed = true;
        state.wrapped = false;
        destroyed.map_err(Into::into)
    }

    /// Moves the session to a new id, keeping its data and cookie, and destroys the old record (not in
    /// express-session, whose `regenerate` discards the data). Use it when privileges change, for example at
    /// login, when the data collected before must survive.
    ///
    /// ```
    /// # async fn login(session: express_session::Session) -> Result<(), express_session::SessionError> {
    /// session.cycle_id().await?;
    /// session.insert("user", "alice").await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// The move is written with the session, at the end of the request (or by [`save`](Self::save)): the
    /// record is created under the new id, then the old record is retired, only if it is still the version this
    /// request read. Until then the session stays where it was, so a request that never ends (the client went
    /// away, or a timeout dropped it) or a store that fails leaves it there, under the id the browser still has.
    /// It is atomic with respect to the other requests of the session: if another request saved the old record
    /// in between, what that request saved moves too (this request's changes are re-applied on it, as a save
    /// does); if another request destroyed it in between (a logout), nothing moves: the new record is removed,
    /// this request's changes are dropped and no cookie is sent, as for a save that finds its session destroyed.
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidGeneratedId`] from a custom `genid`, [`SessionError::TooLarge`] when the session
    /// could not be written under the new id (nothing moves), and the errors of [`get`](Self::get). The store
    /// errors of the move come from the write ([`save`](Self::save), or the end of the request); the session
    /// then stays under its old id.
    pub async fn cycle_id(&self) -> Result<(), SessionError> {
        let mut state = self.active().await?;
        let config = Arc::clone(&self.shared.config);
        // The new id first: a failing `genid` leaves the session as it was.
        let new_id = config.generate_id(self.shared.head.as_ref())?;
        let active = Self::active_mut(&mut state);
        // What cannot be written under the new id must not be moved from the old one.
        Self::check_size(&config, &active.record)?;
        if let (Some(old), Some(version)) = (active.id.clone(), active.version.take()) {
            // Stored under `old` (and not moved since: a pending move has no version): the record stays there
            // until the move is written. A second `cycle_id` before that only picks another new id.
            active.moved_from = Some(MovedFrom { id: old, version });
        }
        active.id = Some(new_id);
        state.id_changed = true;
        state.wrapped = false;
        Ok(())
    }

    /// Writes a move `cycle_id` made: creates the session under its new id, then retires the old record only if
    /// it is still the version this request knows (one conditional save of an empty record that has already
    /// expired, which every store then treats as absent, then a destroy to remove it). When another request
    /// wrote the old record in between, its write is merged and the new record updated, and the retire tried
    /// again. Returns `false` when the old record was destroyed (or expired) meanwhile: the new record is then
    /// destroyed too, and nothing of the session lives on.
    async fn commit_move(
        &self,
        config: &Config,
        active: &mut Active,
        mut from: MovedFrom,
    ) -> Result<bool, SessionError> {
        let store = self.store();
        let new_id = active.id.clone().expect("a created session has an id");
        for attempt in 0..=config.max_save_retries {
            let mut cookie = active.record.cookie().clone();
            cookie.expires = Some(Timestamp::from_millis(0));
            let retired = Record::from_parts(cookie, Map::new());
            let outcome = match store.save_if(&from.id, &retired, &from.version).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    // The old record may still hold the session: the new one must not stay as a second copy.
                    self.abandon_new(&new_id).await;
                    return Err(error.into());
                }
            };
            match outcome {
                SaveOutcome::Saved(_) => {
                    // The record is already unreadable; removing it is tidiness (pruning would do it too).
                    if let Err(error) = store.destroy(&from.id).await {
                        tracing::warn!(session = %from.id.log_hash(), %error, "retired session record not removed");
                    }
                    return Ok(true);
                }
                SaveOutcome::Gone => {
                    self.abandon_new(&new_id).await;
                    return Ok(false);
                }
                SaveOutcome::Conflict => {
                    tracing::debug!(session = %from.id.log_hash(), attempt, "cycle_id lost a race; re-applying changes");
                    if attempt > 0 {
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    let merged = async {
                        let Some(fresh) = store.get(&from.id).await? else { return Ok(None) };
                        let record = Self::rebased(config, active, fresh.record)?;
                        let expected = active.version.clone().expect("a created session has a version");
                        match store.save_if(&new_id, &record, &expected).await? {
                            SaveOutcome::Saved(version) => Ok(Some((record, version, fresh.version))),
                            // Nobody else knows the new id: only its expiry could have ended it.
                            SaveOutcome::Conflict | SaveOutcome::Gone => Err(SessionError::SaveConflict),
                        }
                    };
                    match merged.await {
                        Ok(Some((record, version, old_version))) => {
                            active.record = record;
                            active.version = Some(version);
                            from.version = old_version;
                        }
                        Ok(None) => {
                            self.abandon_new(&new_id).await;
                            return Ok(false);
                        }
                        Err(error) => {
                            self.abandon_new(&new_id).await;
                            return Err(error);
                        }
                    }
                }
            }
        }
        self.abandon_new(&new_id).await;
        Err(SessionError::SaveConflict)
    }

    /// Removes the record a move created under `id` that is not to live on (logged when the store fails: the
    /// record is then only an orphan no cookie names, until it expires).
    async fn abandon_new(&self, id: &SessionId) {
        if let Err(error) = self.store().destroy(id).await {
            tracing::warn!(session = %id.log_hash(), %error, "cycle_id: the new record was not removed");
        }
    }

    /// express's `req.session.destroy()`: removes the stored session now. Later calls in this request get
    /// [`SessionError::NoSession`]; [`id`](Self::id) still returns the id the session had (express keeps
    /// `req.sessionID`).
    ///
    /// The response carries a cookie that makes the browser drop the session cookie (same name, path and
    /// domain, an empty value, an expiry in 1970) when the request came with one. express sends no cookie at
    /// all; [`clear_cookie_on_destroy(false)`](crate::SessionOptions::clear_cookie_on_destroy) does the same.
    ///
    /// ```
    /// # async fn logout(session: express_session::Session) -> Result<(), express_session::SessionError> {
    /// let id = session.id().await?;
    /// session.destroy().await?;
    /// assert_eq!(session.id().await?, id, "the id stays readable");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store failed, and the errors of [`get`](Self::get).
    pub async fn destroy(&self) -> Result<(), SessionError> {
        let mut state = self.active().await?;
        let active = Self::active_mut(&mut state);
        let stored = active.version.is_some();
        // express's `req.sessionID` exists from the start of the request; here a new session's id may not have
        // been generated yet. A custom `genid` that fails leaves none.
        let id = self.ensure_id(active).ok();
        let destroyed_cookie = Some(active.record.cookie().clone());
        let moved_from = active.moved_from.take();
        state.phase = Phase::Gone(Gone { id: id.clone(), stored, destroyed_cookie });
        if let Some(from) = moved_from {
            // A `cycle_id` earlier in this request that is not written yet: the session still lives there.
            self.store().destroy(&from.id).await?;
        }
        match id {
            Some(id) if stored => self.store().destroy(&id).await.map_err(Into::into),
            _ => Ok(()),
        }
    }

    /// express's `req.session = null`: this request drops its session. With [`Unset::Keep`] the stored session
    /// stays as it was; with [`Unset::Destroy`] it is destroyed at the end of the request.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when loading failed.
    pub async fn unset(&self) -> Result<(), SessionError> {
        let mut state = self.shared.state.lock().await;
        state.accessed = true;
        if matches!(state.phase, Phase::Unloaded) {
            self.load(&mut state).await?;
        }
        if let Phase::Active(active) = &mut state.phase {
            if let Some(from) = active.moved_from.take()
                && self.config().unset == Unset::Destroy
            {
                // A `cycle_id` earlier in this request that is not written yet: the session still lives there.
                // (With `unset: 'keep'` it stays there, as it was.)
                self.store().destroy(&from.id).await?;
            }
            let stored = active.version.is_some() && active.id.is_some();
            // express keeps `req.sessionID`; a new session's id is generated now if it was not yet.
            let id = self.ensure_id(active).ok();
            let destroyed = self.config().unset == Unset::Destroy && stored;
            let destroyed_cookie = destroyed.then(|| active.record.cookie().clone());
            state.phase = Phase::Gone(Gone { id, stored, destroyed_cookie });
        }
        Ok(())
    }

    /// express's `req.session.reload()`: reads the stored session again, discarding this request's changes.
    ///
    /// # Errors
    ///
    /// [`SessionError::NotFound`] when the store has no such session (the session is left as it was),
    /// [`SessionError::Store`] when the store failed.
    pub async fn reload(&self) -> Result<(), SessionError> {
        let mut state = self.active().await?;
        let Some(id) = Self::active_mut(&mut state).id.clone() else { return Err(SessionError::NotFound) };
        let Some(found) = self.store().get(&id).await? else { return Err(SessionError::NotFound) };
        Self::before_change(&mut state, None);
        // What the store holds is now the reloaded data, which may carry other requests' writes: a later change
        // that makes the data equal to what was loaded first (removing a key another request added) must still
        // be written. Whether the data counts as modified stays judged against the first load, as in express.
        if !matches!(state.saved_hash, SavedHash::Unset) {
            state.saved_hash = SavedHash::Value(found.record.data().clone());
        }
        let mut active = Active::fresh(found.record, Some(id));
        active.version = Some(found.version);
        state.phase = Phase::Active(active);
        Ok(())
    }

    /// express's `req.session.save()`: writes the session to the store now (the end of the request then saves
    /// again only if the data changes again).
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the store failed, [`SessionError::SaveConflict`] when concurrent writes kept
    /// winning, and the errors of [`get`](Self::get).
    pub async fn save(&self) -> Result<(), SessionError> {
        let mut state = self.active().await?;
        let outcome = self.write(&mut state).await?;
        if state.wrapped {
            // express's `savedHash`, taken of what was written: a save that lost a race wrote this request's
            // changes re-applied on the other request's record, so a later change back to the data as this
            // request had it before the save (removing a key the other request added) must still be written.
            let data = Self::active_mut(&mut state).record.data().clone();
            state.saved_hash = SavedHash::Value(data);
        }
        match outcome {
            WriteOutcome::Written => Ok(()),
            // express would recreate it; we do not bring back a session another request destroyed.
            WriteOutcome::Gone => Ok(()),
        }
    }

    /// Writes the active session: `create` when it is new, else a conditional save that re-applies this
    /// request's changes on the latest record when another request wrote in between.
    ///
    /// Every write stores the cookie touched now (express's `touch()`: expires = now + originalMaxAge), as
    /// express's end-of-request save does. The loaded `cookie.expires` may be long past: store-side touches (of
    /// earlier read-only requests) move only the key's TTL or the row's `expire`, not the stored text, and
    /// writing that stale expiry back would end a live session. A cookie the handler changed is touched too:
    /// its `originalMaxAge` is what the handler set.
    async fn write(&self, state: &mut State) -> Result<WriteOutcome, SessionError> {
        let config = Arc::clone(&self.shared.config);
        let store = self.store();
        let active = Self::active_mut(state);
        active.record.cookie_mut().touch(config.clock.now());
        Self::check_size(&config, &active.record)?;
        match active.version.clone() {
            None => {
                for _ in 0..4 {
                    let id = self.ensure_id(active)?;
                    match store.create(&id, &active.record).await? {
                        CreateOutcome::Created(version) => {
                            active.version = Some(version);
                            if let Some(from) = active.moved_from.clone() {
                                match self.commit_move(&config, active, from).await {
                                    Ok(true) => {}
                                    Ok(false) => {
                                        tracing::warn!(
                                            session = %id.log_hash(),
                                            "cycle_id: the session was destroyed by another request; this request's \
                                             changes are dropped"
                                        );
                                        // The move stays pending: a later write of this request (after an
                                        // explicit save) finds the session gone again, and never creates it
                                        // under the new id.
                                        active.version = None;
                                        return Ok(WriteOutcome::Gone);
                                    }
                                    Err(error) => {
                                        // Nothing moved: the next write tries again.
                                        active.version = None;
                                        return Err(error);
                                    }
                                }
                            }
                            active.moved_from = None;
                            active.changes.clear();
                            active.cookie_changed = false;
                            return Ok(WriteOutcome::Written);
                        }
                        CreateOutcome::Exists => {
                            tracing::warn!(session = %id.log_hash(), "generated session id already exists; generating another");
                            active.id = None;
                        }
                    }
                }
                Err(SessionError::IdCollision)
            }
            Some(_) => {
                let id = self.ensure_id(active)?;
                // After a first lost race, requests of this session in this process retry one after the other,
                // so that only requests served by other processes can make a retry lose again. The lock costs
                // nothing when there is no contention (the lock is only looked up after a conflict).
                let lock = OnceLock::new();
                let mut turn = None;
                for attempt in 0..=config.max_save_retries {
                    let expected = active.version.clone().expect("a stored session has a version");
                    match store.save_if(&id, &active.record, &expected).await? {
                        SaveOutcome::Saved(version) => {
                            active.version = Some(version);
                            active.changes.clear();
                            active.cookie_changed = false;
                            return Ok(WriteOutcome::Written);
                        }
                        SaveOutcome::Gone => {
                            tracing::warn!(
                                session = %id.log_hash(),
                                "session was destroyed by another request; this request's changes are dropped"
                            );
                            return Ok(WriteOutcome::Gone);
                        }
                        SaveOutcome::Conflict => {
                            tracing::debug!(session = %id.log_hash(), attempt, "save lost a race; re-applying changes");
                            // Back off before re-reading, never between the read and the next save, so that the
                            // version the save compares against is as fresh as it can be.
                            if turn.is_none() {
                                turn = Some(lock.get_or_init(|| config.write_lock(&id)).lock().await);
                            } else {
                                tokio::time::sleep(backoff(attempt)).await;
                            }
                            let Some(fresh) = store.get(&id).await? else {
                                tracing::warn!(
                                    session = %id.log_hash(),
                                    "session was destroyed by another request; this request's changes are dropped"
                                );
                                return Ok(WriteOutcome::Gone);
                            };
                            Self::rebase(&config, active, fresh)?;
                        }
                    }
                }
                Err(SessionError::SaveConflict)
            }
        }
    }

    /// Makes this request's session the latest stored record with this request's changes re-applied (what a
    /// write does after losing a race): the cookie is this request's if the handler changed it, else the stored one
    /// touched now.
    fn rebase(config: &Config, active: &mut Active, fresh: Versioned) -> Result<(), SessionError> {
        active.record = Self::rebased(config, active, fresh.record)?;
        active.version = Some(fresh.version);
        Ok(())
    }

    /// `stored` with this request's changes re-applied (see [`rebase`](Self::rebase)).
    fn rebased(config: &Config, active: &Active, mut record: Record) -> Result<Record, SessionError> {
        if active.cookie_changed {
            *record.cookie_mut() = active.record.cookie().clone();
        }
        record.cookie_mut().touch(config.clock.now());
        for change in &active.changes {
            change.apply(record.data_mut())?;
        }
        Self::check_size(config, &record)?;
        Ok(record)
    }

    /// Refuses a record above [`max_record_size`](crate::SessionOptions::max_record_size) that this request made
    /// larger than the stored record it read: a session the Node app (or a larger earlier limit) made big stays
    /// writable as long as it does not grow.
    fn check_size(config: &Config, record: &Record) -> Result<(), SessionError> {
        let Some(limit) = config.hardening.max_record_size else { return Ok(()) };
        if record.json_len_bound() <= limit {
            return Ok(());
        }
        let size = record.json_len();
        if size <= limit {
            return Ok(());
        }
        // The creation stamp the layer adds to a session loaded without one (absolute timeout) is not growth the
        // request caused: room for `,"__sessionCreatedAt":` and the longest number. A record loaded with its
        // stamp gets none (or every request could grow it by that much).
        let stamp_room = if record.data().contains_key(CREATED_AT_KEY) && !record.loaded_stamped() {
            CREATED_AT_KEY.len() + 24
        } else {
            0
        };
        match record.loaded_len() {
            Some(loaded) if size <= loaded + stamp_room => {
                tracing::debug!(size, limit, loaded, "session above max_record_size written: it did not grow");
                Ok(())
            }
            _ => Err(SessionError::TooLarge { size, limit }),
        }
    }

    /// The end of the request: express's header-time and `res.end` work. Decides, writes, and returns the
    /// `Set-Cookie` to send.
    pub(crate) async fn finish(&self) -> Result<Finished, SessionError> {
        let config = Arc::clone(&self.shared.config);
        let mut state = self.shared.state.lock().await;
        let rules = Rules {
            save_uninitialized: config.save_uninitialized,
            rolling: config.rolling,
            unset_destroy: config.unset == Unset::Destroy,
        };
        if matches!(state.phase, Phase::Unloaded) {
            let id = self.shared.cookie_id.clone().expect("Unloaded only with a cookie id");
            if !lifecycle::must_load_untouched(config.resave, &rules) && config.hardening.absolute_timeout.is_none() {
                // The outcome depends only on whether the record exists (see `must_load_untouched`).
                match self.store().refresh(&id).await {
                    Ok(TouchOutcome::Touched) => return Ok(Finished::default()),
                    Ok(TouchOutcome::Gone) => {
                        let cookie = config.new_cookie(self.shared.request_secure);
                        state.phase = Phase::Active(self.fresh_active(Record::new(cookie), None));
                    }
                    // Logged once, by the layer, at the end of the request.
                    Err(_) if config.hardening.on_store_error == OnStoreError::ServeWithoutSession => {
                        return Ok(Finished::default());
                    }
                    Err(error) => return Err(error.into()),
                }
            } else {
                self.load(&mut state).await?;
            }
        }
        let (has_session, session_id) = match &state.phase {
            Phase::Active(a) => (true, a.id.clone()),
            // Only a stored session has something for `unset: 'destroy'` to destroy.
            Phase::Gone(gone) => (false, gone.id.clone().filter(|_| gone.stored)),
            Phase::Unloaded => return Err(SessionError::NoSession),
        };
        let accessed = state.accessed;
        let now = config.clock.now();
        let current = match &state.phase {
            Phase::Active(a) => Some(a.record.data()),
            _ => None,
        };
        // Unchanged since the original unless a change (or reload) happened and the data differs.
        let same_as_original = |data: &Map<String, Value>| match &state.original {
            Some(original) if state.touched_data => original.same_as(data),
            _ => true,
        };
        let modified = state.id_changed || current.is_some_and(|data| !same_as_original(data));
        let saved = !state.id_changed
            && current.is_some_and(|data| match &state.saved_hash {
                SavedHash::Unset => false,
                SavedHash::Original => same_as_original(data),
                SavedHash::Value(saved) => same_data(data, saved),
            });
        let (cookie_has_expires, cookie_secure) = match &state.phase {
            Phase::Active(a) => (a.record.cookie().expires().is_some(), a.record.cookie().secure()),
            _ => (false, false),
        };
        // A new session's id exists for express from the start; here it may not be generated yet.
        let has_session_id = session_id.is_some() || has_session;
        let cookie_id_matches = match (&self.shared.cookie_id, &session_id) {
            (Some(c), Some(s)) => c == s && !state.id_changed,
            _ => false,
        };
        let facts = Facts {
            has_session,
            has_session_id,
            cookie_id_matches,
            modified,
            saved,
            saved_hash_set: !matches!(state.saved_hash, SavedHash::Unset),
            cookie_has_expires,
            cookie_secure,
            request_secure: self.shared.request_secure,
        };
        let Decision { store: action, set_cookie } = lifecycle::decide(&facts, &rules);
        // Header time held a `Secure` cookie back that a secure request would have got.
        let held_back = !set_cookie
            && facts.cookie_secure
            && !facts.request_secure
            && lifecycle::decide(&Facts { request_secure: true, ..facts }, &rules).set_cookie;
        if let Phase::Active(active) = &mut state.phase {
            active.record.cookie_mut().touch(now);
        }
        let mut gone = false;
        match action {
            StoreAction::Nothing => {}
            StoreAction::Destroy => {
                if let Some(id) = &session_id {
                    self.store().destroy(id).await?;
                }
            }
            StoreAction::Touch => {
                let active = Self::active_mut(&mut state);
                if let Some(id) = &active.id {
                    // Destroyed (or moved by `cycle_id`) since it was read: a rolling cookie would name a dead
                    // session, and could overwrite the cookie another request just sent for the session's new id.
                    gone = self.store().touch(id, &active.record).await? == TouchOutcome::Gone;
                }
            }
            StoreAction::Save => gone = matches!(self.write(&mut state).await?, WriteOutcome::Gone),
        }
        if let Phase::Gone(Gone { destroyed_cookie: Some(cookie), .. }) = &state.phase
            && config.hardening.clear_cookie_on_destroy
            && self.shared.cookie_id.is_some()
        {
            return Ok(Finished { set_cookie: self.removal_cookie(cookie), used: true, ..Finished::default() });
        }
        if !set_cookie || gone {
            return Ok(Finished { set_cookie: None, used: accessed, secure_cookie_held_back: held_back && !gone });
        }
        let active = Self::active_mut(&mut state);
        let id = self.ensure_id(active)?;
        Ok(Finished {
            set_cookie: self.set_cookie_value(&id, active.record.cookie()),
            used: true,
            ..Finished::default()
        })
    }

    /// The cookie that makes the browser drop the session cookie: same name, path, domain and attributes, an
    /// empty value and an expiry in 1970.
    fn removal_cookie(&self, cookie: &SessionCookie) -> Option<String> {
        let mut expired = cookie.clone();
        expired.expires = Some(Timestamp::from_millis(0));
        crate::cookie::set_cookie_header(&self.config().name, "", &expired).ok()
    }

    /// The `Set-Cookie` value for the session, or `None` (logged) when an attribute cannot be written, as
    /// express then sends no cookie.
    fn set_cookie_value(&self, id: &SessionId, cookie: &SessionCookie) -> Option<String> {
        let config = self.config();
        let mut value = String::with_capacity(id.as_str().len() + 48);
        value.push_str("s:");
        value.push_str(&config.signer.sign(id.as_str()));
        match crate::cookie::set_cookie_header(&config.name, &value, cookie) {
            Ok(text) => Some(text),
            Err(error) => {
                tracing::error!(session = %id.log_hash(), %error, "session cookie not sent");
                None
            }
        }
    }
}

/// The creation time a stored stamp holds: milliseconds since the epoch, as an integer. Anything else there
/// (`null`, a string, a fraction: a foreign writer's) counts as no stamp, so that the session gets a readable one
/// when it is first read, rather than never ending.
fn creation_stamp(stored: Option<&Value>) -> Option<i64> {
    stored.and_then(Value::as_i64)
}

/// A random pause before the `attempt`-th retry of a save that lost a race: up to 2^attempt ms, at most 64 ms,
/// so that requests that keep colliding spread out.
fn backoff(attempt: u32) -> Duration {
    let mut byte = [0u8; 2];
    let random = getrandom::fill(&mut byte).map_or(0, |()| u64::from(u16::from_le_bytes(byte)));
    let ceiling = 1u64 << attempt.min(6);
    Duration::from_micros(random % (ceiling * 1000))
}

enum WriteOutcome {
    Written,
    Gone,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// express compares `JSON.stringify` output: key order counts, at every depth; equal JSON is unmodified.
    #[test]
    fn modification_is_judged_on_the_json_text() {
        let a = map(json!({"x": 1, "y": {"p": [1, {"q": 2}], "r": "s"}}));
        assert!(same_data(&a, &a.clone()));
        assert!(!same_data(&a, &map(json!({"y": {"p": [1, {"q": 2}], "r": "s"}, "x": 1}))), "top-level order");
        assert!(!same_data(&a, &map(json!({"x": 1, "y": {"r": "s", "p": [1, {"q": 2}]}}))), "nested order");
        assert!(!same_data(&a, &map(json!({"x": 1.0, "y": {"p": [1, {"q": 2}], "r": "s"}}))), "1 and 1.0 print apart");
        assert!(!same_data(&a, &map(json!({"x": 1}))));
    }

    /// The per-key original gives the same verdict as a full copy, whatever the sequence of changes.
    #[test]
    fn the_per_key_original_judges_as_a_full_copy_does() {
        let start = map(json!({"a": 1, "b": {"c": [1, 2]}, "d": "x"}));
        let steps: Vec<Change> = vec![
            Change::Set("a".into(), json!(2)),
            Change::Set("a".into(), json!(1)),
            Change::Set("e".into(), json!(null)),
            Change::Remove("e".into()),
            Change::Set("b".into(), json!({"c": [1, 2]})),
            Change::Remove("a".into()),
            Change::Set("a".into(), json!(1)),
            Change::Clear,
            Change::Set("d".into(), json!("x")),
        ];
        // Every prefix of every rotation of the steps: the lazy original and a full copy agree at each point.
        let mut checked = 0;
        for rotation in 0..steps.len() {
            let order: Vec<&Change> = steps.iter().cycle().skip(rotation).take(steps.len()).collect();
            for len in 0..=order.len() {
                let mut data = start.clone();
                let mut original = Original::Keys(Vec::new());
                for change in &order[..len] {
                    original.note(&data, change.key());
                    change.apply(&mut data).unwrap();
                }
                assert_eq!(
                    original.same_as(&data),
                    same_data(&start, &data),
                    "after {len} steps of rotation {rotation}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, steps.len() * (steps.len() + 1));
        // Changing a value and changing it back is no modification; a new key, a removal or a reorder is one.
        let mut data = start.clone();
        let mut original = Original::Keys(Vec::new());
        original.note(&data, Some("a"));
        Change::Set("a".into(), json!(5)).apply(&mut data).unwrap();
        assert!(!original.same_as(&data));
        Change::Set("a".into(), json!(1)).apply(&mut data).unwrap();
        assert!(original.same_as(&data));
        original.note(&data, None);
        Change::Remove("a".into()).apply(&mut data).unwrap();
        Change::Set("a".into(), json!(1)).apply(&mut data).unwrap();
        assert!(!original.same_as(&data), "a moved to the end: the JSON text differs");
    }
}
