//! Adversarial review of the owner index's first step (#16): each case is a defect found by attacking it (it
//! failed before its fix), or a focused check where the shared suite's coverage was thin.

use std::sync::Arc;

use express_session::engine::{Engine, RequestFacts, ResponseFacts};
use express_session::store::{SessionHandle, Store, check_owner_key, owner_of};
use express_session::{MemoryStore, Record, Session, SessionId, SessionOptions};

const SECRET: &str = "a long random secret, from your configuration";

fn engine(store: &MemoryStore) -> Engine {
    Engine::new(SessionOptions::new().secret(SECRET).store(store.clone())).expect("valid options")
}

fn hashing_engine(store: &MemoryStore) -> Engine {
    let options = SessionOptions::new().secret(SECRET).hash_ids_at_rest(true).store(store.clone());
    Engine::new(options).expect("valid options")
}

fn begin(engine: &Engine, cookie: Option<&str>) -> Session {
    let cookies: Vec<&[u8]> = cookie.map(str::as_bytes).into_iter().collect();
    engine.begin(RequestFacts::new("/").cookie_headers(cookies)).into_session().expect("a session")
}

/// The `name=value` of a Set-Cookie, if the response has one.
async fn finish(engine: &Engine, session: &Session) -> Option<String> {
    let response = engine.finish(session, ResponseFacts::new()).await;
    response.set_cookie().map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// Logs `owner` in on a new device; its cookie.
async fn log_in(engine: &Engine, owner: &str) -> String {
    let session = begin(engine, None);
    session.set_owner(owner).await.expect("set_owner");
    finish(engine, &session).await.expect("a cookie")
}

/// The session id a `name=value` cookie names (the signed value, unsigned).
fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').expect("name=value").1;
    let value = value.replace("%3A", ":").replace("%2F", "/").replace("%2B", "+").replace("%3D", "=");
    let unsigned = value.strip_prefix("s:").expect("signed");
    SessionId::new(unsigned.rsplit_once('.').expect("signed").0).expect("an id")
}

fn store() -> MemoryStore {
    MemoryStore::builder().owner_key("userId").build()
}

/// "Log out other devices" after `cycle_id` in the same request (a password change that also rotates the id, as
/// OWASP advises): the session that asked is kept, under its new id, and only the other device is ended.
#[tokio::test]
async fn end_other_sessions_after_cycle_id_keeps_the_session_that_asked() {
    let store = store();
    let engine = engine(&store);
    let other = log_in(&engine, "alice").await;
    let mine = log_in(&engine, "alice").await;

    let session = begin(&engine, Some(&mine));
    session.cycle_id().await.expect("cycle_id");
    assert_eq!(session.end_other_sessions().await.expect("end others"), 1, "only the other device");
    let moved = finish(&engine, &session).await.expect("the new id's cookie");
    assert_ne!(moved, mine);
    assert!(store.get(&id_of(&other)).await.unwrap().is_none(), "the other device is ended");
    let kept = store.get(&id_of(&moved)).await.unwrap().expect("the session that asked lives on");
    assert_eq!(owner_of(&kept.record, "userId").as_deref(), Some("alice"));
}

/// After `cycle_id`, the page marks the stored session of this request as the current one, and ending it by
/// its handle destroys this session (as `destroy` does, clearing the cookie).
#[tokio::test]
async fn owner_sessions_after_cycle_id_marks_and_ends_the_current_session() {
    let store = store();
    let engine = engine(&store);
    let _other = log_in(&engine, "alice").await;
    let mine = log_in(&engine, "alice").await;

    let session = begin(&engine, Some(&mine));
    session.cycle_id().await.expect("cycle_id");
    let page = session.owner_sessions().await.expect("page");
    assert_eq!(page.sessions.len(), 2);
    assert!(page.sessions.iter().all(|s| s.created.is_some()), "set_owner stamps the creation time: {page:?}");
    let current: Vec<_> = page.sessions.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1, "the current session is marked: {page:?}");
    assert_eq!(current[0].handle, SessionHandle::of(&id_of(&mine)));
    assert!(session.end_owner_session(&current[0].handle).await.expect("end"));
    assert!(matches!(session.get::<String>("userId").await, Err(express_session::SessionError::NoSession)));
    let cleared = finish(&engine, &session).await.expect("a clearing cookie");
    assert!(cleared.ends_with('='), "the cookie is cleared as destroy clears it: {cleared}");
    assert!(store.get(&id_of(&mine)).await.unwrap().is_none());
}

/// "Log out everywhere" after `cycle_id` counts this session once, and clears its cookie.
#[tokio::test]
async fn end_all_sessions_after_cycle_id_counts_and_clears() {
    let store = store();
    let engine = engine(&store);
    let other = log_in(&engine, "alice").await;
    let mine = log_in(&engine, "alice").await;
    let session = begin(&engine, Some(&mine));
    session.cycle_id().await.expect("cycle_id");
    assert_eq!(session.end_all_sessions().await.expect("end all"), 2);
    let cleared = finish(&engine, &session).await.expect("a clearing cookie");
    assert!(cleared.ends_with('='), "{cleared}");
    for cookie in [&other, &mine] {
        assert!(store.get(&id_of(cookie)).await.unwrap().is_none());
    }
    assert!(store.sessions_of("alice", 10).await.unwrap().sessions.is_empty());
}

/// "Log out everywhere" from a session that is not stored yet (named in this request): the stored sessions
/// are ended and counted, this one is not counted, and no cookie is set.
#[tokio::test]
async fn end_all_sessions_of_a_new_session_counts_only_stored_ones() {
    let store = store();
    let engine = engine(&store);
    let a = log_in(&engine, "alice").await;
    let session = begin(&engine, None);
    session.set_owner("alice").await.expect("set_owner");
    assert_eq!(session.end_all_sessions().await.expect("end all"), 1);
    assert_eq!(finish(&engine, &session).await, None, "nothing to clear: the request came without a cookie");
    assert!(store.get(&id_of(&a)).await.unwrap().is_none());
}

/// Owner calls on a session destroyed earlier in the request fail with `NoSession`, and end nothing.
#[tokio::test]
async fn owner_calls_after_destroy_fail_and_end_nothing() {
    let store = store();
    let engine = engine(&store);
    let other = log_in(&engine, "alice").await;
    let mine = log_in(&engine, "alice").await;
    let session = begin(&engine, Some(&mine));
    session.destroy().await.expect("destroy");
    assert!(session.end_all_sessions().await.is_err());
    assert!(session.end_other_sessions().await.is_err());
    assert!(session.owner_sessions().await.is_err());
    assert!(session.set_owner("bob").await.is_err());
    assert!(store.get(&id_of(&other)).await.unwrap().is_some());
}

/// `set_owner` takes 1 to 255 bytes; the owner is stored as a string, and a Node app's integer owner is the
/// same owner as its decimal text (in every spelling Node's JSON.parse accepts for that number).
#[tokio::test]
async fn owner_values_and_set_owner_bounds() {
    let store = store();
    let engine = engine(&store);
    let session = begin(&engine, None);
    assert!(session.set_owner("").await.is_err());
    assert!(session.set_owner("x".repeat(256)).await.is_err());
    session.set_owner("é".repeat(127)).await.expect("254 bytes");
    session.set_owner("x".repeat(255)).await.expect("255 bytes");
    assert_eq!(session.owner().await.unwrap().map(|o| o.len()), Some(255));

    let owner = |data: &str| {
        let record = Record::from_json(&format!(r#"{{"cookie":{{"originalMaxAge":null}},"userId":{data}}}"#));
        owner_of(&record.expect("a record"), "userId")
    };
    for (json, expected) in [
        ("42", Some("42")),
        ("42.0", Some("42")),
        ("1e3", Some("1000")),
        ("-0", Some("0")),
        ("-7", Some("-7")),
        ("9007199254740991", Some("9007199254740991")),
        ("9007199254740992", None),
        ("-9007199254740992", None),
        ("18446744073709551615", None),
        ("1e300", None),
        ("4.5", None),
        ("\"\"", None),
        ("true", None),
        ("null", None),
        ("[1]", None),
        ("{\"id\":1}", None),
        ("\"42\"", Some("42")),
    ] {
        assert_eq!(owner(json).as_deref(), expected, "{json}");
    }
    let long = format!("\"{}\"", "x".repeat(256));
    assert_eq!(owner(&long), None, "256 bytes name no owner");
}

/// An owner key must not be one of the layer's own keys: `__sealed` would make SealedStore overwrite the sealed
/// data with the owner, `__sessionCreatedAt` is the creation stamp.
#[test]
fn owner_keys_of_the_layers_own_are_refused() {
    for key in ["__sealed", "__sessionCreatedAt", "__anything", "cookie", "", "user id", &"k".repeat(65)] {
        assert!(check_owner_key(key).is_err(), "{key:?}");
    }
    for key in ["userId", "user_id", "_user", "u", &"k".repeat(64)] {
        assert!(check_owner_key(key).is_ok(), "{key:?}");
    }
    let store = MemoryStore::builder().owner_key("__sealed").build();
    assert!(Engine::new(SessionOptions::new().secret(SECRET).store(store)).is_err());
}

/// `clear` racing owned creates must not lose an index entry of a session it kept: a session created in a
/// shard `clear` had already emptied lives on, so "log out everywhere" must find it.
#[test]
fn clear_racing_creates_loses_no_index_entry() {
    let store = store();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut record = Record::new(express_session::SessionCookie::default());
    record.data_mut().insert("userId".into(), "alice".into());
    let record = Arc::new(record);
    for round in 0..12 {
        // Enough records that emptying every shard takes a while.
        runtime.block_on(async {
            for _ in 0..10_000 {
                store.create(&SessionId::generate(), &record).await.unwrap();
            }
        });
        let writer = {
            let (store, record) = (store.clone(), Arc::clone(&record));
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
                runtime.block_on(async {
                    for _ in 0..2_000 {
                        store.create(&SessionId::generate(), &record).await.unwrap();
                    }
                });
            })
        };
        runtime.block_on(store.clear()).unwrap();
        writer.join().expect("writer");
        let live = runtime.block_on(store.len()).unwrap();
        let listed = runtime.block_on(store.sessions_of("alice", usize::MAX)).unwrap().sessions.len();
        assert_eq!(listed as u64, live as u64, "round {round}: a live owned session is missing from the index");
        runtime.block_on(store.clear()).unwrap();
    }
}

/// With `hash_ids_at_rest` the store sees hashed ids: handles, the current mark, ending by handle and the kept
/// session of "log out other devices" all follow the hashed id, and no listed handle is the handle of a plain id.
#[tokio::test]
async fn owner_calls_with_ids_hashed_at_rest() {
    let store = store();
    let engine = hashing_engine(&store);
    let cookies = [log_in(&engine, "alice").await, log_in(&engine, "alice").await, log_in(&engine, "alice").await];
    assert!(store.get(&id_of(&cookies[0])).await.unwrap().is_none(), "the store keeps hashed ids");

    let session = begin(&engine, Some(&cookies[0]));
    let page = session.owner_sessions().await.expect("page");
    assert_eq!(page.sessions.len(), 3);
    assert_eq!(page.sessions.iter().filter(|s| s.current).count(), 1, "{page:?}");
    for cookie in &cookies {
        assert!(page.sessions.iter().all(|s| s.handle != SessionHandle::of(&id_of(cookie))));
    }
    let other = page.sessions.iter().find(|s| !s.current).expect("another device");
    assert!(session.end_owner_session(&other.handle).await.expect("end one"));
    assert_eq!(session.end_other_sessions().await.expect("end others"), 1);
    assert!(finish(&engine, &session).await.is_none(), "nothing changed in this session");
    let page = store.sessions_of("alice", 10).await.unwrap();
    assert_eq!(page.sessions.len(), 1, "the session that asked is kept");

    let session = begin(&engine, Some(&cookies[0]));
    assert_eq!(session.end_all_sessions().await.expect("end all"), 1);
    assert!(finish(&engine, &session).await.expect("a clearing cookie").ends_with('='));
    assert!(store.sessions_of("alice", 10).await.unwrap().sessions.is_empty());
}

/// A listed session's `created` is its creation stamp (a number in the record, as the layer writes it).
#[tokio::test]
async fn a_listed_session_has_its_creation_stamp() {
    let store = store();
    let record = Record::from_json(
        r#"{"cookie":{"originalMaxAge":60000,"expires":"2100-01-01T00:00:00.000Z"},"userId":"alice","__sessionCreatedAt":1000}"#,
    )
    .expect("a record");
    store.create(&SessionId::generate(), &record).await.unwrap();
    let page = store.sessions_of("alice", 10).await.unwrap();
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].created.map(|t| t.as_millis()), Some(1000));
    let expires = page.sessions[0].expires.expect("expires").as_millis();
    assert_eq!(page.sessions[0].last_seen.map(|t| t.as_millis()), Some(expires - 60_000));
}
