//! What the conformance servers share, whatever their framework: the protocol of `conformance/README.md` on our
//! session engine. [`setup`] reads `PORT` and `SESSION_OPTIONS` (express-session's options as JSON, plus
//! `trustProxy`, `store`, `storeFail`, `storeTimeoutMs` and `memoryCapacity`), connects the store and builds the
//! [`SessionOptions`]; [`answer_get`] and [`answer_post`] run a request's ops on its [`Session`]. A server adds
//! only its framework's glue: the session middleware, `GET /__health`, the `IsSecure` of express's
//! `trust proxy` ([`express_secure`]) and the JSON answers.
//!
//! Options that are absent take **express-session's** defaults, and the settings that restore express's
//! behaviour where ours differs on purpose are turned on (insecure cookie attributes are sent, a disconnected
//! store passes requests through), so that what remains different is listed in
//! `conformance/KNOWN_DIFFERENCES.md`.
//!
//! Every store it builds (memory, Redis, PostgreSQL) keeps an owner index under [`OWNER_KEY`], for the owner ops
//! (`login`, `sessionsOf`, `logoutOthers`, `logoutEverywhere`).

mod owners;

pub use owners::OWNER_KEY;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use express_session::options::StoreNotReady;
use express_session::store::{
    CreateOutcome, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version, Versioned,
};
use express_session::{
    CookieOptions, MemoryStore, Record, Session, SessionError, SessionId, SessionOptions, Timestamp,
};
use http::StatusCode;
use serde_json::{Value, json};

/// The store behind the layer, with the harness's fault injection (`storeFail`) and readiness switch
/// (`storeEvent`), the same knobs the Node twin has.
#[derive(Debug, Clone)]
struct HarnessStore<S> {
    inner: S,
    ready: Arc<AtomicBool>,
    failures: Arc<HashMap<String, String>>,
}

/// An injected failure, with the scenario's message.
#[derive(Debug)]
struct Injected(String);

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Injected {}

impl<S> HarnessStore<S> {
    /// `Err` when the scenario makes `method` fail; `Ok(true)` when it fails with ENOENT (express: not found).
    fn fails(&self, method: &str) -> Result<bool, StoreError> {
        match self.failures.get(method) {
            None => Ok(false),
            Some(m) if m == "ENOENT" => Ok(true),
            Some(m) => Err(StoreError::backend("harness", Injected(m.clone()))),
        }
    }
}

impl<S: Store + Clone> Store for HarnessStore<S> {
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        if self.fails("get")? {
            return Ok(None);
        }
        self.inner.get(id).await
    }
    async fn create(&self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        self.fails("set")?;
        self.inner.create(id, record).await
    }
    async fn set(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.fails("set")?;
        self.inner.set(id, record).await
    }
    async fn save_if(&self, id: &SessionId, record: &Record, expected: &Version) -> Result<SaveOutcome, StoreError> {
        self.fails("set")?;
        self.inner.save_if(id, record, expected).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        self.fails("touch")?;
        self.inner.touch(id, record).await
    }
    async fn refresh(&self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        if self.fails("get")? {
            return Ok(TouchOutcome::Gone);
        }
        self.fails("touch")?;
        self.inner.refresh(id).await
    }
    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.fails("destroy")?;
        self.inner.destroy(id).await
    }
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    // The owner index of the store, as it is (`storeFail` injects no failures into it).
    fn owner_key(&self) -> Option<&str> {
        self.inner.owner_key()
    }
    async fn sessions_of(&self, owner: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        self.inner.sessions_of(owner, limit).await
    }
    async fn end_session_of(&self, owner: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.inner.end_session_of(owner, handle).await
    }
    async fn end_sessions_of(&self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        self.inner.end_sessions_of(owner, keep).await
    }
    async fn reindex(&self) -> Result<u64, StoreError> {
        self.inner.reindex().await
    }
}

/// The handlers' handle on the harness store: its readiness switch, which the `storeEvent` op flips.
#[derive(Debug, Clone)]
pub struct Harness {
    ready: Arc<AtomicBool>,
}

/// Everything a server needs to start, read from the environment by [`setup`].
#[derive(Debug)]
pub struct Setup {
    /// `PORT`: where to listen, on `127.0.0.1`.
    pub port: u16,
    /// The session options, the harness store in them; the server builds its middleware from them.
    pub options: SessionOptions,
    /// The handle the ops need ([`answer_post`]).
    pub harness: Harness,
    /// express's `trust proxy` for a loopback client: whether `X-Forwarded-Proto` counts ([`express_secure`]).
    pub trust_proxy: bool,
}

/// The message of an op's failure, as the Node twin reports it (the injected message for store failures).
fn message(error: &SessionError) -> String {
    match error {
        SessionError::NoSession => "no session".into(),
        SessionError::Store(e) => {
            let mut cause: &dyn std::error::Error = e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            cause.to_string()
        }
        other => other.to_string(),
    }
}

/// The longest `sleep` op.
const MAX_SLEEP: Duration = Duration::from_secs(10);

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 { json!(n as i64) } else { json!(n) }
}

/// Runs one op; `Ok(value)` is its result, `Err(message)` becomes `{"error": message}`.
async fn run_op(
    session: Option<&Session>,
    op: &Value,
    status: &mut StatusCode,
    harness: &Harness,
) -> Result<Value, String> {
    let name = op["op"].as_str().unwrap_or_default();
    let key = op["key"].as_str().unwrap_or_default();
    match name {
        "status" => {
            *status = op["value"].as_u64().and_then(|s| StatusCode::from_u16(s as u16).ok()).ok_or("bad status")?;
            return Ok(Value::Null);
        }
        "sleep" => {
            // `ms` or `value`, at most MAX_SLEEP: enough to hold a request in flight, never a hung server.
            let ms = op["ms"].as_u64().or_else(|| op["value"].as_u64()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms).min(MAX_SLEEP)).await;
            return Ok(Value::Null);
        }
        "storeEvent" => {
            match op["event"].as_str() {
                Some("connect") => harness.ready.store(true, Ordering::SeqCst),
                Some("disconnect") => harness.ready.store(false, Ordering::SeqCst),
                _ => return Err("unknown store event".into()),
            }
            return Ok(Value::Null);
        }
        _ => {}
    }
    if name == "unset" {
        // `req.session = null` needs no session: without one it changes nothing.
        return match session {
            Some(session) => session.unset().await.map(|()| Value::Null).map_err(|e| message(&e)),
            None => Ok(Value::Null),
        };
    }
    let session = session.ok_or("no session")?;
    if let Some(result) = owners::run(session, name, &op["value"]).await {
        return result;
    }
    let done = |r: Result<(), SessionError>| r.map(|()| Value::Null).map_err(|e| message(&e));
    match name {
        "get" => session.get_value(key).await.map(|v| v.unwrap_or(Value::Null)).map_err(|e| message(&e)),
        "set" => done(session.insert_value(key, op["value"].clone()).await),
        "remove" => done(session.remove::<Value>(key).await.map(|_| ())),
        "incr" => session
            .update(key, |old: Option<Value>| match old.as_ref().and_then(Value::as_f64) {
                Some(n) if old.as_ref().is_some_and(Value::is_number) => number(n + 1.0),
                _ => json!(1),
            })
            .await
            .map_err(|e| message(&e)),
        "regenerate" => done(session.regenerate().await),
        "destroy" => done(session.destroy().await),
        "reload" => done(session.reload().await),
        "save" => done(session.save().await),
        "touch" => done(session.touch().await),
        "resetMaxAge" => done(session.reset_max_age().await),
        "setMaxAge" => set_cookie_field(session, "maxAge", &op["value"]).await,
        "setCookieField" => set_cookie_field(session, op["field"].as_str().unwrap_or_default(), &op["value"]).await,
        _ => Err("unknown op".into()),
    }
}

async fn set_cookie_field(session: &Session, field: &str, value: &Value) -> Result<Value, String> {
    let mut result = Ok(());
    session
        .modify_cookie(|cookie, now| result = cookie.set_express_field(field, value, now))
        .await
        .map_err(|e| message(&e))?;
    result.map(|()| Value::Null).map_err(|e| e.to_string())
}

/// `{"id", "cookie"}` of the session as the request ends: both `null` once it is gone.
async fn describe(session: Option<&Session>) -> (Value, Value) {
    let Some(session) = session else { return (Value::Null, Value::Null) };
    match session.cookie().await {
        Ok(cookie) => {
            let id = session.id().await.ok().flatten().map_or(Value::Null, |id| json!(id.as_str()));
            (id, serde_json::to_value(&cookie).unwrap_or(Value::Null))
        }
        Err(_) => (Value::Null, Value::Null),
    }
}

/// The answer to a `GET` of any path but `/__health`, with status 200: `{"id": ...}`, the session untouched.
pub async fn answer_get(session: Option<&Session>) -> Value {
    let (id, _) = describe(session).await;
    json!({ "id": id })
}

/// The answer to a `POST`, as a server sends it.
#[derive(Debug)]
pub enum Answer {
    /// The handler failed (the `error` op): answer 500 with this body; the session is still saved as express
    /// saves it when that answer ends.
    Error(Value),
    /// The ops ran: answer with this status (200, or the `status` op's) and body.
    Ops(StatusCode, Value),
}

/// Runs the ops of a `POST` body (`{"ops": [...]}`, read whatever its content type; anything else runs none)
/// in order on the request's session.
pub async fn answer_post(session: Option<&Session>, body: &[u8], harness: &Harness) -> Answer {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut status = StatusCode::OK;
    let mut results = Vec::new();
    for op in body["ops"].as_array().into_iter().flatten() {
        if op["op"] == "error" {
            return Answer::Error(json!({"error": "error op"}));
        }
        results.push(match run_op(session, op, &mut status, harness).await {
            Ok(value) => value,
            Err(message) => json!({ "error": message }),
        });
    }
    let (id, cookie) = describe(session).await;
    Answer::Ops(status, json!({ "results": results, "id": id, "cookie": cookie }))
}

fn options<S: Store + Clone>(config: &Value, store: HarnessStore<S>) -> Result<SessionOptions, String> {
    // express-session's own defaults for what the scenario leaves out, and express's behaviour where ours differs.
    let base = SessionOptions::new()
        .resave(true)
        .save_uninitialized(true)
        .cookie(CookieOptions::new().allow_insecure_attributes(true))
        .store_not_ready(StoreNotReady::PassThrough)
        .allow_short_secret(true)
        .accept_any_id(true)
        .clear_cookie_on_destroy(false)
        .max_record_size(None);
    let mut express = config.clone();
    if let Some(obj) = express.as_object_mut() {
        for harness_key in ["trustProxy", "store", "storeFail", "storeTimeoutMs", "memoryCapacity"] {
            obj.remove(harness_key);
        }
    }
    let mut options = base.merge_express_json(&express).map_err(|e| e.to_string())?.store(store);
    match &config["storeTimeoutMs"] {
        Value::Null => {}
        value => {
            let ms = value.as_u64().filter(|ms| *ms > 0).ok_or("storeTimeoutMs must be a positive integer (ms)")?;
            options = options.store_timeout(Duration::from_millis(ms));
        }
    }
    Ok(options)
}

/// Express's `req.secure` under its `trust proxy` setting: the first `X-Forwarded-Proto` value (the header as
/// text; `None` when absent or not visible ASCII), trimmed, exactly `https` (express does not lower-case it), and
/// only when the proxy is trusted.
///
/// ```
/// use conformance_common::express_secure;
///
/// assert!(express_secure(true, Some(" https , http")));
/// assert!(!express_secure(true, Some("HTTPS")));
/// assert!(!express_secure(false, Some("https")));
/// ```
pub fn express_secure(trust_proxy: bool, forwarded_proto: Option<&str>) -> bool {
    trust_proxy && forwarded_proto.is_some_and(|v| v.split(',').next().unwrap_or_default().trim() == "https")
}

/// Reads the environment (`PORT`, `SESSION_OPTIONS`, and the store's `REDIS_URL`, `STORE_PREFIX`, `DATABASE_URL`,
/// `PG_TABLE`) and connects the store. A configuration the harness cannot serve ends the process with status 2,
/// its message on stderr after `program:` ([`fail`]); a missing `PORT` or a `SESSION_OPTIONS` that is not JSON
/// panics.
pub async fn setup(program: &str) -> Setup {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).expect("PORT must be set");
    let config: Value = serde_json::from_str(&std::env::var("SESSION_OPTIONS").unwrap_or_else(|_| "{}".into()))
        .expect("SESSION_OPTIONS must be JSON");
    match config["store"].as_str().unwrap_or("memory") {
        "memory" => match memory_store(&config) {
            Ok(store) => with_store(program, port, config, store),
            Err(error) => fail(program, &error),
        },
        "postgres" => {
            let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
            let table = std::env::var("PG_TABLE").unwrap_or_else(|_| "session".into());
            let store = express_session_postgres::PostgresStore::builder()
                .table_name(table)
                .create_table_if_missing(true)
                .owner_key(OWNER_KEY)
                .connect(&url)
                .await;
            // The table may exist without the owner column (the runner creates it, as connect-pg-simple's
            // table.sql would): reindex adds it, under a lock, once whatever the number of instances starting.
            let store = match store {
                Ok(store) => store.reindex().await.map(|_| store),
                Err(error) => Err(error),
            };
            match store {
                Ok(store) => with_store(program, port, config, store),
                Err(error) => fail(program, &format!("PostgreSQL at {url}: {error}")),
            }
        }
        "redis" => {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let prefix = std::env::var("STORE_PREFIX").unwrap_or_else(|_| "sess:".into());
            match express_session_redis::RedisStore::builder().prefix(prefix).owner_key(OWNER_KEY).connect(&url).await {
                Ok(store) => with_store(program, port, config, store),
                Err(error) => fail(program, &format!("Redis at {url}: {error}")),
            }
        }
        other => fail(program, &format!("store {other:?} is not available (memory, redis, postgres)")),
    }
}

/// The MemoryStore with its owner index ([`OWNER_KEY`]), bounded at `memoryCapacity` sessions when it is given
/// (express's MemoryStore has no bound).
fn memory_store(config: &Value) -> Result<MemoryStore, String> {
    let builder = MemoryStore::builder().owner_key(OWNER_KEY);
    match &config["memoryCapacity"] {
        Value::Null => Ok(builder.build()),
        value => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n > 0 => Ok(builder.capacity(n).build()),
            _ => Err(format!("memoryCapacity must be a positive integer, not {value}")),
        },
    }
}

/// The harness store over `inner`, and the options with it.
fn with_store<S: Store + Clone>(program: &str, port: u16, config: Value, inner: S) -> Setup {
    let failures = config["storeFail"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    let ready = Arc::new(AtomicBool::new(true));
    let store = HarnessStore { inner, ready: ready.clone(), failures: Arc::new(failures) };
    let options = match options(&config, store) {
        Ok(options) => options,
        Err(error) => fail(program, &error),
    };
    // Every client of the harness is on loopback, so any trust-proxy setting that trusts loopback trusts it.
    let trust_proxy = match &config["trustProxy"] {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_u64().is_some_and(|hops| hops > 0),
        Value::String(s) => ["loopback", "127.0.0.1", "::1"].iter().any(|t| s.contains(t)),
        _ => false,
    };
    Setup { port, options, harness: Harness { ready }, trust_proxy }
}

/// Ends the process with status 2 and `program: message` on stderr: a configuration the harness cannot serve
/// (the runner reports the server as failing to start).
pub fn fail(program: &str, message: &str) -> ! {
    eprintln!("{program}: {message}");
    std::process::exit(2);
}
