//! The owner index on Redis, beyond the shared suite's owner cases: what it leaves in Redis (the sets, their TTLs,
//! nothing once the sessions have expired), what it sends (`MONITOR`: the round trips of ending 1,000 sessions,
//! the commands of a save with and without an owner, exactly today's commands for records that name none), records
//! cjson cannot decode, and the timing figures. Runs on the Redis at `REDIS_URL`, each test under a prefix of its
//! own; skipped, loudly, without it.

mod common;
#[path = "common/monitor.rs"]
mod monitor;

use std::time::{Duration, Instant};

use express_session::store::{CreateOutcome, OWNER_BATCH, OwnerPage, SaveOutcome, SessionHandle, Store, TouchOutcome};
use express_session::{Record, SessionCookie, SessionId};
use express_session_redis::RedisStore;
use monitor::{Monitor, Seen};
use redis::AsyncCommands;
use serde_json::{Value, json};

/// A store with an owner index (owner key `user`) under a fresh prefix, or `None` without Redis.
async fn owned_store(what: &str) -> Option<(RedisStore, String)> {
    common::store().await?;
    let prefix = common::unique_prefix(what);
    let store = common::builder(&prefix).owner_key("user").connect(&common::redis_url()).await.unwrap();
    Some((store, prefix))
}

/// A record of `owner` (none: no owner) expiring in `max_age_ms`.
fn record(store: &RedisStore, owner: Option<Value>, max_age_ms: u64) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_millis(max_age_ms)), store.now());
    let mut record = Record::new(cookie);
    if let Some(owner) = owner {
        record.data_mut().insert("user".into(), owner);
    }
    record.data_mut().insert("n".into(), json!(1));
    record
}

async fn create(store: &RedisStore, owner: Option<Value>, max_age_ms: u64) -> SessionId {
    let id = SessionId::generate();
    let created = store.create(&id, &record(store, owner, max_age_ms)).await.unwrap();
    assert!(matches!(created, CreateOutcome::Created(_)));
    id
}

/// The top-level commands (not those a script ran) among `seen`, by name.
fn top_level<'a>(seen: &'a [Seen], name: &str) -> Vec<&'a Seen> {
    seen.iter().filter(|s| !s.from_script && s.args[0].eq_ignore_ascii_case(name)).collect()
}

/// The index's key layout and TTL rule: `owner:` + prefix + owner, a set of ids, whose TTL follows the longest
/// member's (raised by writes and touches, never lowered), and that connect-redis's `SCAN MATCH prefix*` (and the
/// store's `all`, `len`) never meets; `clear` removes the sets too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_one_set_per_owner_outside_the_prefix() {
    let Some((store, prefix)) = owned_store("owners-layout").await else { return };
    let mut raw = common::raw(&common::redis_url()).await;
    let set = format!("owner:{prefix}alice");
    let short = create(&store, Some(json!("alice")), 20_000).await;
    let members: Vec<String> = raw.smembers(&set).await.unwrap();
    assert_eq!(members, [short.as_str()]);
    let pttl: i64 = raw.pttl(&set).await.unwrap();
    assert!((19_000..=20_000).contains(&pttl), "the set lives as long as its member: {pttl}");

    // A longer member raises the set's TTL; a shorter write never lowers it.
    let long = create(&store, Some(json!("alice")), 60_000).await;
    let pttl: i64 = raw.pttl(&set).await.unwrap();
    assert!((59_000..=60_000).contains(&pttl), "{pttl}");
    store.set(&short, &record(&store, Some(json!("alice")), 5_000)).await.unwrap();
    let pttl: i64 = raw.pttl(&set).await.unwrap();
    assert!(pttl > 55_000, "{pttl}");
    // A touch to a longer lifetime raises it too.
    assert_eq!(
        store.touch(&short, &record(&store, Some(json!("alice")), 120_000)).await.unwrap(),
        TouchOutcome::Touched
    );
    let pttl: i64 = raw.pttl(&set).await.unwrap();
    assert!((119_000..=120_000).contains(&pttl), "{pttl}");

    // connect-redis's pattern does not match the set; the store's all and len see the two sessions only.
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg(format!("{prefix}*"))
        .arg("COUNT")
        .arg(1000)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with(&prefix)));
    assert_eq!(store.len().await.unwrap(), 2);
    assert_eq!(store.all().await.unwrap().len(), 2);
    let _ = long;

    store.clear().await.unwrap();
    assert!(!raw.exists::<_, bool>(&set).await.unwrap(), "clear removes the owner sets too");
}

/// No residue: sessions of 1 to 2 seconds expire, and their owner's set is gone with them (its TTL is its last
/// member's); a set whose members were all ended or destroyed goes when a reader finds it empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_leave_no_set_behind() {
    let Some((store, prefix)) = owned_store("owners-residue").await else { return };
    let mut raw = common::raw(&common::redis_url()).await;
    let set = format!("owner:{prefix}bob");
    for max_age in [1_000, 1_500, 2_000] {
        create(&store, Some(json!("bob")), max_age).await;
    }
    assert_eq!(raw.scard::<_, usize>(&set).await.unwrap(), 3);
    let pttl: i64 = raw.pttl(&set).await.unwrap();
    assert!((1_000..=2_000).contains(&pttl), "{pttl}");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert!(!raw.exists::<_, bool>(&set).await.unwrap(), "the set outlived its sessions");
    assert_eq!(raw.pttl::<_, i64>(&set).await.unwrap(), -2);

    // Destroyed sessions (the set's TTL is a day away): the first reader empties it, and an empty set is no key.
    let ids = [create(&store, Some(json!("bob")), 86_400_000).await, create(&store, Some(json!("bob")), 60_000).await];
    for id in &ids {
        store.destroy(id).await.unwrap();
    }
    assert!(raw.exists::<_, bool>(&set).await.unwrap());
    assert!(store.sessions_of("bob", 10).await.unwrap().sessions.is_empty());
    assert!(!raw.exists::<_, bool>(&set).await.unwrap(), "stale members are removed by readers");

    // With disable_ttl, neither sessions nor sets expire.
    let prefix = common::unique_prefix("owners-no-ttl");
    let url = common::redis_url();
    let no_ttl = common::builder(&prefix).owner_key("user").disable_ttl(true).connect(&url).await.unwrap();
    create(&no_ttl, Some(json!("bob")), 60_000).await;
    assert_eq!(raw.pttl::<_, i64>(format!("owner:{prefix}bob")).await.unwrap(), -1);
    no_ttl.clear().await.unwrap();
    assert!(!raw.exists::<_, bool>(format!("owner:{prefix}bob")).await.unwrap());
}

/// What the index sends: a record that names no owner is written with exactly the commands (and scripts) of a
/// store without an index; one that names an owner with one script call all the same. Ending 1,000 sessions is two
/// script calls (`OWNER_BATCH` = 500), plus the `SSCAN`s that read the set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_of_writes_and_of_ending_a_thousand_sessions() {
    let Some((store, prefix)) = owned_store("owners-wire").await else { return };
    let url = common::redis_url();
    let plain = common::builder(&prefix).connect(&url).await.unwrap();
    let monitor = Monitor::start(&url, &prefix).await;

    // Unowned records: the same commands from both stores (ids aside), each operation on its own.
    let mut traces = Vec::new();
    for store in [&plain, &store] {
        let id = SessionId::generate();
        let r = record(store, None, 60_000);
        let mut trace = Vec::new();
        let (_, seen) = monitor.during(&url, &prefix, store.create(&id, &r)).await;
        trace.push(seen);
        let (read, seen) = monitor.during(&url, &prefix, store.get(&id)).await;
        trace.push(seen);
        let version = read.unwrap().unwrap().version;
        let (saved, seen) =
            monitor.during(&url, &prefix, store.save_if(&id, &record(store, None, 90_000), &version)).await;
        assert!(matches!(saved.unwrap(), SaveOutcome::Saved(_)));
        trace.push(seen);
        let (_, seen) = monitor.during(&url, &prefix, store.touch(&id, &r)).await;
        trace.push(seen);
        let (_, seen) = monitor.during(&url, &prefix, store.set(&id, &r)).await;
        trace.push(seen);
        // `refresh` runs another script with an index (it reads the owner off the record): the same commands in it.
        let (_, seen) = monitor.during(&url, &prefix, store.refresh(&id)).await;
        trace.push(seen.into_iter().filter(|s| s.from_script).collect());
        // Names, keys and script hashes (texts and clocks differ); a script sent again after `NOSCRIPT` once.
        let shapes: Vec<Vec<Vec<String>>> = trace
            .iter()
            .map(|seen| {
                let mut shape: Vec<Vec<String>> = seen
                    .iter()
                    .map(|s| {
                        let keep = |(i, a): &(usize, &String)| *i == 0 || a.contains(&prefix) || a.len() == 40;
                        s.args.iter().enumerate().filter(keep).map(|(_, a)| a.replace(id.as_str(), "<id>")).collect()
                    })
                    .collect();
                shape.dedup();
                shape
            })
            .collect();
        traces.push(shapes);
    }
    assert_eq!(traces[0], traces[1]);
    assert!(traces[0].iter().all(|op| !op.is_empty()));
    assert!(!traces[1].iter().flatten().flatten().any(|a| a.contains("owner:")), "an unowned record touches no set");

    // Per save of a session: the commands Redis runs, without and with an owner.
    let mut per_save = Vec::new();
    for owner in [None, Some(json!("carol"))] {
        let id = create(&store, owner.clone(), 60_000).await;
        let read = store.get(&id).await.unwrap().unwrap();
        let (saved, seen) = monitor
            .during(&url, &prefix, store.save_if(&id, &record(&store, owner.clone(), 60_000), &read.version))
            .await;
        assert!(matches!(saved.unwrap(), SaveOutcome::Saved(_)));
        assert_eq!(seen.iter().filter(|s| !s.from_script).count(), 1, "one round trip: {seen:?}");
        let inner: Vec<String> = seen.iter().filter(|s| s.from_script).map(|s| s.args[0].to_uppercase()).collect();
        // The session's own write is connect-redis's `SET … EX`, whatever the index adds.
        let session_writes: Vec<&Seen> = seen.iter().filter(|s| s.is_write() && s.args[1] == store.key(&id)).collect();
        assert_eq!(session_writes.len(), 1, "{seen:?}");
        assert_eq!(session_writes[0].args[0], "SET");
        per_save.push(inner);
    }
    eprintln!("commands a save_if runs: without an owner {:?}, with an owner {:?}", per_save[0], per_save[1]);
    assert_eq!(per_save[0], ["GET", "SET"]);
    assert_eq!(per_save[1][..2], ["GET", "SET"]);
    assert!(per_save[1].contains(&"SADD".to_owned()));

    // 1,000 sessions of one owner, ended: 2 script calls (the script loaded beforehand, so that no `NOSCRIPT`
    // adds a call).
    create(&store, Some(json!("warm-up")), 60_000).await;
    assert_eq!(store.end_sessions_of("warm-up", None).await.unwrap(), 1);
    let owner = "dana";
    let mut ids = Vec::new();
    for _ in 0..1_000 {
        ids.push(create(&store, Some(json!(owner)), 60_000).await);
    }
    let (ended, seen) = monitor.during(&url, &prefix, store.end_sessions_of(owner, None)).await;
    assert_eq!(ended.unwrap(), 1_000);
    let scripts = top_level(&seen, "EVALSHA").len();
    let scans = top_level(&seen, "SSCAN").len();
    let round_trips = seen.iter().filter(|s| !s.from_script).count();
    eprintln!("end_sessions_of over 1,000 sessions: {round_trips} round trips ({scripts} EVALSHA, {scans} SSCAN)");
    assert_eq!(scripts, 1_000usize.div_ceil(OWNER_BATCH), "{:?}", top_level(&seen, "EVALSHA").len());
    assert_eq!(round_trips, scripts + scans);
    assert!(scans <= 4, "{scans} SSCANs");
    for id in ids.iter().step_by(97) {
        assert!(store.get(id).await.unwrap().is_none());
    }
    assert!(!common::raw(&url).await.exists::<_, bool>(format!("owner:{prefix}{owner}")).await.unwrap());
    store.clear().await.unwrap();
}

/// The figures for the closing note: the time to list a page of an owner with 1,000 sessions, and to end them all
/// (on the shared Redis here, over loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timing_of_listing_and_ending_a_thousand_sessions() {
    let Some((store, _prefix)) = owned_store("owners-timing").await else { return };
    let mut listed = Vec::new();
    let mut ended = Vec::new();
    for round in 0..3 {
        let owner = format!("erin{round}");
        for _ in 0..1_000 {
            create(&store, Some(json!(owner)), 60_000).await;
        }
        let start = Instant::now();
        let page = store.sessions_of(&owner, OwnerPage::DEFAULT_LIMIT).await.unwrap();
        listed.push(start.elapsed());
        assert_eq!(page.sessions.len(), OwnerPage::DEFAULT_LIMIT);
        assert!(page.more);
        let start = Instant::now();
        assert_eq!(store.end_sessions_of(&owner, None).await.unwrap(), 1_000);
        ended.push(start.elapsed());
    }
    listed.sort();
    ended.sort();
    eprintln!(
        "owner with 1,000 sessions (median of 3): a page of {} in {:.1} ms, all ended in {:.1} ms",
        OwnerPage::DEFAULT_LIMIT,
        listed[1].as_secs_f64() * 1e3,
        ended[1].as_secs_f64() * 1e3
    );
    assert!(ended[1] < Duration::from_secs(5), "{ended:?}");
    store.clear().await.unwrap();
}

/// A record cjson cannot decode (a lone surrogate, which Node writes and the store keeps as text) that names the
/// owner is listed and ended all the same (the store reads it itself and deletes it only if unchanged); an integer
/// owner written by Node (`req.session.user = 42`) is owner `"42"` in the scripts too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cjson_cannot_decode_and_integer_owners() {
    let Some((store, prefix)) = owned_store("owners-odd").await else { return };
    let mut raw = common::raw(&common::redis_url()).await;
    let expires = store.now().add_millis(60_000).to_json();
    let odd = SessionId::generate();
    let text = format!(r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{expires}"}},"user":"fay","half":"\ud83d"}}"#);
    let () = raw.set_ex(format!("{prefix}{}", odd.as_str()), &text, 60).await.unwrap();
    let number = SessionId::generate();
    let text = format!(r#"{{"cookie":{{"originalMaxAge":60000,"expires":"{expires}"}},"user":42}}"#);
    let () = raw.set_ex(format!("{prefix}{}", number.as_str()), &text, 60).await.unwrap();
    assert_eq!(store.reindex().await.unwrap(), 2);

    let page = store.sessions_of("fay", 10).await.unwrap();
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].handle, SessionHandle::of(&odd));
    assert_eq!(store.end_sessions_of("fay", None).await.unwrap(), 1);
    assert!(store.get(&odd).await.unwrap().is_none());

    assert_eq!(store.sessions_of("42", 10).await.unwrap().sessions.len(), 1);
    assert!(store.end_session_of("42", &SessionHandle::of(&number)).await.unwrap());
    assert!(store.get(&number).await.unwrap().is_none());
}

/// The builder refuses an owner index it cannot keep, with a message that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_owner_options_are_refused_when_the_store_is_built() {
    let url = common::redis_url();
    let invalid = RedisStore::builder().owner_key("user id").connect_lazy(&url).unwrap_err();
    assert!(common::error_chain(&invalid).contains("owner key"), "{}", common::error_chain(&invalid));
    let under_prefix = RedisStore::builder().prefix("").owner_key("user").connect_lazy(&url).unwrap_err();
    assert!(common::error_chain(&under_prefix).contains("prefix"), "{}", common::error_chain(&under_prefix));
    let custom = RedisStore::builder().prefix("app:").owner_key("user").owner_index_prefix("app-owners:");
    assert_eq!(custom.connect_lazy(&url).unwrap().owner_key(), Some("user"));
    assert_eq!(RedisStore::builder().connect_lazy(&url).unwrap().owner_key(), None);
}

/// `EVALSHA`'s microseconds per call (the script's commands included) while `work` runs, on a server nobody else
/// uses; the first call (which loads the script) is left out.
async fn evalsha_usec(
    raw: &mut redis::aio::MultiplexedConnection,
    calls: usize,
    mut work: impl AsyncFnMut(usize),
) -> f64 {
    work(0).await;
    let () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(raw).await.unwrap();
    for n in 1..=calls {
        work(n).await;
    }
    let stats: String = redis::cmd("INFO").arg("commandstats").query_async(raw).await.unwrap();
    let line = stats.lines().find(|l| l.starts_with("cmdstat_evalsha:")).expect("EVALSHA's stats");
    let field = |name: &str| -> f64 {
        let value = line.split([':', ',']).find_map(|kv| kv.strip_prefix(&format!("{name}=")));
        value.and_then(|v| v.parse().ok()).expect("a number")
    };
    assert_eq!(field("calls") as usize, calls, "{line}");
    field("usec_per_call")
}

/// Redis's CPU per `save_if` and per `refresh`, with and without an owner index and an owner, on a server of the
/// test's own (`INFO commandstats`), for the closing note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cpu_per_save_and_refresh_with_and_without_an_owner() {
    if !common::redis_server_available() {
        return;
    }
    let server = common::RedisServer::start_with(&["--appendonly", "no"]);
    let indexed = common::builder("sess:").owner_key("user").connect(&server.url()).await.unwrap();
    let plain = common::builder("sess:").connect(&server.url()).await.unwrap();
    let mut raw = common::raw(&server.url()).await;
    const CALLS: usize = 2_000;
    let mut figures = Vec::new();
    for (store, owner) in [(&plain, None), (&indexed, None), (&indexed, Some(json!("gus")))] {
        let id = create(store, owner.clone(), 60_000).await;
        let mut version = store.get(&id).await.unwrap().unwrap().version;
        let save = evalsha_usec(&mut raw, CALLS, async |n| {
            let mut next = record(store, owner.clone(), 60_000);
            next.data_mut().insert("n".into(), json!(n));
            match store.save_if(&id, &next, &version).await.unwrap() {
                SaveOutcome::Saved(saved) => version = saved,
                other => panic!("{other:?}"),
            }
        })
        .await;
        let refresh = evalsha_usec(&mut raw, CALLS, async |_| {
            assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
        })
        .await;
        figures.push((save, refresh));
    }
    let [(save0, refresh0), (save1, refresh1), (save2, refresh2)] = figures[..] else { unreachable!() };
    eprintln!(
        "Redis CPU per call ({CALLS} calls each), save_if / refresh: no index {save0:.2} / {refresh0:.2} µs, \
         index and a record without an owner {save1:.2} / {refresh1:.2} µs, with an owner {save2:.2} / {refresh2:.2} µs"
    );
}

/// A session written elsewhere (as a Node app writes it: no set), then refreshed here (a request that never used
/// it): `refresh`'s script reads the owner off the record and indexes it, an integer owner included, with the
/// set's TTL at least the key's new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_indexes_a_session_written_elsewhere() {
    let Some((store, prefix)) = owned_store("owners-refresh").await else { return };
    let mut raw = common::raw(&common::redis_url()).await;
    let id = SessionId::generate();
    let expires = store.now().add_millis(90_000).to_json();
    let text = format!(r#"{{"cookie":{{"originalMaxAge":90000,"expires":"{expires}"}},"user":7}}"#);
    let () = raw.set_ex(store.key(&id), &text, 90).await.unwrap();
    assert!(store.sessions_of("7", 10).await.unwrap().sessions.is_empty());
    assert!(!raw.exists::<_, bool>(format!("owner:{prefix}7")).await.unwrap());
    assert_eq!(store.refresh(&id).await.unwrap(), TouchOutcome::Touched);
    let page = store.sessions_of("7", 10).await.unwrap();
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].handle, SessionHandle::of(&id));
    let (set_pttl, key_pttl): (i64, i64) =
        (raw.pttl(format!("owner:{prefix}7")).await.unwrap(), raw.pttl(store.key(&id)).await.unwrap());
    assert!(set_pttl >= key_pttl - 5 && set_pttl > 80_000, "set {set_pttl} ms, key {key_pttl} ms");
    // A record without an owner: refreshed, no set.
    let other = create(&store, None, 60_000).await;
    assert_eq!(store.refresh(&other).await.unwrap(), TouchOutcome::Touched);
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg(format!("owner:{prefix}*"))
        .arg("COUNT")
        .arg(1000)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys, [format!("owner:{prefix}7")]);
    store.clear().await.unwrap();
}
