//! The cases that drive the session layer over HTTP against the store: two layers on one store act as two server
//! instances, and concurrent requests of one session must lose nothing and bring nothing back.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{cookie_for, harness, id_of, logged_in, must_get, record};
use crate::engine::{Session, SessionError};
use crate::id::SessionId;
use crate::options::{CookieOptions, SessionOptions};
use crate::record::Record;
use crate::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use crate::time::Timestamp;

/// Through the HTTP layer, two instances on one store: 64 parallel requests of one session, each setting its own
/// key, keep all 64 keys.
pub async fn http_parallel_writes_keep_every_key<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let set_key = |s: Session, path: String| async move { s.insert(&path[1..], true).await };
    let a = harness::instance(&store, set_key);
    let b = harness::instance(&store, set_key);
    harness::all_ok_in_parallel(&a, &b, &cookie, (0..64).map(|i| format!("/k{i}")).collect()).await;
    let record = must_get(&*store, &id_of(&cookie)).await.record;
    let missing: Vec<_> = (0..64).filter(|i| !record.data().contains_key(&format!("k{i}"))).collect();
    assert!(missing.is_empty(), "writes lost: {missing:?}");
    assert_eq!(record.data()["user"], "alice", "a key no request touched keeps its value");
}

/// Through the HTTP layer, two instances on one store: 200 parallel `update` increments of one key give 200.
pub async fn http_parallel_updates_are_atomic<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let incr = |s: Session, _| async move { s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(|_| ()) };
    let a = harness::instance(&store, incr);
    let b = harness::instance(&store, incr);
    harness::all_ok_in_parallel(&a, &b, &cookie, vec!["/".to_owned(); 200]).await;
    assert_eq!(must_get(&*store, &id_of(&cookie)).await.record.data()["n"], 200);
}

/// Through the HTTP layer: a logout while 20 slow requests of the same session are in flight; afterwards the
/// session is gone and none of the slow requests recreated it or sent a cookie for it.
pub async fn http_destroyed_sessions_stay_destroyed<S: Store>(store: S) {
    let store = Arc::new(store);
    let cookie = logged_in(&store).await;
    let slow = harness::instance(&store, |s, path: String| async move {
        s.get::<String>("user").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.insert(&path[1..], true).await
    });
    let logout = harness::instance(&store, |s, _| async move { s.destroy().await });
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (slow, cookie) = (slow.clone(), cookie.clone());
            tokio::spawn(async move { harness::send(slow, &format!("/s{i}"), Some(&cookie)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(harness::send(logout, "/logout", Some(&cookie)).await.0, 200);
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

/// Through the HTTP layer, in real time (the SQL stores expire by the database's clock): maxAge 4 s; log in; two
/// read-only requests 1.5 s apart (each touch moves only Redis's TTL or the SQL `expire` column: the stored
/// text keeps the first `cookie.expires`); then, 2.5 s later, when that stored expiry has passed, a handler
/// inserts a key and calls `save()`. The session lives on with the key: no write stores an expiry earlier than
/// the session's live one.
pub async fn http_explicit_save_after_touches_keeps_the_session<S: Store>(store: S) {
    let store = Arc::new(store);
    let max_age = |o: SessionOptions| o.cookie(CookieOptions::new().max_age(Duration::from_secs(4)));
    let login = harness::instance_with(&store, max_age, |s, _| async move { s.insert("user", "alice").await });
    let (status, cookie) = harness::send(login, "/login", None).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("a session cookie");
    let id = id_of(&cookie);
    let read = harness::instance_with(&store, max_age, |s, _| async move {
        s.get::<String>("user").await?.ok_or(SessionError::NotFound).map(drop)
    });
    let save = harness::instance_with(&store, max_age, |s, _| async move {
        s.insert("k", true).await?;
        s.save().await
    });
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(harness::send(read.clone(), "/", Some(&cookie)).await, (200, None), "a read-only request");
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(harness::send(save, "/save", Some(&cookie)).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stored = store.get(&id).await.expect("get").expect("the session outlived the explicit save");
    assert_eq!(stored.record.data().get("user"), Some(&json!("alice")));
    assert_eq!(stored.record.data().get("k"), Some(&json!(true)));
    assert!(stored.record.expires().expect("an expiry") > store.now(), "the stored expiry is the live one");
    assert_eq!(harness::send(read, "/", Some(&cookie)).await, (200, None), "the client is still logged in");
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
    let slow = harness::instance(&store, {
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
    let logout = harness::instance(&store, |s, _| async move { s.destroy().await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(slow, "/cycle", Some(&cookie)).await }
    });
    loaded.notified().await;
    assert_eq!(harness::send(logout, "/logout", Some(&cookie)).await.0, 200);
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
    let slow = harness::instance(&store, {
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
    let writer = harness::instance(&store, |s, _| async move {
        s.get::<String>("user").await?.ok_or(SessionError::NotFound)?;
        s.insert("theirs", 2).await
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(slow, "/cycle", Some(&cookie)).await }
    });
    cycled.notified().await;
    assert_eq!(harness::send(writer, "/write", Some(&cookie)).await, (200, None), "the session is still there");
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
    let abandoned = harness::instance(&store, {
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
        async move { harness::send(abandoned, "/login", Some(&cookie)).await }
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
    let slow = harness::instance(&store, {
        let (cycled, go) = (Arc::clone(&cycled), Arc::clone(&go));
        move |s, _| {
            let (cycled, go) = (Arc::clone(&cycled), Arc::clone(&go));
            async move {
                s.get::<String>("user").await?.ok_or(SessionError::NotFound)?;
                s.cycle_id().await?;
                cycled.notify_one();
                go.notified().await;
                s.insert("slow", true).await
            }
        }
    });
    let fast = harness::instance(&store, |s, _| async move {
        s.get::<String>("user").await?.ok_or(SessionError::NotFound)?;
        s.cycle_id().await?;
        s.insert("fast", true).await
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(slow, "/login", Some(&cookie)).await }
    });
    cycled.notified().await;
    let (status, fast_cookie) = harness::send(fast, "/login", Some(&cookie)).await;
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
    let slow = harness::instance(&store, {
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
    let writer = harness::instance(&store, |s, _| async move { s.insert("theirs", 2).await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(slow, "/cycle", Some(&cookie)).await }
    });
    loaded.notified().await;
    assert_eq!(harness::send(writer, "/write", Some(&cookie)).await, (200, None));
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
    let options = |o: SessionOptions| {
        o.cookie(CookieOptions::new().max_age(Duration::from_secs(60))).absolute_timeout(Duration::from_secs(3))
    };
    let read = |s: Session, _| async move { s.get::<String>("user").await?.ok_or(SessionError::NotFound).map(drop) };
    let a = harness::instance_with(&store, options, read);
    let b = harness::instance_with(&store, options, read);
    let first_seen = std::time::Instant::now();
    for i in 0..3 {
        let instance = if i % 2 == 0 { a.clone() } else { b.clone() };
        assert_eq!(harness::send(instance, "/", Some(&cookie)).await, (200, None), "read {i}");
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    tokio::time::sleep(Duration::from_millis(3_600).saturating_sub(first_seen.elapsed())).await;
    let (status, _) = harness::send(b, "/", Some(&cookie)).await;
    assert_eq!(status, 500, "the session outlived its absolute timeout (the handler still saw the user)");
    assert!(store.get(&id).await.expect("get").is_none(), "the timed-out session is still stored");
}

/// A store that passes every call to `inner`, except that the first `save_if` after [`new`](Self::new) waits:
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
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
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
    fn now(&self) -> Timestamp {
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
    let options = |o: SessionOptions| o.save_uninitialized(true).absolute_timeout(Duration::from_secs(60));
    let paused = PauseFirstSaveIf::new(&store);
    let reader = harness::instance_with(&paused, options, |s, _| async move {
        match s.get::<String>("user").await? {
            Some(_) => Err(SessionError::NotFound),
            None => Ok(()),
        }
    });
    let logout = harness::instance_with(&store, options, |s, _| async move { s.destroy().await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(reader, "/read", Some(&cookie)).await }
    });
    paused.reached.notified().await;
    assert_eq!(harness::send(logout, "/logout", Some(&cookie)).await.0, 200);
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
    let options = |o: SessionOptions| o.absolute_timeout(Duration::from_secs(60));
    let paused = PauseFirstSaveIf::new(&store);
    let slow = harness::instance_with(&paused, options, |s, _| async move {
        s.get::<String>("user").await?.ok_or(SessionError::NotFound)?;
        s.insert("mine", 1).await
    });
    let fast = harness::instance_with(&store, options, |s, _| async move {
        s.get::<String>("user").await?.ok_or(SessionError::NotFound)?;
        s.insert("theirs", 2).await
    });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(slow, "/slow", Some(&cookie)).await }
    });
    paused.reached.notified().await;
    // Two stamps taken apart differ, so that a stamp overwritten by the slow request would show.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, set_cookie) = harness::send(fast, "/fast", Some(&cookie)).await;
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
    let rolling = |o: SessionOptions| o.rolling(true);
    let reader = harness::instance_with(&store, rolling, {
        let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
        move |s, _| {
            let (loaded, go) = (Arc::clone(&loaded), Arc::clone(&go));
            async move {
                s.get::<String>("user").await?.ok_or(SessionError::NotFound)?;
                loaded.notify_one();
                go.notified().await;
                Ok(())
            }
        }
    });
    let logout = harness::instance_with(&store, rolling, |s, _| async move { s.destroy().await });
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { harness::send(reader, "/read", Some(&cookie)).await }
    });
    loaded.notified().await;
    assert_eq!(harness::send(logout, "/logout", Some(&cookie)).await.0, 200);
    go.notify_one();
    let (status, set_cookie) = in_flight.await.expect("task");
    assert_eq!(status, 200);
    assert!(store.get(&id_of(&cookie)).await.expect("get").is_none(), "the touch brought the session back");
    if let Some(set_cookie) = set_cookie {
        assert_ne!(id_of(&set_cookie), id_of(&cookie), "a rolling cookie for the destroyed session");
    }
}
