//! The end of the request: what to store and which `Set-Cookie` to send.

use std::sync::Arc;

use super::changes::{SavedHash, same_data};
use super::save::WriteOutcome;
use super::{Gone, Phase, Session, State};
use crate::cookie::SessionCookie;
use crate::error::SessionError;
use crate::id::SessionId;
use crate::lifecycle::{self, Decision, Facts, Rules, StoreAction};
use crate::options::{OnStoreError, Unset};
use crate::record::{Fields, Record};
use crate::store::TouchOutcome;
use crate::time::Timestamp;

/// What the end of a request produced.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    /// The `Set-Cookie` value to append, if express would send one (or the removal cookie after a destroy).
    pub(crate) set_cookie: Option<String>,
    /// The handler used the session or a cookie is sent: the response depends on the session.
    pub(crate) used: bool,
    /// A `Secure` cookie would have been sent but the request is not secure (express: "not secured").
    pub(crate) secure_cookie_held_back: bool,
    /// The session header's value, when the options have one and the session is new or its id changed.
    pub(crate) header_value: Option<String>,
}

impl Session {
    /// The end of the request: express's header-time and `res.end` work. Decides, writes, and returns the
    /// `Set-Cookie` to send.
    ///
    /// Once it has ended, the request's session does not end again: a second call answers nothing to do. After a
    /// failure (or a call dropped mid-way) it may be tried again.
    pub(crate) async fn finish(&self) -> Result<Finished, SessionError> {
        let mut state = self.shared.state.lock().await;
        if state.ended {
            return Ok(Finished::default());
        }
        let finished = self.end(&mut state).await?;
        state.ended = true;
        Ok(finished)
    }

    async fn end(&self, state: &mut State) -> Result<Finished, SessionError> {
        let config = Arc::clone(&self.shared.config);
        let rules = Rules {
            save_uninitialized: config.save_uninitialized,
            rolling: config.rolling,
            unset_destroy: config.unset == Unset::Destroy,
        };
        if matches!(state.phase, Phase::Unloaded) {
            let id = self.shared.cookie_id.clone().expect("Unloaded only with a cookie id");
            if !lifecycle::must_load_untouched(config.resave, &rules) && config.hardening.absolute_timeout.is_none() {
                // The outcome depends only on whether the record exists (see `must_load_untouched`).
                let refreshed = match config.touch_after {
                    Some(interval) => self.store().refresh_after(&id, interval).await,
                    None => self.store().refresh(&id).await,
                };
                match refreshed {
                    Ok(TouchOutcome::Touched | TouchOutcome::Fresh) => return Ok(Finished::default()),
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
                self.load(state).await?;
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
            Phase::Active(a) => Some(a.record.fields()),
            _ => None,
        };
        // Unchanged since the original unless a change (or reload) happened and the data differs.
        let same_as_original = |data: &Fields| match &state.original {
            Some(original) if state.touched_data => original.same_as(data),
            _ => true,
        };
        let modified = state.id_changed || current.is_some_and(|data| !same_as_original(data));
        let saved = !state.id_changed
            && current.is_some_and(|data| match &state.saved_hash {
                SavedHash::Unset => false,
                SavedHash::Original => same_as_original(data),
                SavedHash::Value(saved) => same_data(saved, data),
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
        let Decision { store: mut action, mut set_cookie } = lifecycle::decide(&facts, &rules);
        // `touch_after`: an unmodified session refreshed less than the interval ago is not touched, and (rolling)
        // gets no cookie either, so that the browser's cookie never outlives the stored expiry. The store decides
        // from its real expiry (`refresh_after`); the record's text, whose `cookie.expires` is never later than the
        // real expiry (a touch may move only a TTL or a column), answers first when it already says fresh.
        let mut refresh_after = None;
        if action == StoreAction::Touch
            && let (Some(interval), Phase::Active(active)) = (config.touch_after, &state.phase)
            && !active.cookie_changed
        {
            if crate::store::touched_within(&active.record, now, interval) {
                action = StoreAction::Nothing;
                set_cookie = false;
            } else {
                refresh_after = Some(interval);
            }
        }
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
                let active = Self::active_mut(state);
                if let Some(id) = &active.id {
                    // Destroyed (or moved by `cycle_id`) since it was read: a rolling cookie would name a dead
                    // session, and could overwrite the cookie another request just sent for the session's new id.
                    let outcome = match refresh_after {
                        Some(interval) => self.store().refresh_after(id, interval).await?,
                        None => self.store().touch(id, &active.record).await?,
                    };
                    match outcome {
                        TouchOutcome::Touched => {}
                        // Refreshed within the interval by another request: nothing written, no rolling cookie.
                        TouchOutcome::Fresh => set_cookie = false,
                        TouchOutcome::Gone => gone = true,
                    }
                }
            }
            StoreAction::Save => gone = matches!(self.write(state).await?, WriteOutcome::Gone),
        }
        if let Phase::Gone(Gone { destroyed_cookie: Some(cookie), .. }) = &state.phase
            && config.hardening.clear_cookie_on_destroy
            && self.shared.cookie_id.is_some()
        {
            return Ok(Finished { set_cookie: self.removal_cookie(cookie), used: true, ..Finished::default() });
        }
        if !set_cookie || gone {
            return Ok(Finished {
                set_cookie: None,
                used: accessed,
                secure_cookie_held_back: held_back && !gone,
                header_value: None,
            });
        }
        let active = Self::active_mut(state);
        let id = self.ensure_id(active)?;
        let value = self.signed_value(&id);
        let set_cookie = self.set_cookie_value(&id, &value, active.record.cookie());
        // The header goes with a cookie for a new id: a client that sends the header keeps the id it has.
        let header_value = (config.header.is_some() && !cookie_id_matches && set_cookie.is_some())
            .then(|| crate::cookie::encode_uri_component(&value).into_owned());
        Ok(Finished { set_cookie, used: true, header_value, ..Finished::default() })
    }

    /// `s:` and the signed id: the session cookie's value before it is percent-encoded.
    fn signed_value(&self, id: &SessionId) -> String {
        let mut value = String::with_capacity(id.as_str().len() + 48);
        value.push_str("s:");
        value.push_str(&self.config().signer.sign(id.as_str()));
        value
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
    fn set_cookie_value(&self, id: &SessionId, value: &str, cookie: &SessionCookie) -> Option<String> {
        let config = self.config();
        match crate::cookie::set_cookie_header(&config.name, value, cookie) {
            Ok(text) => Some(text),
            Err(error) => {
                tracing::error!(session = %id.log_hash(), %error, "session cookie not sent");
                None
            }
        }
    }
}
