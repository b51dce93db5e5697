//! `SessionOptions::touch_after` over a real store whose touch moves only a TTL or a column (the stored text's
//! `cookie.expires` goes stale): store writes per 1,000 untouched requests, and the rolling cookie against the
//! store's real expiry. Shared by the Redis and PostgreSQL tests (the PostgreSQL crate includes this file by path).

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use express_session::{
    CookieOptions, Record, Session, SessionError, SessionId, SessionManagerLayer, SessionOptions, Timestamp,
};
use tower::ServiceExt;

/// A store that counts its writes: `create`, `set`, `save_if`, `destroy`, and each `touch`, `refresh` or
/// `refresh_after` that answered `Touched` (a `Fresh` or `Gone` answer wrote nothing).
#[derive(Debug)]
pub struct Counting<S> {
    pub inner: S,
    pub writes: Arc<AtomicUsize>,
}

impl<S: Store> Counting<S> {
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
    fn touched(&self, outcome: Result<TouchOutcome, StoreError>) -> Result<TouchOutcome, StoreError> {
        if matches!(outcome, Ok(TouchOutcome::Touched)) {
            self.wrote();
        }
        outcome
    }
}

impl<S: Store> Store for Counting<S> {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.wrote();
        self.inner.create(id, record).await
    }
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.wrote();
        self.inner.set(id, record).await
    }
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        self.wrote();
        self.inner.save_if(id, record, expected).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.touched(self.inner.touch(id, record).await)
    }
    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        self.touched(self.inner.refresh(id).await)
    }
    async fn refresh_after(&self, id: &SessionId, interval: Duration) -> Result<TouchOutcome, StoreError> {
        self.touched(self.inner.refresh_after(id, interval).await)
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.wrote();
        self.inner.destroy(id).await
    }
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
}

fn app<S: Store>(store: S, max_age: Duration, rolling: bool, interval: Option<Duration>) -> Router {
    let mut options = SessionOptions::new()
        .secret("a test secret that is long enough for the checks")
        .cookie(CookieOptions::new().max_age(max_age))
        .rolling(rolling)
        .store(store);
    if let Some(interval) = interval {
        options = options.touch_after(interval);
    }
    Router::new()
        .route("/login", get(|s: Session| async move { s.insert("user", "alice").await.map(|()| "in") }))
        .route(
            "/me",
            get(|s: Session| async move { Ok::<_, SessionError>(s.get::<String>("user").await?.unwrap_or_default()) }),
        )
        .route("/static", get(|| async { "static" }))
        .layer(SessionManagerLayer::new(options).unwrap())
}

/// Sends a GET: the body and the whole `Set-Cookie`, if any.
async fn send(app: &Router, path: &str, cookie: Option<&str>) -> (String, Option<String>) {
    let mut request = http::Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (String::from_utf8_lossy(&body).into_owned(), set_cookie)
}

fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let decoded = express_session::wire::decode_uri_component(value.as_bytes()).unwrap();
    SessionId::new(decoded.strip_prefix("s:").unwrap().rsplit_once('.').unwrap().0).unwrap()
}

/// Store writes for 1,000 requests in a row (real time, about a second or two) that never modify the session, on
/// `path` (`/me` loads it, `/static` never uses it), one login before; and the mean time of one request (the
/// test's own client, in process: a rough figure).
pub async fn writes_per_thousand<S: Store>(store: S, interval: Option<Duration>, path: &str) -> (usize, Duration) {
    let writes = Arc::new(AtomicUsize::new(0));
    let app = app(Counting { inner: store, writes: Arc::clone(&writes) }, Duration::from_secs(60), false, interval);
    let cookie = send(&app, "/login", None).await.1.expect("a session cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    writes.store(0, Ordering::SeqCst);
    let start = std::time::Instant::now();
    for _ in 0..1_000 {
        let (body, _) = send(&app, path, Some(&cookie)).await;
        if path == "/me" {
            assert_eq!(body, "alice", "the session lives");
        }
    }
    (writes.load(Ordering::SeqCst), start.elapsed() / 1_000)
}

/// The `Expires` of `set_cookie` in ms, found near `around` (ms).
fn cookie_expires(set_cookie: &str, around: i64) -> i64 {
    let text = set_cookie.split("; Expires=").nth(1).expect("an Expires").split(';').next().unwrap();
    (-30..=30)
        .map(|k| (around / 1000 + k) * 1000)
        .find(|&ms| Timestamp::from_millis(ms).to_http_date() == text)
        .unwrap_or_else(|| panic!("{text} is not within 30 s of the store's expiry"))
}

/// Rolling cookies with `touch_after` (6 s lifetime, 2 s interval, a request every 400 ms for 5 s): a cookie only
/// with the store's refresh, never expiring later than the store's real expiry (`real_expiry`: ms since the epoch),
/// and the session stays live.
pub async fn rolling_cookies_never_outlive_the_store<S, F, Fut>(store: S, real_expiry: F)
where
    S: Store,
    F: Fn(SessionId) -> Fut,
    Fut: Future<Output = i64>,
{
    let app = app(store, Duration::from_secs(6), true, Some(Duration::from_secs(2)));
    let login = send(&app, "/login", None).await.1.expect("a session cookie");
    let id = id_of(&login);
    let cookie = login.split(';').next().unwrap().to_owned();
    let (mut sent, mut requests) = (0, 0);
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (body, set_cookie) = send(&app, "/me", Some(&cookie)).await;
        requests += 1;
        assert_eq!(body, "alice");
        let real = real_expiry(id.clone()).await;
        assert!(real > Timestamp::now().as_millis(), "the stored session outlives the request");
        if let Some(set_cookie) = set_cookie {
            sent += 1;
            let expires = cookie_expires(&set_cookie, real);
            assert!(expires <= real, "the cookie expires at {expires}, after the store's {real}");
        }
    }
    assert!((1..=4).contains(&sent), "{sent} cookies for {requests} requests over about 5 s");
}
