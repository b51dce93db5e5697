//! The devices example on Redis: two instances of the app on one Redis (as two servers behind a load balancer),
//! one device on each, as `cargo run --example devices` with `REDIS_URL` builds it (`owner_key("user")`), under a
//! prefix of the test's own. Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`); without it the test skips,
//! loudly, unless `REQUIRE_SERVICES=1`.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use express_session::store::Store;
use express_session::{SessionId, StoreError};
use express_session_examples::devices;
use express_session_redis::RedisStore;
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::{Request, StatusCode};
use tower::ServiceExt;

/// One browser on one instance of the app: a cookie jar holding `connect.sid`.
struct Device {
    app: Router,
    cookie: Option<String>,
}

impl Device {
    /// A form POST, following its redirect to `/`; or a `GET /` when `form` is `None`. The page.
    async fn send(&mut self, path: &str, form: Option<&str>) -> String {
        let method = if form.is_some() { "POST" } else { "GET" };
        let mut request = Request::builder().method(method).uri(path);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        if form.is_some() {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let body = Body::from(form.unwrap_or_default().to_owned());
        let response = self.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = (pair != "connect.sid=").then_some(pair);
        }
        let (status, redirect) = (response.status(), response.headers().get(LOCATION).is_some());
        let page = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let page = String::from_utf8(page.to_vec()).unwrap();
        match (status, redirect) {
            (StatusCode::FOUND, true) => Box::pin(self.send("/", None)).await,
            (StatusCode::OK, false) => page,
            _ => panic!("{path}: {status}: {page}"),
        }
    }

    /// The handles of the sessions table's rows, this device's first.
    async fn handles(&mut self) -> Vec<String> {
        let page = self.send("/", None).await;
        let mut rows: Vec<(bool, String)> = page
            .split("<tr")
            .skip(2)
            .map(|row| {
                let handle = row.split("data-handle=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
                (!row.starts_with(" class=\"current\""), handle.to_owned())
            })
            .collect();
        rows.sort();
        assert!(rows.first().is_none_or(|(other, _)| !other), "the first row is this device: {page}");
        rows.into_iter().map(|(_, handle)| handle).collect()
    }
}

#[tokio::test]
async fn two_instances_on_one_redis_end_each_others_sessions() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("test:devices:{}:", SessionId::generate().as_str());
    let connect =
        || RedisStore::builder().prefix(&prefix).ttl(Duration::from_secs(600)).owner_key("user").connect(&url);
    let (one, two) = match (connect().await, connect().await) {
        (Ok(one), Ok(two)) => (one, two),
        (Err(error), _) | (_, Err(error)) => {
            assert_ne!(std::env::var("REQUIRE_SERVICES").as_deref(), Ok("1"), "Redis at {url} is required: {error}");
            eprintln!("\n*** SKIPPED: Redis at {url} is unreachable ({error}) ***\n");
            return;
        }
    };
    let store = one.clone();
    let instance = |store: RedisStore| devices::app(devices::options().store(store)).unwrap();
    let (app1, app2) = (instance(one), instance(two));
    let mut a = Device { app: app1.clone(), cookie: None };
    let mut b = Device { app: app2.clone(), cookie: None };
    let mut carol = Device { app: app2, cookie: None };

    carol.send("/login", Some("user=carol")).await;
    a.send("/login", Some("user=alice")).await;
    b.send("/login", Some("user=alice")).await;
    let (seen_by_a, seen_by_b) = (a.handles().await, b.handles().await);
    assert_eq!(seen_by_a.len(), 2);
    assert_eq!((&seen_by_a[0], &seen_by_a[1]), (&seen_by_b[1], &seen_by_b[0]), "each marks its own");

    // A, on instance 1, ends B's row: B, on instance 2, is logged out.
    let page = a.send("/end", Some(&format!("handle={}", seen_by_b[0]))).await;
    assert!(page.contains("That session is ended"), "{page}");
    assert!(b.send("/", None).await.contains("<form action=\"/login\""), "B is logged out");
    assert_eq!(a.handles().await, [seen_by_a[0].clone()]);

    // Log out other devices, then everywhere.
    b.send("/login", Some("user=alice")).await;
    assert!(a.send("/logout-others", Some("")).await.contains("Logged out 1 other device."));
    assert!(b.send("/", None).await.contains("<form action=\"/login\""), "B is logged out");
    b.send("/login", Some("user=alice")).await;
    assert!(a.send("/logout-everywhere", Some("")).await.contains("Logged out everywhere: 2 sessions ended."));
    assert!(a.send("/", None).await.contains("<form action=\"/login\""), "A is logged out");
    assert!(b.send("/", None).await.contains("<form action=\"/login\""), "B is logged out");
    assert_eq!(store.sessions_of("alice", 10).await.unwrap().sessions.len(), 0);

    // Carol was never affected; then she logs out, and the test's keys go.
    assert_eq!(carol.handles().await.len(), 1);
    carol.send("/logout", Some("")).await;
    for owner in ["alice", "carol"] {
        // Reading an owner's set drops the ids of ended sessions, and the set with its last member.
        assert!(store.sessions_of(owner, 10).await.unwrap().sessions.is_empty());
    }
    let cleared: Result<(), StoreError> = store.clear().await;
    cleared.unwrap();
}
