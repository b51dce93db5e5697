//! Interop with the real connect-pg-simple 10 (express-session 1.19, pg 8, from the conformance twin's lockfile):
//! Node writes rows the Rust store reads and the other way round, on one table, including touch and destroy; and
//! `migrate` creates the same table as connect-pg-simple's `createTableIfMissing`.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use express_session::{CookieOptions, Record, Session, SessionError, SessionId, SessionManagerLayer, SessionOptions};
use express_session_postgres::PostgresStore;
use express_session_sql::testing::{self, NodeStore};
use serde_json::json;
use sqlx::PgPool;
use tower::ServiceExt;

/// connect-pg-simple on `schema`, from the conformance twin's node_modules, or `None` (skip, or panic under
/// `REQUIRE_SERVICES=1`) without node or npm.
async fn node(schema: &str) -> Option<NodeStore> {
    let twin = testing::repo_root().join("conformance/twin");
    NodeStore::new("pg", &twin, ("DATABASE_URL", common::url()), ("schema", schema.to_owned())).await
}

/// `expire` of a row, as seconds since the epoch (the column holds UTC wall-clock time).
async fn expire_of(admin: &PgPool, store: &PostgresStore, id: &SessionId) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT extract(epoch FROM expire AT TIME ZONE 'UTC')::bigint FROM {} WHERE sid = $1",
        store.table()
    ))
    .bind(id.as_str())
    .fetch_one(admin)
    .await
    .unwrap()
}

/// connect-pg-simple's `Math.ceil(expires / 1000)`.
fn ceil_seconds(record: &Record) -> i64 {
    let ms = record.expires().unwrap().as_millis();
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_rust_share_one_table() {
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let Some(node) = node(&schema).await else { return };
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .prune_interval(None)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let (a, s) = (&admin, &store);
    testing::node_and_rust_share_one_table(
        &store,
        &node,
        move |id| async move { expire_of(a, s, &id).await },
        ceil_seconds,
    )
    .await;
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
    let theirs = common::fresh_schema(&admin).await;
    let Some(node) = node(&theirs).await else { return };
    node.call(json!({"op": "create_table"})).await;
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

/// Issue 13, defects 6 and 9: connect-pg-simple stores what JavaScript allows and serde_json cannot hold (a
/// string with a lone surrogate, a value nested 600 deep; PostgreSQL's `json` column keeps the text as given)
/// with a `sameSite` of `""`. The Rust layer (with `saveUninitialized`, where refusing the record would log the
/// user out on both sides) reads the session, the user stays logged in, it changes another key, and Node reads
/// back the untouched values byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_rust_cannot_hold_survive_a_rust_write() {
    const SECRET: &str = "a secret the Node app and the Rust app share, long enough";
    let Some(admin) = common::admin().await else { return };
    let schema = common::fresh_schema(&admin).await;
    let Some(node) = node(&schema).await else { return };
    let store = PostgresStore::builder()
        .schema_name(&schema)
        .prune_interval(None)
        .max_connections(2)
        .connect(&common::url())
        .await
        .unwrap();
    store.migrate().await.unwrap();

    async fn whoami(session: Session) -> Result<String, SessionError> {
        let user: Option<String> = session.get("user").await?;
        Ok(format!("{user:?}"))
    }
    async fn set_n(session: Session) -> Result<&'static str, SessionError> {
        session.insert("n", "2").await?;
        Ok("ok")
    }
    let options = SessionOptions::new()
        .secret(SECRET)
        .resave(false)
        .save_uninitialized(true)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(600)))
        .store(store.clone());
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/set-n", get(set_n))
        .layer(SessionManagerLayer::new(options).unwrap());
    let request = |path: &str, cookie: &str| {
        let request = http::Request::builder().uri(path).header(http::header::COOKIE, cookie);
        let app = app.clone();
        let request = request.body(Body::empty()).unwrap();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let set_cookie = response.headers().get(http::header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
            let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
            (status, set_cookie, String::from_utf8_lossy(&body).into_owned())
        }
    };

    // Node (express-session's Cookie, connect-pg-simple's set) stores alice's session.
    let id = SessionId::generate();
    let deep = format!("{}1{}", "[".repeat(600), "]".repeat(600));
    // `"😀".slice(0, 1)`: half an emoji.
    let data = format!(r#"{{"user":"alice","half":"\ud83d","deep":{deep},"n":"1"}}"#);
    let set = node
        .call(
            json!({"op": "set", "sid": id.as_str(), "max_age": 600_000, "cookie": {"sameSite": ""}, "data_json": data}),
        )
        .await;
    let node_text = set["json"].as_str().unwrap().to_owned();
    let node_data = format!(r#","user":"alice","half":"\ud83d","deep":{deep},"n":"1"}}"#);
    assert!(node_text.ends_with(&node_data), "{node_text:.300}");
    assert!(node_text.contains(r#","sameSite":""}"#), "{node_text:.300}");
    let column = |admin: PgPool| {
        let (table, id) = (store.table().to_owned(), id.clone());
        async move {
            sqlx::query_scalar::<_, String>(&format!("SELECT sess::text FROM {table} WHERE sid = $1"))
                .bind(id.as_str())
                .fetch_one(&admin)
                .await
                .unwrap()
        }
    };
    assert_eq!(column(admin.clone()).await, node_text, "the json column keeps Node's text");

    // The Rust layer reads it as alice's session: no new session, no cookie.
    let signed = express_session::signature::sign(id.as_str(), SECRET.as_bytes());
    let cookie = format!("connect.sid={}", express_session::cookie::encode_uri_component(&format!("s:{signed}")));
    let (status, set_cookie, body) = request("/whoami", &cookie).await;
    assert_eq!((status, set_cookie, body.as_str()), (200, None, r#"Some("alice")"#));

    // Rust changes another key: the same cookie, and every other value written back as Node wrote it.
    let (status, set_cookie, _) = request("/set-n", &cookie).await;
    assert_eq!(status, 200);
    assert!(set_cookie.unwrap().starts_with(&format!("{cookie}; Path=/; Expires=")), "same id, same signature");
    let rust_data = node_data.replace(r#""n":"1""#, r#""n":"2""#);
    let rust_text = column(admin.clone()).await;
    assert!(rust_text.ends_with(&rust_data), "{rust_text:.300}");
    assert!(rust_text.contains(r#","sameSite":""}"#), "{rust_text:.300}");

    // Node reads the result back: the same values, byte for byte.
    let back = node.call(json!({"op": "get_json", "sid": id.as_str()})).await;
    let back = back["json"].as_str().unwrap();
    assert!(back.ends_with(&rust_data), "{back:.300}");
}
