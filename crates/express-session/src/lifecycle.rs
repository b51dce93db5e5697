//! The end-of-request decisions, as pure functions of the request's facts and the options.
//!
//! These are express-session's formulas (`shouldSave`, `shouldTouch`, `shouldSetCookie`, `shouldDestroy` and the
//! header-time `secure` check) over plain booleans, so that each row of express's decision matrix is one test
//! below. The session handle gathers the facts; this module decides; the layer carries the decision out. It is
//! public for framework adapters and for anyone who wants to see what express would do:
//!
//! ```
//! use express_session::lifecycle::{decide, Facts, Rules, StoreAction};
//!
//! // A returning client whose session the handler changed, with express's example options.
//! let mut facts = Facts::default();
//! facts.has_session = true;
//! facts.has_session_id = true;
//! facts.cookie_id_matches = true;
//! facts.modified = true;
//! facts.saved_hash_set = true;
//! let mut rules = Rules::default();
//! rules.save_uninitialized = true;
//! let decision = decide(&facts, &rules);
//! assert_eq!(decision.store, StoreAction::Save);
//! assert!(!decision.set_cookie, "a browser-session cookie is not sent again");
//! ```

/// What one request knows about its session when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Facts {
    /// The request still has a session (express: `req.session` is set; false after `destroy()` or `unset()`).
    pub has_session: bool,
    /// The request has a session id (express: `req.sessionID`; it survives `destroy()`).
    pub has_session_id: bool,
    /// The id the cookie carried is the session's id now (express: `cookieId === req.sessionID`).
    pub cookie_id_matches: bool,
    /// express's `isModified`: the id changed (regenerate) or the data differs from what was loaded or created.
    pub modified: bool,
    /// express's `isSaved`: the id did not change and the data equals what was last saved (or, with
    /// `resave: false`, loaded).
    pub saved: bool,
    /// express's `savedHash` is set: the session was loaded with `resave: false` or saved explicitly.
    pub saved_hash_set: bool,
    /// The session's cookie has an expiry (not a browser-session cookie).
    pub cookie_has_expires: bool,
    /// The session's cookie is `Secure`.
    pub cookie_secure: bool,
    /// The request came over HTTPS (directly or through a trusted proxy).
    pub request_secure: bool,
}

/// The options the decisions depend on (`resave` is already folded into [`Facts::saved`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Rules {
    /// express's `saveUninitialized`.
    pub save_uninitialized: bool,
    /// express's `rolling`.
    pub rolling: bool,
    /// express's `unset: 'destroy'`.
    pub unset_destroy: bool,
}

/// What the store should do at the end of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreAction {
    /// Nothing.
    Nothing,
    /// Write the session (create it if new, else a conditional save).
    Save,
    /// Move the stored expiry forward.
    Touch,
    /// Destroy the stored session (`unset: 'destroy'`).
    Destroy,
}

/// The end-of-request decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// What the store should do.
    pub store: StoreAction,
    /// Whether to send the session cookie (`Set-Cookie`).
    pub set_cookie: bool,
}

fn should_save(f: &Facts, r: &Rules) -> bool {
    if !f.has_session_id {
        return false;
    }
    if !r.save_uninitialized && !f.saved_hash_set && !f.cookie_id_matches { f.modified } else { !f.saved }
}

fn should_set_cookie(f: &Facts, r: &Rules) -> bool {
    if !f.has_session_id {
        return false;
    }
    if !f.cookie_id_matches {
        r.save_uninitialized || f.modified
    } else {
        r.rolling || (f.cookie_has_expires && f.modified)
    }
}

/// express-session's end-of-request decision.
pub fn decide(f: &Facts, r: &Rules) -> Decision {
    if !f.has_session {
        let destroy = f.has_session_id && r.unset_destroy;
        return Decision {
            store: if destroy { StoreAction::Destroy } else { StoreAction::Nothing },
            set_cookie: false,
        };
    }
    let save = should_save(f, r);
    let store = if save {
        StoreAction::Save
    } else if f.has_session_id && f.cookie_id_matches {
        StoreAction::Touch
    } else {
        StoreAction::Nothing
    };
    // Header time: a Secure cookie is never sent over an insecure connection (the session is still saved).
    let set_cookie = should_set_cookie(f, r) && (f.request_secure || !f.cookie_secure);
    Decision { store, set_cookie }
}

/// Whether a request that never used its session must still load it, because the end-of-request outcome
/// depends on the record's content: `resave` writes the whole record back, `rolling` sends a cookie made from the
/// stored attributes. Otherwise the outcome depends only on whether the record exists: if it does, express only
/// touches it (no save: it is unmodified; no cookie: it is unmodified and not rolling); if it does not, the
/// request has a new, uninitialized session. So the layer refreshes the record's expiry in one store call and,
/// only when it turns out to be gone, goes on as for a new session.
pub(crate) fn must_load_untouched(resave: bool, r: &Rules) -> bool {
    resave || r.rolling
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTHING: StoreAction = StoreAction::Nothing;
    const SAVE: StoreAction = StoreAction::Save;
    const TOUCH: StoreAction = StoreAction::Touch;
    const DESTROY: StoreAction = StoreAction::Destroy;

    /// Facts for a session created in this request (no valid cookie, or the cookie's record was missing).
    fn new_session(modified: bool) -> Facts {
        Facts {
            has_session: true,
            has_session_id: true,
            cookie_id_matches: false,
            modified,
            saved: false,
            saved_hash_set: false,
            ..Facts::default()
        }
    }

    /// Facts for a session loaded from the store, as express sets them up for the given `resave`.
    fn loaded(resave: bool, max_age: bool, modified: bool) -> Facts {
        Facts {
            has_session: true,
            has_session_id: true,
            cookie_id_matches: true,
            modified,
            saved: !resave && !modified,
            saved_hash_set: !resave,
            cookie_has_expires: max_age,
            ..Facts::default()
        }
    }

    fn rules(save_uninitialized: bool, rolling: bool) -> Rules {
        Rules { save_uninitialized, rolling, unset_destroy: false }
    }

    fn d(store: StoreAction, set_cookie: bool) -> Decision {
        Decision { store, set_cookie }
    }

    /// Spec §3.8, new session rows: saveUninitialized x handler, for every rolling/resave (they do not matter).
    #[test]
    fn new_sessions() {
        for rolling in [false, true] {
            assert_eq!(decide(&new_session(false), &rules(true, rolling)), d(SAVE, true));
            assert_eq!(decide(&new_session(true), &rules(true, rolling)), d(SAVE, true));
            assert_eq!(decide(&new_session(false), &rules(false, rolling)), d(NOTHING, false));
            assert_eq!(decide(&new_session(true), &rules(false, rolling)), d(SAVE, true));
        }
    }

    /// Spec §3.8, loaded session rows: resave x rolling x maxAge x handler.
    #[test]
    fn loaded_sessions() {
        let rows = [
            // resave, rolling, maxAge, modified -> store, set-cookie
            (true, false, false, false, SAVE, false),
            (true, false, false, true, SAVE, false),
            (true, false, true, false, SAVE, false),
            (true, false, true, true, SAVE, true),
            (true, true, false, false, SAVE, true),
            (true, true, true, true, SAVE, true),
            (false, false, false, false, TOUCH, false),
            (false, false, false, true, SAVE, false),
            (false, false, true, false, TOUCH, false),
            (false, false, true, true, SAVE, true),
            (false, true, false, false, TOUCH, true),
            (false, true, true, true, SAVE, true),
        ];
        for (resave, rolling, max_age, modified, store, cookie) in rows {
            for save_uninitialized in [false, true] {
                let got = decide(&loaded(resave, max_age, modified), &rules(save_uninitialized, rolling));
                assert_eq!(
                    got,
                    d(store, cookie),
                    "resave={resave} rolling={rolling} maxAge={max_age} modified={modified} saveUninit={save_uninitialized}"
                );
            }
        }
    }

    /// `rolling` never sends a cookie for an uninitialized new session when saveUninitialized is false (#239).
    #[test]
    fn rolling_does_not_force_uninitialized_cookies() {
        assert_eq!(decide(&new_session(false), &rules(false, true)), d(NOTHING, false));
    }

    /// Regenerated sessions are always saved and sent, even with saveUninitialized false.
    #[test]
    fn regenerated_sessions_are_saved_and_sent() {
        let mut f = loaded(false, false, true);
        f.cookie_id_matches = false;
        f.saved = false;
        assert_eq!(decide(&f, &rules(false, false)), d(SAVE, true));
    }

    /// Only changing cookie fields is not a modification: touched, not saved, no cookie.
    #[test]
    fn cookie_only_changes_touch() {
        assert_eq!(decide(&loaded(false, true, false), &rules(true, false)), d(TOUCH, false));
    }

    /// An explicit save() with resave true prevents the end-of-request save.
    #[test]
    fn explicit_save_prevents_end_save() {
        let mut f = loaded(true, false, false);
        f.saved_hash_set = true;
        f.saved = true;
        assert_eq!(decide(&f, &rules(true, false)), d(TOUCH, false));
    }

    /// Secure cookies over plain HTTP: saved, but no Set-Cookie.
    #[test]
    fn secure_cookie_over_http_is_saved_not_sent() {
        let mut f = new_session(false);
        f.cookie_secure = true;
        assert_eq!(decide(&f, &rules(true, false)), d(SAVE, false));
        f.request_secure = true;
        assert_eq!(decide(&f, &rules(true, false)), d(SAVE, true));
    }

    /// `destroy()` / `unset()` rows: with unset keep nothing happens, with unset destroy the id is destroyed.
    #[test]
    fn sessions_gone_from_the_request() {
        let gone = Facts { has_session: false, has_session_id: true, ..Facts::default() };
        let keep = Rules { unset_destroy: false, ..Rules::default() };
        let destroy = Rules { unset_destroy: true, ..Rules::default() };
        assert_eq!(decide(&gone, &keep), d(NOTHING, false));
        assert_eq!(decide(&gone, &destroy), d(DESTROY, false));
        let no_id = Facts { has_session: false, has_session_id: false, ..Facts::default() };
        assert_eq!(decide(&no_id, &destroy), d(NOTHING, false));
    }

    #[test]
    fn untouched_sessions_load_only_when_the_outcome_depends_on_the_record() {
        assert!(!must_load_untouched(false, &rules(false, false)));
        assert!(!must_load_untouched(false, &rules(true, false)), "saveUninitialized needs existence only");
        assert!(must_load_untouched(true, &rules(false, false)));
        assert!(must_load_untouched(false, &rules(false, true)));
    }

    /// The refresh shortcut gives express's decision in both cases it distinguishes.
    #[test]
    fn the_refresh_shortcut_agrees_with_the_full_decision() {
        for save_uninitialized in [false, true] {
            let r = rules(save_uninitialized, false);
            // The record exists: express loads it unmodified and touches it, without a cookie.
            assert_eq!(decide(&loaded(false, false, false), &r), d(TOUCH, false));
            assert_eq!(decide(&loaded(false, true, false), &r), d(TOUCH, false));
            // It does not: a new, unmodified session, decided as such after the refresh reports it gone.
            let expected = if save_uninitialized { d(SAVE, true) } else { d(NOTHING, false) };
            assert_eq!(decide(&new_session(false), &r), expected);
        }
    }
}
