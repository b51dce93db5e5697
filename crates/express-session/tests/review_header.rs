//! The adversarial review of sessions in a header, `touch_after` and the owned `regenerate`: each test failed
//! before its fix (or measures a figure the issues set).

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use common::{Counting, options};
use express_session::engine::{Engine, Finished, RequestFacts, ResponseFacts};
use express_session::{MemoryStore, Session, SessionError, SessionManagerLayer, Store};
use http::Request;
use tower::ServiceExt;

fn vary_of(response: &http::Response<Body>) -> Vec<String> {
    let values = response.headers().get_all(http::header::VARY).iter();
    values
        .flat_map(|v| v.to_str().unwrap().split(',').map(|t| t.trim().to_ascii_lowercase()).collect::<Vec<_>>())
        .collect()
}

/// A response that depends on a session read from the header must vary on the header, as one read from the
/// cookie varies on `Cookie`: otherwise a shared cache keyed on the URL and `Cookie` (empty for both clients)
/// serves one header client's page to another.
#[tokio::test]
async fn a_response_to_a_header_session_varies_on_the_header() {
    let routes = Router::new()
        .route("/login", post(|s: Session| async move { s.insert("user", "alice").await.map(|()| "in") }))
        .route(
            "/me",
            get(|s: Session| async move { Ok::<_, SessionError>(s.get::<String>("user").await?.unwrap_or_default()) }),
        );
    let layer = SessionManagerLayer::new(options().header("X-Session").store(MemoryStore::new())).unwrap();
    let app = routes.layer(layer);
    let send = |request: Request<Body>| app.clone().oneshot(request);
    let login = send(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
    let header = login.headers().get("x-session").expect("the header").clone();
    assert!(vary_of(&login).contains(&"x-session".to_owned()), "login: {:?}", vary_of(&login));
    let me = send(Request::get("/me").header("X-Session", header).body(Body::empty()).unwrap()).await.unwrap();
    assert!(vary_of(&me).contains(&"cookie".to_owned()));
    assert!(vary_of(&me).contains(&"x-session".to_owned()), "/me: {:?}", vary_of(&me));
    // Without the option nothing names the header.
    let plain = Router::new()
        .route("/me", get(|s: Session| async move { s.get::<String>("user").await.map(Option::unwrap_or_default) }))
        .layer(SessionManagerLayer::new(options().store(MemoryStore::new())).unwrap());
    let me = plain.oneshot(Request::get("/me").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(vary_of(&me), ["cookie"]);
}

fn cookie_of(finished: &Finished) -> String {
    finished.set_cookie().expect("a cookie").split(';').next().unwrap().to_owned()
}

async fn log_in(engine: &Engine, owner: &str) -> String {
    let session = engine.begin(RequestFacts::new("/login")).into_session().expect("a session");
    session.regenerate().await.unwrap();
    session.set_owner(owner).await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(finished.error().is_none());
    cookie_of(&finished)
}

/// The relogin check of `regenerate` holds however the request names the owner: an app that writes the owner
/// key itself (`session.insert(key, user)`, as a Node app writes `req.session.userId`) instead of calling
/// `set_owner` must not log a stolen session back in across "log out everywhere" either.
#[tokio::test]
async fn a_relogin_that_writes_the_owner_key_itself_is_refused_too() {
    let store = MemoryStore::builder().owner_key("userId").build();
    let engine = Engine::new(options().store(store.clone())).unwrap();
    let stolen = log_in(&engine, "mallory-victim").await;
    let _device = log_in(&engine, "mallory-victim").await;

    // The thief's request reads the session, then "log out everywhere" runs, then the thief logs in again.
    let session =
        engine.begin(RequestFacts::new("/relogin").cookie_headers([stolen.as_bytes()])).into_session().unwrap();
    let owner = session.owner().await.unwrap().expect("an owned session");
    assert_eq!(store.end_sessions_of(&owner, None).await.unwrap(), 2);
    session.regenerate().await.unwrap();
    let inserted = session.insert("userId", owner.clone()).await;
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    let refused =
        matches!(inserted, Err(SessionError::OwnerEnded)) || matches!(finished.error(), Some(SessionError::OwnerEnded));
    assert!(store.sessions_of(&owner, 10).await.unwrap().sessions.is_empty(), "logged back in");
    assert!(refused, "insert: {inserted:?}, finish: {:?}", finished.error());
}

/// Store calls of a login (`regenerate`, `set_owner`, the save) from a session that already names an owner,
/// next to one from an anonymous session: #16 allows at most one extra round trip at login.
#[tokio::test]
async fn an_owned_relogin_costs_at_most_one_extra_round_trip() {
    let counting = Counting::new(MemoryStore::builder().owner_key("userId").build());
    let engine = Engine::new(options().store(counting.clone())).unwrap();
    let login = |cookie: String| {
        let engine = &engine;
        async move {
            let session =
                engine.begin(RequestFacts::new("/login").cookie_headers([cookie.as_bytes()])).into_session().unwrap();
            session.get::<String>("x").await.unwrap();
            session.regenerate().await.unwrap();
            session.set_owner("ann").await.unwrap();
            let finished = engine.finish(&session, ResponseFacts::new()).await;
            assert!(finished.error().is_none());
            cookie_of(&finished)
        }
    };
    // An anonymous session with something in it.
    let session = engine.begin(RequestFacts::new("/")).into_session().unwrap();
    session.insert("cart", 1).await.unwrap();
    let anonymous = cookie_of(&engine.finish(&session, ResponseFacts::new()).await);
    counting.take();
    let owned = login(anonymous).await;
    let from_anonymous = counting.take();
    login(owned).await;
    let from_owned = counting.take();
    assert_eq!(from_anonymous, ["get", "destroy", "create"]);
    assert_eq!(from_owned, ["get", "save_if", "destroy", "create"]);
    assert!(from_owned.len() <= from_anonymous.len() + 1);
}

/// `touch_after` skips touches only: with `resave(true)` every request saves its session (express's resave), so
/// the interval saves no write, as its docs say.
#[tokio::test]
async fn with_resave_every_request_still_writes() {
    use std::time::Duration;
    let routes = Router::new()
        .route("/login", get(|s: Session| async move { s.insert("user", "alice").await.map(|()| "in") }))
        .route("/me", get(|s: Session| async move { s.get::<String>("user").await.map(Option::unwrap_or_default) }));
    let options = options()
        .cookie(express_session::CookieOptions::new().max_age(Duration::from_secs(60)))
        .touch_after(Duration::from_secs(10));
    for (resave, expected) in [(false, 2), (true, 20)] {
        let (app, counting) = common::TestApp::counting(options.clone().resave(resave), routes.clone());
        let cookie = app.get("/login", None).await.cookie();
        counting.take();
        for _ in 0..20 {
            app.clock.advance(Duration::from_secs(1));
            assert_eq!(app.get("/me", Some(&cookie)).await.body, "alice");
        }
        let writes =
            counting.take().into_iter().filter(|c| matches!(*c, "touch" | "save_if" | "set" | "refresh")).count();
        assert_eq!(writes, expected, "resave({resave})");
    }
}

fn begin(engine: &Engine, cookie: &str) -> Session {
    engine.begin(RequestFacts::new("/").cookie_headers([cookie.as_bytes()])).into_session().unwrap()
}

/// `regenerate` after a `cycle_id` not written yet retires the record where the session still lives; a
/// regenerate that loses a race to another request's save (the conflict path) still ends the old id and may log
/// the owner in.
#[tokio::test]
async fn an_owned_regenerate_after_a_pending_cycle_id_or_a_concurrent_save_ends_the_old_id() {
    let store = MemoryStore::builder().owner_key("userId").build();
    let engine = Engine::new(options().store(store.clone())).unwrap();
    let old = log_in(&engine, "ann").await;
    let session = begin(&engine, &old);
    session.cycle_id().await.unwrap();
    session.regenerate().await.unwrap();
    session.set_owner("ann").await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(finished.error().is_none());
    let new = cookie_of(&finished);
    assert_eq!(begin(&engine, &old).owner().await.unwrap(), None, "the old id names no session");
    assert_eq!(store.sessions_of("ann", 10).await.unwrap().sessions.len(), 1);

    // Another request of the session saves between this one's read and its regenerate.
    let session = begin(&engine, &new);
    assert_eq!(session.owner().await.unwrap().as_deref(), Some("ann"));
    let other = begin(&engine, &new);
    other.insert("theme", "dark").await.unwrap();
    assert!(engine.finish(&other, ResponseFacts::new()).await.error().is_none());
    session.regenerate().await.unwrap();
    session.set_owner("ann").await.unwrap();
    let finished = engine.finish(&session, ResponseFacts::new()).await;
    assert!(finished.error().is_none());
    assert_eq!(begin(&engine, &new).owner().await.unwrap(), None, "the raced id names no session");
    let newest = cookie_of(&finished);
    assert_eq!(begin(&engine, &newest).owner().await.unwrap().as_deref(), Some("ann"));
    assert_eq!(store.sessions_of("ann", 10).await.unwrap().sessions.len(), 1);
}

/// The header's edges the layer tests leave out: a value a proxy folded with another (`a, b`), quoted, or in a
/// second header line after a bad first is no session; `hash_ids_at_rest` keys the store as for the cookie; a
/// `Secure` cookie held back on a plain-HTTP request holds the header back too (the bearer value never crosses
/// an insecure transport), and a secure request gets both.
#[tokio::test]
async fn header_edges_folded_quoted_second_line_hashed_ids_and_secure() {
    let routes = || {
        Router::new()
            .route("/login", post(|s: Session| async move { s.insert("user", "alice").await.map(|()| "in") }))
            .route("/me", get(|s: Session| async move { s.get::<String>("user").await.map(Option::unwrap_or_default) }))
    };
    let app = routes().layer(
        SessionManagerLayer::new(options().header("X-Session").hash_ids_at_rest(true).store(MemoryStore::new()))
            .unwrap(),
    );
    let send = |request: Request<Body>| app.clone().oneshot(request);
    let body = |response: http::Response<Body>| async move {
        String::from_utf8(axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap().to_vec()).unwrap()
    };
    let login = send(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
    let valid = login.headers().get("x-session").unwrap().to_str().unwrap().to_owned();
    let me = |value: &str, second: Option<&str>| {
        let mut request = Request::get("/me").header("X-Session", value);
        if let Some(second) = second {
            request = request.header("X-Session", second);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(body(send(me(&valid, None)).await.unwrap()).await, "alice", "hashed at rest, found by the header");
    assert_eq!(body(send(me(&format!(" {valid}\t"), None)).await.unwrap()).await, "alice", "spaces trimmed");
    for hostile in [format!("{valid}, {valid}"), format!("\"{valid}\""), format!("{valid};")] {
        assert_eq!(body(send(me(&hostile, None)).await.unwrap()).await, "", "{hostile:?}");
    }
    assert_eq!(body(send(me("s%3Aforged.mac", Some(&valid))).await.unwrap()).await, "", "only the first line is read");

    let secure = routes().layer(
        SessionManagerLayer::new(
            options()
                .header("X-Session")
                .cookie(express_session::CookieOptions::new().secure(express_session::Secure::Always))
                .store(MemoryStore::new()),
        )
        .unwrap(),
    );
    let plain = secure.clone().oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
    assert!(plain.headers().get("set-cookie").is_none() && plain.headers().get("x-session").is_none());
    let mut request = Request::post("/login").body(Body::empty()).unwrap();
    request.extensions_mut().insert(express_session::TlsConnection);
    let tls = secure.oneshot(request).await.unwrap();
    assert!(tls.headers().get("set-cookie").is_some() && tls.headers().get("x-session").is_some());
}

/// A real MemoryStore whose `get` lets a destroy land right after it answers (a logout racing the read), and
/// that keeps `Store::refresh_after`'s default (read, then touch).
#[derive(Debug, Clone)]
struct DestroyAfterGet(MemoryStore);

impl Store for DestroyAfterGet {
    async fn get(
        &self,
        id: &express_session::SessionId,
    ) -> Result<Option<express_session::store::Versioned>, express_session::StoreError> {
        let got = self.0.get(id).await;
        self.0.destroy(id).await?;
        got
    }
    async fn create(
        &self,
        id: &express_session::SessionId,
        record: &express_session::Record,
    ) -> Result<express_session::store::CreateOutcome, express_session::StoreError> {
        self.0.create(id, record).await
    }
    async fn set(
        &self,
        id: &express_session::SessionId,
        record: &express_session::Record,
    ) -> Result<(), express_session::StoreError> {
        self.0.set(id, record).await
    }
    async fn save_if(
        &self,
        id: &express_session::SessionId,
        record: &express_session::Record,
        expected: &express_session::store::Version,
    ) -> Result<express_session::store::SaveOutcome, express_session::StoreError> {
        self.0.save_if(id, record, expected).await
    }
    async fn touch(
        &self,
        id: &express_session::SessionId,
        record: &express_session::Record,
    ) -> Result<express_session::store::TouchOutcome, express_session::StoreError> {
        self.0.touch(id, record).await
    }
    async fn destroy(&self, id: &express_session::SessionId) -> Result<(), express_session::StoreError> {
        self.0.destroy(id).await
    }
    fn now(&self) -> express_session::Timestamp {
        self.0.now()
    }
}

/// `Store::refresh_after`'s default never brings back a session destroyed between its read and its touch: the
/// touch is conditional, the answer is `Gone`.
#[tokio::test]
async fn refresh_after_racing_a_destroy_resurrects_nothing() {
    use express_session::store::TouchOutcome;
    use express_session::{Clock, Record, SessionId, Timestamp};
    use std::time::Duration;
    let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
    let memory = MemoryStore::builder().clock(clock.clone()).build();
    let store = DestroyAfterGet(memory.clone());
    let id = SessionId::generate();
    let json = r#"{"cookie":{"originalMaxAge":60000,"expires":"2030-01-01T00:01:00.000Z"},"user":"alice"}"#;
    let mut record = Record::from_json(json).unwrap();
    record.cookie_mut().touch(clock.now());
    memory.set(&id, &record).await.unwrap();
    clock.advance(Duration::from_secs(30)); // due: last refreshed 30 s ago, interval 10 s
    assert_eq!(store.refresh_after(&id, Duration::from_secs(10)).await.unwrap(), TouchOutcome::Gone);
    assert!(memory.get(&id).await.unwrap().is_none(), "resurrected");
}
