//! The owner-index cases of the shared suite (every session of a user): run on stores built with an owner key
//! (see [`Store::owner_key`]); a store without one runs the suite with `store_suite!(no_owner_index: ...)`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{harness, id_of, record};
use crate::engine::Session;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, TouchOutcome};

/// The store's owner key; the owner cases need one.
fn owner_key<S: Store>(store: &S) -> String {
    store
        .owner_key()
        .expect(
            "the shared suite's owner cases need a store built with an owner key (.owner_key(\"user\")); run \
             store_suite!(no_owner_index: ...) for a store without an owner index",
        )
        .to_owned()
}

/// An owner name no other case (or run) uses.
fn fresh_owner(name: &str) -> String {
    format!("{name}-{}", &SessionId::generate().as_str()[..10])
}

/// A record of `owner` (under the store's owner key) with `max_age_ms` and more data.
fn owned<S: Store>(store: &S, owner: Option<Value>, max_age_ms: i64, more: Value) -> Record {
    let mut data = match more {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(owner) = owner {
        data.insert(owner_key(store), owner);
    }
    record(store, Some(max_age_ms), Value::Object(data))
}

/// Creates a session of `owner` and returns its id.
async fn create_owned<S: Store>(store: &S, owner: &str, max_age_ms: i64) -> SessionId {
    let id = SessionId::generate();
    let created = store.create(&id, &owned(store, Some(json!(owner)), max_age_ms, json!({"n": 0}))).await;
    assert!(matches!(created.expect("create"), CreateOutcome::Created(_)));
    id
}

async fn live<S: Store>(store: &S, owner: &str) -> OwnerPage {
    store.sessions_of(owner, OwnerPage::DEFAULT_LIMIT).await.expect("sessions_of")
}

/// Lists an owner's sessions by handle (never the id), ends one by handle, refuses another owner's handle, ends
/// the rest but one, and leaves other owners' and unowned sessions alone.
pub async fn owner_index_lists_and_ends_by_handle<S: Store>(store: S) {
    let (alice, bob) = (fresh_owner("alice"), fresh_owner("bob"));
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create_owned(&store, &alice, 60_000).await);
    }
    let bobs = create_owned(&store, &bob, 60_000).await;
    let unowned = SessionId::generate();
    store.create(&unowned, &owned(&store, None, 60_000, json!({"n": 1}))).await.expect("create");

    let page = live(&store, &alice).await;
    assert_eq!(page.sessions.len(), 3, "{page:?}");
    assert!(!page.more);
    let handles: Vec<SessionHandle> = page.sessions.iter().map(|s| s.handle.clone()).collect();
    for id in &ids {
        assert!(handles.contains(&SessionHandle::of(id)), "every session is listed by its handle");
        assert!(handles.iter().all(|h| h.as_str() != id.as_str()), "a handle is not the id");
    }
    assert!(page.sessions.iter().all(|s| !s.current && s.expires.is_some() && s.last_seen.is_some()));
    assert_eq!(live(&store, &bob).await.sessions.len(), 1);

    assert!(!store.end_session_of(&alice, &SessionHandle::of(&bobs)).await.expect("end"), "bob's handle");
    assert!(store.get(&bobs).await.expect("get").is_some());
    assert!(store.end_session_of(&alice, &SessionHandle::of(&ids[0])).await.expect("end"));
    assert!(store.get(&ids[0]).await.expect("get").is_none());
    assert!(!store.end_session_of(&alice, &SessionHandle::of(&ids[0])).await.expect("end"), "ended once");

    assert_eq!(store.end_sessions_of(&alice, Some(&ids[1])).await.expect("end others"), 1);
    assert!(store.get(&ids[1]).await.expect("get").is_some(), "the kept session");
    assert!(store.get(&ids[2]).await.expect("get").is_none());
    assert_eq!(live(&store, &alice).await.sessions.len(), 1);
    assert_eq!(store.end_sessions_of(&alice, None).await.expect("end all"), 1);
    assert!(live(&store, &alice).await.sessions.is_empty());
    assert_eq!(store.end_sessions_of(&alice, None).await.expect("end all again"), 0);
    assert!(store.get(&bobs).await.expect("get").is_some(), "another owner's session is kept");
    assert!(store.get(&unowned).await.expect("get").is_some(), "an unowned session is kept");
}

/// A session is listed under the owner its current record names: an owner change (a `save_if`, a `set`) moves
/// it, a record that drops the key leaves every list, and an integer owner (as a Node app writes
/// `req.session.userId = 42`) is the owner `"42"`.
pub async fn owner_index_follows_the_current_record<S: Store>(store: S) {
    let (alice, bob) = (fresh_owner("alice"), fresh_owner("bob"));
    let id = create_owned(&store, &alice, 60_000).await;
    let read = store.get(&id).await.expect("get").expect("live");
    let to_bob = owned(&store, Some(json!(bob)), 60_000, json!({"n": 1}));
    assert!(matches!(store.save_if(&id, &to_bob, &read.version).await.expect("save_if"), SaveOutcome::Saved(_)));
    assert!(live(&store, &alice).await.sessions.is_empty(), "no longer alice's");
    assert_eq!(live(&store, &bob).await.sessions.len(), 1);
    assert_eq!(store.end_sessions_of(&alice, None).await.expect("end"), 0, "alice's end leaves bob's session");
    assert!(store.get(&id).await.expect("get").is_some());

    store.set(&id, &owned(&store, None, 60_000, json!({"n": 2}))).await.expect("set");
    assert!(live(&store, &bob).await.sessions.is_empty(), "a record without the key names no owner");

    let number = 9_000_000_000_000_000_i64 + i64::from(rand_u16());
    store.set(&id, &owned(&store, Some(json!(number)), 60_000, json!({}))).await.expect("set");
    let page = live(&store, &number.to_string()).await;
    assert_eq!(page.sessions.len(), 1, "an integer owner is found by its decimal text");
    assert_eq!(store.end_sessions_of(&number.to_string(), None).await.expect("end"), 1);
    assert!(store.get(&id).await.expect("get").is_none());
}

fn rand_u16() -> u16 {
    let id = SessionId::generate();
    u16::from_le_bytes([id.as_str().as_bytes()[0], id.as_str().as_bytes()[1]])
}

/// Ended sessions stay ended: a `save_if` with the version read before is `Gone`, `touch` and `refresh` are
/// `Gone`, and nothing is recreated; a session created for the owner after the end is kept.
pub async fn owner_index_ended_sessions_stay_ended<S: Store>(store: S) {
    let owner = fresh_owner("carol");
    let id = create_owned(&store, &owner, 60_000).await;
    let read = store.get(&id).await.expect("get").expect("live");
    assert_eq!(store.end_sessions_of(&owner, None).await.expect("end"), 1);
    let write = owned(&store, Some(json!(owner)), 60_000, json!({"n": 1}));
    assert_eq!(store.save_if(&id, &write, &read.version).await.expect("save_if"), SaveOutcome::Gone);
    assert_eq!(store.touch(&id, &write).await.expect("touch"), TouchOutcome::Gone);
    assert_eq!(store.refresh(&id).await.expect("refresh"), TouchOutcome::Gone);
    assert!(store.get(&id).await.expect("get").is_none(), "an ended session came back");
    assert!(live(&store, &owner).await.sessions.is_empty());

    let later = create_owned(&store, &owner, 60_000).await;
    let page = live(&store, &owner).await;
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].handle, SessionHandle::of(&later), "a session created after the end is kept");
}

/// Expired sessions are neither listed nor counted as ended, and their entries go (what is left in the backend
/// is each store's own test).
pub async fn owner_index_forgets_expired_sessions<S: Store>(store: S) {
    let owner = fresh_owner("dave");
    create_owned(&store, &owner, 1_500).await;
    let kept = create_owned(&store, &owner, 60_000).await;
    assert_eq!(live(&store, &owner).await.sessions.len(), 2);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let page = live(&store, &owner).await;
    assert_eq!(page.sessions.len(), 1, "{page:?}");
    assert_eq!(page.sessions[0].handle, SessionHandle::of(&kept));
    assert_eq!(store.end_sessions_of(&owner, None).await.expect("end"), 1, "the expired session is not counted");
}

/// 1,000 sessions of one owner: a listing is bounded by its limit (and says there are more), and ending them
/// all ends every one (the store does it in batches of [`OWNER_BATCH`](crate::store::OWNER_BATCH)).
pub async fn owner_index_ends_a_thousand_sessions<S: Store>(store: S) {
    let store = Arc::new(store);
    let owner = fresh_owner("erin");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, owner) = (Arc::clone(&store), owner.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..125 {
                    ids.push(create_owned(&*store, &owner, 60_000).await);
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.expect("task"));
    }
    let page = store.sessions_of(&owner, 10).await.expect("sessions_of");
    assert_eq!(page.sessions.len(), 10);
    assert!(page.more);
    let all = store.sessions_of(&owner, 5_000).await.expect("sessions_of");
    assert_eq!(all.sessions.len(), 1_000);
    assert!(!all.more);
    assert_eq!(store.end_sessions_of(&owner, Some(&ids[0])).await.expect("end"), 999);
    assert!(store.get(&ids[0]).await.expect("get").is_some());
    for id in &ids[1..] {
        assert!(store.get(id).await.expect("get").is_none());
    }
}

/// `reindex` finds every owned session (it may find more: the store holds other cases' sessions only when they
/// share it) and leaves the index answering as before.
pub async fn owner_index_reindex_finds_owned_sessions<S: Store>(store: S) {
    let owner = fresh_owner("frank");
    for _ in 0..3 {
        create_owned(&store, &owner, 60_000).await;
    }
    let found = store.reindex().await.expect("reindex");
    assert!(found >= 3, "reindex found {found}");
    assert_eq!(live(&store, &owner).await.sessions.len(), 3);
    assert_eq!(store.reindex().await.expect("reindex twice"), found, "reindexing again changes nothing");
    assert_eq!(live(&store, &owner).await.sessions.len(), 3);
}

/// Logs in (a new session, regenerated and named `owner`) through `service`; the session cookie.
async fn log_in(service: crate::layer::SessionManager<harness::App>) -> String {
    let (status, cookie) = harness::send(service, "/login", None).await;
    assert_eq!(status, 200);
    cookie.expect("a session cookie")
}

/// Through the HTTP layer, two instances on one store: six devices of one owner; "log out everywhere" while 18
/// slow requests of those sessions are in flight (writes, rolling touches, `cycle_id`); afterwards none of the
/// owner's sessions is left, none came back, and a login after it is kept. "Log out other devices" keeps the
/// session that asked.
pub async fn http_owner_log_out_everywhere_during_requests<S: Store>(store: S) {
    let store = Arc::new(store);
    let owner = fresh_owner("grace");
    let login = |owner: String| {
        move |s: Session, _| {
            let owner = owner.clone();
            async move {
                s.regenerate().await?;
                s.set_owner(owner).await
            }
        }
    };
    let rolling = |o: crate::options::SessionOptions| o.rolling(true);
    let a = harness::instance_with(&store, rolling, login(owner.clone()));
    let b = harness::instance_with(&store, rolling, login(owner.clone()));
    let mut cookies = Vec::new();
    for i in 0..6 {
        cookies.push(log_in(if i % 2 == 0 { a.clone() } else { b.clone() }).await);
    }
    assert_eq!(live(&*store, &owner).await.sessions.len(), 6);

    let slow = harness::instance_with(&store, rolling, |s: Session, path: String| async move {
        s.get::<String>("n").await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        match path.as_str() {
            "/write" => s.insert("late", true).await,
            "/cycle" => s.cycle_id().await,
            _ => Ok(()), // a rolling touch
        }
    });
    let tasks: Vec<_> = cookies
        .iter()
        .flat_map(|cookie| ["/write", "/touch", "/cycle"].map(|path| (cookie.clone(), path)))
        .map(|(cookie, path)| {
            let slow = slow.clone();
            tokio::spawn(async move { harness::send(slow, path, Some(&cookie)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let everywhere = harness::instance(&store, |s: Session, _| async move { s.end_all_sessions().await.map(drop) });
    assert_eq!(harness::send(everywhere, "/logout-everywhere", Some(&cookies[0])).await.0, 200);
    for task in tasks {
        let (status, set_cookie) = task.await.expect("task");
        assert_eq!(status, 200);
        if let Some(set_cookie) = set_cookie {
            let id = id_of(&set_cookie);
            let record = store.get(&id).await.expect("get");
            assert!(
                record.is_none_or(|r| r.record.data().get(&owner_key(&*store)) != Some(&json!(owner))),
                "a request in flight kept a session of the owner"
            );
        }
    }
    for cookie in &cookies {
        assert!(store.get(&id_of(cookie)).await.expect("get").is_none(), "a session came back");
    }
    assert!(live(&*store, &owner).await.sessions.is_empty(), "{:?}", live(&*store, &owner).await);

    // After it returned: new logins are kept; "log out other devices" keeps the one that asked.
    let (first, second) = (log_in(a.clone()).await, log_in(b.clone()).await);
    let others = harness::instance(&store, |s: Session, _| async move {
        let page = s.owner_sessions().await?;
        assert_eq!(page.sessions.iter().filter(|s| s.current).count(), 1, "the current session is marked");
        assert_eq!(s.end_other_sessions().await?, 1);
        Ok(())
    });
    assert_eq!(harness::send(others, "/logout-others", Some(&second)).await.0, 200);
    assert!(store.get(&id_of(&first)).await.expect("get").is_none());
    assert!(store.get(&id_of(&second)).await.expect("get").is_some(), "the session that asked is kept");
    assert_eq!(live(&*store, &owner).await.sessions.len(), 1);
}

/// Through the HTTP layer, two instances on one store: a request of a device that read its session, then waits
/// while another device logs the owner out everywhere, then regenerates and names the owner again (a stolen
/// session logging itself back in) is refused with 409, and the owner has no session afterwards.
pub async fn http_owner_a_relogin_racing_log_out_everywhere_is_refused<S: Store>(store: S) {
    let store = Arc::new(store);
    let owner = fresh_owner("heidi");
    let login_as = owner.clone();
    let login = harness::instance(&store, move |s: Session, _| {
        let owner = login_as.clone();
        async move {
            s.regenerate().await?;
            s.set_owner(owner).await
        }
    });
    let (stolen, device) = (log_in(login.clone()).await, log_in(login).await);
    let ended = Arc::new(tokio::sync::Notify::new());
    let wait = Arc::clone(&ended);
    let relogin = harness::instance(&store, move |s: Session, _| {
        let wait = Arc::clone(&wait);
        async move {
            let owner = s.owner().await?.expect("the stolen session names its owner");
            wait.notified().await;
            s.regenerate().await?;
            s.set_owner(owner).await
        }
    });
    let task = tokio::spawn(async move { harness::send(relogin, "/relogin", Some(&stolen)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let everywhere = harness::instance(&store, |s: Session, _| async move { s.end_all_sessions().await.map(drop) });
    assert_eq!(harness::send(everywhere, "/logout-everywhere", Some(&device)).await.0, 200);
    ended.notify_one();
    let (status, set_cookie) = task.await.expect("task");
    assert_eq!(status, 409, "the relogin is refused");
    // The regenerated session may be sent (an empty one, as after any regenerate), never with the owner.
    if let Some(set_cookie) = set_cookie {
        let record = store.get(&id_of(&set_cookie)).await.expect("get");
        assert!(record.is_none_or(|r| !r.record.data().contains_key(&owner_key(&*store))), "logged back in");
    }
    assert!(live(&*store, &owner).await.sessions.is_empty(), "{:?}", live(&*store, &owner).await);
}
