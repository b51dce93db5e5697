#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Micro benchmarks of the hot path: what one request of a returning client costs in the engine.
//!
//! Run with `cargo bench -p express-session --bench engine`. Whole-server comparisons with tower-sessions,
//! actix-session and express-session are in `benches/load/` at the repository root.

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use express_session::lifecycle::{Facts, Rules, decide};
use express_session::store::Store;
use express_session::wire::Signer;
use express_session::wire::{cookie_value, set_cookie_header};
use express_session::{MemoryStore, Record, Session, SessionCookie, SessionId, SessionManagerLayer, SessionOptions};
use tower::ServiceExt;

const SECRET: &str = "a benchmark secret that is long enough";

fn cookies(c: &mut Criterion) {
    let signer = Signer::new([SECRET]);
    let id = SessionId::generate();
    let signed = format!("s:{}", signer.sign(id.as_str()));
    let header = format!(
        "_ga=GA1.1.123456789.1700000000; theme=dark; connect.sid={}; csrf=abcdef",
        express_session::wire::encode_uri_component(&signed)
    );
    c.bench_function("cookie header parse + unsign", |b| {
        b.iter(|| {
            let value = cookie_value([black_box(header.as_bytes())], "connect.sid").unwrap();
            let id = signer.unsign(value.strip_prefix("s:").unwrap()).unwrap();
            black_box(id.len())
        })
    });
    let cookie = SessionCookie::default();
    c.bench_function("sign + Set-Cookie write", |b| {
        b.iter(|| {
            let value = format!("s:{}", signer.sign(black_box(id.as_str())));
            black_box(set_cookie_header("connect.sid", &value, &cookie).unwrap())
        })
    });
    c.bench_function("id generation", |b| b.iter(|| black_box(SessionId::generate())));
}

fn records(c: &mut Criterion) {
    let json = r#"{"cookie":{"originalMaxAge":60000,"expires":"2030-01-01T00:01:01.123Z","httpOnly":true,"path":"/"},"views":{"/foo":12,"/bar":3},"user":"alice"}"#;
    c.bench_function("record decode", |b| b.iter(|| black_box(Record::from_json(black_box(json)).unwrap())));
    let record = Record::from_json(json).unwrap();
    c.bench_function("record encode", |b| b.iter(|| black_box(record.to_json())));
}

fn memory_store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let store = MemoryStore::new();
    let ids: Arc<Vec<SessionId>> = Arc::new((0..10_000).map(|_| SessionId::generate()).collect());
    let record =
        Record::from_json(r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"views":1}"#)
            .unwrap();
    runtime.block_on(async {
        for id in ids.iter() {
            store.create(id, &record).await.unwrap();
        }
    });
    c.bench_function("MemoryStore get + save_if, 2 threads x 100", |b| {
        b.to_async(&runtime).iter(|| {
            let (store, ids) = (store.clone(), Arc::clone(&ids));
            async move {
                let tasks: Vec<_> = (0..2)
                    .map(|t| {
                        let (store, ids) = (store.clone(), Arc::clone(&ids));
                        tokio::spawn(async move {
                            for i in 0..100 {
                                let id = &ids[(t * 5_000 + i * 37) % ids.len()];
                                let got = store.get(id).await.unwrap().unwrap();
                                let _ = store.save_if(id, &got.record, &got.version).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            }
        })
    });
}

fn layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let layer = SessionManagerLayer::new(SessionOptions::new().secret(SECRET).save_uninitialized(true)).unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await.unwrap().to_string()
            }),
        )
        .route("/static", get(|| async { "ok" }))
        .layer(layer);
    let first = runtime.block_on(app.clone().oneshot(http::Request::get("/").body(Body::empty()).unwrap())).unwrap();
    let cookie = first.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    c.bench_function("layer: returning client, update + save", |b| {
        b.to_async(&runtime).iter(|| {
            let (app, cookie) = (app.clone(), cookie.clone());
            async move {
                let request = http::Request::get("/").header("cookie", cookie).body(Body::empty()).unwrap();
                black_box(app.oneshot(request).await.unwrap())
            }
        })
    });
    c.bench_function("layer: route that never touches the session", |b| {
        b.to_async(&runtime).iter(|| {
            let (app, cookie) = (app.clone(), cookie.clone());
            async move {
                let request = http::Request::get("/static").header("cookie", cookie).body(Body::empty()).unwrap();
                black_box(app.oneshot(request).await.unwrap())
            }
        })
    });
    c.bench_function("layer: new client", |b| {
        b.to_async(&runtime).iter(|| {
            let app = app.clone();
            async move { black_box(app.oneshot(http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap()) }
        })
    });
}

fn decision(c: &mut Criterion) {
    // A returning client whose session changed, with express's example options.
    let mut facts = Facts::default();
    facts.has_session = true;
    facts.has_session_id = true;
    facts.cookie_id_matches = true;
    facts.modified = true;
    facts.saved_hash_set = true;
    let mut rules = Rules::default();
    rules.save_uninitialized = true;
    c.bench_function("end-of-request decision", |b| b.iter(|| black_box(decide(black_box(&facts), black_box(&rules)))));
}

criterion_group!(benches, cookies, records, memory_store, decision, layer);
criterion_main!(benches);
