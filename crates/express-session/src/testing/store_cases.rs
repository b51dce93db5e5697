//! The Store-trait cases of the shared suite: each takes a fresh store and checks one promise of the
//! [`Store`] contract.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{must_get, record};
use crate::id::SessionId;
use crate::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome};

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

/// `refresh_after` decides from the store's real expiry (a touch may move only a TTL or a column, leaving the
/// text's `cookie.expires` stale): a record written or refreshed less than the interval ago is `Fresh` and nothing
/// is written; after the interval it is `Touched` and its expiry moves; a missing record is `Gone`. Real time, with
/// a margin for stores that keep whole seconds.
pub async fn refresh_after_skips_records_refreshed_within_the_interval<S: Store>(store: S) {
    let (long, short) = (Duration::from_secs(3), Duration::from_secs(1));
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(5_000), json!({"v": 1}))).await.unwrap();
    assert_eq!(store.refresh_after(&id, long).await.unwrap(), TouchOutcome::Fresh, "just written");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(store.refresh_after(&id, long).await.unwrap(), TouchOutcome::Fresh, "written 2.1 s ago");
    assert_eq!(store.refresh_after(&id, short).await.unwrap(), TouchOutcome::Touched, "written 2.1 s ago");
    assert_eq!(store.refresh_after(&id, long).await.unwrap(), TouchOutcome::Fresh, "just refreshed");
    // Past the written expiry (5 s, rounded up to whole seconds by some stores): alive only by the refresh.
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    assert!(store.get(&id).await.unwrap().is_some(), "the refresh should have moved the expiry");
    assert_eq!(store.refresh_after(&SessionId::generate(), long).await.unwrap(), TouchOutcome::Gone);
    store.destroy(&id).await.unwrap();
    assert_eq!(store.refresh_after(&id, long).await.unwrap(), TouchOutcome::Gone, "destroyed");
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
