//! One session, two apps: the real Node packages (express 5, express-session 1.19, connect-redis 9, redis 6, as
//! pinned in `conformance/twin/`; `tests/node/app.js`) and the Rust layer on [`RedisStore`], sharing the Redis at
//! `REDIS_URL` under a prefix unique to the run, and the cookie (both sign with the same secret). Each side reads
//! what the other wrote, and a logout on either side logs the other out.
//!
//! Runs `npm ci` in `conformance/twin/` first if its `node_modules` is missing. Skipped, loudly, without Node, npm
//! or Redis; a failure under `REQUIRE_SERVICES=1`.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Query;
use axum::routing::get;
use express_session::store::{SessionHandle, Store};
use express_session::testing::unreachable;
use express_session::{CookieOptions, Session, SessionError, SessionManagerLayer, SessionOptions};
use express_session_redis::RedisStore;
use http::Request;
use redis::AsyncCommands;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::ServiceExt;

const SECRET: &str = "a secret the Node app and the Rust app share, long enough";

/// The Node app, running until dropped.
struct NodeApp {
    port: u16,
    _child: tokio::process::Child,
}

async fn start_node(prefix: &str) -> Option<NodeApp> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let twin = manifest.join("../../conformance/twin");
    if !twin.join("node_modules/connect-redis").is_dir() {
        // A fresh clone: install the pinned packages from the lockfile, as `npm ci` there would.
        let installed = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&twin)
            .stdout(Stdio::null())
            .status()
            .await;
        if !twin.join("node_modules/connect-redis").is_dir() {
            return unreachable("conformance/twin/node_modules (run `npm ci` there)", format!("{installed:?}"));
        }
    }
    let spawned = tokio::process::Command::new("node")
        .arg(manifest.join("tests/node/app.js"))
        .env("REDIS_URL", common::redis_url())
        .env("STORE_PREFIX", prefix)
        .env("SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return unreachable("node", error),
    };
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    let line = first.expect("the Node app starts within 30 s").unwrap().expect("the Node app printed its port");
    let port = line.strip_prefix("listening ").and_then(|p| p.parse().ok()).expect("listening <port>");
    Some(NodeApp { port, _child: child })
}

/// The Rust twin of `tests/node/app.js`.
fn rust_app(store: RedisStore) -> Router {
    rust_app_with(store, false)
}

/// [`rust_app`] with `saveUninitialized` as given.
fn rust_app_with(store: RedisStore, save_uninitialized: bool) -> Router {
    async fn login(session: Session, Query(q): Query<HashMap<String, String>>) -> Result<&'static str, SessionError> {
        session.regenerate().await?;
        session.insert("user", &q["user"]).await?;
        session.save().await?;
        Ok("ok")
    }
    async fn set(session: Session, Query(q): Query<HashMap<String, String>>) -> Result<&'static str, SessionError> {
        session.insert(&q["key"], &q["value"]).await?;
        Ok("ok")
    }
    async fn whoami(session: Session) -> Result<String, SessionError> {
        let data = session.data().await?;
        let id = session.id().await?.map(|id| id.as_str().to_owned());
        Ok(json!({ "id": id, "data": data }).to_string())
    }
    async fn logout(session: Session) -> Result<&'static str, SessionError> {
        session.destroy().await?;
        Ok("bye")
    }
    let options = SessionOptions::new()
        .secret(SECRET)
        .resave(false)
        .save_uninitialized(save_uninitialized)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(600)))
        .store(store);
    Router::new()
        .route("/login", get(login))
        .route("/set", get(set))
        .route("/whoami", get(whoami))
        .route("/logout", get(logout))
        .layer(SessionManagerLayer::new(options).unwrap())
}

async fn rust_get(app: &Router, path: &str, cookie: &str) -> (u16, Option<String>, Value) {
    let mut request = Request::builder().uri(path);
    if !cookie.is_empty() {
        request = request.header(http::header::COOKIE, cookie);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get(http::header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    (status, set_cookie, body)
}

async fn node_whoami(node: &NodeApp, cookie: &str) -> Value {
    let reply = common::http_get(node.port, "/whoami", Some(cookie)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

/// The session id in a `connect.sid=s%3A<id>.<signature>` cookie.
fn id_in(cookie: &str) -> String {
    let value = cookie.strip_prefix("connect.sid=s%3A").expect("a signed connect.sid");
    value.rsplit_once('.').unwrap().0.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_share_one_session() {
    let Some(_) = common::store().await else { return };
    let url = common::redis_url();
    let prefix = common::unique_prefix("node");
    let Some(node) = start_node(&prefix).await else { return };
    let store = RedisStore::builder().prefix(&prefix).connect(&url).await.unwrap();
    let rust = rust_app(store.clone());
    let mut raw = common::raw(&url).await;

    // Node logs alice in; Rust reads her session with Node's cookie.
    let login = common::http_get(node.port, "/login?user=alice", None).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.cookie();
    let id = id_in(&cookie);
    let ttl: i64 = raw.ttl(format!("{prefix}{id}")).await.unwrap();
    assert!((599..=600).contains(&ttl), "connect-redis's TTL: {ttl}");
    let (status, _, body) = rust_get(&rust, "/whoami", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"id": id, "data": {"user": "alice"}}));

    // Rust changes a key; Node sees it (and Rust's cookie is the same cookie).
    let (status, set_cookie, _) = rust_get(&rust, "/set?key=role&value=admin", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(set_cookie.as_deref(), Some(cookie.as_str()), "same id, same signature");
    let ttl: i64 = raw.ttl(format!("{prefix}{id}")).await.unwrap();
    assert!((599..=600).contains(&ttl), "the Rust write keeps connect-redis's TTL: {ttl}");
    assert_eq!(node_whoami(&node, &cookie).await, json!({"id": id, "data": {"user": "alice", "role": "admin"}}));

    // Node changes another; Rust sees all three, in Node's order.
    assert_eq!(common::http_get(node.port, "/set?key=theme&value=dark", Some(&cookie)).await.status, 200);
    let (_, _, body) = rust_get(&rust, "/whoami", &cookie).await;
    assert_eq!(body["data"], json!({"user": "alice", "role": "admin", "theme": "dark"}));
    assert_eq!(body["data"].as_object().unwrap().keys().collect::<Vec<_>>(), ["user", "role", "theme"]);

    // Rust logs out: Node no longer knows the session.
    assert_eq!(rust_get(&rust, "/logout", &cookie).await.0, 200);
    assert!(!raw.exists::<_, bool>(format!("{prefix}{id}")).await.unwrap());
    let after = node_whoami(&node, &cookie).await;
    assert_eq!(after["data"], json!({}), "{after}");
    assert_ne!(after["id"], json!(id), "Node starts a new session");

    // The other way round: Rust logs bob in, Node reads him, Node logs out, Rust no longer knows him.
    let (status, set_cookie, _) = rust_get(&rust, "/login?user=bob", "").await;
    assert_eq!(status, 200);
    let cookie = set_cookie.expect("a session cookie");
    let id = id_in(&cookie);
    assert_eq!(node_whoami(&node, &cookie).await, json!({"id": id, "data": {"user": "bob"}}));
    let logout = common::http_get(node.port, "/logout", Some(&cookie)).await;
    assert_eq!(logout.status, 200);
    let (_, _, body) = rust_get(&rust, "/whoami", &cookie).await;
    assert_eq!(body["data"], json!({}), "{body}");
    assert_ne!(body["id"], json!(id), "Rust starts a new session");
    assert_eq!(store.len().await.unwrap(), 0);
}

/// Issue 13, defects 6 and 9: the Node app stores what JavaScript allows and serde_json cannot hold (a string
/// with a lone surrogate, a value nested 600 deep) and a `sameSite` of `""`. The Rust layer (with
/// `saveUninitialized`, where refusing the record would log the user out on both sides) reads the session, the
/// user stays logged in, it changes another key, and Node reads back the untouched values byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_rust_cannot_hold_survive_a_rust_write() {
    let Some(_) = common::store().await else { return };
    let url = common::redis_url();
    let prefix = common::unique_prefix("node-raw");
    let Some(node) = start_node(&prefix).await else { return };
    let store = RedisStore::builder().prefix(&prefix).connect(&url).await.unwrap();
    let rust = rust_app_with(store.clone(), true);
    let mut raw = common::raw(&url).await;

    let login = common::http_get(node.port, "/login?user=alice", None).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.cookie();
    let id = id_in(&cookie);
    let deep = format!("{}1{}", "[".repeat(600), "]".repeat(600));
    // `"😀".slice(0, 1)`: half an emoji.
    let data = format!(r#"{{"half":"\ud83d","deep":{deep},"tiny":0.000001,"n":"1"}}"#);
    let import = format!("/import?sameSite=&json={}", express_session::wire::encode_uri_component(&data));
    let imported = common::http_get(node.port, &import, Some(&cookie)).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    let key = format!("{prefix}{id}");
    let node_text: String = raw.get(&key).await.unwrap();
    let node_data = format!(r#","user":"alice","half":"\ud83d","deep":{deep},"tiny":0.000001,"n":"1"}}"#);
    assert!(node_text.ends_with(&node_data), "connect-redis wrote {node_text:.300}");
    assert!(node_text.contains(r#","sameSite":""}"#), "{node_text:.300}");

    // Rust reads it as alice's session: no new session, no other cookie.
    let (status, set_cookie, body) = rust_get(&rust, "/whoami", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(set_cookie, None, "no new session");
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["data"]["user"], "alice");
    assert_eq!(body["data"]["n"], "1");

    // Rust changes another key: the same cookie, and every value it did not touch written back as Node wrote it.
    let (status, set_cookie, _) = rust_get(&rust, "/set?key=n&value=2", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(set_cookie.as_deref(), Some(cookie.as_str()), "same id, same signature");
    let rust_text: String = raw.get(&key).await.unwrap();
    assert!(rust_text.ends_with(&node_data.replace(r#""n":"1""#, r#""n":"2""#)), "{rust_text:.300}");
    assert!(rust_text.contains(r#","sameSite":""}"#), "{rust_text:.300}");

    // Node reads the result: still alice, the same values, byte for byte.
    let back = common::http_get(node.port, "/raw", Some(&cookie)).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.body.ends_with(&node_data.replace(r#""n":"1""#, r#""n":"2""#)), "{:.300}", back.body);
    let _: i64 = raw.del(&key).await.unwrap();
}

/// Issue 16, next to the Node app: sessions Node logs in (connect-redis, `req.session.user = U`) are found by the
/// owner index after `reindex`, and after a Rust request writes one (without `reindex`). After the owner calls
/// end some, Node still reads and writes the others, and connect-redis's `all()` and `length()` (a `SCAN MATCH
/// prefix*`, then `MGET`) work with the index's sets in Redis: they never meet one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sessions_join_the_owner_index() {
    let Some(_) = common::store().await else { return };
    let url = common::redis_url();
    let prefix = common::unique_prefix("node-owners");
    let Some(node) = start_node(&prefix).await else { return };
    let store = RedisStore::builder().prefix(&prefix).owner_key("user").connect(&url).await.unwrap();
    let rust = rust_app(store.clone());
    let mut raw = common::raw(&url).await;
    let login = async |user: &str| {
        let reply = common::http_get(node.port, &format!("/login?user={user}"), None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.cookie()
    };
    let listed = async |owner: &str| store.sessions_of(owner, 100).await.unwrap().sessions;

    // Node logs alice in three times and bob once: nothing indexed yet, then `reindex` finds all four.
    let mut alice = Vec::new();
    for _ in 0..3 {
        alice.push(login("alice").await);
    }
    let bob = login("bob").await;
    assert!(listed("alice").await.is_empty(), "Node's sessions are not indexed before a reindex");
    assert_eq!(store.reindex().await.unwrap(), 4);
    assert_eq!(listed("alice").await.len(), 3);
    assert_eq!(listed("bob").await.len(), 1);
    assert_eq!(store.reindex().await.unwrap(), 4, "reindexing again changes nothing");
    assert_eq!(listed("alice").await.len(), 3);

    // A fourth Node login, written by Rust afterwards (no reindex): the Rust write indexes it.
    let fourth = login("alice").await;
    assert_eq!(listed("alice").await.len(), 3);
    let (status, _, _) = rust_get(&rust, "/set?key=theme&value=dark", &fourth).await;
    assert_eq!(status, 200);
    let page = listed("alice").await;
    assert_eq!(page.len(), 4);
    let fourth_id = express_session::SessionId::new(id_in(&fourth)).unwrap();
    assert!(page.iter().any(|s| s.handle == SessionHandle::of(&fourth_id)));

    // End one by its handle, then all but the fourth: Node no longer knows them.
    let first = express_session::SessionId::new(id_in(&alice[0])).unwrap();
    assert!(store.end_session_of("alice", &SessionHandle::of(&first)).await.unwrap());
    assert_ne!(node_whoami(&node, &alice[0]).await["id"], json!(first.as_str()), "Node starts a new session");
    assert_eq!(store.end_sessions_of("alice", Some(&fourth_id)).await.unwrap(), 2);
    for cookie in &alice {
        assert_eq!(node_whoami(&node, cookie).await["data"], json!({}));
    }

    // Node reads and writes the session left; Rust reads Node's write.
    assert_eq!(node_whoami(&node, &fourth).await["data"], json!({"user": "alice", "theme": "dark"}));
    assert_eq!(common::http_get(node.port, "/set?key=role&value=admin", Some(&fourth)).await.status, 200);
    let (_, _, body) = rust_get(&rust, "/whoami", &fourth).await;
    assert_eq!(body["data"], json!({"user": "alice", "theme": "dark", "role": "admin"}));

    // connect-redis's all() and length(), with both owners' sets in Redis.
    assert!(raw.exists::<_, bool>(format!("owner:{prefix}alice")).await.unwrap());
    assert!(raw.exists::<_, bool>(format!("owner:{prefix}bob")).await.unwrap());
    let all = common::http_get(node.port, "/all", Some(&fourth)).await;
    assert_eq!(all.status, 200, "{}", all.body);
    let mut expected = vec![fourth_id.as_str().to_owned(), id_in(&bob)];
    expected.sort();
    assert_eq!(serde_json::from_str::<Value>(&all.body).unwrap(), json!({"ids": expected}));
    let length = common::http_get(node.port, "/length", Some(&fourth)).await;
    assert_eq!(length.status, 200, "{}", length.body);
    assert_eq!(serde_json::from_str::<Value>(&length.body).unwrap(), json!({"length": 2}));
    store.clear().await.unwrap();
    assert!(!raw.exists::<_, bool>(format!("owner:{prefix}bob")).await.unwrap());
}
