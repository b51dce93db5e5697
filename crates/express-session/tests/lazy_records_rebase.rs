//! A save that loses a race re-applies this request's changes on the newer record, which is read split by key:
//! removed keys stay removed, updates see the newer value, a clear keeps only the creation stamp (the newer
//! record's), and the newer record's untouched values keep their bytes (written as `JSON.stringify` writes them).

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{MemoryStore, Record, Session, SessionError, SessionId, Store};
use serde_json::Value;

const COOKIE: &str = r#"{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;

/// The newer record another request wrote while this one ran (with another writer's bytes).
fn newer() -> String {
    format!(
        r#"{{"cookie":{COOKIE},"__sessionCreatedAt":1893456000000,"b":{{"x":2}},"c":"caf\u00e9","d":[1.50],"e":5,"a":1,"a":7}}"#
    )
}

fn routes(store: MemoryStore) -> Router {
    Router::new().route(
        "/race/{mode}",
        get(move |s: Session, Path(mode): Path<String>| {
            let store = store.clone();
            async move {
                s.get::<Value>("a").await?;
                let id: SessionId = s.id().await?.expect("a stored session");
                store.set(&id, &Record::from_json(&newer()).unwrap()).await.unwrap();
                match mode.as_str() {
                    "merge" => {
                        s.remove::<Value>("b").await?;
                        s.update("e", |e: Option<u64>| e.unwrap_or(0) + 1).await?;
                        s.update("a", |a: Option<u64>| a.unwrap_or(0) * 10).await?;
                        s.insert("f", true).await?;
                    }
                    _ => {
                        s.clear().await?;
                        s.insert("g", 1).await?;
                    }
                }
                Ok::<_, SessionError>("ok")
            }
        }),
    )
}

fn data_text(stored: &str) -> &str {
    let end = stored.find(r#""path":"/"}"#).expect("a cookie") + r#""path":"/"}"#.len();
    &stored[end..]
}

#[tokio::test]
async fn changes_reapplied_on_a_split_newer_record_are_this_requests_only() {
    for (mode, expected) in [
        // Another writer's `"caf\u00e9"` and `[1.50]` as express writes them.
        ("merge", r#","__sessionCreatedAt":1893456000000,"c":"café","d":[1.5],"e":6,"a":70,"f":true}"#),
        ("clear", r#","__sessionCreatedAt":1893456000000,"g":1}"#),
    ] {
        let store = MemoryStore::new();
        let layer_options = options().absolute_timeout(Duration::from_secs(86_400));
        let mut t = TestApp::new(layer_options, routes(store.clone()));
        // The app's own store is the one the handler races on.
        let layer = express_session::SessionManagerLayer::new(
            options().absolute_timeout(Duration::from_secs(86_400)).clock(t.clock.clone()).store(store.clone()),
        )
        .unwrap();
        t.app = routes(store.clone()).layer(layer);
        t.store = store;
        let first = format!(r#"{{"cookie":{COOKIE},"__sessionCreatedAt":1893456000100,"a":1,"b":{{"x":1}},"e":1}}"#);
        let id = SessionId::generate();
        t.store.set(&id, &Record::from_json(&first).unwrap()).await.unwrap();
        let signed = express_session::wire::sign(id.as_str(), b"keyboard cat");
        let cookie = format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")));
        let reply = t.get(&format!("/race/{mode}"), Some(&cookie)).await;
        assert_eq!(reply.status.as_u16(), 200, "{mode}: {}", reply.body);
        let stored = t.store.raw_json(&id).expect("still stored");
        assert_eq!(data_text(&stored), expected, "{mode}: {stored}");
    }
}
