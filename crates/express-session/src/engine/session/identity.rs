//! The session's identity: `regenerate`, `cycle_id` and the writing of its move, `destroy`, `unset`.

use std::sync::Arc;

use serde_json::Map;

use super::save::backoff;
use super::{Active, Gone, MovedFrom, Phase, Session};
use crate::engine::config::Config;
use crate::error::SessionError;
use crate::id::SessionId;
use crate::options::Unset;
use crate::record::Record;
use crate::store::owners::owner_from_value;
use crate::store::{SaveOutcome, StoreError, Version};
use crate::time::Timestamp;

impl Session {
    /// express's `req.session.regenerate()`: destroys the stored session and starts a new, empty one with a new
    /// id and a cookie from the options. Use it at login against session fixation.
    ///
    /// # Errors
    ///
    /// [`SessionError::Store`] when the old session could not be destroyed (the new session is started anyway,
    /// as in express), and the errors of [`get`](Self::get).
    pub async fn regenerate(&self) -> Result<(), SessionError> {
        let mut state = self.active().await?;
        let active = Self::active_mut(&mut state);
        let old = active.id.clone();
        let moved_from = active.moved_from.take();
        let owned = self.store().owner_key().and_then(|key| owner_from_value(active.record.fields().get(key)?));
        let destroyed = match owned {
            // A session with an owner is retired only if it is still the version this request read: when another
            // request ended it meanwhile (log out everywhere), this request may not name that owner again.
            Some(owner) => {
                let stored = match moved_from {
                    Some(from) => Some((from.id, from.version)),
                    None => old.zip(active.version.clone()),
                };
                match stored {
                    Some((id, version)) => match self.retire(&id, &active.record, &version).await {
                        Ok(true) => Ok(()),
                        Ok(false) => {
                            state.ended_owner = Some(owner);
                            Ok(())
                        }
                        Err(error) => Err(error),
                    },
                    None => Ok(()),
                }
            }
            None => {
                let mut destroyed = match (&old, active.version.is_some()) {
                    (Some(id), true) => self.store().destroy(id).await,
                    _ => Ok(()),
                };
                if let (Some(from), Ok(())) = (moved_from, &destroyed) {
                    // A `cycle_id` earlier in this request that is not written yet: the session still lives there.
                    destroyed = self.store().destroy(&from.id).await;
                }
                destroyed
            }
        };
        let new_id = self.config().generate_id(self.shared.head.as_ref())?;
        let record = Record::new(self.config().new_cookie(self.shared.request_secure));
        state.phase = Phase::Active(self.fresh_active(record, Some(new_id)));
        state.id_changed = true;
        state.wrapped = false;
        destroyed.map_err(Into::into)
    }

    /// Retires the record under `id` if it is still `version` (a conditional destroy: an expired record saved
    /// over it), else destroys whatever another request wrote there since. `false` when it was gone already.
    async fn retire(&self, id: &SessionId, record: &Record, version: &Version) -> Result<bool, StoreError> {
        let mut cookie = record.cookie().clone();
        cookie.expires = Some(Timestamp::from_millis(0));
        let retired = Record::from_parts(cookie, Map::new());
        match self.store().save_if(id, &retired, version).await? {
            SaveOutcome::Saved(_) => {
                // Unreadable already; removing it is tidiness (the store's expiry would do it too).
                if let Err(error) = self.store().destroy(id).await {
                    tracing::warn!(session = %id.log_hash(), %error, "retired session record not removed");
                }
                Ok(true)
            }
            SaveOutcome::Conflict => self.store().destroy(id).await.map(|()| true),
            SaveOutcome::Gone => Ok(false),
        }
    }

    /// Moves the session to a new id, keeping its data and cookie, and destroys the old record (not in
    /// express-session, whose `regenerate` discards the data). Use it when privileges change, for example at
    /// login, when the data collected before must survive.
    ///
    /// ```
    /// use express_session::engine::{Engine, RequestFacts, ResponseFacts};
    /// use express_session::SessionOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"))
    ///     .expect("valid options");
    /// // A visitor's session, with a cart and its cookie.
    /// let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
    /// session.insert("cart", ["apple"]).await?;
    /// let before = engine.finish(&session, ResponseFacts::new()).await.set_cookie().map(str::to_owned);
    /// let before = before.expect("a cookie");
    /// let before = before.split(';').next().unwrap_or_default();
    ///
    /// // At login: a new id, the cart kept.
    /// let login = RequestFacts::new("/login").cookie_headers([before.as_bytes()]);
    /// let session = engine.begin(login).into_session().expect("a session");
    /// session.cycle_id().await?;
    /// session.insert("user", "alice").await?;
    /// let after = engine.finish(&session, ResponseFacts::new()).await.set_cookie().map(str::to_owned);
    /// assert!(after.is_some_and(|after| !after.starts_with(before)), "the browser gets the new id");
    /// assert_eq!(session.get::<Vec<String>>("cart").await?.map(|cart| cart.len()), Some(1));
    ///
    /// // The old cookie names no session any more.
    /// let stale = engine.begin(RequestFacts::new("/").cookie_headers([before.as_bytes()]));
    /// assert_eq!(stale.into_session().expect("a session").get::<String>("user").await?, None);
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
    pub(super) async fn commit_move(
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
                            // The owner index lists the new record from its creation on: an owner call (or its
                            // expiry) ended it, and with it the session, which must not live on where it was.
                            SaveOutcome::Gone => {
                                store.destroy(&from.id).await?;
                                Ok(None)
                            }
                            // Nobody else writes the new id.
                            SaveOutcome::Conflict => Err(SessionError::SaveConflict),
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
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// let id = session.id().await?;
    /// session.destroy().await?;
    /// assert_eq!(session.id().await?, id, "the id stays readable");
    /// assert!(matches!(session.get::<String>("user").await, Err(express_session::SessionError::NoSession)));
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
}
