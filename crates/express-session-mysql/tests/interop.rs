//! Interop with the real express-mysql-session 3 (express-session 1.19, mysql2, from tests/node's lockfile): Node
//! writes rows the Rust store reads and the other way round, on one table, including touch and destroy; and
//! `migrate` creates the same table as express-mysql-session's `createDatabaseTable`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use express_session::store::testing::record;
use express_session::store::{CreateOutcome, SaveOutcome, Store, TouchOutcome};
use express_session::{Record, SessionId};
use express_session_mysql::MySqlStore;
use serde_json::{Value, json};
use sqlx::MySqlPool;

/// The Node side, or `None` (skip, or panic under `REQUIRE_SERVICES=1`) without node or npm.
struct Node {
    script: PathBuf,
    node_path: PathBuf,
}

impl Node {
    async fn new() -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
        common::npm_ci(&dir).await?;
        Some(Self { script: dir.join("mysql_store.js"), node_path: dir.join("node_modules") })
    }

    /// Runs one express-mysql-session call; panics with Node's stderr when it fails.
    async fn call(&self, table: &str, mut command: Value) -> Value {
        command["table"] = json!(table);
        let out = tokio::process::Command::new("node")
            .arg(&self.script)
            .arg(command.to_string())
            .env("NODE_PATH", &self.node_path)
            .env("MYSQL_URL", common::url())
            .output()
            .await
            .expect("node runs");
        assert!(out.status.success(), "node {command}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON line")
    }
}

async fn setup() -> Option<(MySqlPool, Node, String, MySqlStore)> {
    let admin = common::admin().await?;
    let node = Node::new().await?;
    let table = common::fresh_table(&admin).await;
    let store = MySqlStore::builder()
        .table_name(&table)
        .prune_interval(None)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Some((admin, node, table, store))
}

/// `expires` of a row, in seconds since the epoch.
async fn expire_of(admin: &MySqlPool, store: &MySqlStore, id: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT CAST(expires AS SIGNED) FROM `{}` WHERE session_id = ?", store.table()))
        .bind(id)
        .fetch_one(admin)
        .await
        .unwrap()
}

/// express-mysql-session's `Math.round(expires / 1000)`.
fn round_seconds(record: &Record) -> i64 {
    (record.expires().unwrap().as_millis() + 500).div_euclid(1000)
}

fn unix_now() -> i64 {
    express_session::Timestamp::now().as_millis() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_share_one_table() {
    let Some((admin, node, table, store)) = setup().await else { return };
    let [a, b, c, d, e] = std::array::from_fn(|_| SessionId::generate());

    // Node writes, Rust reads the very same text (its version) and the same expiry rule.
    let written =
        node.call(&table, json!({"op": "set", "sid": a.as_str(), "max_age": 60_000, "data": {"user": "alice"}})).await;
    let json_a = written["json"].as_str().unwrap().to_owned();
    let read_a = store.get(&a).await.unwrap().expect("Rust reads Node's row");
    assert_eq!(read_a.record.to_json(), json_a);
    assert_eq!(read_a.version.as_bytes(), Some(json_a.as_bytes()));
    assert_eq!(expire_of(&admin, &store, a.as_str()).await, round_seconds(&read_a.record));

    // Rust writes, Node reads the same session object, with express-mysql-session's expires.
    let rec_b = record(&store, Some(60_000), json!({"user": "bob", "n": 1, "nested": {"z": [1, 2], "a": null}}));
    assert!(matches!(store.create(&b, &rec_b).await.unwrap(), CreateOutcome::Created(_)));
    let seen = node.call(&table, json!({"op": "get", "sid": b.as_str()})).await;
    assert_eq!(seen["session"], serde_json::from_str::<Value>(&rec_b.to_json()).unwrap());
    assert_eq!(expire_of(&admin, &store, b.as_str()).await, round_seconds(&rec_b));

    // A conditional save over Node's row, read back by Node.
    let mut next_a = read_a.record.clone();
    next_a.data_mut().insert("views".into(), json!(2));
    assert!(matches!(store.save_if(&a, &next_a, &read_a.version).await.unwrap(), SaveOutcome::Saved(_)));
    let seen = node.call(&table, json!({"op": "get", "sid": a.as_str()})).await;
    assert_eq!(seen["session"]["views"], 2);
    assert_eq!(seen["session"]["user"], "alice");

    // Node's touch moves only `expire`: the text, so the Rust version, is unchanged.
    let before_b = store.get(&b).await.unwrap().unwrap();
    node.call(&table, json!({"op": "touch", "sid": b.as_str(), "max_age": 120_000})).await;
    let after_b = store.get(&b).await.unwrap().unwrap();
    assert_eq!(after_b.version, before_b.version, "express-mysql-session's touch leaves data as it was");
    let moved = expire_of(&admin, &store, b.as_str()).await;
    assert!(moved >= unix_now() + 118, "Node's touch moved expires to now + 120 s: {moved}");
    let mut next_b = after_b.record.clone();
    next_b.data_mut().insert("n".into(), json!(2));
    assert!(matches!(store.save_if(&b, &next_b, &after_b.version).await.unwrap(), SaveOutcome::Saved(_)));

    // Rust's touch keeps a short-lived row alive for Node past its first expiry; its stored text stays stale.
    let rec_c = record(&store, Some(1_500), json!({"short": true}));
    store.create(&c, &rec_c).await.unwrap();
    assert_eq!(store.touch(&c, &record(&store, Some(60_000), json!({}))).await.unwrap(), TouchOutcome::Touched);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let seen = node.call(&table, json!({"op": "get", "sid": c.as_str()})).await;
    assert_eq!(seen["session"], serde_json::from_str::<Value>(&rec_c.to_json()).unwrap());
    assert!(store.get(&c).await.unwrap().is_some());

    // Node destroys: Rust sees it gone and never writes it back.
    let latest_a = store.get(&a).await.unwrap().unwrap();
    node.call(&table, json!({"op": "destroy", "sid": a.as_str()})).await;
    assert!(store.get(&a).await.unwrap().is_none());
    let late = record(&store, Some(60_000), json!({"user": "alice", "late": true}));
    assert_eq!(store.save_if(&a, &late, &latest_a.version).await.unwrap(), SaveOutcome::Gone);
    assert_eq!(store.touch(&a, &late).await.unwrap(), TouchOutcome::Gone);
    assert_eq!(node.call(&table, json!({"op": "get", "sid": a.as_str()})).await["session"], Value::Null);

    // Rust destroys: Node sees it gone.
    store.destroy(&b).await.unwrap();
    assert_eq!(node.call(&table, json!({"op": "get", "sid": b.as_str()})).await["session"], Value::Null);

    // A row Node wrote already expired is absent for both, and its id is free for Rust's create.
    node.call(&table, json!({"op": "set", "sid": d.as_str(), "max_age": -5_000, "data": {"old": true}})).await;
    assert!(store.get(&d).await.unwrap().is_none());
    assert_eq!(node.call(&table, json!({"op": "get", "sid": d.as_str()})).await["session"], Value::Null);
    assert!(matches!(
        store.create(&d, &record(&store, Some(60_000), json!({"new": true}))).await.unwrap(),
        CreateOutcome::Created(_)
    ));
    assert_eq!(node.call(&table, json!({"op": "get", "sid": d.as_str()})).await["session"]["new"], true);

    // Browser-session cookies: both sides give the row now + one day.
    let sess = json!({"cookie": {"originalMaxAge": null, "expires": null, "httpOnly": true, "path": "/"}, "v": 1});
    node.call(&table, json!({"op": "set", "sid": e.as_str(), "sess": sess})).await;
    let node_expire = expire_of(&admin, &store, e.as_str()).await;
    assert!((node_expire - (unix_now() + 86_400)).abs() <= 2, "{node_expire}");
    let read_e = store.get(&e).await.unwrap().unwrap();
    assert_eq!(read_e.record.cookie().expires(), None);
    let mut next_e = read_e.record.clone();
    next_e.data_mut().insert("v".into(), json!(2));
    assert!(matches!(store.save_if(&e, &next_e, &read_e.version).await.unwrap(), SaveOutcome::Saved(_)));
    let rust_expire = expire_of(&admin, &store, e.as_str()).await;
    assert!((rust_expire - node_expire).abs() <= 2, "node {node_expire}, rust {rust_expire}");
    assert_eq!(node.call(&table, json!({"op": "get", "sid": e.as_str()})).await["session"]["v"], 2);
}

/// `SHOW CREATE TABLE`, with the table name taken out.
async fn shape(admin: &MySqlPool, table: &str) -> String {
    let (_, ddl): (String, String) =
        sqlx::query_as(&format!("SHOW CREATE TABLE `{table}`")).fetch_one(admin).await.unwrap();
    ddl.replace(table, "<table>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_express_mysql_session_s_table() {
    let Some(admin) = common::admin().await else { return };
    let Some(node) = Node::new().await else { return };
    let theirs = common::fresh_table(&admin).await;
    node.call(&theirs, json!({"op": "create_table"})).await;
    let ours = common::fresh_table(&admin).await;
    let store = MySqlStore::builder().table_name(&ours).prune_interval(None).connect(&common::url()).await.unwrap();
    let (first, second) = tokio::join!(store.migrate(), store.migrate());
    first.unwrap();
    second.unwrap();
    let expected = shape(&admin, &theirs).await;
    assert!(expected.contains("`session_id` varchar(128)"), "{expected}");
    assert_eq!(shape(&admin, &ours).await, expected);
}
