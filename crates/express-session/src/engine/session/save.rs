//! Writing the session: `reload`, `save`, the write with its retries after a lost race (rebase), the size check.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::changes::SavedHash;
use super::{Active, Phase, Session, State};
use crate::engine::config::Config;
use crate::error::SessionError;
use crate::record::{CREATED_AT_KEY, Record};
use crate::store::owners::owner_from_value;
use crate::store::{CreateOutcome, SaveOutcome, Versioned};

impl Session {
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
            state.saved_hash = SavedHash::Value(found.record.fields().to_map());
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
            let data = Self::active_mut(&mut state).record.fields().to_map();
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
    pub(super) async fn write(&self, state: &mut State) -> Result<WriteOutcome, SessionError> {
        let config = Arc::clone(&self.shared.config);
        let store = self.store();
        // However the record came to name the owner whose session this request's `regenerate` found ended (by
        // `set_owner`, or the handler writing the owner key itself), it is not written.
        if let Some(ended) = state.ended_owner.clone()
            && let Some(key) = store.owner_key()
            && Self::active_mut(state).record.fields().get(key).and_then(owner_from_value) == Some(ended)
        {
            return Err(SessionError::OwnerEnded);
        }
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
    pub(super) fn rebased(config: &Config, active: &Active, mut record: Record) -> Result<Record, SessionError> {
        if active.cookie_changed {
            *record.cookie_mut() = active.record.cookie().clone();
        }
        record.cookie_mut().touch(config.clock.now());
        for change in active.changes.iter() {
            change.apply(record.fields_mut())?;
        }
        Self::check_size(config, &record)?;
        Ok(record)
    }

    /// Refuses a record above [`max_record_size`](crate::SessionOptions::max_record_size) that this request made
    /// larger than the stored record it read: a session the Node app (or a larger earlier limit) made big stays
    /// writable as long as it does not grow.
    pub(super) fn check_size(config: &Config, record: &Record) -> Result<(), SessionError> {
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
        let stamp_room = if record.fields().contains_key(CREATED_AT_KEY) && !record.loaded_stamped() {
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
}

/// A random pause before the `attempt`-th retry of a save that lost a race: up to 2^attempt ms, at most 64 ms,
/// so that requests that keep colliding spread out.
pub(super) fn backoff(attempt: u32) -> Duration {
    let mut byte = [0u8; 2];
    let random = getrandom::fill(&mut byte).map_or(0, |()| u64::from(u16::from_le_bytes(byte)));
    let ceiling = 1u64 << attempt.min(6);
    Duration::from_micros(random % (ceiling * 1000))
}

pub(super) enum WriteOutcome {
    Written,
    Gone,
}
