//! The owner calls after a `cycle_id` in the same request (found by the session-contract checker, see
//! `checker/FINDINGS.md`): until the move is written at the end of the request the session is still stored under
//! its old id, so that record is "this session" for `end_other_sessions`, `owner_sessions` and
//! `end_owner_session`, not another device of the owner.

mod common;

use axum::Router;
use axum::routing::get;
use common::{TestApp, options};
use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{Clock, MemoryStore, Record, Session, SessionError, SessionId, SessionManagerLayer, Timestamp};

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.regenerate().await?;
    session.insert("user", "alice").await?;
    session.set_owner("alice").await?;
    Ok("ok")
}

async fn read_user(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("user").await?.unwrap_or_else(|| "anonymous".into()))
}

async fn cycle_then_end_others(session: Session) -> Result<String, SessionError> {
    session.cycle_id().await?;
    Ok(session.end_other_sessions().await?.to_string())
}

async fn cycle_then_list(session: Session) -> Result<String, SessionError> {
    session.cycle_id().await?;
    let page = session.owner_sessions().await?;
    Ok(format!("{} {}", page.sessions.len(), page.sessions.iter().filter(|s| s.current).count()))
}

async fn cycle_then_end_one(session: Session) -> Result<String, SessionError> {
    session.cycle_id().await?;
    let page = session.owner_sessions().await?;
    match page.sessions.iter().find(|s| !s.current) {
        Some(other) => Ok(session.end_owner_session(&other.handle).await?.to_string()),
        None => Ok("none".into()),
    }
}

async fn cycle_then_end_all(session: Session) -> Result<String, SessionError> {
    session.cycle_id().await?;
    Ok(session.end_all_sessions().await?.to_string())
}

fn app() -> TestApp {
    let routes = Router::new()
        .route("/login", get(login))
        .route("/read", get(read_user))
        .route("/cycle-end-others", get(cycle_then_end_others))
        .route("/cycle-list", get(cycle_then_list))
        .route("/cycle-end-one", get(cycle_then_end_one))
        .route("/cycle-end-all", get(cycle_then_end_all));
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let store = MemoryStore::builder().clock(clock.clone()).owner_key("owner").build();
    let layer = SessionManagerLayer::new(options().clock(clock.clone()).store(store.clone())).unwrap();
    TestApp { app: routes.layer(layer), store, clock }
}

/// "Log out other devices" right after `cycle_id` ends the other device and keeps this one, under its new id.
#[tokio::test]
async fn end_other_sessions_after_cycle_id_keeps_this_session() {
    let t = app();
    let mine = t.get("/login", None).await.cookie();
    let other = t.get("/login", None).await.cookie();
    let reply = t.get("/cycle-end-others", Some(&mine)).await;
    assert_eq!(reply.body, "1", "it ended only the other device");
    let moved = reply.cookie();
    assert_ne!(moved, mine, "the session moved to a new id");
    assert_eq!(t.get("/read", Some(&moved)).await.body, "alice", "this session was logged out");
    assert_eq!(t.get("/read", Some(&mine)).await.body, "anonymous");
    assert_eq!(t.get("/read", Some(&other)).await.body, "anonymous");
}

/// The listing right after `cycle_id` marks this session (still stored under its old id) as the current one.
#[tokio::test]
async fn owner_sessions_after_cycle_id_marks_this_session() {
    let t = app();
    let mine = t.get("/login", None).await.cookie();
    t.get("/login", None).await.cookie();
    assert_eq!(t.get("/cycle-list", Some(&mine)).await.body, "2 1");
}

/// Ending "the first session that is not the current one" right after `cycle_id` ends the other device, not
/// this session's own record; with no other device it ends nothing.
#[tokio::test]
async fn end_owner_session_after_cycle_id_spares_this_session() {
    let t = app();
    let mine = t.get("/login", None).await.cookie();
    let reply = t.get("/cycle-end-one", Some(&mine)).await;
    assert_eq!(reply.body, "none", "the only session is this one");
    let moved = reply.cookie();
    assert_eq!(t.get("/read", Some(&moved)).await.body, "alice");
    let other = t.get("/login", None).await.cookie();
    let reply = t.get("/cycle-end-one", Some(&moved)).await;
    assert_eq!(reply.body, "true");
    assert_eq!(t.get("/read", Some(&reply.cookie())).await.body, "alice");
    assert_eq!(t.get("/read", Some(&other)).await.body, "anonymous");
}

/// "Log out everywhere" right after `cycle_id` counts this session, which was stored, and ends every session.
#[tokio::test]
async fn end_all_sessions_after_cycle_id_counts_this_session() {
    let t = app();
    let mine = t.get("/login", None).await.cookie();
    let other = t.get("/login", None).await.cookie();
    assert_eq!(t.get("/cycle-end-all", Some(&mine)).await.body, "2");
    assert_eq!(t.get("/read", Some(&mine)).await.body, "anonymous");
    assert_eq!(t.get("/read", Some(&other)).await.body, "anonymous");
    assert_eq!(t.len().await, 0);
}

/// A MemoryStore that, once armed with the old id, acts at the moment a `cycle_id` creates the new record: another
/// request writes the old record (so the move must re-apply it) and an owner call ends the new record by its
/// handle (the owner index lists it from its creation on). Armed with a session's id and version, an
/// `end_sessions_of` is followed at once by that session's move as another request's `cycle_id` writes it:
/// create the new record, retire the old one if it is still that version (else remove the new one).
#[derive(Debug, Clone)]
struct RaceOnCreate {
    inner: MemoryStore,
    armed: std::sync::Arc<std::sync::Mutex<Option<SessionId>>>,
    cycle: std::sync::Arc<std::sync::Mutex<Option<(SessionId, Versioned, SessionId)>>>,
}

impl Store for RaceOnCreate {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let outcome = self.inner.create(id, record).await?;
        let old = self.armed.lock().unwrap().take();
        if let Some(old) = old {
            let mut written = self.inner.get(&old).await?.expect("the old record").record;
            written.data_mut().insert("n".into(), 1.into());
            self.inner.set(&old, &written).await?;
            assert!(self.inner.end_session_of("alice", &SessionHandle::of(id)).await?, "the new record is listed");
        }
        Ok(outcome)
    }
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.inner.set(id, record).await
    }
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        self.inner.save_if(id, record, expected).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.inner.touch(id, record).await
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.destroy(id).await
    }
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    fn owner_key(&self) -> Option<&str> {
        self.inner.owner_key()
    }
    async fn sessions_of(&self, owner: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        self.inner.sessions_of(owner, limit).await
    }
    async fn end_session_of(&self, owner: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.inner.end_session_of(owner, handle).await
    }
    async fn end_sessions_of(&self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let ended = self.inner.end_sessions_of(owner, keep).await?;
        let cycle = self.cycle.lock().unwrap().take();
        if let Some((old, read, new)) = cycle {
            assert!(matches!(self.inner.create(&new, &read.record).await?, CreateOutcome::Created(_)));
            let mut cookie = read.record.cookie().clone();
            cookie.set_expires(Some(Timestamp::from_millis(0)), self.inner.now());
            let retired = Record::new(cookie);
            match self.inner.save_if(&old, &retired, &read.version).await? {
                SaveOutcome::Saved(_) => self.inner.destroy(&old).await?,
                _ => self.inner.destroy(&new).await?,
            }
        }
        Ok(ended)
    }
}

/// An owner call that ends the new record while `cycle_id`'s move re-applies a concurrent write (found by the
/// checker on SQLite: the move assumed nobody else knows the new id, and answered 500 with the session left alive
/// under its old id). The request answers, and the session is over under both ids.
#[tokio::test]
async fn an_owner_call_ending_the_new_record_of_a_move_ends_the_session() {
    async fn cycle(session: Session) -> Result<&'static str, SessionError> {
        session.cycle_id().await?;
        Ok("ok")
    }
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let inner = MemoryStore::builder().clock(clock.clone()).owner_key("owner").build();
    let store = RaceOnCreate { inner: inner.clone(), armed: Default::default(), cycle: Default::default() };
    let routes = Router::new().route("/login", get(login)).route("/read", get(read_user)).route("/cycle", get(cycle));
    let layer = SessionManagerLayer::new(options().clock(clock.clone()).store(store.clone())).unwrap();
    let t = TestApp { app: routes.layer(layer), store: inner, clock };
    let login = t.get("/login", None).await;
    let (mine, old) = (login.cookie(), SessionId::new(login.cookie_id()).unwrap());
    *store.armed.lock().unwrap() = Some(old);
    let reply = t.get("/cycle", Some(&mine)).await;
    assert_eq!(reply.status, 200, "the move failed: {}", reply.body);
    assert_eq!(t.get("/read", Some(&mine)).await.body, "anonymous", "the session lives on under its old id");
    if reply.set_cookie.is_some() {
        assert_eq!(t.get("/read", Some(&reply.cookie())).await.body, "anonymous");
    }
    assert_eq!(t.len().await, 0);
}

/// "Log out everywhere" while another request of this session moves it with `cycle_id` (found by the checker on
/// SQLite: `end_all_sessions` ended the others, keeping this session's id, before destroying it; a move written in
/// between retired that id and lived on under the new one). Afterwards the session is gone under both ids.
#[tokio::test]
async fn end_all_sessions_ends_a_session_moved_meanwhile() {
    async fn end_all(session: Session) -> Result<String, SessionError> {
        Ok(session.end_all_sessions().await?.to_string())
    }
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let inner = MemoryStore::builder().clock(clock.clone()).owner_key("owner").build();
    let store = RaceOnCreate { inner: inner.clone(), armed: Default::default(), cycle: Default::default() };
    let routes = Router::new().route("/login", get(login)).route("/end-all", get(end_all));
    let layer = SessionManagerLayer::new(options().clock(clock.clone()).store(store.clone())).unwrap();
    let t = TestApp { app: routes.layer(layer), store: inner.clone(), clock };
    let login = t.get("/login", None).await;
    let old = SessionId::new(login.cookie_id()).unwrap();
    let read = inner.get(&old).await.unwrap().expect("stored");
    let new = SessionId::generate();
    *store.cycle.lock().unwrap() = Some((old.clone(), read, new.clone()));
    assert_eq!(t.get("/end-all", Some(&login.cookie())).await.status, 200);
    assert!(store.cycle.lock().unwrap().is_none(), "the move ran");
    assert!(inner.get(&new).await.unwrap().is_none(), "the session lives on under the id it moved to");
    assert!(inner.get(&old).await.unwrap().is_none());
}
