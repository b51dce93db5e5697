//! The store on a Redis Cluster: a 3-primary cluster of the test's own, started once for this test binary from
//! Debian's `redis-server` on free ports (`redis-cli --cluster create`), and torn down when the binary exits. The
//! whole shared suite runs on it, each case under its own prefix, plus a check that `all`, `len` and `clear` see
//! the keys of every primary, (on a second cluster) a primary killed and restarted under the store, and writes
//! whose reply is lost (a proxy in front of every node drops the connection after the command went through), which
//! redis-rs's cluster connection sends again; and (each on a cluster of its own) a slot that migrates under the
//! store's writes, and a cluster down and back within a call's time limit.

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use express_session::store::{CreateOutcome, SaveOutcome, Store};
use express_session::{Record, Session, SessionCookie, SessionError, SessionId, SessionManagerLayer, SessionOptions};
use express_session_redis::RedisStore;
use http::StatusCode;
use redis::cluster::{ClusterClientBuilder, NodeAddress};

static CLUSTER: OnceLock<Option<common::Cluster>> = OnceLock::new();

/// A store on the shared test cluster under a fresh prefix (the cluster starts with the first case that asks).
async fn cluster_store() -> Option<RedisStore> {
    let cluster = CLUSTER.get_or_init(|| common::redis_server_available().then(common::Cluster::start)).as_ref()?;
    let store = common::builder(&common::unique_prefix("cluster")).connect_cluster(cluster.urls()).await;
    Some(store.expect("connect to the test cluster"))
}

// The owner index needs one server (an owner's set and the sessions are in different slots): refused here.
express_session::store_suite!(no_owner_index: || async { cluster_store().await });

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_index_is_refused_on_a_cluster() {
    let Some(store) = cluster_store().await else { return };
    let cluster = CLUSTER.get().and_then(Option::as_ref).expect("started");
    let refused = common::builder(store.prefix()).owner_key("user").connect_cluster(cluster.urls()).await;
    let error = refused.expect_err("an owner index on a cluster");
    assert!(common::error_chain(&error).contains("Redis Cluster"), "{}", common::error_chain(&error));
    // Over a cluster connection built elsewhere too.
    let client = ClusterClientBuilder::new(cluster.urls()).build().unwrap();
    let connection = client.get_async_connection().await.unwrap();
    assert!(common::builder(store.prefix()).owner_key("user").build(connection).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_len_and_clear_cover_every_primary() {
    let Some(store) = cluster_store().await else { return };
    let cluster = CLUSTER.get().and_then(Option::as_ref).expect("started");
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(60)), store.now());
    let ids: Vec<SessionId> = (0..30).map(|_| SessionId::generate()).collect();
    for id in &ids {
        store.create(id, &Record::new(cookie.clone())).await.unwrap();
    }
    // 30 random keys land on all three primaries (the chance that one gets none is below 1e-5).
    let mut per_node = Vec::new();
    for url in cluster.urls() {
        let mut node = common::raw(&url).await;
        let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(format!("{}*", store.prefix()))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut node)
            .await
            .unwrap();
        per_node.push(keys.len());
    }
    assert_eq!(per_node.iter().sum::<usize>(), 30, "{per_node:?}");
    assert!(per_node.iter().all(|&n| n > 0), "keys on every primary: {per_node:?}");
    assert_eq!(store.len().await.unwrap(), 30);
    let mut all: Vec<SessionId> = store.all().await.unwrap().into_iter().map(|(id, _)| id).collect();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected);
    store.clear().await.unwrap();
    assert_eq!(store.len().await.unwrap(), 0);
    for id in &ids {
        assert!(store.get(id).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_primary_is_reconnected_with_its_records() {
    if cluster_store().await.is_none() {
        return;
    }
    const LIMIT: Duration = Duration::from_millis(500);
    let mut cluster = common::Cluster::start();
    let store = common::builder(&common::unique_prefix("cluster-restart"))
        .timeout(LIMIT)
        .connect_cluster(cluster.urls())
        .await
        .unwrap();
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    let ids: Vec<SessionId> = (0..30).map(|_| SessionId::generate()).collect();
    for (i, id) in ids.iter().enumerate() {
        let mut record = Record::new(cookie.clone());
        record.data_mut().insert("i".into(), i.into());
        store.create(id, &record).await.unwrap();
    }
    // The sessions whose keys live on the first primary.
    let mut node = common::raw(&cluster.urls()[0]).await;
    let on_node: Vec<&SessionId> = {
        let mut found = Vec::new();
        for id in &ids {
            let exists: bool = redis::cmd("EXISTS").arg(store.key(id)).query_async(&mut node).await.unwrap_or(false);
            if exists {
                found.push(id);
            }
        }
        found
    };
    assert!(!on_node.is_empty());

    cluster.stop_node(0);
    for id in &on_node {
        let start = Instant::now();
        let error = store.get(id).await.expect_err("its node is down");
        assert!(error.is_unavailable(), "{error:?}");
        assert!(start.elapsed() <= LIMIT + Duration::from_millis(400), "took {:?}", start.elapsed());
    }

    cluster.restart_node(0);
    cluster.wait_until_ok();
    let start = Instant::now();
    while store.get(on_node[0]).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "the cluster connection did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, id) in ids.iter().enumerate() {
        let read = store.get(id).await.unwrap().expect("no session lost");
        assert_eq!(read.record.data()["i"], i, "no session corrupted");
        let mut next = read.record.clone();
        next.data_mut().insert("after".into(), true.into());
        assert!(matches!(store.save_if(id, &next, &read.version).await.unwrap(), SaveOutcome::Saved(_)));
    }
    assert_eq!(store.len().await.unwrap(), ids.len());
}

/// A cluster that goes down and comes back within a call's time limit serves the call: a primary killed (no
/// replica, so every node answers `CLUSTERDOWN` once it is marked as failed), a `get` of a session on another
/// primary sent meanwhile, the primary started again. The cluster connection waits only milliseconds between its
/// own retries (so that a migrating slot's `TRYAGAIN` comes back at once); the store sends the call again until
/// its time limit, as redis-rs's longer default waits did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_rides_out_a_cluster_down_within_its_time_limit() {
    if !common::redis_server_available() {
        return;
    }
    let mut cluster = common::Cluster::start();
    let store = common::builder(&common::unique_prefix("cluster-down"))
        .timeout(Duration::from_secs(15))
        .connect_cluster(cluster.urls())
        .await
        .unwrap();
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    let mut killed = common::raw(&cluster.urls()[0]).await;
    let id = loop {
        let id = SessionId::generate();
        store.create(&id, &Record::new(cookie.clone())).await.unwrap();
        // (`MOVED` for a key of another primary.)
        let on_killed: bool = redis::cmd("EXISTS").arg(store.key(&id)).query_async(&mut killed).await.unwrap_or(false);
        if !on_killed {
            break id;
        }
    };
    cluster.stop_node(0);
    let mut other = common::raw(&cluster.urls()[1]).await;
    let start = Instant::now();
    loop {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(&mut other).await.unwrap();
        if info.contains("cluster_state:fail") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the cluster did not notice the killed primary");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = tokio::spawn({
        let (store, id) = (store.clone(), id.clone());
        async move {
            let start = Instant::now();
            (store.get(&id).await, start.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!call.is_finished(), "the call waits while the cluster is down: {:?}", call.await);
    tokio::task::block_in_place(|| cluster.restart_node(0));
    let (read, took) = call.await.unwrap();
    assert!(matches!(read, Ok(Some(_))), "{read:?} after {took:?}");
    eprintln!("a get sent while the cluster was down was served after {took:?}");
}

/// A store on the shared test cluster whose connections all go through proxies (one per node) that share `trap`:
/// the cluster connection learns the nodes' own addresses (`CLUSTER SLOTS`) and maps each to its proxy.
async fn store_behind_proxies(prefix: &str) -> Option<(RedisStore, Arc<proxy::Trap>, Vec<proxy::Proxy>)> {
    cluster_store().await?;
    let cluster = CLUSTER.get().and_then(Option::as_ref).expect("started");
    let trap = Arc::new(proxy::Trap::default());
    let mut proxies = Vec::new();
    let mut map = HashMap::new();
    for &port in &cluster.ports {
        let proxy = proxy::Proxy::start(port, trap.clone()).await;
        map.insert(NodeAddress::new("127.0.0.1", port), NodeAddress::new("127.0.0.1", proxy.port));
        proxies.push(proxy);
    }
    let urls: Vec<String> = proxies.iter().map(|p| format!("redis://127.0.0.1:{}", p.port)).collect();
    let client = ClusterClientBuilder::new(urls)
        .node_address_map(map)
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let connection = client.get_async_connection().await.unwrap();
    // Every node knows the store's scripts beforehand, so that a lost reply is never a `NOSCRIPT`.
    for url in cluster.urls() {
        let mut node = common::raw(&url).await;
        for script in SCRIPTS {
            redis::Script::new(script).load_async(&mut node).await.unwrap();
        }
    }
    Some((common::builder(prefix).build(connection).unwrap(), trap, proxies))
}

const SCRIPTS: [&str; 5] = [
    include_str!("../src/lua/save_if.lua"),
    include_str!("../src/lua/save_if_cluster.lua"),
    include_str!("../src/lua/create_cluster.lua"),
    include_str!("../src/lua/get_with_ttl.lua"),
    include_str!("../src/lua/refresh.lua"),
];

/// The bytes that identify a `save_if` on `key` in the proxies' traffic: a script call on the key (the requests
/// here read live records, which is a plain `GET`, so the only script they run on the key is the `save_if`).
fn save_if_on(key: &str) -> Vec<Vec<u8>> {
    vec![b"EVALSHA".to_vec(), key.as_bytes().to_vec()]
}

async fn incr(session: Session) -> Result<String, SessionError> {
    Ok(session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?.to_string())
}

/// The one session under the store's prefix.
async fn only_session(store: &RedisStore) -> (SessionId, Record) {
    let mut all = store.all().await.unwrap();
    assert_eq!(all.len(), 1, "one session");
    all.pop().unwrap()
}

/// redis-rs's cluster connection sends a command again after its connection broke with the reply outstanding.
/// A `save_if` whose first send was applied must not then report a conflict (the layer would apply the
/// request's change a second time): an `update` counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_reply_is_lost_counts_once() {
    let Some((store, trap, _proxies)) = store_behind_proxies(&common::unique_prefix("cluster-resend")).await else {
        return;
    };
    let layer = SessionManagerLayer::new(
        SessionOptions::new().secret("a secret of at least thirty-two bytes, for the test").store(store.clone()),
    )
    .unwrap();
    let app = Router::new().route("/incr", get(incr)).layer(layer);

    let (status, cookie, body) = common::call(&app, "/incr", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let cookie = cookie.expect("a session cookie");
    let (id, _) = only_session(&store).await;

    for expected in 2..=4u64 {
        trap.arm(save_if_on(&store.key(&id)));
        let (status, _, body) = common::call(&app, "/incr", Some(&cookie)).await;
        assert_eq!(trap.fired(), usize::try_from(expected - 1).unwrap(), "the save_if's reply was lost");
        assert_eq!(status, StatusCode::OK, "{body}");
        let stored = store.get(&id).await.unwrap().expect("the session").record;
        assert_eq!(stored.data()["n"], expected, "counted once");
        assert_eq!(body, expected.to_string());
    }
}

/// The same at the store: the resent `save_if` reports `Saved` (its first send wrote the record), and a resent
/// `create` reports `Created`, not `Exists`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_whose_reply_is_lost_report_what_their_first_send_did() {
    let Some((store, trap, _proxies)) = store_behind_proxies(&common::unique_prefix("cluster-resend-store")).await
    else {
        return;
    };
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    let id = SessionId::generate();
    let mut record = Record::new(cookie);
    record.data_mut().insert("n".into(), 1.into());

    // (The first command on this key is the create.)
    trap.arm(vec![store.key(&id).into_bytes()]);
    assert!(matches!(store.create(&id, &record).await.unwrap(), CreateOutcome::Created(_)));
    assert_eq!(trap.fired(), 1);

    let read = store.get(&id).await.unwrap().expect("created");
    let mut next = read.record.clone();
    next.data_mut().insert("n".into(), 2.into());
    trap.arm(save_if_on(&store.key(&id)));
    let outcome = store.save_if(&id, &next, &read.version).await.unwrap();
    assert_eq!(trap.fired(), 2);
    let SaveOutcome::Saved(version) = outcome else { panic!("the resent save_if reported {outcome:?}") };
    let current = store.get(&id).await.unwrap().expect("saved");
    assert_eq!(current.record.data()["n"], 2);
    assert_eq!(current.version, version);

    // A stale version is still a conflict, with or without a lost reply.
    trap.arm(save_if_on(&store.key(&id)));
    assert_eq!(store.save_if(&id, &next, &read.version).await.unwrap(), SaveOutcome::Conflict);
    assert_eq!(trap.fired(), 3);
}

/// `GET key` through the store's own connection.
async fn stored_text(store: &RedisStore, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(&mut store.connection()).await.unwrap()
}

/// A resend writes nothing once its first send wrote, even when the record is back to the text its call read:
/// between the first send (applied, reply lost) and the resend, another request wrote the session back to that
/// text (a flash message set then consumed, a flag toggled back). That write stands, and the resent `save_if`
/// still reports `Saved`. A `create` whose record was destroyed before its resend stays destroyed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_writes_nothing_once_its_first_send_wrote() {
    let Some((store, trap, _proxies)) = store_behind_proxies(&common::unique_prefix("cluster-resend-aba")).await else {
        return;
    };
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    let mut record = Record::new(cookie);
    record.data_mut().insert("n".into(), 1.into());

    let id = SessionId::generate();
    let key = store.key(&id);
    assert!(matches!(store.create(&id, &record).await.unwrap(), CreateOutcome::Created(_)));
    let read = store.get(&id).await.unwrap().expect("created");
    let text = stored_text(&store, &key).await.expect("created");
    let mut next = read.record.clone();
    next.data_mut().insert("n".into(), 2.into());
    let restore =
        vec![b"SET".to_vec(), key.clone().into_bytes(), text.clone().into_bytes(), b"EX".to_vec(), b"600".to_vec()];
    trap.arm_with(save_if_on(&key), restore);
    let outcome = store.save_if(&id, &next, &read.version).await.unwrap();
    assert_eq!(trap.fired(), 1, "the save_if's reply was lost");
    assert!(matches!(outcome, SaveOutcome::Saved(_)), "{outcome:?}");
    let current = stored_text(&store, &key).await;
    assert_eq!(current, Some(text), "the other request's write stands");

    let id = SessionId::generate();
    let key = store.key(&id);
    trap.arm_with(vec![key.clone().into_bytes()], vec![b"DEL".to_vec(), key.clone().into_bytes()]);
    assert!(matches!(store.create(&id, &record).await.unwrap(), CreateOutcome::Created(_)));
    assert_eq!(trap.fired(), 2, "the create's reply was lost");
    assert_eq!(stored_text(&store, &key).await, None, "the destroyed session stays destroyed");
}

/// While a slot migrates (`CLUSTER SETSLOT … MIGRATING` on its owner, `IMPORTING` on the node it goes to, its
/// keys moved one by one, for as long as the resharding takes or forever when a resharding was cut short), Redis
/// answers `TRYAGAIN` to a command on several keys of the slot unless one node holds all of them or none. A
/// write's token key is new, so it is never there: a guarded `save_if` or `create` of the slot cannot run, where
/// the single-key writes of connect-redis are served (on the owner, or after an `ASK` on the importing node). So
/// the store sends such a write without its token: it goes through, within a fraction of the time limit (the
/// first in about 0.1 s, the next ones of that slot at once), the layer answers 200 (no failure, so no open
/// circuit breaker), and once the slot is stable again the writes carry their token again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_through_while_their_slot_migrates() {
    if !common::redis_server_available() {
        return;
    }
    let cluster = common::Cluster::start();
    let unique = SessionId::generate();
    let prefix = format!("{{migrating-{}}}:", &unique.as_str()[..12]);
    let store = common::builder(&prefix).timeout(Duration::from_secs(2)).connect_cluster(cluster.urls()).await.unwrap();
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    let mut record = Record::new(cookie);
    let id = SessionId::generate();
    assert!(matches!(store.create(&id, &record).await.unwrap(), CreateOutcome::Created(_)));

    // Every key of this store is in one slot (the prefix is a hash tag): open its migration to another node.
    let mut nodes = Vec::new();
    for url in cluster.urls() {
        nodes.push(common::raw(&url).await);
    }
    let slot = keyslot(&mut nodes[0], &store.key(&id)).await;
    let mut owner = None;
    for (i, node) in nodes.iter_mut().enumerate() {
        let count: i64 = redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot).query_async(node).await.unwrap();
        if count > 0 {
            owner = Some(i);
        }
    }
    let owner = owner.expect("the slot's owner holds the record");
    let target = (owner + 1) % nodes.len();
    let mut ids = Vec::new();
    for node in &mut nodes {
        let id: String = redis::cmd("CLUSTER").arg("MYID").query_async(node).await.unwrap();
        ids.push(id);
    }
    let setslot = |state: &str, node: &str| {
        let mut command = redis::cmd("CLUSTER");
        command.arg("SETSLOT").arg(slot).arg(state).arg(node);
        command
    };
    let tokens = format!("~{prefix}w:*");
    let before = scan_cluster(&cluster.urls(), &tokens).await;
    assert_eq!(before.len(), 1, "the create's token");
    let _: () = setslot("IMPORTING", &ids[owner]).query_async(&mut nodes[target]).await.unwrap();
    let _: () = setslot("MIGRATING", &ids[target]).query_async(&mut nodes[owner]).await.unwrap();

    let read = store.get(&id).await.unwrap().expect("still on its owner");
    // A single-key write of the slot is served (on the owner; after an `ASK` on the importing node for a new key).
    let mut connection = store.connection();
    let text = stored_text(&store, &store.key(&id)).await.expect("still on its owner");
    let _: () = redis::cmd("SET").arg(store.key(&id)).arg(&text).query_async(&mut connection).await.unwrap();
    let fresh = store.key(&SessionId::generate());
    let _: () = redis::cmd("SET").arg(&fresh).arg(&text).query_async(&mut connection).await.unwrap();
    // The first guarded write hears its `TRYAGAIN` within tens of milliseconds, and goes through without its
    // token; the next ones of the slot go unguarded at once.
    record.data_mut().insert("n".into(), 1.into());
    let start = Instant::now();
    let saved = store.save_if(&id, &record, &read.version).await;
    let first = start.elapsed();
    let Ok(SaveOutcome::Saved(version)) = saved else { panic!("save_if while the slot migrates: {saved:?}") };
    assert!(first < Duration::from_millis(1_000), "took {first:?}");
    let read = store.get(&id).await.unwrap().expect("saved");
    assert_eq!((read.record.data()["n"].clone(), &read.version), (1.into(), &version));
    let start = Instant::now();
    let created_id = SessionId::generate();
    let created = store.create(&created_id, &record).await;
    let next = start.elapsed();
    assert!(matches!(created, Ok(CreateOutcome::Created(_))), "create while the slot migrates: {created:?}");
    assert!(store.get(&created_id).await.unwrap().is_some(), "created (on the importing node)");
    assert_eq!(store.create(&created_id, &record).await.unwrap(), CreateOutcome::Exists);
    let mut changed = record.clone();
    changed.data_mut().insert("n".into(), 11.into());
    assert!(matches!(store.save_if(&id, &changed, &read.version).await, Ok(SaveOutcome::Saved(_))));
    assert_eq!(store.save_if(&id, &record, &read.version).await.unwrap(), SaveOutcome::Conflict, "a stale version");
    eprintln!("while the slot migrates: the first save_if took {first:?}, the next create {next:?}");
    assert_eq!(scan_cluster(&cluster.urls(), &tokens).await, before, "no token written meanwhile");

    // Through the layer: every request is served (a write that goes through is no failure, so the circuit breaker
    // stays closed), its updates counted once each, also once the slot's mark has lapsed (the guard is tried again).
    let layer = SessionManagerLayer::new(
        SessionOptions::new().secret("a secret of at least thirty-two bytes, for the test").store(store.clone()),
    )
    .unwrap();
    let app = Router::new().route("/incr", get(incr)).layer(layer);
    let (status, cookie, body) = common::call(&app, "/incr", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
    let cookie = cookie.expect("a session cookie");
    for expected in 2..=6 {
        if expected == 5 {
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        let start = Instant::now();
        let (status, _, body) = common::call(&app, "/incr", Some(&cookie)).await;
        assert_eq!((status, body), (StatusCode::OK, expected.to_string()), "after {:?}", start.elapsed());
        assert!(start.elapsed() < Duration::from_millis(1_000), "took {:?}", start.elapsed());
    }

    // `all` and `len` read the slot's keys on both nodes (one `GET` per key where an `MGET` gets `TRYAGAIN`):
    // the session, the raw copy, the created one and the layer's.
    assert_eq!(store.len().await.unwrap(), 4);
    assert_eq!(store.all().await.unwrap().len(), 4);

    // The migration called off: after the slot's mark lapses, writes carry their token again.
    let mut stable = redis::cmd("CLUSTER");
    stable.arg("SETSLOT").arg(slot).arg("STABLE");
    for i in [owner, target] {
        let _: () = stable.query_async(&mut nodes[i]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let read = store.get(&id).await.unwrap().expect("on its owner");
    record.data_mut().insert("n".into(), 2.into());
    assert!(matches!(store.save_if(&id, &record, &read.version).await, Ok(SaveOutcome::Saved(_))));
    let after = scan_cluster(&cluster.urls(), &tokens).await;
    assert_eq!(after.iter().filter(|token| !before.contains(token)).count(), 1, "the save_if's token: {after:?}");
}

/// A whole migration of a slot, as `redis-cli --cluster reshard` does it (`IMPORTING`/`MIGRATING`, `MIGRATE` of
/// its keys 10 at a time, `SETSLOT … NODE` on every node), under a steady stream of updates to sessions of that
/// slot: every request is served, and each update counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_go_through_a_whole_migration_of_their_slot() {
    if !common::redis_server_available() {
        return;
    }
    let cluster = common::Cluster::start();
    let unique = SessionId::generate();
    let prefix = format!("{{resharded-{}}}:", &unique.as_str()[..12]);
    let store = common::builder(&prefix).timeout(Duration::from_secs(2)).connect_cluster(cluster.urls()).await.unwrap();
    let layer = SessionManagerLayer::new(
        SessionOptions::new().secret("a secret of at least thirty-two bytes, for the test").store(store.clone()),
    )
    .unwrap();
    let app = Router::new().route("/incr", get(incr)).layer(layer);
    let mut cookies = Vec::new();
    for _ in 0..4 {
        let (status, cookie, _) = common::call(&app, "/incr", None).await;
        assert_eq!(status, StatusCode::OK);
        cookies.push(cookie.expect("a session cookie"));
    }

    let mut nodes = Vec::new();
    let mut ids = Vec::new();
    for url in cluster.urls() {
        let mut node = common::raw(&url).await;
        let id: String = redis::cmd("CLUSTER").arg("MYID").query_async(&mut node).await.unwrap();
        ids.push(id);
        nodes.push(node);
    }
    let slot = keyslot(&mut nodes[0], &format!("{prefix}x")).await;
    let mut owner = 0;
    for (i, node) in nodes.iter_mut().enumerate() {
        let count: i64 = redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot).query_async(node).await.unwrap();
        if count > 0 {
            owner = i;
        }
    }
    let target = (owner + 1) % nodes.len();

    // The stream: one update after the other, over the sessions in turn, until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = tokio::spawn({
        let (app, cookies, stop) = (app.clone(), cookies.clone(), stop.clone());
        async move {
            let mut served = vec![1u64; cookies.len()];
            let mut failures = Vec::new();
            let mut slowest = Duration::ZERO;
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let start = Instant::now();
                let (status, _, body) = common::call(&app, "/incr", Some(&cookies[i % cookies.len()])).await;
                slowest = slowest.max(start.elapsed());
                if status == StatusCode::OK {
                    served[i % cookies.len()] += 1;
                } else {
                    failures.push((status, body));
                }
                i += 1;
            }
            (served, failures, slowest, i)
        }
    });

    let setslot = |state: &str, node: &str| {
        let mut command = redis::cmd("CLUSTER");
        command.arg("SETSLOT").arg(slot).arg(state).arg(node);
        command
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _: () = setslot("IMPORTING", &ids[owner]).query_async(&mut nodes[target]).await.unwrap();
    let _: () = setslot("MIGRATING", &ids[target]).query_async(&mut nodes[owner]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    loop {
        let keys: Vec<String> =
            redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(10).query_async(&mut nodes[owner]).await.unwrap();
        if keys.is_empty() {
            break;
        }
        let mut migrate = redis::cmd("MIGRATE");
        migrate.arg("127.0.0.1").arg(cluster.ports[target]).arg("").arg(0).arg(5_000).arg("KEYS").arg(&keys);
        let _: () = migrate.query_async(&mut nodes[owner]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in [target, owner, 3 - target - owner] {
        let _: () = setslot("NODE", &ids[target]).query_async(&mut nodes[i]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (served, failures, slowest, sent) = stream.await.unwrap();
    eprintln!("{sent} updates through the migration, the slowest in {slowest:?}");
    assert_eq!(failures, Vec::new(), "every update served");
    assert!(sent >= 8, "{sent}");
    for (cookie, served) in cookies.iter().zip(served) {
        let (status, _, body) = common::call(&app, "/incr", Some(cookie)).await;
        assert_eq!((status, body), (StatusCode::OK, (served + 1).to_string()), "each update counted once");
    }
    let count: i64 =
        redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot).query_async(&mut nodes[target]).await.unwrap();
    assert!(count >= 4, "the slot's keys moved: {count}");
}

/// `CLUSTER KEYSLOT` of `key` on `node`.
async fn keyslot(node: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query_async(node).await.unwrap()
}

/// Every key of the cluster that matches `pattern`.
async fn scan_cluster(urls: &[String], pattern: &str) -> Vec<String> {
    let mut found = Vec::new();
    for url in urls {
        let mut node = common::raw(url).await;
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut node)
                .await
                .unwrap();
            found.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    found
}

/// The rule the token keys rest on, asked of the real cluster: Redis hashes only a key's first non-empty `{…}`
/// (else the whole key), so `K` and `{K}:w:…` share a slot when `K` holds no `}`, and a key with a hash tag shares
/// its slot with any key of the same tag. Then the token keys themselves: they share their session's slot (a
/// script touching two slots would fail with `CROSSSLOT`), expire within twice the time limit plus a second, and
/// stay out of `SCAN MATCH prefix*` (connect-redis's `all`, `length`, `clear`) and the store's `all`, `len`,
/// `clear`, whatever braces the prefix or the ids hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_keys_share_the_session_slot_expire_and_stay_out_of_scans() {
    if cluster_store().await.is_none() {
        return;
    }
    let cluster = CLUSTER.get().and_then(Option::as_ref).expect("started");
    let mut node = common::raw(&cluster.urls()[0]).await;
    for key in ["sess:abc", "sess:Xk3_-9QzP0aBcDeFgHiJkLmNoPqRsTuV", "sess:{abc", "a{b"] {
        assert_eq!(keyslot(&mut node, &format!("{{{key}}}:w:t.1")).await, keyslot(&mut node, key).await, "{key}");
    }
    for (key, tagged) in [("{app}:sess:abc", "{app}:w:t.1"), ("sess:{u1}x", "{u1}:w:t.1")] {
        assert_eq!(keyslot(&mut node, tagged).await, keyslot(&mut node, key).await, "{key}");
    }
    // And redis-rs's slot function, which the token keys are checked against in the unit tests, is the cluster's.
    for key in ["sess:abc", "{app}:x", "a}b", "{}x{y}", "}{", "~{sess:abc}:w:t.1", ""] {
        let ours = redis::cluster_routing::Slot::for_key(key);
        let slot = u16::try_from(keyslot(&mut node, key).await).unwrap();
        assert_eq!(ours, redis::cluster_routing::Slot::new(slot).unwrap(), "{key}");
    }

    let unique = SessionId::generate();
    let unique = &unique.as_str()[..12];
    for prefix in [
        format!("test:guard:{unique}:"),
        format!("{{test-guard-{unique}}}:"),
        format!("{{}}test:guard:{unique}:"),
        format!("test}}guard:{unique}:"),
    ] {
        let store =
            common::builder(&prefix).timeout(Duration::from_secs(2)).connect_cluster(cluster.urls()).await.unwrap();
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
        let ids: Vec<SessionId> = ["a}b", "{c}", "plain"]
            .iter()
            .map(|tail| SessionId::new(format!("{}{tail}", SessionId::generate().as_str())).unwrap())
            .chain((0..10).map(|_| SessionId::generate()))
            .collect();
        for id in &ids {
            let mut record = Record::new(cookie.clone());
            assert!(matches!(store.create(id, &record).await, Ok(CreateOutcome::Created(_))), "{prefix}{id:?}");
            let read = store.get(id).await.unwrap().expect("created");
            record.data_mut().insert("n".into(), 1.into());
            let saved = store.save_if(id, &record, &read.version).await;
            assert!(matches!(saved, Ok(SaveOutcome::Saved(_))), "{prefix}{id:?}: {saved:?}");
        }
        // connect-redis's view (its pattern is the prefix as given, and these have no glob characters).
        let mut seen = scan_cluster(&cluster.urls(), &format!("{prefix}*")).await;
        seen.sort();
        let mut expected: Vec<String> = ids.iter().map(|id| store.key(id)).collect();
        expected.sort();
        assert_eq!(seen, expected, "{prefix}");
        assert_eq!(store.len().await.unwrap(), ids.len(), "{prefix}");
        assert_eq!(store.all().await.unwrap().len(), ids.len(), "{prefix}");
        store.clear().await.unwrap();
        assert_eq!(store.len().await.unwrap(), 0, "{prefix}");
    }

    // The common form, `{prefix + id}:w:…`, named after its session: in its slot, expiring within 2 × 2 s + 1 s.
    let prefix = format!("test:guard-ttl:{unique}:");
    let store = common::builder(&prefix).timeout(Duration::from_secs(2)).connect_cluster(cluster.urls()).await.unwrap();
    let id = SessionId::generate();
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    assert!(matches!(store.create(&id, &Record::new(cookie)).await, Ok(CreateOutcome::Created(_))));
    let tokens = scan_cluster(&cluster.urls(), &format!("{{{}}}:w:*", store.key(&id))).await;
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(keyslot(&mut node, &tokens[0]).await, keyslot(&mut node, &store.key(&id)).await);
    let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
    let mut connection = client.get_async_connection().await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg(&tokens[0]).query_async(&mut connection).await.unwrap();
    assert!((1..=5_000).contains(&pttl), "{pttl}");
    store.clear().await.unwrap();
}
