//! The session handle handlers use, and the per-request state behind it.
//!
//! Here: the state, the start of a request's session (`begin`), loading, and the handle's reading and writing
//! API. The rest, by what it holds: `values` (the value checks), `changes` (pure change
//! tracking), `identity` (regenerate, cycle_id and its move, destroy, unset), `save` (reload, save, the write
//! with its retries) and `finish` (the end of the request).

mod changes;
mod finish;
mod identity;
mod owner;
mod save;
mod stamp;
mod values;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, MutexGuard};

use self::changes::{Change, FirstInline, Original, SavedHash, UpdateFn};
use self::stamp::creation_stamp;
use self::values::{check_depth, read_field, read_value};
use crate::cookie::SessionCookie;
use crate::engine::config::Config;
use crate::engine::guard::{RequestCalls, RequestStore, StoreFailure};
use crate::error::SessionError;
use crate::id::SessionId;
use crate::options::{OnStoreError, RequestHead};
use crate::record::{CREATED_AT_KEY, Record, is_reserved_key};
use crate::store::Version;
use crate::time::Timestamp;

/// The session as this request sees it (express's `req.session` plus the middleware's bookkeeping).
struct Active {
    /// `None` until a new session's id is needed (generated lazily).
    id: Option<SessionId>,
    record: Record,
    /// The store's version, when the record is known to be stored.
    version: Option<Version>,
    /// Changes since the record was last read or written, for re-application on a conflict.
    changes: FirstInline<Change>,
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
        Self { id, record, version: None, changes: FirstInline::default(), cookie_changed: false, moved_from: None }
    }
}

// One per request, inside the session's `Arc`: boxing the active session would cost the allocation that keeping
// its first change inline saves.
#[allow(clippy::large_enum_variant)]
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
    /// The end of the request ran to completion: a second `finish` (an adapter that finishes twice) writes
    /// nothing and sends no second cookie.
    ended: bool,
    /// `regenerate` found the owned session it was retiring already ended by another request (log out
    /// everywhere): this request may not name that owner again.
    ended_owner: Option<String>,
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
/// until the response is ready (or [`save`](Self::save) is called). As in express, a change made after the end
/// of the request (in a task the handler spawned) is written only by a [`save`](Self::save).
///
/// Outside a request (a test, these docs), the [`Engine`](crate::engine::Engine) the layer runs on gives one,
/// and finishes it as the end of a request does:
///
/// ```
/// use express_session::engine::{Engine, RequestFacts, ResponseFacts};
/// use express_session::SessionOptions;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), express_session::SessionError> {
/// let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"))
///     .expect("valid options");
/// let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
///
/// let views: u64 = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
/// session.insert("last_path", "/foo").await?;
/// let user: Option<String> = session.get("user").await?;
/// assert_eq!((views, user), (1, None));
///
/// // The end of the request saves the new session and gives the cookie to send.
/// let finished = engine.finish(&session, ResponseFacts::new()).await;
/// assert!(finished.set_cookie().is_some_and(|cookie| cookie.starts_with("connect.sid=s%3A")));
/// # Ok(())
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
                record.fields_mut().insert(CREATED_AT_KEY, config.clock.now().as_millis().into());
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
            ended: false,
            ended_owner: None,
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

    pub(crate) fn config(&self) -> &Config {
        &self.shared.config
    }

    fn now(&self) -> Timestamp {
        self.config().clock.now()
    }

    /// The store, as this request calls it: one time budget for all the request's calls, and no call after one
    /// that failed as unavailable.
    fn store(&self) -> RequestStore<'_> {
        RequestStore { store: &self.shared.config.store, calls: &self.shared.calls }
    }

    /// The request's first store failure, for the layer's one log line about it.
    pub(crate) fn take_store_failure(&self) -> Option<StoreFailure> {
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
                    && creation_stamp(found.record.fields().get(CREATED_AT_KEY)).is_none();
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

    /// A new session's state, stamped with its creation time when there is an absolute timeout.
    fn fresh_active(&self, mut record: Record, id: Option<SessionId>) -> Active {
        if self.config().hardening.absolute_timeout.is_some() {
            record.fields_mut().insert(CREATED_AT_KEY, self.now().as_millis().into());
        }
        Active::fresh(record, id)
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
            original.get_or_insert_with(|| Original::Keys(FirstInline::default())).note(active.record.fields(), key);
        }
        state.touched_data = true;
    }

    fn change(state: &mut State, change: Change) -> Result<(), SessionError> {
        Self::before_change(state, change.key());
        let active = Self::active_mut(state);
        change.apply(active.record.fields_mut())?;
        active.changes.push(change);
        Ok(())
    }

    /// The value under `key`, deserialized; `None` when absent.
    ///
    /// A value the Node app stored that has no Rust form (a string with a lone UTF-16 surrogate, nesting deeper
    /// than [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH)) fails only this read: the session and its other
    /// keys are unaffected, and the value is written back unchanged unless the handler replaces or removes it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// session.insert("user", "alice").await?;
    /// assert_eq!(session.get::<String>("user").await?.as_deref(), Some("alice"));
    /// assert_eq!(session.get::<String>("missing").await?, None);
    /// assert!(session.get::<u64>("user").await.is_err(), "not a number");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::Deserialize`] when the value has another shape or no Rust form (its message never quotes
    /// the value), [`SessionError::Store`] when loading failed, [`SessionError::NoSession`] after
    /// `destroy`/`unset`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let mut state = self.active().await?;
        read_field(Self::active_mut(&mut state).record.fields(), key)
    }

    /// The JSON value under `key`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, SessionError> {
        let mut state = self.active().await?;
        match Self::active_mut(&mut state).record.fields().get(key) {
            None => Ok(None),
            Some(v) => read_value(v).map(Some),
        }
    }

    /// Sets `key` to `value` (express: `req.session[key] = value`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// session.insert("cart", ["apple", "pear"]).await?;
    /// assert_eq!(session.get::<Vec<String>>("cart").await?.map(|cart| cart.len()), Some(2));
    /// assert!(session.insert("cookie", 1).await.is_err(), "express reserves `cookie`");
    /// # Ok(())
    /// # }
    /// ```
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
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// session.insert("flash", "saved").await?;
    /// assert_eq!(session.remove::<String>("flash").await?.as_deref(), Some("saved"));
    /// assert_eq!(session.remove::<String>("flash").await?, None);
    /// # Ok(())
    /// # }
    /// ```
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
        let old = Self::active_mut(&mut state).record.fields().get(key).cloned();
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
    /// That is why `f` is `Fn + Send + Sync + 'static`: the session keeps it until the end of the request (or an
    /// explicit [`save`](Self::save)), to run it again on the latest stored value whenever a conditional save
    /// loses a race with another request, possibly on another thread. A closure that uses a value of the handler
    /// takes it with `move` (clone what it needs); a value computed once, before the call, stays the same in every
    /// run:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// let item = String::from("book");
    /// let cart = session
    ///     .update("cart", move |cart: Option<Vec<String>>| {
    ///         let mut cart = cart.unwrap_or_default();
    ///         cart.push(item.clone()); // cloned at each run: `f` may run again on a newer cart
    ///         cart
    ///     })
    ///     .await?;
    /// assert_eq!(cart, ["book"]);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// let views = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    /// assert_eq!(views, 1);
    /// assert_eq!(session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?, 2);
    /// # Ok(())
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
        let mut state = self.active().await?;
        Self::before_change(&mut state, Some(key));
        let fields = Self::active_mut(&mut state).record.fields_mut();
        // The first run is typed: the new value is returned as `f` made it, not read back from the data.
        let new = f(read_field(fields, key)?);
        let value = serde_json::to_value(&new).map_err(SessionError::Serialize)?;
        check_depth(&value)?;
        changes::put(fields, key, value);
        // Kept to run again on a newer record, should a conditional save lose a race.
        let erased: UpdateFn = Arc::new(move |old: Option<&Value>| {
            let old = match old {
                None => None,
                Some(v) => Some(read_value(v)?),
            };
            serde_json::to_value(f(old)).map_err(SessionError::Serialize)
        });
        Self::active_mut(&mut state).changes.push(Change::Update(key.to_owned(), erased));
        Ok(new)
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
        let keys = Self::active_mut(&mut state).record.fields().keys();
        Ok(keys.filter(|key| crate::record::key_text(key).is_none()).map(str::to_owned).collect())
    }

    /// A copy of all the data. A value without a Rust form (see [`get`](Self::get)) is left out; [`keys`](Self::keys)
    /// lists it.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn data(&self) -> Result<Map<String, Value>, SessionError> {
        let mut state = self.active().await?;
        let data = Self::active_mut(&mut state).record.fields();
        Ok(data
            .iter()
            .filter(|(k, _)| crate::record::key_text(k).is_none())
            .filter_map(|(k, v)| match crate::record::raw_text(v) {
                None => Some((k.to_owned(), v.clone())),
                Some(text) => crate::record::parse_raw(text).ok().map(|v| (k.to_owned(), v)),
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
    /// use express_session::SameSite;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// session.modify_cookie(|cookie, _now| cookie.set_same_site(Some(SameSite::Strict))).await?;
    /// assert_eq!(session.cookie().await?.same_site(), Some(SameSite::Strict));
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
}
