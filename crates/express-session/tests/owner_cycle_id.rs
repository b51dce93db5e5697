//! The owner calls after a `cycle_id` in the same request (found by the session-contract checker, see
//! `checker/FINDINGS.md`): until the move is written at the end of the request the session is still stored under
//! its old id, so that record is "this session" for `end_other_sessions`, `owner_sessions` and
//! `end_owner_session`, not another device of the owner.

mod common;

use axum::Router;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{Clock, MemoryStore, Session, SessionError, SessionManagerLayer, Timestamp};

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
