//! The store against what connect-redis 9 did when the vectors were captured (`tests/vectors/stored-session.json`,
//! copied from the project's shared vectors): the commands it sent (seen with `MONITOR`), the values and TTLs it
//! left, and whether its `get` found the session. Runs on the Redis at `REDIS_URL`, under a prefix of its own
//! (the vectors' `sess:` is replaced by it).

mod common;
#[path = "common/monitor.rs"]
mod monitor;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::any;
use express_session::store::{SaveOutcome, Store};
use express_session::{Clock, Record, Session, SessionId, SessionManagerLayer, SessionOptions, Timestamp};
use express_session_redis::RedisStore;
use http::Request;
use monitor::{Monitor, Seen};
use redis::AsyncCommands;
use serde_json::Value;
use tower::ServiceExt;

fn vectors() -> Value {
    let path = format!("{}/tests/vectors/stored-session.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The vector's commands with connect-redis's `sess:` prefix replaced by the test's.
fn expected_commands(commands: &Value, prefix: &str) -> Vec<Vec<String>> {
    commands
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let a = a.as_str().unwrap();
                    a.strip_prefix("sess:").map_or_else(|| a.to_owned(), |rest| format!("{prefix}{rest}"))
                })
                .collect()
        })
        .collect()
}

fn writes(seen: &[Seen]) -> Vec<Vec<String>> {
    seen.iter().filter(|s| s.is_write()).map(|s| s.args.clone()).collect()
}

/// A store configured like the vector's connect-redis (`ttl`, `disableTTL`, `disableTouch`), on a frozen clock.
async fn store_for(rule: &Value, prefix: &str, url: &str) -> (RedisStore, Clock) {
    let clock = Clock::manual(Timestamp::from_millis(rule["now_ms"].as_i64().unwrap()));
    let options = &rule["store_options"];
    let mut builder = RedisStore::builder().prefix(prefix).clock(clock.clone());
    if let Some(ttl) = options["ttl"].as_u64() {
        builder = builder.ttl(Duration::from_secs(ttl));
    }
    builder = builder.disable_ttl(options["disableTTL"] == true).disable_touch(options["disableTouch"] == true);
    (builder.connect(url).await.unwrap(), clock)
}

async fn ttl_of(url: &str, key: &str) -> i64 {
    common::raw(url).await.ttl(key).await.unwrap()
}

async fn value_of(url: &str, key: &str) -> Option<String> {
    common::raw(url).await.get(key).await.unwrap()
}

/// `set` and `touch` send exactly connect-redis's writes (reads may differ: with touching disabled the store reads
/// the record to report whether it is there), leave the same TTL, and `get` at the same instant agrees with
/// connect-redis's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_and_touch_send_connect_redis_commands() {
    let Some(_) = common::store().await else { return };
    let url = common::redis_url();
    let prefix = common::unique_prefix("vectors");
    let monitor = Monitor::start(&url, &prefix).await;
    let vectors = vectors();
    let mut checked = 0;
    for (i, rule) in vectors["expiry_rules"].as_array().unwrap().iter().enumerate() {
        let case = rule["case"].as_str().unwrap();
        let redis = &rule["connect_redis"];
        let (store, _clock) = store_for(rule, &prefix, &url).await;
        let id = SessionId::new(format!("expiry-rule-{i}")).unwrap();
        let key = store.key(&id);
        let record = Record::from_value(rule["session"].clone()).unwrap();
        let (result, seen) = match rule["operation"].as_str().unwrap() {
            "set" => monitor.during(&url, &prefix, async { store.set(&id, &record).await.map(|_| ()) }).await,
            "touch" => {
                // As the vector's setup: the key written without a TTL, so that -1 means "untouched".
                let () = common::raw(&url).await.set(&key, record.to_json()).await.unwrap();
                monitor.during(&url, &prefix, async { store.touch(&id, &record).await.map(|_| ()) }).await
            }
            other => panic!("unknown operation {other}"),
        };
        result.unwrap();
        assert_eq!(writes(&seen), expected_commands(&redis["commands"], &prefix), "{case}: {seen:?}");
        assert_eq!(ttl_of(&url, &key).await, redis["ttl_reported_by_redis"].as_i64().unwrap(), "{case}");
        let found = store.get(&id).await.unwrap().is_some();
        assert_eq!(found, redis["found_by_get_at_same_instant"].as_bool().unwrap(), "{case}");
        if found {
            assert_eq!(value_of(&url, &key).await.as_deref(), Some(record.to_json().as_str()), "{case}");
        }
        store.clear().await.unwrap();
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} expiry rules checked");
}

/// The conditional writes leave what connect-redis's `set` leaves: `save_if`'s script sends exactly its `SET …
/// EX ttl` (or `DEL`), and `create` sends it with `NX` (and nothing for an already expired record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_send_connect_redis_writes() {
    let Some(_) = common::store().await else { return };
    let url = common::redis_url();
    let prefix = common::unique_prefix("vectors-cas");
    let monitor = Monitor::start(&url, &prefix).await;
    let vectors = vectors();
    let mut checked = 0;
    for (i, rule) in vectors["expiry_rules"].as_array().unwrap().iter().enumerate() {
        if rule["operation"] != "set" {
            continue;
        }
        let case = rule["case"].as_str().unwrap();
        let redis = &rule["connect_redis"];
        let (store, _clock) = store_for(rule, &prefix, &url).await;
        let id = SessionId::new(format!("expiry-rule-{i}")).unwrap();
        let key = store.key(&id);
        let record = Record::from_value(rule["session"].clone()).unwrap();
        let expected = expected_commands(&redis["commands"], &prefix);
        let expected_ttl = redis["ttl_reported_by_redis"].as_i64().unwrap();

        // create: connect-redis's SET plus NX; nothing at all for a record that has already expired.
        let (created, seen) = monitor.during(&url, &prefix, store.create(&id, &record)).await;
        created.unwrap();
        let mut with_nx = expected.clone();
        if with_nx[0][0] == "SET" {
            with_nx[0].push("NX".into());
        } else {
            with_nx.clear();
        }
        assert_eq!(writes(&seen), with_nx, "create, {case}");
        assert_eq!(ttl_of(&url, &key).await, expected_ttl, "create, {case}");

        // save_if over a live record: the script's write is connect-redis's, byte for byte.
        let mut older = record.clone();
        older.data_mut().insert("older".into(), true.into());
        store.set(&id, &older).await.unwrap();
        let read = if expected_ttl == -2 {
            // An expired record is not readable; write over a live one read just before.
            let mut live = older.clone();
            live.cookie_mut().set_max_age(Some(Duration::from_secs(60)), store.now());
            store.set(&id, &live).await.unwrap();
            store.get(&id).await.unwrap().unwrap()
        } else {
            store.get(&id).await.unwrap().unwrap()
        };
        let (saved, seen) = monitor.during(&url, &prefix, store.save_if(&id, &record, &read.version)).await;
        assert!(matches!(saved.unwrap(), SaveOutcome::Saved(_)), "{case}");
        assert_eq!(writes(&seen), expected, "save_if, {case}: {seen:?}");
        assert!(seen.iter().filter(|s| s.is_write()).all(|s| s.from_script), "save_if writes from its script");
        assert_eq!(ttl_of(&url, &key).await, expected_ttl, "save_if, {case}");
        if expected_ttl != -2 {
            assert_eq!(value_of(&url, &key).await.as_deref(), Some(record.to_json().as_str()), "{case}");
        }
        store.clear().await.unwrap();
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} rules checked");
}

/// express-session's README examples (view counter, login) through the session layer on this store, with the
/// vectors' clock and ids: after every request Redis holds exactly the keys, values and TTLs connect-redis left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_leave_what_connect_redis_left() {
    let Some(_) = common::store().await else { return };
    let url = common::redis_url();
    let vectors = vectors();
    for example in vectors["examples"].as_array().unwrap() {
        let title = format!("{} ({})", example["title"].as_str().unwrap(), example["cookie_config"]);
        let prefix = common::unique_prefix("examples");
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = RedisStore::builder().prefix(&prefix).clock(clock.clone()).connect(&url).await.unwrap();
        let ids: Vec<String> = example["session_ids_from_genid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let ids = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(ids)));
        let mut options = SessionOptions::new()
            .secret("keyboard cat")
            .allow_short_secret(true)
            .resave(false)
            .save_uninitialized(true)
            .clock(clock.clone())
            .store(store.clone())
            .genid(move |_| ids.lock().unwrap().pop_front().expect("more ids than the vector has"));
        if example["cookie_config"] == "maxAge 60000" {
            options = options.cookie(express_session::CookieOptions::new().max_age(Duration::from_secs(60)));
        }
        let layer = SessionManagerLayer::new(options).unwrap();
        let app = if example["example"] == "views" {
            Router::new().fallback(any(|session: Session| async move {
                let n = session.update("views", |v: Option<u64>| v.unwrap_or(0) + 1).await.unwrap();
                format!("views: {n}")
            }))
        } else {
            Router::new()
                .route(
                    "/",
                    any(|session: Session| async move {
                        match session.get::<String>("user").await.unwrap() {
                            Some(user) => format!("hello, {user}!").into_response(),
                            None => "<form>".into_response(),
                        }
                    }),
                )
                .route(
                    "/login",
                    any(|session: Session| async move {
                        session.regenerate().await.unwrap();
                        session.insert("user", "alice").await.unwrap();
                        session.save().await.unwrap();
                        (http::StatusCode::FOUND, [(http::header::LOCATION, "/")]).into_response()
                    }),
                )
        }
        .layer(layer);
        let steps = example["steps"].as_array().unwrap();
        let states = example["stores"]["connect_redis"].as_array().unwrap();
        for (step, state) in steps.iter().zip(states) {
            let label = step["label"].as_str().unwrap();
            clock.set(Timestamp::from_millis(step["now_ms"].as_i64().unwrap()));
            let req = &step["request"];
            let mut request =
                Request::builder().method(req["method"].as_str().unwrap()).uri(req["path"].as_str().unwrap());
            if let Some(cookie) = req["cookie"].as_str() {
                request = request.header(http::header::COOKIE, cookie);
            }
            let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(u64::from(response.status().as_u16()), step["status"].as_u64().unwrap(), "{title}: {label}");
            let set_cookie = response.headers().get(http::header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(set_cookie.as_deref(), step["set_cookie"].as_str(), "{title}: {label}");

            let mut keys: Vec<String> = store.all().await.unwrap().iter().map(|(id, _)| store.key(id)).collect();
            keys.sort();
            let mut expected_keys: Vec<String> = state["keys"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| format!("{prefix}{}", k.strip_prefix("sess:").unwrap()))
                .collect();
            expected_keys.sort();
            assert_eq!(keys, expected_keys, "{title}: {label}");
            for (key, expected) in state["keys"].as_object().unwrap() {
                let key = format!("{prefix}{}", key.strip_prefix("sess:").unwrap());
                assert_eq!(value_of(&url, &key).await.as_deref(), expected["value"].as_str(), "{title}: {label}");
                assert_eq!(
                    ttl_of(&url, &key).await,
                    expected["ttl_reported_by_redis"].as_i64().unwrap(),
                    "{title}: {label}"
                );
            }
        }
        store.clear().await.unwrap();
    }
}
