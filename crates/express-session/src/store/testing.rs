//! The shared store test suite: every store runs these cases against its real backend.
//!
//! Each case is a `pub async fn` taking a fresh store, isolated from other cases (its own key prefix, table or
//! instance), so that `len` and `clear` see only the case's own records. The [`store_suite!`](crate::store_suite)
//! macro stamps one `#[tokio::test]` per case into a test file:
//!
//! ```text
//! // tests/store_suite.rs of a store crate
//! express_session::store_suite!(|| async { Some(my_store::MyStore::connect(url()).await.unwrap()) });
//! ```
//!
//! The factory returns `None` to skip (a server that is not there); it should then say so loudly, and fail
//! instead when `REQUIRE_SERVICES=1`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Versioned};
use crate::cookie::SessionCookie;
use crate::id::SessionId;
use crate::record::Record;

/// What a store's test factory does when its server cannot be reached: with `REQUIRE_SERVICES=1` it panics
/// (CI must not skip), otherwise it prints a loud notice on stderr and returns `None` so the case is skipped.
///
/// ```
/// # use express_session::store::testing::unreachable;
/// // In a store test's factory, after the connection failed:
/// if std::env::var("REQUIRE_SERVICES").as_deref() != Ok("1") {
///     let store: Option<()> = unreachable("Redis at redis://127.0.0.1:1", "connection refused");
///     assert!(store.is_none());
/// }
/// ```
///
/// # Panics
///
/// When `REQUIRE_SERVICES=1`.
pub fn unreachable<T>(service: &str, error: impl std::fmt::Display) -> Option<T> {
    if std::env::var("REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{service} is required (REQUIRE_SERVICES=1) but unreachable: {error}");
    }
    eprintln!("\n*** SKIPPED: {service} is unreachable ({error}); set REQUIRE_SERVICES=1 to make this a failure ***\n");
    None
}

/// A record with `cookie.maxAge` `max_age_ms` from the store's clock (or a browser-session cookie) and `data`.
pub fn record<S: Store>(store: &S, max_age_ms: Option<i64>, data: serde_json::Value) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age_millis(max_age_ms, store.now());
    let data = match data {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    Record::from_parts(cookie, data)
}

async fn must_get<S: Store>(store: &S, id: &SessionId) -> Versioned {
    store.get(id).await.expect("get").expect("the record should be there")
}

/// `get` of an id that was never stored is `None`.
pub async fn get_missing_is_none<S: Store>(store: S) {
    assert!(store.get(&SessionId::generate()).await.unwrap().is_none());
}

/// `create` stores the record exactly, and `get` gives back the same JSON.
pub async fn create_then_get_round_trips<S: Store>(store: S) {
    let id = SessionId::generate();
    let rec = record(&store, Some(60_000), json!({"user": "alice", "n": 1, "nested": {"b": [1, 2], "a": null}}));
    assert!(matches!(store.create(&id, &rec).await.unwrap(), CreateOutcome::Created(_)));
    assert_eq!(must_get(&store, &id).await.record.to_json(), rec.to_json());
}

/// `create` never overwrites a live record.
pub async fn create_refuses_an_existing_id<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap();
    let again = store.create(&id, &record(&store, Some(60_000), json!({"v": 2}))).await.unwrap();
    assert_eq!(again, CreateOutcome::Exists);
    assert_eq!(must_get(&store, &id).await.record.data()["v"], 1);
}

/// `set` inserts, then replaces.
pub async fn set_upserts<S: Store>(store: S) {
    let id = SessionId::generate();
    store.set(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap();
    store.set(&id, &record(&store, Some(60_000), json!({"v": 2}))).await.unwrap();
    assert_eq!(must_get(&store, &id).await.record.data()["v"], 2);
}

/// `save_if` with the version just read saves and returns a new version; the old version then conflicts.
pub async fn save_if_detects_conflicts<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap();
    let first = must_get(&store, &id).await;
    let saved = store.save_if(&id, &record(&store, Some(60_000), json!({"v": 2})), &first.version).await.unwrap();
    assert!(matches!(saved, SaveOutcome::Saved(_)), "{saved:?}");
    let stale = store.save_if(&id, &record(&store, Some(60_000), json!({"v": 3})), &first.version).await.unwrap();
    assert_eq!(stale, SaveOutcome::Conflict);
    let current = must_get(&store, &id).await;
    assert_eq!(current.record.data()["v"], 2);
    if let SaveOutcome::Saved(version) = saved {
        assert_eq!(version, current.version, "save_if returns the version get then reads");
    }
}

/// `save_if` never recreates a destroyed record.
pub async fn save_if_never_resurrects<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap();
    let read = must_get(&store, &id).await;
    store.destroy(&id).await.unwrap();
    let out = store.save_if(&id, &record(&store, Some(60_000), json!({"v": 2})), &read.version).await.unwrap();
    assert_eq!(out, SaveOutcome::Gone);
    assert!(store.get(&id).await.unwrap().is_none());
}

/// `touch` moves the expiry and keeps the stored data; on a missing record it writes nothing.
pub async fn touch_extends_only_existing_records<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(1_500), json!({"v": 1}))).await.unwrap();
    let newer = record(&store, Some(60_000), json!({"v": "not written by touch"}));
    assert_eq!(store.touch(&id, &newer).await.unwrap(), TouchOutcome::Touched);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let after = must_get(&store, &id).await;
    assert_eq!(after.record.data()["v"], 1, "touch must not write the data");
    let missing = SessionId::generate();
    assert_eq!(store.touch(&missing, &newer).await.unwrap(), TouchOutcome::Gone);
    assert!(store.get(&missing).await.unwrap().is_none(), "touch must not create a record");
}

/// A record whose `cookie.expires` has passed is never returned, whatever the backend's TTL does.
pub async fn expired_records_are_not_returned<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(1_000), json!({"v": 1}))).await.unwrap();
    assert!(store.get(&id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(store.get(&id).await.unwrap().is_none());
    // An expired id is free again for `create`.
    let again = store.create(&id, &record(&store, Some(60_000), json!({"v": 2}))).await.unwrap();
    assert!(matches!(again, CreateOutcome::Created(_)));
}

/// A record created with an expiry already reached (express's `maxAge: 0`) is not found.
pub async fn records_expiring_now_are_absent<S: Store>(store: S) {
    let id = SessionId::generate();
    let _ = store.create(&id, &record(&store, Some(-1_000), json!({}))).await.unwrap();
    assert!(store.get(&id).await.unwrap().is_none());
}

/// `refresh` extends a live record's expiry by its own lifetime and reports a missing one.
pub async fn refresh_extends_by_the_records_own_lifetime<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(2_000), json!({"v": 1}))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(store.get(&id).await.unwrap().is_some(), "refresh should have moved the expiry");
    assert_eq!(store.refresh(&SessionId::generate()).await.unwrap(), TouchOutcome::Gone);
}

/// `destroy` removes the record and is idempotent.
pub async fn destroy_is_idempotent<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, None, json!({}))).await.unwrap();
    store.destroy(&id).await.unwrap();
    store.destroy(&id).await.unwrap();
    assert!(store.get(&id).await.unwrap().is_none());
}

/// Browser-session records (no `cookie.expires`) are kept for the store's default lifetime.
pub async fn browser_session_records_are_kept<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, None, json!({"v": 1}))).await.unwrap();
    assert_eq!(must_get(&store, &id).await.record.cookie().expires(), None);
}

/// `all`, `len` and `clear` agree with each other, or all say `Unsupported`.
pub async fn all_len_clear_agree<S: Store>(store: S) {
    let ids: Vec<_> = (0..3).map(|_| SessionId::generate()).collect();
    for id in &ids {
        store.create(id, &record(&store, Some(60_000), json!({"k": id.as_str()}))).await.unwrap();
    }
    match store.len().await {
        Err(StoreError::Unsupported { .. }) => {
            assert!(matches!(store.all().await, Err(StoreError::Unsupported { .. })));
            return;
        }
        Ok(n) => assert_eq!(n, 3),
        Err(e) => panic!("len failed: {e}"),
    }
    let mut all: Vec<_> = store.all().await.unwrap().into_iter().map(|(id, r)| (id, r.data()["k"].clone())).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<_> = ids.iter().map(|id| (id.clone(), json!(id.as_str()))).collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(all, expected);
    store.clear().await.unwrap();
    assert_eq!(store.len().await.unwrap(), 0);
    assert!(store.get(&ids[0]).await.unwrap().is_none());
}

/// 32 tasks each add 5 to a counter with get + save_if retry loops: no increment is lost.
pub async fn concurrent_compare_and_set_loses_nothing<S: Store>(store: S) {
    let store = Arc::new(store);
    let id = SessionId::generate();
    store.create(&id, &record(&*store, Some(60_000), json!({"n": 0}))).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (store, id) = (Arc::clone(&store), id.clone());
            tokio::spawn(async move {
                for _ in 0..5 {
                    loop {
                        let read = must_get(&*store, &id).await;
                        let mut next = read.record.clone();
                        let n = next.data()["n"].as_i64().unwrap();
                        next.data_mut().insert("n".into(), json!(n + 1));
                        match store.save_if(&id, &next, &read.version).await.unwrap() {
                            SaveOutcome::Saved(_) => break,
                            SaveOutcome::Conflict => continue,
                            SaveOutcome::Gone => panic!("record vanished"),
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(must_get(&*store, &id).await.record.data()["n"], 160);
}

/// Concurrent `create`s of one id: exactly one wins.
pub async fn concurrent_creates_have_one_winner<S: Store>(store: S) {
    let store = Arc::new(store);
    let id = SessionId::generate();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (store, id) = (Arc::clone(&store), id.clone());
            tokio::spawn(
                async move { store.create(&id, &record(&*store, Some(60_000), json!({"i": i}))).await.unwrap() },
            )
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), CreateOutcome::Created(_)) {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

/// `save_if` of a record whose `cookie.expires` has passed, with the version just read, takes the record out of
/// use: `get` no longer returns it (the session layer's `cycle_id` retires the old id this way, atomically with
/// respect to other writers). With a stale version it conflicts and the record stays.
pub async fn save_if_of_an_expired_record_retires_it<S: Store>(store: S) {
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.unwrap();
    let first = must_get(&store, &id).await;
    store.save_if(&id, &record(&store, Some(60_000), json!({"v": 2})), &first.version).await.unwrap();
    let expired = record(&store, Some(-60_000), json!({}));
    assert_eq!(store.save_if(&id, &expired, &first.version).await.unwrap(), SaveOutcome::Conflict);
    let current = must_get(&store, &id).await;
    assert_eq!(current.record.data()["v"], 2, "a conflicting save_if writes nothing");
    let retired = store.save_if(&id, &expired, &current.version).await.unwrap();
    assert!(matches!(retired, SaveOutcome::Saved(_)), "{retired:?}");
    assert!(store.get(&id).await.unwrap().is_none(), "an expired record is absent");
    assert_eq!(
        store.save_if(&id, &record(&store, Some(60_000), json!({})), &current.version).await.unwrap(),
        SaveOutcome::Gone
    );
}

/// Stamps one `#[tokio::test]` per case of [`store::testing`](crate::store::testing) into the calling file.
///
/// The argument is a closure returning a future of `Option<store>`: `None` skips the case (say why on stderr).
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@cases $make;
            get_missing_is_none,
            create_then_get_round_trips,
            create_refuses_an_existing_id,
            set_upserts,
            save_if_detects_conflicts,
            save_if_never_resurrects,
            touch_extends_only_existing_records,
            expired_records_are_not_returned,
            records_expiring_now_are_absent,
            refresh_extends_by_the_records_own_lifetime,
            destroy_is_idempotent,
            browser_session_records_are_kept,
            all_len_clear_agree,
            concurrent_compare_and_set_loses_nothing,
            concurrent_creates_have_one_winner,
            save_if_of_an_expired_record_retires_it,
            http_parallel_writes_keep_every_key,
            http_parallel_updates_are_atomic,
            http_destroyed_sessions_stay_destroyed,
            http_explicit_save_after_touches_keeps_the_session,
            http_cycle_id_after_a_logout_brings_nothing_back,
            http_cycle_id_keeps_a_concurrent_write,
            http_cycle_id_keeps_a_write_made_before_the_move_is_written,
            http_a_dropped_request_after_cycle_id_loses_nothing,
            http_two_cycle_ids_leave_one_session,
            http_absolute_timeout_ends_sessions_written_without_a_stamp,
            http_a_stamp_write_that_finds_the_session_destroyed_starts_a_stored_session,
            http_a_stamp_write_that_loses_a_race_keeps_the_other_write_and_stamp,
            http_a_rolling_request_sends_no_cookie_for_a_session_destroyed_meanwhile
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let make = $make;
                if let Some(store) = make().await {
                    $crate::store::testing::$case(store).await;
                }
            }
        )*
    };
}

/// The session layer over `store`, as a tower service whose handler runs `handler` on the request's session.
/// Used by the HTTP-level concurrency cases; two layers built on one store act as two server instances.
mod http_cases {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use http::{Request, Response};
    use tower_layer::Layer as _;
    use tower_service::Service;

    use crate::{Session, SessionError, SessionManagerLayer, SessionOptions, Store};

    pub(super) type Handler =
        Arc<dyn Fn(Session, String) -> Pin<Box<dyn Future<Output = Result<(), SessionError>> + Send>> + Send + Sync>;

    #[derive(Clone)]
    pub(super) struct App {
        pub(super) handler: Handler,
    }

    impl Service<Request<String>> for App {
        type Response = Response<String>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<String>) -> Self::Future {
            let handler = Arc::clone(&self.handler);
            Box::pin(async move {
                let session = request.extensions().get::<Session>().cloned().expect("the layer inserts the session");
                let path = request.uri().path().to_owned();
                let mut response = Response::new(String::new());
                if let Err(error) = handler(session, path).await {
                    *response.status_mut() = error.status();
                }
                Ok(response)
            })
        }
    }

    /// The secret of the layers [`instance`] builds.
    pub(super) const SECRET: &str = "a test secret that is long enough for the checks";

    /// A service: the session layer over `store` (shared) in front of `handler`.
    pub(super) fn instance<S, F, Fut>(store: &Arc<S>, handler: F) -> crate::SessionManager<App>
    where
        S: Store,
        F: Fn(Session, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SessionError>> + Send + 'static,
    {
        instance_with(store, |options| options, handler)
    }

    /// [`instance`] with more options.
    pub(super) fn instance_with<S, F, Fut>(
        store: &Arc<S>,
        options: impl FnOnce(SessionOptions) -> SessionOptions,
        handler: F,
    ) -> crate::SessionManager<App>
    where
        S: Store,
        F: Fn(Session, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SessionError>> + Send + 'static,
    {
        let options = options(SessionOptions::new().secret(SECRET).shared_store(Arc::clone(store)));
        let layer = SessionManagerLayer::new(options).expect("valid options");
        let handler: Handler = Arc::new(move |s, p| Box::pin(handler(s, p)));
        layer.layer(App { handler })
    }

    /// Sends a GET with `cookie` and returns the status and the `name=value` of any `Set-Cookie`.
    pub(super) async fn send<Svc>(mut service: Svc, path: &str, cookie: Option<&str>) -> (u16, Option<String>)
    where
        Svc: Service<Request<String>, Response = Response<String>, Error = std::convert::Infallible>,
    {
        let mut request = Request::builder().uri(path);
        if let Some(cookie) = cookie {
            request = request.header(http::header::COOKIE, cookie);
        }
        let response = service.call(request.body(String::new()).expect("valid request")).await.expect("infallible");
        let cookie = response
            .headers()
            .get(http::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned());
        (response.status().as_u16(), cookie)
    }
}

/// The session id inside a `name=value` session cookie.
fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let decoded = crate::wire::decode_uri_component(value.as_bytes()).expect("an encoded cookie");
    let signed = decoded.strip_prefix("s:").expect("a signed cookie");
    SessionId::new(signed.rsplit_once('.').expect("a signature").0).expect("an id")
}

async fn logged_in<S: Store>(store: &Arc<S>) -> String {
    let login = http_cases::instance(store, |s, _| async move { s.insert("user", "alice").await });
    let (status, cookie) = http_cases::send(login, "/login", None).await;
    assert_eq!(status, 200);
    cookie.expect("a session cookie")
}

/// Through the HTTP layer, two instances on one store: 64 parallel requests of one session, each setting its own
/// key, keep all 64 keys.
pub async fn http_parallel_writes_keep_every_key<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let set_key = |s: crate::Session, path: String| async move { s.insert(&path[1..], true).await };
    let a = http_cases::instance(&store, set_key);
    let b = http_cases::instance(&store, set_key);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (a, b, cookie) = (a.clone(), b.clone(), cookie.clone());
            tokio::spawn(async move {
                let path = format!("/k{i}");
                if i % 2 == 0 {
                    http_cases::send(a, &path, Some(&cookie)).await
                } else {
                    http_cases::send(b, &path, Some(&cookie)).await
                }
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").0, 200);
    }
    let record = must_get(&*store, &id_of(&cookie)).await.record;
    let missing: Vec<_> = (0..64).filter(|i| !record.data().contains_key(&format!("k{i}"))).collect();
    assert!(missing.is_empty(), "writes lost: {missing:?}");
    assert_eq!(record.data()["user"], "alice", "a key no request touched keeps its value");
}

/// Through the HTTP layer, two instances on one store: 200 parallel `update` increments of one key give 200.
pub async fn http_parallel_updates_are_atomic<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let incr =
        |s: crate::Session, _| async move { s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(|_| ()) };
    let a = http_cases::instance(&store, incr);
    let b = http_cases::instance(&store, incr);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (a, b, cookie) = (a.clone(), b.clone(), cookie.clone());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    http_cases::send(a, "/", Some(&cookie)).await
                } else {
                    http_cases::send(b, "/", Some(&cookie)).await
                }
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").0, 200);
    }
    assert_eq!(must_get(&*store, &id_of(&cookie)).await.record.data()["n"], 200);
}

/// Through the HTTP layer: a logout while 20 slow requests of the same session are in flight; afterwards the
/// session is gone and none of the slow requests recreated it or sent a cookie for it.
pub async fn http_destroyed_sessions_stay_destroyed<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let slow = http_cases::instance(&store, |s, path: String| async move {
        s.get::<String>("user").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.insert(&path[1..], true).await
    });
    let logout = http_cases::instance(&store, |s, _| async move { s.destroy().await });
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (slow, cookie) = (slow.clone(), cookie.clone());
            tokio::spawn(async move { http_cases::send(slow, &format!("/s{i}"), Some(&cookie)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(http_cases::send(logout, "/logout", Some(&cookie)).await.0, 200);
    for task in tasks {
        let (status, set_cookie) = task.await.expect("task");
        assert_eq!(status, 200);
        // A request that only got to read the session after the logout starts a new one (a new id): fine. A
        // cookie for the destroyed id would mean it was written back.
        if let Some(set_cookie) = set_cookie {
            assert_ne!(id_of(&set_cookie), id_of(&cookie), "a cookie for the destroyed session");
        }
    }
    assert!(store.get(&id_of(&cookie)).await.expect("get").is_none(), "a slow request recreated the session");
}

/// The session cookie (`name=value`) for `id`, signed with the test secret.
fn cookie_for(id: &SessionId) -> String {
    let signed = crate::signature::sign(id.as_str(), http_cases::SECRET.as_bytes());
    format!("connect.sid={}", crate::wire::encode_uri_component(&format!("s:{signed}")))
}

/// Through the HTTP layer, in real time (the SQL stores expire by the database's clock): maxAge 4 s; log in; two
/// read-only requests 1.5 s apart (each touch moves only Redis's TTL or the SQL `expire` column: the stored
/// text keeps the first `cookie.expires`); then, 2.5 s later, when that stored expiry has passed, a handler
/// inserts a key and calls `save()`. The session lives on with the key: no write stores an expiry earlier than
/// the session's live one.
pub async fn http_explicit_save_after_touches_keeps_the_session<S: Store>(store: S) {
    let store = Arc::new(store);
    let max_age = |o: crate::SessionOptions| o.cookie(crate::CookieOptions::new().max_age(Duration::from_secs(4)));
    let login = http_cases::instance_with(&store, max_age, |s, _| async move { s.insert("user", "alice").await });
    let (status, cookie) = http_cases::send(login, "/login", None).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("a session cookie");
    let id = id_of(&cookie);
    let read = http_cases::instance_with(&store, max_age, |s, _| async move {
        s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound).map(drop)
    });
    let save = http_cases::instance_with(&store, max_age, |s, _| async move {
        s.insert("k", true).await?;
        s.save().await
    });
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(http_cases::send(read.clone(), "/", Some(&cookie)).await, (200, None), "a read-only request");
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(http_cases::send(save, "/save", Some(&cookie)).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stored = store.get(&id).await.expect("get").expect("the session outlived the explicit save");
    assert_eq!(stored.record.data().get("user"), Some(&json!("alice")));
    assert_eq!(stored.record.data().get("k"), Some(&json!(true)));
    assert!(stored.record.expires().expect("an expiry") > store.now(), "the stored expiry is the live one");
    assert_eq!(http_cases::send(read, "/", Some(&cookie)).await, (200, None), "the client is still logged in");
}

/// Every record the store lists (`all`), or `None` when it cannot list them.
async fn all_records<S: Store>(store: &S) -> Option<Vec<(SessionId, Record)>> {
    match store.all().await {
        Ok(all) => Some(all),
        Err(StoreError::Unsupported { .. }) => None,
        Err(error) => panic!("all failed: {error}"),
    }
}

/// Through the HTTP layer, two instances: a logout completes while a slow request of the same session is in
/// flight (it has read the session and waits); the slow request then calls `cycle_id`, `save` and changes the
/// session.
/// Afterwards no record under any id holds the old data, and no cookie names one: the move found the session
/// destroyed, so nothing moved and the request's changes were dropped, as a save's are.
pub async fn http_cycle_id_after_a_logout_brings_nothing_back<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let (loaded, go) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let slow = http_cases::instance(&store, {
        let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
        move |s, _| {
            let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
            async move {
                s.get::<String>("user").await?;
                loaded.notify_one();
                go.notified().await;
                s.cycle_id().await?;
                // The explicit save finds the session destroyed; nothing the request does afterwards may bring
                // it back under the new id.
                s.save().await?;
                s.insert("after", true).await
            }
        }
    });
    let logout = http_cases::instance(&store, |s, _| async move { s.destroy().await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(slow, "/cycle", Some(&cookie)).await }
    });
    loaded.notified().await;
    assert_eq!(http_cases::send(logout, "/logout", Some(&cookie)).await.0, 200);
    go.notify_one();
    let (status, set_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    assert!(store.get(&id_of(&cookie)).await.expect("get").is_none(), "the logged-out session came back");
    if let Some(set_cookie) = set_cookie {
        let record = store.get(&id_of(&set_cookie)).await.expect("get").map(|v| v.record);
        assert_eq!(record.and_then(|r| r.data().get("user").cloned()), None, "the old data moved under a new id");
    }
    if let Some(all) = all_records(&*store).await {
        assert!(all.iter().all(|(_, r)| r.data().get("user").is_none()), "the old data lives on: {all:?}");
    }
}

/// Through the HTTP layer, two instances: a request reads the session and calls `cycle_id`, then waits;
/// meanwhile another request of the session (sent with the old cookie) writes a key and completes; then the
/// first request changes the session and ends. The new id holds both writes: the move is written at the end of
/// the request, and what was saved under the old id until then moves with it.
pub async fn http_cycle_id_keeps_a_write_made_before_the_move_is_written<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let (cycled, go) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let slow = http_cases::instance(&store, {
        let (cycled, go) = (Arc::clone(&cycled), Arc::clone(&go));
        move |s, _| {
            let (cycled, go) = (Arc::clone(&cycled), Arc::clone(&go));
            async move {
                s.get::<String>("user").await?;
                s.cycle_id().await?;
                cycled.notify_one();
                go.notified().await;
                s.insert("mine", 1).await
            }
        }
    });
    let writer = http_cases::instance(&store, |s, _| async move {
        s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound)?;
        s.insert("theirs", 2).await
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(slow, "/cycle", Some(&cookie)).await }
    });
    cycled.notified().await;
    assert_eq!(http_cases::send(writer, "/write", Some(&cookie)).await, (200, None), "the session is still there");
    go.notify_one();
    let (status, set_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    let new_id = id_of(&set_cookie.expect("the cycled session's cookie"));
    assert_ne!(new_id, id_of(&cookie));
    let record = must_get(&*store, &new_id).await.record;
    assert_eq!(record.data().get("user"), Some(&json!("alice")));
    assert_eq!(record.data().get("mine"), Some(&json!(1)));
    assert_eq!(record.data().get("theirs"), Some(&json!(2)), "the other request's write was lost");
    assert!(store.get(&id_of(&cookie)).await.expect("get").is_none(), "the old id still works");
}

/// Through the HTTP layer: a request calls `cycle_id` and never ends (the client went away, or a timeout layer
/// dropped it). The session stays under the id the browser has, with its data: nothing was moved.
pub async fn http_a_dropped_request_after_cycle_id_loses_nothing<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let cycled = Arc::new(tokio::sync::Notify::new());
    let abandoned = http_cases::instance(&store, {
        let cycled = Arc::clone(&cycled);
        move |s, _| {
            let cycled = Arc::clone(&cycled);
            async move {
                s.cycle_id().await?;
                s.insert("after", true).await?;
                cycled.notify_one();
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(abandoned, "/login", Some(&cookie)).await }
    });
    cycled.notified().await;
    in_flight.abort();
    assert!(in_flight.await.expect_err("aborted").is_cancelled());
    let record = store.get(&id_of(&cookie)).await.expect("get").expect("the session was lost");
    assert_eq!(record.record.data().get("user"), Some(&json!("alice")));
    assert_eq!(record.record.data().get("after"), None, "a change of a request that never ended was stored");
    if let Some(all) = all_records(&*store).await {
        assert_eq!(all.len(), 1, "a copy of the session under another id: {all:?}");
    }
}

/// Through the HTTP layer, two instances: two requests of one session both call `cycle_id` (a double-clicked
/// login). The first to write its move wins; the other finds the old record retired, removes its copy and sends
/// no cookie, so the browser ends up with the one session that lives on, never with an empty one.
pub async fn http_two_cycle_ids_leave_one_session<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let (cycled, go) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let slow = http_cases::instance(&store, {
        let (cycled, go) = (Arc::clone(&cycled), Arc::clone(&go));
        move |s, _| {
            let (cycled, go) = (Arc::clone(&cycled), Arc::clone(&go));
            async move {
                s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound)?;
                s.cycle_id().await?;
                cycled.notify_one();
                go.notified().await;
                s.insert("slow", true).await
            }
        }
    });
    let fast = http_cases::instance(&store, |s, _| async move {
        s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound)?;
        s.cycle_id().await?;
        s.insert("fast", true).await
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(slow, "/login", Some(&cookie)).await }
    });
    cycled.notified().await;
    let (status, fast_cookie) = http_cases::send(fast, "/login", Some(&cookie)).await;
    assert_eq!(status, 200);
    go.notify_one();
    let (status, slow_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    assert_eq!(slow_cookie, None, "the request whose move lost sent a cookie (for an empty or orphaned session)");
    let new_id = id_of(&fast_cookie.expect("the winner's cookie"));
    let record = must_get(&*store, &new_id).await.record;
    assert_eq!(record.data().get("user"), Some(&json!("alice")));
    assert!(store.get(&id_of(&cookie)).await.expect("get").is_none(), "the old id still works");
    if let Some(all) = all_records(&*store).await {
        assert_eq!(all.len(), 1, "copies of the session: {all:?}");
    }
}

/// Through the HTTP layer, two instances: a request reads the session, changes it and waits; meanwhile another
/// request writes a key and completes; then the waiting request calls `cycle_id`. The new id holds the other
/// request's key and this request's change, and the old id is gone.
pub async fn http_cycle_id_keeps_a_concurrent_write<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let (loaded, go) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let slow = http_cases::instance(&store, {
        let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
        move |s, _| {
            let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
            async move {
                s.get::<String>("user").await?;
                s.insert("mine", 1).await?;
                loaded.notify_one();
                go.notified().await;
                s.cycle_id().await
            }
        }
    });
    let writer = http_cases::instance(&store, |s, _| async move { s.insert("theirs", 2).await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(slow, "/cycle", Some(&cookie)).await }
    });
    loaded.notified().await;
    assert_eq!(http_cases::send(writer, "/write", Some(&cookie)).await, (200, None));
    go.notify_one();
    let (status, set_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    let new_id = id_of(&set_cookie.expect("the cycled session's cookie"));
    assert_ne!(new_id, id_of(&cookie));
    let record = must_get(&*store, &new_id).await.record;
    assert_eq!(record.data().get("user"), Some(&json!("alice")));
    assert_eq!(record.data().get("mine"), Some(&json!(1)), "this request's change moved");
    assert_eq!(record.data().get("theirs"), Some(&json!(2)), "the concurrent write was lost");
    assert!(store.get(&id_of(&cookie)).await.expect("get").is_none(), "the old id still works");
}

/// Through the HTTP layer, two instances, in real time: a session the Node app wrote (no creation stamp), under
/// a 3 s absolute timeout and a 60 s maxAge, read by read-only requests every 0.8 s: it ends once 3 s have
/// passed since it was first seen here, however often it is read.
pub async fn http_absolute_timeout_ends_sessions_written_without_a_stamp<S: Store>(store: S) {
    let store = Arc::new(store);
    let id = SessionId::generate();
    store.create(&id, &record(&*store, Some(60_000), json!({"user": "alice"}))).await.unwrap();
    let cookie = cookie_for(&id);
    let options = |o: crate::SessionOptions| {
        o.cookie(crate::CookieOptions::new().max_age(Duration::from_secs(60))).absolute_timeout(Duration::from_secs(3))
    };
    let read = |s: crate::Session, _| async move {
        s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound).map(drop)
    };
    let a = http_cases::instance_with(&store, options, read);
    let b = http_cases::instance_with(&store, options, read);
    let first_seen = std::time::Instant::now();
    for i in 0..3 {
        let instance = if i % 2 == 0 { a.clone() } else { b.clone() };
        assert_eq!(http_cases::send(instance, "/", Some(&cookie)).await, (200, None), "read {i}");
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    tokio::time::sleep(Duration::from_millis(3_600).saturating_sub(first_seen.elapsed())).await;
    let (status, _) = http_cases::send(b, "/", Some(&cookie)).await;
    assert_eq!(status, 500, "the session outlived its absolute timeout (the handler still saw the user)");
    assert!(store.get(&id).await.expect("get").is_none(), "the timed-out session is still stored");
}

/// A store that passes every call to `inner`, except that the first `save_if` after [`arm`](Self::arm) waits:
/// it signals `reached`, then goes on only after `go`. Lets a case put another request's work between a request's
/// read and its first write, where no handler code runs (the creation stamp's write on load).
#[derive(Debug)]
struct PauseFirstSaveIf<S> {
    inner: Arc<S>,
    armed: std::sync::atomic::AtomicBool,
    reached: tokio::sync::Notify,
    go: tokio::sync::Notify,
}

impl<S: Store> PauseFirstSaveIf<S> {
    fn new(inner: &Arc<S>) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::clone(inner),
            armed: std::sync::atomic::AtomicBool::new(true),
            reached: tokio::sync::Notify::new(),
            go: tokio::sync::Notify::new(),
        })
    }
}

impl<S: Store> Store for PauseFirstSaveIf<S> {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.inner.create(id, record).await
    }
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.inner.set(id, record).await
    }
    async fn save_if(
        &self,
        id: &SessionId,
        record: &Record,
        expected: &super::Version,
    ) -> Result<SaveOutcome, StoreError> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.reached.notify_one();
            self.go.notified().await;
        }
        self.inner.save_if(id, record, expected).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.inner.touch(id, record).await
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.destroy(id).await
    }
    fn now(&self) -> crate::Timestamp {
        self.inner.now()
    }
}

/// Through the HTTP layer, two instances, `saveUninitialized` and an absolute timeout: a request reads a session
/// the Node app wrote (no creation stamp); before its stamp is written, a logout on the other instance destroys
/// the session. The request goes on with a new session, as when a cookie names no live session: nothing of the
/// old one comes back, and a cookie it sends names a session that is stored (express saves the new,
/// uninitialized session and sends its cookie).
pub async fn http_a_stamp_write_that_finds_the_session_destroyed_starts_a_stored_session<S: Store>(store: S) {
    let store = Arc::new(store);
    let id = SessionId::generate();
    store.create(&id, &record(&*store, Some(60_000), json!({"user": "alice"}))).await.unwrap();
    let cookie = cookie_for(&id);
    let options = |o: crate::SessionOptions| o.save_uninitialized(true).absolute_timeout(Duration::from_secs(60));
    let paused = PauseFirstSaveIf::new(&store);
    let reader = http_cases::instance_with(&paused, options, |s, _| async move {
        match s.get::<String>("user").await? {
            Some(_) => Err(crate::SessionError::NotFound),
            None => Ok(()),
        }
    });
    let logout = http_cases::instance_with(&store, options, |s, _| async move { s.destroy().await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(reader, "/read", Some(&cookie)).await }
    });
    paused.reached.notified().await;
    assert_eq!(http_cases::send(logout, "/logout", Some(&cookie)).await.0, 200);
    paused.go.notify_one();
    let (status, set_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200, "the request saw the logged-out user");
    assert!(store.get(&id).await.expect("get").is_none(), "the logged-out session came back");
    let set_cookie = set_cookie.expect("saveUninitialized: the new session's cookie");
    let new_id = id_of(&set_cookie);
    assert_ne!(new_id, id);
    let stored = store.get(&new_id).await.expect("get").expect("the cookie names a session that was never stored");
    assert_eq!(stored.record.data().get("user"), None);
}

/// Through the HTTP layer, two instances, an absolute timeout: two requests read a session the Node app wrote
/// (no creation stamp). The first is held before its stamp write while the second stamps the session, writes a
/// key and completes; the first then loses the race, re-reads, keeps the second's stamp (the session has one age)
/// and key, and adds its own.
pub async fn http_a_stamp_write_that_loses_a_race_keeps_the_other_write_and_stamp<S: Store>(store: S) {
    let store = Arc::new(store);
    let id = SessionId::generate();
    store.create(&id, &record(&*store, Some(60_000), json!({"user": "alice"}))).await.unwrap();
    let cookie = cookie_for(&id);
    let options = |o: crate::SessionOptions| o.absolute_timeout(Duration::from_secs(60));
    let paused = PauseFirstSaveIf::new(&store);
    let slow = http_cases::instance_with(&paused, options, |s, _| async move {
        s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound)?;
        s.insert("mine", 1).await
    });
    let fast = http_cases::instance_with(&store, options, |s, _| async move {
        s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound)?;
        s.insert("theirs", 2).await
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(slow, "/slow", Some(&cookie)).await }
    });
    paused.reached.notified().await;
    // Two stamps taken apart differ, so that a stamp overwritten by the slow request would show.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, set_cookie) = http_cases::send(fast, "/fast", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(set_cookie.map(|c| id_of(&c)), Some(id.clone()), "a modified session with a maxAge: its cookie");
    let stamp = must_get(&*store, &id).await.record.data().get(crate::record::CREATED_AT_KEY).cloned();
    assert!(stamp.is_some(), "the first request to get there stored the stamp");
    paused.go.notify_one();
    let (status, set_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    assert_eq!(set_cookie.map(|c| id_of(&c)), Some(id.clone()));
    let record = must_get(&*store, &id).await.record;
    assert_eq!(record.data().get("user"), Some(&json!("alice")));
    assert_eq!(record.data().get("theirs"), Some(&json!(2)), "the other request's write was lost");
    assert_eq!(record.data().get("mine"), Some(&json!(1)));
    assert_eq!(record.data().get(crate::record::CREATED_AT_KEY), stamp.as_ref(), "the session's age moved");
}

/// Through the HTTP layer, two instances, `rolling`: a read-only request has read the session when a logout
/// completes on the other instance. Its end-of-request touch finds the session gone, so it sends no cookie for
/// it (express's rolling cookie would name a destroyed session; after a `cycle_id` elsewhere it would overwrite
/// the browser's new cookie with the retired one).
pub async fn http_a_rolling_request_sends_no_cookie_for_a_session_destroyed_meanwhile<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let (loaded, go) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let rolling = |o: crate::SessionOptions| o.rolling(true);
    let reader = http_cases::instance_with(&store, rolling, {
        let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
        move |s, _| {
            let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
            async move {
                s.get::<String>("user").await?.ok_or(crate::SessionError::NotFound)?;
                loaded.notify_one();
                go.notified().await;
                Ok(())
            }
        }
    });
    let logout = http_cases::instance_with(&store, rolling, |s, _| async move { s.destroy().await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { http_cases::send(reader, "/read", Some(&cookie)).await }
    });
    loaded.notified().await;
    assert_eq!(http_cases::send(logout, "/logout", Some(&cookie)).await.0, 200);
    go.notify_one();
    let (status, set_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    assert!(store.get(&id_of(&cookie)).await.expect("get").is_none(), "the touch brought the session back");
    if let Some(set_cookie) = set_cookie {
        assert_ne!(id_of(&set_cookie), id_of(&cookie), "a rolling cookie for the destroyed session");
    }
}

/// Through the HTTP layer, over a store whose backend cannot be reached (its calls fail with
/// [`StoreError::Unavailable`]): a returning client's request and a new client's request that use the session
/// both answer 503, without a `Set-Cookie`. Not part of [`store_suite!`](crate::store_suite): the store must be
/// made unreachable (for example pointed at a closed port).
pub async fn an_unreachable_store_answers_503<S: Store>(store: S) {
    let store = Arc::new(store);
    let views =
        |s: crate::Session, _| async move { s.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(drop) };
    let cookie = cookie_for(&SessionId::generate());
    // A returning client: the handler's first use of the session reads the store.
    let returning = http_cases::send(http_cases::instance(&store, views), "/", Some(&cookie)).await;
    assert_eq!(returning, (503, None));
    // A new client: the session is created at the end of the request.
    assert_eq!(http_cases::send(http_cases::instance(&store, views), "/", None).await, (503, None));
}

/// What an outage does to the store's backend, for [`an_outage_fails_fast_and_recovers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The backend is gone (killed, connections refused): calls fail by themselves.
    Dead,
    /// The backend keeps its connections but answers nothing (SIGSTOP, a lock): only the timeout ends a call.
    Hung,
}

/// What [`an_outage_fails_fast_and_recovers`] measured.
#[derive(Debug, Clone)]
pub struct OutageFigures {
    /// The first request after the outage began, until its 503.
    pub first: Duration,
    /// The median of the next requests, one at a time, until their 503.
    pub median: Duration,
    /// The median of 32 concurrent requests, until their 503.
    pub concurrent_median: Duration,
    /// From the end of the outage to the first 200.
    pub back: Duration,
}

/// Targets, with margins for a loaded 2-core machine: the median target is the issue's (50 ms dead, 100 ms
/// hung) since a refused call costs microseconds; single requests get a second of slack beyond the timeout.
const OUTAGE_SLACK: Duration = Duration::from_secs(1);

/// Through the HTTP layer with a store timeout of `timeout` (give the store's own timeout more, so that the
/// layer's budget is what ends a hung call): `break_backend` starts an outage of the given kind, `fix_backend`
/// ends it. While it lasts, the first request answers 503 within one store timeout (plus slack), the next ones
/// (returning and new clients, one at a time and 32 at once) have a median 503 within 50 ms (dead) or 100 ms
/// (hung), and every one within one store timeout plus slack; once it is over, the first 200 comes within
/// 1 s, and the counter the requests increment lost no acknowledged increment and gained none that was not
/// requested. Not part of [`store_suite!`](crate::store_suite): the backend must be broken and fixed.
///
/// # Panics
///
/// When a target is missed.
pub async fn an_outage_fails_fast_and_recovers<S, B, BF, F, FF>(
    store: S,
    outage: Outage,
    timeout: Duration,
    break_backend: B,
    fix_backend: F,
) -> OutageFigures
where
    S: Store,
    B: FnOnce() -> BF,
    BF: std::future::Future<Output = ()>,
    F: FnOnce() -> FF,
    FF: std::future::Future<Output = ()>,
{
    use std::time::Instant;
    use tower_layer::Layer as _;

    let store = Arc::new(store);
    let target = match outage {
        Outage::Dead => Duration::from_millis(50),
        Outage::Hung => Duration::from_millis(100),
    };
    let count =
        |s: crate::Session, _| async move { s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(drop) };
    let options = crate::SessionOptions::new().secret(http_cases::SECRET).shared_store(Arc::clone(&store));
    let layer = crate::SessionManagerLayer::new(options.store_timeout(timeout)).expect("valid options");
    let handler: http_cases::Handler = Arc::new(move |s, p| Box::pin(count(s, p)));
    let app = layer.layer(http_cases::App { handler });
    let timed = |cookie: Option<String>| {
        let app = app.clone();
        async move {
            let started = Instant::now();
            let (status, _) = http_cases::send(app, "/count", cookie.as_deref()).await;
            (status, started.elapsed())
        }
    };
    let (status, cookie) = http_cases::send(app.clone(), "/count", None).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("a session cookie");
    let id = id_of(&cookie);
    assert_eq!(timed(Some(cookie.clone())).await.0, 200);
    let acknowledged = 2;

    break_backend().await;
    let (status, first) = timed(Some(cookie.clone())).await;
    assert_eq!(status, 503, "the first request in the outage");
    assert!(first <= timeout + OUTAGE_SLACK, "the first request took {first:?} (store timeout {timeout:?})");
    // One at a time, returning and new clients: a request that probes the store may wait the timeout; the rest
    // answer at once.
    let mut times = Vec::new();
    for i in 0..40 {
        let (status, took) = timed((i % 2 == 0).then(|| cookie.clone())).await;
        assert_eq!(status, 503, "request {i} in the outage");
        assert!(took <= timeout + OUTAGE_SLACK, "request {i} took {took:?}");
        times.push(took);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    times.sort();
    let median = times[times.len() / 2];
    assert!(median <= target, "median {median:?} over {target:?}: {times:?}");
    let fast = times.iter().filter(|t| **t <= target).count();
    assert!(fast * 10 >= times.len() * 8, "only {fast} of {} within {target:?}: {times:?}", times.len());
    // 32 at once.
    let batch: Vec<_> = (0..32).map(|i| tokio::spawn(timed((i % 2 == 0).then(|| cookie.clone())))).collect();
    let mut concurrent = Vec::new();
    for request in batch {
        let (status, took) = request.await.expect("the request task");
        assert_eq!(status, 503);
        assert!(took <= timeout + OUTAGE_SLACK, "a concurrent request took {took:?}");
        concurrent.push(took);
    }
    concurrent.sort();
    let concurrent_median = concurrent[concurrent.len() / 2];
    assert!(concurrent_median <= target, "concurrent median {concurrent_median:?}: {concurrent:?}");

    fix_backend().await;
    let started = Instant::now();
    let back = loop {
        let (status, _) = timed(Some(cookie.clone())).await;
        if status == 200 {
            break started.elapsed();
        }
        assert_eq!(status, 503);
        assert!(started.elapsed() <= Duration::from_secs(5), "not back after 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(back <= Duration::from_secs(1), "the first 200 came {back:?} after the store answered again");
    // Every acknowledged increment counted once; the ones answered 503 may have landed (a 503 does not mean "not
    // written"), but none twice.
    let n = store.get(&id).await.expect("get").expect("the session survived").record.data()["n"].as_u64();
    let n = n.expect("a number");
    let attempted_in_doubt = 1 + 40 / 2 + 32 / 2;
    assert!(n > acknowledged && n <= acknowledged + 1 + attempted_in_doubt, "n = {n}");
    OutageFigures { first, median, concurrent_median, back }
}
