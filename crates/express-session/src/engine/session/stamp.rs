//! The absolute timeout's creation stamp: storing it on a loaded session that has none, and reading it.

use std::sync::Arc;

use serde_json::Value;

use super::changes::{Change, SavedHash};
use super::save::WriteOutcome;
use super::{Gone, Phase, Session, State};
use crate::error::SessionError;
use crate::id::SessionId;
use crate::options::OnStoreError;
use crate::record::{CREATED_AT_KEY, Record};
use crate::time::Timestamp;

impl Session {
    /// Stores the creation stamp of a loaded session that had none, with a conditional write (the stamp of another
    /// request or server instance that got there first wins). Nothing else the request does is written with it.
    pub(super) async fn store_creation_stamp(&self, state: &mut State) -> Result<(), SessionError> {
        let now = self.now().as_millis();
        let stamp = Change::Update(
            CREATED_AT_KEY.into(),
            Arc::new(move |stored: Option<&Value>| Ok(creation_stamp(stored).map_or_else(|| now.into(), Value::from))),
        );
        let active = Self::active_mut(state);
        stamp.apply(active.record.fields_mut())?;
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

    pub(super) fn past_absolute_timeout(&self, record: &Record) -> bool {
        let Some(timeout) = self.config().hardening.absolute_timeout else { return false };
        let Some(created) = creation_stamp(record.fields().get(CREATED_AT_KEY)) else { return false };
        self.now().millis_since(Timestamp::from_millis(created)) >= crate::time::duration_millis(timeout)
    }
}

/// The creation time a stored stamp holds: milliseconds since the epoch, as an integer. Anything else there
/// (`null`, a string, a fraction: a foreign writer's) counts as no stamp, so that the session gets a readable one
/// when it is first read, rather than never ending.
pub(super) fn creation_stamp(stored: Option<&Value>) -> Option<i64> {
    stored.and_then(Value::as_i64)
}
