//! How the store decides that a record has expired when the stored text and the key's TTL disagree, as they do
//! after every touch (connect-redis's and this store's move only the TTL), and what `refresh`'s script does. On
//! the Redis at `REDIS_URL`, with a frozen clock.

mod common;

use std::time::Duration;

use express_session::store::{SaveOutcome, Store, TouchOutcome};
use express_session::{Clock, Record, SessionCookie, SessionId, Timestamp};
use express_session_redis::RedisStore;
use redis::AsyncCommands;

const NOW: i64 = 1_893_456_000_123;

async fn frozen_store(what: &str) -> Option<(RedisStore, Clock, redis::aio::MultiplexedConnection)> {
    common::store().await?;
    let clock = Clock::manual(Timestamp::from_millis(NOW));
    let url = common::redis_url();
    let store = common::builder(&common::unique_prefix(what)).clock(clock.clone()).connect(&url).await.unwrap();
    Some((store, clock, common::raw(&url).await))
}

/// The JSON express-session stores for a cookie that expires at `expires_ms` (set at `NOW` with that max age).
fn json_expiring_at(expires_ms: Option<i64>) -> String {
    json_set_at(expires_ms, NOW)
}

/// The JSON express-session stores for a cookie that expires at `expires_ms`, written at `set_at_ms`.
fn json_set_at(expires_ms: Option<i64>, set_at_ms: i64) -> String {
    let mut cookie = SessionCookie::default();
    cookie.set_expires(expires_ms.map(Timestamp::from_millis), Timestamp::from_millis(set_at_ms));
    let mut record = Record::new(cookie);
    record.data_mut().insert("user".into(), "alice".into());
    record.to_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_touched_record_is_live_past_its_stale_text() {
    let Some((store, _clock, mut raw)) = frozen_store("stale").await else { return };
    let id = SessionId::generate();
    // Written an hour ago with maxAge 60 s, then touched (EXPIRE only) by Node: the text says it expired 500 ms
    // ago, the key lives another 40 s.
    let () = raw.set_ex(store.key(&id), json_set_at(Some(NOW - 500), NOW - 60_500), 40).await.unwrap();
    let found = store.get(&id).await.unwrap().expect("a touched record is live");
    assert_eq!(found.record.data()["user"], "alice");
    // Its version is its text, so a save over it works (the layer touches the cookie before it saves).
    let mut next = found.record.clone();
    next.cookie_mut().touch(store.now());
    let saved = store.save_if(&id, &next, &found.version).await.unwrap();
    assert!(matches!(saved, SaveOutcome::Saved(_)));
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_past_its_expiry_is_gone_while_redis_rounds_its_ttl_up() {
    let Some((store, _clock, mut raw)) = frozen_store("slack").await else { return };
    let id = SessionId::generate();
    let key = store.key(&id);
    // Written with EX ceil(...): the key outlives cookie.expires by under a second.
    let () = raw.pset_ex(&key, json_expiring_at(Some(NOW - 10)), 600).await.unwrap();
    assert!(store.get(&id).await.unwrap().is_none());
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Gone);
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(pttl <= 600, "refresh must not extend an expired record ({pttl} ms left)");
    // save_if with a version read while it was live: gone now.
    let () = raw.pset_ex(&key, json_expiring_at(Some(NOW + 5)), 600).await.unwrap();
    let read = store.get(&id).await.unwrap().expect("live for 5 more ms");
    let store_later = common::builder(store.prefix())
        .clock(Clock::manual(Timestamp::from_millis(NOW + 10)))
        .connect(&common::redis_url())
        .await
        .unwrap();
    let out = store_later.save_if(&id, &read.record, &read.version).await.unwrap();
    assert_eq!(out, SaveOutcome::Gone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_reads_the_expiry_at_the_millisecond() {
    let Some((store, clock, mut raw)) = frozen_store("boundary").await else { return };
    let id = SessionId::generate();
    let key = store.key(&id);
    // The script parses Date#toJSON() itself: one millisecond before cookie.expires the record is live, at it gone.
    for (expires, now, outcome) in [
        (NOW + 3_000, NOW + 2_999, TouchOutcome::Touched),
        (NOW + 3_000, NOW + 3_000, TouchOutcome::Gone),
        // Leap day and a year boundary.
        (1_709_208_000_000, 1_709_207_999_999, TouchOutcome::Touched), // 2024-02-29T12:00:00.000Z
        (1_709_208_000_000, 1_709_208_000_000, TouchOutcome::Gone),
        (1_735_689_599_999, 1_735_689_599_998, TouchOutcome::Touched), // 2024-12-31T23:59:59.999Z
    ] {
        let () = raw.pset_ex(&key, json_set_at(Some(expires), expires - 60_000), 300).await.unwrap();
        clock.set(Timestamp::from_millis(now));
        assert_eq!(store.refresh(&id).await.unwrap(), outcome, "expires {expires}, now {now}");
        assert_eq!(store.get(&id).await.unwrap().is_some(), outcome == TouchOutcome::Touched);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_sets_the_ttl_of_the_original_max_age() {
    let Some((store, _clock, mut raw)) = frozen_store("refresh").await else { return };
    let id = SessionId::generate();
    let key = store.key(&id);
    // maxAge 90.5 s: EXPIRE key 91 (ceil), and the text stays as it was.
    let json = json_expiring_at(Some(NOW + 90_500));
    let () = raw.set_ex(&key, &json, 5).await.unwrap();
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
    assert_eq!(raw.ttl::<_, i64>(&key).await.unwrap(), 91);
    assert_eq!(raw.get::<_, String>(&key).await.unwrap(), json);
    // A browser-session cookie: the store's TTL option (600 s in the tests).
    let () = raw.set_ex(&key, json_expiring_at(None), 5).await.unwrap();
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
    assert_eq!(raw.ttl::<_, i64>(&key).await.unwrap(), 600);
    // Not a record express-session can read: gone, untouched.
    let () = raw.set_ex(&key, "{\"no\":\"cookie\"}", 5).await.unwrap();
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Gone);
    assert!(store.get(&id).await.unwrap().is_none());
    assert_eq!(raw.ttl::<_, i64>(&key).await.unwrap(), 5);
    let () = raw.set_ex(&key, b"\xff\xfe not utf-8".as_slice(), 5).await.unwrap();
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Gone);
    assert!(store.get(&id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_touches_write_nothing() {
    let Some((_, _clock, mut raw)) = frozen_store("disabled").await else { return };
    let url = common::redis_url();
    for (disable_ttl, disable_touch) in [(true, false), (false, true)] {
        let clock = Clock::manual(Timestamp::from_millis(NOW));
        let store = RedisStore::builder()
            .prefix(common::unique_prefix("disabled"))
            .disable_ttl(disable_ttl)
            .disable_touch(disable_touch)
            .clock(clock.clone())
            .connect(&url)
            .await
            .unwrap();
        let id = SessionId::generate();
        let key = store.key(&id);
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(60)), clock.now());
        let record = Record::new(cookie);
        store.set(&id, &record).await.unwrap();
        let ttl_before: i64 = raw.ttl(&key).await.unwrap();
        assert_eq!(ttl_before, if disable_ttl { -1 } else { 60 });
        let mut later = record.clone();
        later.cookie_mut().touch(clock.now().add_millis(30_000));
        assert_eq!(store.touch(&id, &later).await.unwrap(), TouchOutcome::Touched);
        assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
        assert_eq!(raw.ttl::<_, i64>(&key).await.unwrap(), ttl_before);
        let missing = SessionId::generate();
        assert_eq!(store.touch(&missing, &later).await.unwrap(), TouchOutcome::Gone);
        assert_eq!(store.refresh(&missing).await.unwrap(), TouchOutcome::Gone);
        // With disableTTL the text decides when the record is gone, and writing an expired record deletes it.
        if disable_ttl {
            clock.advance(Duration::from_secs(61));
            assert!(store.get(&id).await.unwrap().is_none());
            assert!(raw.exists::<_, bool>(&key).await.unwrap());
            store.set(&id, &record).await.unwrap();
            assert!(!raw.exists::<_, bool>(&key).await.unwrap());
        }
        store.clear().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_with_glob_characters_are_scanned_literally() {
    let Some(_) = common::store().await else { return };
    let url = common::redis_url();
    let base = common::unique_prefix("glob");
    let star = common::builder(&format!("{base}*[x]?:")).connect(&url).await.unwrap();
    let plain = common::builder(&format!("{base}a[x]b:")).connect(&url).await.unwrap();
    let record = |store: &RedisStore| {
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(60)), store.now());
        Record::new(cookie)
    };
    star.create(&SessionId::generate(), &record(&star)).await.unwrap();
    plain.create(&SessionId::generate(), &record(&plain)).await.unwrap();
    plain.create(&SessionId::generate(), &record(&plain)).await.unwrap();
    assert_eq!(star.len().await.unwrap(), 1);
    assert_eq!(plain.len().await.unwrap(), 2);
    star.clear().await.unwrap();
    assert_eq!(plain.len().await.unwrap(), 2);
    plain.clear().await.unwrap();
}
