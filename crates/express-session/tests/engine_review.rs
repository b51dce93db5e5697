//! Adversarial review of issue 13's engine fixes (cycle_id, the creation stamp, touch at write): each case is a
//! defect found by attacking them, reproduced through the HTTP layer on MemoryStore with a manual clock. The
//! concurrency cases that must hold on every store are in the shared store suite.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{CookieOptions, Session, SessionError};

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "alice").await?;
    Ok("ok")
}

async fn read_user(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("user").await?.unwrap_or_else(|| "anonymous".into()))
}

/// `clear()` empties the session's data, not its age: a handler that clears and rebuilds the session (here on
/// every visit) must not restart the absolute timeout, or a session used often enough lives forever.
#[tokio::test]
async fn clear_does_not_restart_the_absolute_timeout() {
    async fn rebuild(session: Session) -> Result<&'static str, SessionError> {
        let user: Option<String> = session.get("user").await?;
        session.clear().await?;
        if let Some(user) = user {
            session.insert("user", user).await?;
        }
        Ok("ok")
    }
    let options = options()
        .cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
        .absolute_timeout(Duration::from_secs(60));
    let routes =
        Router::new().route("/login", get(login)).route("/rebuild", get(rebuild)).route("/read", get(read_user));
    let t = TestApp::new(options, routes);
    let cookie = t.get("/login", None).await.cookie();
    for _ in 0..3 {
        t.clock.advance(Duration::from_secs(25));
        assert_eq!(t.get("/rebuild", Some(&cookie)).await.status, 200);
    }
    // 75 s after the login, with the session cleared and rebuilt 25 s ago.
    assert_eq!(t.get("/read", Some(&cookie)).await.body, "anonymous", "the absolute timeout was restarted by clear()");
}

/// The creation stamp is the layer's, as `cookie` is express's: a handler cannot remove it (that too would
/// restart the absolute timeout), as it cannot insert or update it.
#[tokio::test]
async fn the_creation_stamp_cannot_be_removed() {
    async fn remove_stamp(session: Session) -> Result<String, SessionError> {
        match session.remove::<serde_json::Value>(express_session::record::CREATED_AT_KEY).await {
            Err(SessionError::ReservedKey(_)) => Ok("refused".into()),
            Err(other) => Err(other),
            Ok(_) => Ok("removed".into()),
        }
    }
    let options = options()
        .cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
        .absolute_timeout(Duration::from_secs(60));
    let routes =
        Router::new().route("/login", get(login)).route("/remove", get(remove_stamp)).route("/read", get(read_user));
    let t = TestApp::new(options, routes);
    let cookie = t.get("/login", None).await.cookie();
    t.clock.advance(Duration::from_secs(50));
    assert_eq!(t.get("/remove", Some(&cookie)).await.body, "refused");
    t.clock.advance(Duration::from_secs(20));
    assert_eq!(t.get("/read", Some(&cookie)).await.body, "anonymous", "the absolute timeout was restarted");
}

/// `cycle_id` and `max_record_size`: a session the Node app wrote above the limit (Node has none) moves like any
/// other (it did not grow in this request), and a session this request grew above the limit is refused before
/// anything moves, so it stays readable under its id, as it was. Before, the old record was retired first, the
/// write under the new id then failed with `TooLarge`, and the whole session was lost.
#[tokio::test]
async fn cycle_id_of_a_session_that_cannot_be_written_back_keeps_it() {
    async fn cycle(session: Session) -> Result<&'static str, SessionError> {
        session.cycle_id().await?;
        Ok("cycled")
    }
    async fn grow_then_cycle(session: Session) -> Result<&'static str, SessionError> {
        session.insert("more", "y".repeat(4096)).await?;
        session.cycle_id().await?;
        Ok("cycled")
    }
    let options = options().max_record_size(Some(1024));
    let routes =
        Router::new().route("/cycle", get(cycle)).route("/grow", get(grow_then_cycle)).route("/read", get(read_user));
    let t = TestApp::new(options, routes);
    let node_session = |blob: usize| {
        let id = express_session::SessionId::generate();
        let mut cookie = express_session::SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(3600)), t.clock.now());
        let data = serde_json::json!({"user": "node", "blob": "x".repeat(blob)}).as_object().unwrap().clone();
        let signed = express_session::wire::sign(id.as_str(), b"keyboard cat");
        let cookie_header =
            format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")));
        (id, express_session::Record::from_parts(cookie, data), cookie_header)
    };
    // Above the limit as Node wrote it: the move goes through, nothing grew.
    let (id, record, cookie) = node_session(4096);
    express_session::Store::create(&t.store, &id, &record).await.unwrap();
    let cycled = t.get("/cycle", Some(&cookie)).await;
    assert_eq!(cycled.status, 200);
    assert_eq!(t.get("/read", Some(&cycled.cookie())).await.body, "node", "the session moved");
    assert_eq!(t.get("/read", Some(&cookie)).await.body, "anonymous", "the old id was retired");
    // Grown above the limit by this request: nothing moves, the session stays as it was.
    let (id, record, cookie) = node_session(10);
    express_session::Store::create(&t.store, &id, &record).await.unwrap();
    let grown = t.get("/grow", Some(&cookie)).await;
    assert_eq!(grown.status, 500, "the move cannot be stored");
    assert_eq!(grown.set_cookie, None);
    assert_eq!(t.get("/read", Some(&cookie)).await.body, "node", "the session was lost");
    let stored = express_session::Store::get(&t.store, &id).await.unwrap().unwrap();
    assert_eq!(stored.record.data().get("more"), None, "the refused growth was stored");
}

/// What a request does after `cycle_id`, before its move is written, acts on the session where it still is:
/// `destroy()` and `regenerate()` remove the old record, `unset()` with `unset: 'destroy'` too, with `'keep'`
/// the session stays as it was; `save()` writes the move, and a later change is saved under the new id; a
/// second `cycle_id` only picks another id. Each leaves exactly the records it should.
#[tokio::test]
async fn what_follows_cycle_id_in_the_same_request() {
    async fn then(session: Session, step: &str) -> Result<String, SessionError> {
        session.cycle_id().await?;
        match step {
            "destroy" => session.destroy().await?,
            "regenerate" => session.regenerate().await?,
            "unset" => session.unset().await?,
            "save" => {
                session.save().await?;
                session.insert("later", true).await?;
            }
            "twice" => session.cycle_id().await?,
            _ => {}
        }
        Ok("ok".into())
    }
    for (step, unset, survives_at_old, new_cookie) in [
        ("destroy", express_session::Unset::Keep, false, false),
        ("regenerate", express_session::Unset::Keep, false, true),
        ("unset", express_session::Unset::Destroy, false, false),
        ("unset", express_session::Unset::Keep, true, false),
        ("save", express_session::Unset::Keep, false, true),
        ("twice", express_session::Unset::Keep, false, true),
    ] {
        let routes = Router::new().route("/login", get(login)).route("/read", get(read_user)).route(
            "/step/{step}",
            get(|session: Session, axum::extract::Path(step): axum::extract::Path<String>| async move {
                then(session, &step).await
            }),
        );
        let t = TestApp::new(options().unset(unset), routes);
        let cookie = t.get("/login", None).await.cookie();
        let reply = t.get(&format!("/step/{step}"), Some(&cookie)).await;
        assert_eq!(reply.status, 200, "{step} {unset:?}");
        let at_old = t.get("/read", Some(&cookie)).await.body;
        assert_eq!(at_old == "alice", survives_at_old, "{step} {unset:?}: the old id reads {at_old}");
        // A removal cookie (after destroy) names no session.
        let names_session = reply.set_cookie.as_deref().is_some_and(|c| !c.starts_with("connect.sid=;"));
        assert_eq!(names_session, new_cookie, "{step} {unset:?}: {:?}", reply.set_cookie);
        let expected_records = match step {
            "regenerate" | "save" | "twice" => 1,
            "unset" if unset == express_session::Unset::Keep => 1,
            _ => 0,
        };
        assert_eq!(t.len().await, expected_records, "{step} {unset:?}");
        if names_session {
            let new = reply.cookie();
            let expected = if step == "regenerate" { "anonymous" } else { "alice" };
            assert_eq!(t.get("/read", Some(&new)).await.body, expected, "{step}: the new id");
        }
        if step == "save" {
            let id = express_session::SessionId::new(reply.cookie_id()).unwrap();
            let stored = express_session::Store::get(&t.store, &id).await.unwrap().unwrap();
            assert_eq!(stored.record.data().get("later"), Some(&serde_json::json!(true)), "the change after save()");
        }
    }
}

/// A record whose creation stamp is there but is no number of milliseconds (`null`, a string, a fraction: a
/// foreign writer's) counts as unstamped: it gets a stamp when first read here and the absolute timeout ends it.
/// Before, such a stamp was neither read nor replaced, and the session never ended.
#[tokio::test]
async fn an_unreadable_creation_stamp_does_not_make_a_session_immortal() {
    for stamp in
        [serde_json::json!(null), serde_json::json!("2030-01-01"), serde_json::json!(1.5), serde_json::json!({})]
    {
        let options = options()
            .cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
            .absolute_timeout(Duration::from_secs(60));
        let t = TestApp::new(options, Router::new().route("/read", get(read_user)));
        let id = express_session::SessionId::generate();
        let mut cookie = express_session::SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(3600)), t.clock.now());
        let data = serde_json::json!({"user": "node", express_session::record::CREATED_AT_KEY: stamp.clone()});
        let record = express_session::Record::from_parts(cookie, data.as_object().unwrap().clone());
        express_session::Store::create(&t.store, &id, &record).await.unwrap();
        let signed = express_session::wire::sign(id.as_str(), b"keyboard cat");
        let cookie = format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")));
        assert_eq!(t.get("/read", Some(&cookie)).await.body, "node", "{stamp}: first read");
        t.clock.advance(Duration::from_secs(61));
        assert_eq!(t.get("/read", Some(&cookie)).await.body, "anonymous", "{stamp}: the session never ends");
    }
}
