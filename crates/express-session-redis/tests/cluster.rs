//! The store on a Redis Cluster: a 3-primary cluster of the test's own, started once for this test binary from
//! Debian's `redis-server` on free ports (`redis-cli --cluster create`), and torn down when the binary exits. The
//! whole shared suite runs on it, each case under its own prefix, plus a check that `all`, `len` and `clear` see
//! the keys of every primary, and (on a second cluster) a primary killed and restarted under the store.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use express_session::store::{SaveOutcome, Store};
use express_session::{Record, SessionCookie, SessionId};
use express_session_redis::RedisStore;

static CLUSTER: OnceLock<Option<common::Cluster>> = OnceLock::new();

/// A store on the shared test cluster under a fresh prefix (the cluster starts with the first case that asks).
async fn cluster_store() -> Option<RedisStore> {
    let cluster = CLUSTER.get_or_init(|| common::redis_server_available().then(common::Cluster::start)).as_ref()?;
    let store = common::builder(&common::unique_prefix("cluster")).connect_cluster(cluster.urls()).await;
    Some(store.expect("connect to the test cluster"))
}

express_session::store_suite!(|| async { cluster_store().await });

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
        assert!(error.is_unavailable(), "{error}");
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
