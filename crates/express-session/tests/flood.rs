//! A flood of cookie-less requests against a bounded MemoryStore, through the layer (issue 19): the store
//! stays within its capacity, and logged-in clients keep their sessions however many anonymous ones arrive.

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{Clock, CookieOptions, MemoryStore, Session, SessionError, SessionManagerLayer, Timestamp};

const CAPACITY: usize = 10_000;

async fn log_in(session: Session, Path(name): Path<String>) -> Result<&'static str, SessionError> {
    session.insert("user", name).await?;
    Ok("ok")
}

async fn me(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("user").await?.unwrap_or_else(|| "anonymous".to_owned()))
}

/// express's example setup for a public site: every visitor gets a stored session (`saveUninitialized`), with a
/// one-hour cookie, in a store bounded at `CAPACITY`.
fn flooded_app() -> TestApp {
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let store = MemoryStore::builder().clock(clock.clone()).capacity(CAPACITY).build();
    let options = options()
        .save_uninitialized(true)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
        .clock(clock.clone())
        .store(store.clone());
    let routes =
        Router::new().route("/", get(|| async { "ok" })).route("/login/{name}", get(log_in)).route("/me", get(me));
    TestApp { app: routes.layer(SessionManagerLayer::new(options).unwrap()), store, clock }
}

#[tokio::test]
async fn logged_in_clients_keep_their_sessions_through_a_flood_of_five_times_the_capacity() {
    let app = flooded_app();
    let mut clients = Vec::new();
    for i in 0..50 {
        let name = format!("user-{i}");
        let reply = app.get(&format!("/login/{name}"), None).await;
        assert_eq!(reply.status, 200);
        clients.push((name, reply.cookie()));
    }
    // Five rounds of CAPACITY cookie-less requests, each storing a new session; between rounds, one second
    // passes and every logged-in client comes back.
    for round in 0..5 {
        for _ in 0..CAPACITY {
            let reply = app.get("/", None).await;
            assert_eq!(reply.status, 200);
            assert!(reply.set_cookie.is_some(), "a cookie-less request gets a stored session");
        }
        assert!(app.store.raw_len() <= CAPACITY, "round {round}: {} sessions", app.store.raw_len());
        app.clock.advance(Duration::from_secs(1));
        for (name, cookie) in &clients {
            let reply = app.get("/me", Some(cookie)).await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.body, *name, "round {round}: {name} lost its session to the flood");
            assert!(reply.set_cookie.is_none() || reply.cookie() == *cookie, "{name} got a new session");
        }
    }
    // The store is full of the flood's newest sessions, not over its bound.
    let held = app.len().await;
    assert!((CAPACITY - 100..=CAPACITY).contains(&held), "{held} sessions held");
}
