//! Interop with the real connect-pg-simple 10 (express-session 1.19, pg 8, from the conformance twin's lockfile):
//! Node writes rows the Rust store reads and the other way round, on one table, including touch and destroy; and
//! `migrate` creates the same table as connect-pg-simple's `createTableIfMissing`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use express_session::store::testing::record;
use express_session::store::{CreateOutcome, SaveOutcome, Store, TouchOutcome};
use express_session::{Record, SessionId};
use express_session_postgres::PostgresStore;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The Node side, or `None` (skip, or panic under `REQUIRE_SERVICES=1`) without node or npm.
struct Node {
    script: PathBuf,
    node_path: PathBuf,
}

impl Node {
    async fn new() -> Option<Self> {
        let twin = common::repo_root().join("conformance/twin");
        common::npm_ci(&twin).await?;
        Some(Self {
            script: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/pg_store.js"),
            node_path: twin.join("node_modules"),
        })
    }

    /// Runs one connect-pg-simple call; panics with Node's stderr when it fails.
    async fn call(&self, schema: &str, mut command: Value) -> Value {
        command["schema"] = json!(schema);
        let out = tokio::process::Command::new("node")
            .arg(&self.script)
            .arg(command.to_string())
            .env("NODE_PATH", &self.node_path)
            .env("DATABASE_URL", common::url())
            .output()
            .await
            .expect("node runs");
        assert!(out.status.success(), "node {command}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON line")
    }
}

async fn setup() -> Option<(PgPool, Node, String, PostgresStore)> {
    let admin = common::admin().await?;
    let node = Node::new().await?;
    let schema = common::fresh_schema(&admin).await;
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .prune_interval(None)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Some((admin, node, schema, store))
}

/// `expire` of a row, as seconds since the epoch (the column holds UTC wall-clock time).
async fn expire_of(admin: &PgPool, store: &PostgresStore, id: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT extract(epoch FROM expire AT TIME ZONE 'UTC')::bigint FROM {} WHERE sid = $1",
        store.table()
    ))
    .bind(id)
    .fetch_one(admin)
    .await
    .unwrap()
}

fn ceil_seconds(record: &Record) -> i64 {
    let ms = record.expires().unwrap().as_millis();
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)
}

fn unix_now() -> i64 {
    express_session::Timestamp::now().as_millis() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_share_one_table() {
    let Some((admin, node, schema, store)) = setup().await else { return };
    let [a, b, c, d, e] = std::array::from_fn(|_| SessionId::generate());

    // Node writes, Rust reads the very same text (its version) and the same expiry rule.
    let written =
        node.call(&schema, json!({"op": "set", "sid": a.as_str(), "max_age": 60_000, "data": {"user": "alice"}})).await;
    let json_a = written["json"].as_str().unwrap().to_owned();
    let read_a = store.get(&a).await.unwrap().expect("Rust reads Node's row");
    assert_eq!(read_a.record.to_json(), json_a);
    assert_eq!(read_a.version.as_bytes(), Some(json_a.as_bytes()));
    assert_eq!(expire_of(&admin, &store, a.as_str()).await, ceil_seconds(&read_a.record));

    // Rust writes, Node reads the same session object, with connect-pg-simple's expire.
    let rec_b = record(&store, Some(60_000), json!({"user": "bob", "n": 1, "nested": {"z": [1, 2], "a": null}}));
    assert!(matches!(store.create(&b, &rec_b).await.unwrap(), CreateOutcome::Created(_)));
    let seen = node.call(&schema, json!({"op": "get", "sid": b.as_str()})).await;
    assert_eq!(seen["session"], serde_json::from_str::<Value>(&rec_b.to_json()).unwrap());
    assert_eq!(expire_of(&admin, &store, b.as_str()).await, ceil_seconds(&rec_b));

    // A conditional save over Node's row, read back by Node.
    let mut next_a = read_a.record.clone();
    next_a.data_mut().insert("views".into(), json!(2));
    assert!(matches!(store.save_if(&a, &next_a, &read_a.version).await.unwrap(), SaveOutcome::Saved(_)));
    let seen = node.call(&schema, json!({"op": "get", "sid": a.as_str()})).await;
    assert_eq!(seen["session"]["views"], 2);
    assert_eq!(seen["session"]["user"], "alice");

    // Node's touch moves only `expire`: the text, so the Rust version, is unchanged.
    let before_b = store.get(&b).await.unwrap().unwrap();
    node.call(&schema, json!({"op": "touch", "sid": b.as_str(), "max_age": 120_000})).await;
    let after_b = store.get(&b).await.unwrap().unwrap();
    assert_eq!(after_b.version, before_b.version, "connect-pg-simple's touch leaves sess as it was");
    let moved = expire_of(&admin, &store, b.as_str()).await;
    assert!(moved >= unix_now() + 118, "Node's touch moved expire to now + 120 s: {moved}");
    let mut next_b = after_b.record.clone();
    next_b.data_mut().insert("n".into(), json!(2));
    assert!(matches!(store.save_if(&b, &next_b, &after_b.version).await.unwrap(), SaveOutcome::Saved(_)));

    // Rust's touch keeps a short-lived row alive for Node past its first expiry; its stored text stays stale.
    let rec_c = record(&store, Some(1_500), json!({"short": true}));
    store.create(&c, &rec_c).await.unwrap();
    assert_eq!(store.touch(&c, &record(&store, Some(60_000), json!({}))).await.unwrap(), TouchOutcome::Touched);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let seen = node.call(&schema, json!({"op": "get", "sid": c.as_str()})).await;
    assert_eq!(seen["session"], serde_json::from_str::<Value>(&rec_c.to_json()).unwrap());
    assert!(store.get(&c).await.unwrap().is_some());

    // Node destroys: Rust sees it gone and never writes it back.
    let latest_a = store.get(&a).await.unwrap().unwrap();
    node.call(&schema, json!({"op": "destroy", "sid": a.as_str()})).await;
    assert!(store.get(&a).await.unwrap().is_none());
    let late = record(&store, Some(60_000), json!({"user": "alice", "late": true}));
    assert_eq!(store.save_if(&a, &late, &latest_a.version).await.unwrap(), SaveOutcome::Gone);
    assert_eq!(store.touch(&a, &late).await.unwrap(), TouchOutcome::Gone);
    assert_eq!(node.call(&schema, json!({"op": "get", "sid": a.as_str()})).await["session"], Value::Null);

    // Rust destroys: Node sees it gone.
    store.destroy(&b).await.unwrap();
    assert_eq!(node.call(&schema, json!({"op": "get", "sid": b.as_str()})).await["session"], Value::Null);

    // A row Node wrote already expired is absent for both, and its id is free for Rust's create.
    node.call(&schema, json!({"op": "set", "sid": d.as_str(), "max_age": -5_000, "data": {"old": true}})).await;
    assert!(store.get(&d).await.unwrap().is_none());
    assert_eq!(node.call(&schema, json!({"op": "get", "sid": d.as_str()})).await["session"], Value::Null);
    assert!(matches!(
        store.create(&d, &record(&store, Some(60_000), json!({"new": true}))).await.unwrap(),
        CreateOutcome::Created(_)
    ));
    assert_eq!(node.call(&schema, json!({"op": "get", "sid": d.as_str()})).await["session"]["new"], true);

    // Browser-session cookies: both sides give the row now + one day.
    let sess = json!({"cookie": {"originalMaxAge": null, "expires": null, "httpOnly": true, "path": "/"}, "v": 1});
    node.call(&schema, json!({"op": "set", "sid": e.as_str(), "sess": sess})).await;
    let node_expire = expire_of(&admin, &store, e.as_str()).await;
    assert!((node_expire - (unix_now() + 86_400)).abs() <= 2, "{node_expire}");
    let read_e = store.get(&e).await.unwrap().unwrap();
    assert_eq!(read_e.record.cookie().expires(), None);
    let mut next_e = read_e.record.clone();
    next_e.data_mut().insert("v".into(), json!(2));
    assert!(matches!(store.save_if(&e, &next_e, &read_e.version).await.unwrap(), SaveOutcome::Saved(_)));
    let rust_expire = expire_of(&admin, &store, e.as_str()).await;
    assert!((rust_expire - node_expire).abs() <= 2, "node {node_expire}, rust {rust_expire}");
    assert_eq!(node.call(&schema, json!({"op": "get", "sid": e.as_str()})).await["session"]["v"], 2);
}

/// The columns, constraints and indexes of `"session"` in `schema`, with the schema name taken out.
async fn shape(admin: &PgPool, schema: &str) -> Vec<String> {
    let mut out: Vec<String> = sqlx::query_as::<_, (String, String, String, Option<String>, Option<i32>, i32)>(
        "SELECT column_name::text, data_type::text, is_nullable::text, collation_name::text, \
         datetime_precision::int, ordinal_position::int FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'session' ORDER BY ordinal_position",
    )
    .bind(schema)
    .fetch_all(admin)
    .await
    .unwrap()
    .into_iter()
    .map(|c| format!("{c:?}"))
    .collect();
    let constraints: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT conname::text, contype::text, condeferrable, condeferred FROM pg_constraint \
         WHERE conrelid = ($1 || '.session')::regclass ORDER BY conname",
    )
    .bind(format!("\"{schema}\""))
    .fetch_all(admin)
    .await
    .unwrap();
    out.extend(constraints.into_iter().map(|c| format!("{c:?}")));
    let indexes: Vec<(String, String)> =
        sqlx::query_as("SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname")
            .bind(schema)
            .fetch_all(admin)
            .await
            .unwrap();
    out.extend(indexes.into_iter().map(|(n, d)| format!("{n}: {}", d.replace(schema, "<schema>"))));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_connect_pg_simple_s_table() {
    let Some(admin) = common::admin().await else { return };
    let Some(node) = Node::new().await else { return };
    let theirs = common::fresh_schema(&admin).await;
    node.call(&theirs, json!({"op": "create_table"})).await;
    let ours = common::fresh_schema(&admin).await;
    let store = PostgresStore::builder().schema_name(&ours).prune_interval(None).connect(&common::url()).await.unwrap();
    // Concurrent migrations (several app instances starting at once) are fine, and idempotent.
    let (first, second) = tokio::join!(store.migrate(), store.migrate());
    first.unwrap();
    second.unwrap();
    store.migrate().await.unwrap();
    let expected = shape(&admin, &theirs).await;
    assert_eq!(expected.len(), 3 + 1 + 2, "{expected:#?}");
    assert_eq!(shape(&admin, &ours).await, expected);
}
