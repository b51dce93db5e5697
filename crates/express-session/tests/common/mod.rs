//! Helpers for the HTTP-level tests: an axum app behind the session layer, driven with `oneshot`, and a
//! one-cookie jar.

#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use express_session::{Clock, MemoryStore, SessionManagerLayer, SessionOptions, Timestamp};
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use tower::ServiceExt;

/// An app, its store and its clock.
pub struct TestApp {
    pub app: Router,
    pub store: MemoryStore,
    pub clock: Clock,
}

/// What a request returned.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub set_cookie: Option<String>,
    pub body: String,
}

impl Reply {
    /// The `name=value` part of the session cookie, to send back.
    pub fn cookie(&self) -> String {
        self.set_cookie.as_deref().expect("a Set-Cookie").split(';').next().unwrap().to_owned()
    }

    /// The session id in the cookie.
    pub fn cookie_id(&self) -> String {
        let value = self.cookie();
        let value = value.split_once('=').unwrap().1;
        let decoded = express_session::wire::decode_uri_component(value.as_bytes()).unwrap();
        let signed = decoded.strip_prefix("s:").unwrap();
        signed.rsplit_once('.').unwrap().0.to_owned()
    }
}

/// express's test options: the secret "keyboard cat" (short, so allowed explicitly).
pub fn options() -> SessionOptions {
    SessionOptions::new().secret("keyboard cat").allow_short_secret(true)
}

impl TestApp {
    /// `routes` behind a session layer with `options`, a fresh MemoryStore and a manual clock.
    pub fn new(options: SessionOptions, routes: Router) -> Self {
        let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let layer = SessionManagerLayer::new(options.clock(clock.clone()).store(store.clone())).unwrap();
        Self { app: routes.layer(layer), store, clock }
    }

    pub async fn request(&self, request: Request<Body>) -> Reply {
        let response: Response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let mut cookies = response.headers().get_all(SET_COOKIE).iter();
        let set_cookie = cookies.next().map(|v| v.to_str().unwrap().to_owned());
        assert!(cookies.next().is_none(), "more than one Set-Cookie");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Reply { status, set_cookie, body: String::from_utf8_lossy(&body).into_owned() }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::builder().uri(path);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        self.request(request.body(Body::empty()).unwrap()).await
    }

    pub async fn len(&self) -> usize {
        express_session::Store::len(&self.store).await.unwrap()
    }
}

/// A real store wrapped to count the calls the layer makes (to check which work is skipped).
#[derive(Debug, Clone)]
pub struct Counting<S> {
    pub inner: S,
    pub calls: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
}

impl<S> Counting<S> {
    pub fn new(inner: S) -> Self {
        Self { inner, calls: Default::default() }
    }

    pub fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn note(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }
}

use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use express_session::{Record, SessionId};

impl<S: Store> Store for Counting<S> {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        self.note("get");
        self.inner.get(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.note("create");
        self.inner.create(id, record).await
    }
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.note("set");
        self.inner.set(id, record).await
    }
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        self.note("save_if");
        self.inner.save_if(id, record, expected).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.note("touch");
        self.inner.touch(id, record).await
    }
    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        self.note("refresh");
        self.inner.refresh(id).await
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.note("destroy");
        self.inner.destroy(id).await
    }
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    fn owner_key(&self) -> Option<&str> {
        self.inner.owner_key()
    }
    async fn sessions_of(&self, owner: &str, limit: usize) -> Result<express_session::store::OwnerPage, StoreError> {
        self.note("sessions_of");
        self.inner.sessions_of(owner, limit).await
    }
    async fn end_sessions_of(&self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        self.note("end_sessions_of");
        self.inner.end_sessions_of(owner, keep).await
    }
}

impl TestApp {
    /// Like [`TestApp::new`], with the store wrapped in [`Counting`].
    pub fn counting(options: SessionOptions, routes: Router) -> (Self, Counting<MemoryStore>) {
        let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let counting = Counting::new(store.clone());
        let layer = SessionManagerLayer::new(options.clock(clock.clone()).store(counting.clone())).unwrap();
        (Self { app: routes.layer(layer), store, clock }, counting)
    }
}

/// A real MemoryStore behind a switch that makes every call fail, or hang, as an unreachable backend does.
#[derive(Debug, Clone, Default)]
pub struct Faulty {
    pub inner: MemoryStore,
    pub mode: std::sync::Arc<std::sync::Mutex<Fault>>,
}

/// How [`Faulty`] behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Fault {
    #[default]
    None,
    /// Every call fails as a refused connection would.
    Refuse,
    /// Every call hangs (until the layer's timeout).
    Hang,
    /// The store says it is not ready (`Store::is_ready`); calls go through.
    NotReady,
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Refused {}

impl Faulty {
    pub fn set(&self, fault: Fault) {
        *self.mode.lock().unwrap() = fault;
    }

    async fn check(&self) -> Result<(), StoreError> {
        let fault = *self.mode.lock().unwrap();
        match fault {
            Fault::None | Fault::NotReady => Ok(()),
            Fault::Refuse => Err(StoreError::unavailable("faulty", Refused)),
            Fault::Hang => {
                std::future::pending::<()>().await;
                Ok(())
            }
        }
    }
}

impl Store for Faulty {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        self.check().await?;
        self.inner.get(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.check().await?;
        self.inner.create(id, record).await
    }
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.set(id, record).await
    }
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        self.check().await?;
        self.inner.save_if(id, record, expected).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.check().await?;
        self.inner.touch(id, record).await
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.check().await?;
        self.inner.destroy(id).await
    }
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    fn is_ready(&self) -> bool {
        *self.mode.lock().unwrap() != Fault::NotReady
    }
}

/// A real MemoryStore that reports it is not ready.
pub fn not_ready() -> Faulty {
    let store = Faulty::default();
    store.set(Fault::NotReady);
    store
}
