//! Every session of a user: naming a session's owner, and the owner index's calls from a handler.

use std::sync::Arc;

use serde_json::Value;

use super::changes::Change;
use super::{Session, State};
use crate::error::SessionError;
use crate::id::SessionId;
use crate::record::CREATED_AT_KEY;
use crate::store::owners::owner_from_value;
use crate::store::{MAX_OWNER_LEN, OwnerPage, SessionHandle};

impl Session {
    /// The store's owner key, or [`SessionError::NoOwnerIndex`].
    fn owner_key(&self) -> Result<&str, SessionError> {
        self.store().owner_key().ok_or(SessionError::NoOwnerIndex)
    }

    /// The owner the session's record names, read from the locked state.
    fn owner_in(state: &mut State, key: &str) -> Option<String> {
        owner_from_value(Self::active_mut(state).record.fields().get(key)?)
    }

    /// The owner, and the id the session is stored under now: the old id while a [`cycle_id`](Self::cycle_id)
    /// of this request is not written yet (the record still lives there), else its id.
    async fn owner_and_stored_id(&self, key: &str) -> Result<(Option<String>, Option<SessionId>), SessionError> {
        let mut state = self.active().await?;
        let owner = Self::owner_in(&mut state, key);
        let active = Self::active_mut(&mut state);
        let stored = active.moved_from.as_ref().map(|from| from.id.clone()).or_else(|| active.id.clone());
        Ok((owner, stored))
    }

    /// Names the session's owner, as an app does at login (after [`regenerate`](Self::regenerate)): the store's
    /// owner key is set to `owner` (a string), and the session's creation time is stamped if it has none (the
    /// `created` of [`owner_sessions`](Self::owner_sessions)). From then on the store's owner index lists the
    /// session under that owner, and [`end_all_sessions`](Self::end_all_sessions) of that owner ends it.
    ///
    /// It is an ordinary data write (saved at the end of the request, with the same conflict handling); the
    /// index costs no extra round trip. A Node app sharing the store names an owner the same way, by setting the
    /// key: `req.session.userId = id`.
    ///
    /// ```
    /// use express_session::engine::{Engine, RequestFacts, ResponseFacts};
    /// use express_session::{MemoryStore, SessionOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// let store = MemoryStore::builder().owner_key("userId").build();
    /// let options = SessionOptions::new().secret("a long random secret, from your configuration").store(store);
    /// let engine = Engine::new(options).expect("valid options");
    ///
    /// // Two logins of alice, as two devices.
    /// for _ in 0..2 {
    ///     let session = engine.begin(RequestFacts::new("/login")).into_session().expect("a session");
    ///     session.regenerate().await?;
    ///     session.set_owner("alice").await?;
    ///     assert_eq!(session.owner().await?.as_deref(), Some("alice"));
    ///     engine.finish(&session, ResponseFacts::new()).await;
    /// }
    ///
    /// let session = engine.begin(RequestFacts::new("/login")).into_session().expect("a session");
    /// session.set_owner("alice").await?;
    /// let page = session.owner_sessions().await?;
    /// assert_eq!(page.sessions.len(), 2);
    /// assert!(page.sessions.iter().all(|s| s.created.is_some()), "set_owner stamps the creation time");
    /// // Log out everywhere: both devices, and this session.
    /// assert_eq!(session.end_all_sessions().await?, 2);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::OwnerEnded`] when this request regenerated a session of that owner that another request
    /// ended meanwhile (a stolen session cannot log itself back in across "log out everywhere"),
    /// [`SessionError::NoOwnerIndex`] when the store keeps no owner index, [`SessionError::InvalidOwner`] for an
    /// empty owner or one longer than [`MAX_OWNER_LEN`] bytes, and the errors of [`get`](Self::get).
    pub async fn set_owner(&self, owner: impl Into<String>) -> Result<(), SessionError> {
        let owner = owner.into();
        let key = self.owner_key()?.to_owned();
        if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
            return Err(SessionError::InvalidOwner { len: owner.len() });
        }
        let mut state = self.active().await?;
        if state.ended_owner.as_deref() == Some(owner.as_str()) {
            return Err(SessionError::OwnerEnded);
        }
        Self::change(&mut state, Change::Set(key, Value::String(owner)))?;
        if Self::active_mut(&mut state).record.fields().get(CREATED_AT_KEY).is_none() {
            let now = self.now().as_millis();
            // An update, so that a stamp another request wrote meanwhile wins on a conflict.
            let stamp = Change::Update(
                CREATED_AT_KEY.into(),
                Arc::new(move |stored: Option<&Value>| Ok(stored.cloned().unwrap_or_else(|| now.into()))),
            );
            Self::change(&mut state, stamp)?;
        }
        Ok(())
    }

    /// The session's owner: what its record holds under the store's owner key (see
    /// [`owner_of`](crate::store::owner_of)); `None` when it names none.
    ///
    /// # Errors
    ///
    /// [`SessionError::NoOwnerIndex`] when the store keeps no owner index, and the errors of [`get`](Self::get).
    pub async fn owner(&self) -> Result<Option<String>, SessionError> {
        let key = self.owner_key()?;
        let mut state = self.active().await?;
        Ok(Self::owner_in(&mut state, key))
    }

    /// The live sessions of this session's owner, the current one marked ([`OwnedSession::current`]), most
    /// recently seen first, at most [`OwnerPage::DEFAULT_LIMIT`]; empty when the session names no owner. A
    /// session that is not stored yet (named in this request) is not in it.
    ///
    /// [`OwnedSession::current`]: crate::store::OwnedSession::current
    ///
    /// # Errors
    ///
    /// As [`owner`](Self::owner), and [`SessionError::Store`] when the store failed.
    pub async fn owner_sessions(&self) -> Result<OwnerPage, SessionError> {
        let key = self.owner_key()?;
        let (owner, current) = self.owner_and_stored_id(key).await?;
        let Some(owner) = owner else { return Ok(OwnerPage::default()) };
        let mut page = self.store().sessions_of(&owner, OwnerPage::DEFAULT_LIMIT).await?;
        if let Some(id) = current {
            let handle = self.store().handle(&id);
            for session in &mut page.sessions {
                session.current = session.handle == handle;
            }
        }
        Ok(page)
    }

    /// Ends the session of this session's owner named by `handle` (a "log out that device" button); whether
    /// there was one. The current session's handle destroys this session, as [`destroy`](Self::destroy) does. A
    /// handle of another owner's session ends nothing.
    ///
    /// # Errors
    ///
    /// As [`owner_sessions`](Self::owner_sessions).
    pub async fn end_owner_session(&self, handle: &SessionHandle) -> Result<bool, SessionError> {
        let key = self.owner_key()?;
        let (owner, current) = self.owner_and_stored_id(key).await?;
        let Some(owner) = owner else { return Ok(false) };
        if current.is_some_and(|id| self.store().handle(&id) == *handle) {
            self.destroy().await?;
            return Ok(true);
        }
        Ok(self.store().end_session_of(&owner, handle).await?)
    }

    /// Ends every other session of this session's owner ("log out other devices", after a password change),
    /// keeping this one; how many it ended. A session of the owner that is saved, touched or moved by
    /// [`cycle_id`](Self::cycle_id) meanwhile stays ended; one created after this returns is kept. A request
    /// that began before and [`regenerate`](Self::regenerate)s an ended session cannot name its owner again
    /// ([`SessionError::OwnerEnded`], a 409). Its regenerate must come after the end for that: one that retired
    /// the session before the end began, and names the owner when the end has run, creates a session of the owner
    /// while the end runs, which may be kept (as any login at that moment). Nothing happens when the session
    /// names no owner.
    ///
    /// # Errors
    ///
    /// As [`owner_sessions`](Self::owner_sessions).
    pub async fn end_other_sessions(&self) -> Result<u64, SessionError> {
        let key = self.owner_key()?;
        let (owner, current) = self.owner_and_stored_id(key).await?;
        let Some(owner) = owner else { return Ok(0) };
        Ok(self.store().end_sessions_of(&owner, current.as_ref()).await?)
    }

    /// Ends every session of this session's owner, this one included ("log out everywhere"): this one as
    /// [`destroy`](Self::destroy) does (its cookie is cleared as express clears a destroyed session's), then every
    /// other as [`end_other_sessions`](Self::end_other_sessions) does. How many sessions it ended, this one
    /// counted when it was stored. A session that names no owner is only destroyed.
    ///
    /// This one goes first: a concurrent request of this session that moves it with
    /// [`cycle_id`](Self::cycle_id) then either finds it gone (and moves nothing) or has already written its new
    /// record, which the owner's sessions then include.
    ///
    /// # Errors
    ///
    /// As [`owner_sessions`](Self::owner_sessions).
    pub async fn end_all_sessions(&self) -> Result<u64, SessionError> {
        let key = self.owner_key()?;
        let (owner, stored) = {
            let mut state = self.active().await?;
            let owner = Self::owner_in(&mut state, key);
            let active = Self::active_mut(&mut state);
            // A pending `cycle_id` took the version: the session is stored under its old id.
            (owner, active.version.is_some() || active.moved_from.is_some())
        };
        self.destroy().await?;
        let others = match owner {
            Some(owner) => self.store().end_sessions_of(&owner, None).await?,
            None => 0,
        };
        Ok(others + u64::from(stored))
    }
}
