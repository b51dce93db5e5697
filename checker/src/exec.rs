//! Running a sequence: two server instances (session layers) over one store, the clients' cookie jars, and the
//! handler that performs each request's ops and records what it saw and when.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use express_session::record::CREATED_AT_KEY;
use express_session::store::{OwnerPage, SessionHandle};
use express_session::{Clock, CookieOptions, Session, SessionError, SessionManagerLayer, SessionOptions, Store};
use http::{Request, Response};
use serde_json::{Value, json};
use tower_layer::Layer as _;
use tower_service::Service;

use crate::sequence::{KEYS, Op};

/// The layers' secret (the Node app would share it).
pub const SECRET: &str = "the checker's secret, long enough for the checks";

/// The data key that names a session's owner (the stores' `owner_key`).
pub const OWNER_KEY: &str = "owner";

/// The owner name of owner number `n` in the sequence run `run` (a name of its own: the SQL checkers share one
/// table between sequences, run four at once).
pub fn owner_name(run: &str, n: usize) -> String {
    format!("owner{n}-{run}")
}

/// What one op did: its span in time (microseconds since the step began) and its result.
#[derive(Debug, Clone)]
pub struct OpOut {
    /// The op.
    pub op: Op,
    /// When the call began.
    pub start: i64,
    /// When it returned.
    pub end: i64,
    /// Its value (`get`: the data; `insert`: the value written; `remove`: the old value; `update`: the new
    /// count; `regenerate`: the new login's tag; `cycle_id`: `{"moved": tag}` or `{"reset": new login's tag}`;
    /// `end_others`, `end_all`: how many sessions it ended; `list_own`: `{"entries": [[handle, current], ...],
    /// "more": bool}`; `end_one`: the listing, and `{"handle": handle or null, "ended": bool}`) or the error's name.
    pub result: Result<Value, String>,
}

/// What the handler of one request saw.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The session's `user` tag when the handler first looked (`None` inside: a new session); `None` when the
    /// request had no ops (the handler never touched its session).
    pub first: Option<Result<Option<String>, String>>,
    /// When that first look ended.
    pub first_end: i64,
    /// The tag the handler logged a new session in with (a new session and a writing request).
    pub login: Option<String>,
    /// A login's `set_owner` failed with this error.
    pub owner_error: Option<String>,
    /// The ops, in order.
    pub ops: Vec<OpOut>,
}

/// A request's script, passed to the handler in the request's extensions.
#[derive(Clone)]
struct Script {
    ops: Arc<Vec<Op>>,
    tag: String,
    owner: Option<String>,
    trace: Arc<Mutex<Trace>>,
    base: Instant,
}

fn micros(base: Instant) -> i64 {
    i64::try_from(base.elapsed().as_micros()).unwrap_or(i64::MAX)
}

fn error_name(error: &SessionError) -> String {
    match error {
        SessionError::NoSession => "NoSession".into(),
        SessionError::NotFound => "NotFound".into(),
        other => format!("{other:?}"),
    }
}

/// The data as the model sees it: without the creation stamp.
fn visible(data: serde_json::Map<String, Value>) -> Value {
    let mut data = data;
    data.shift_remove(CREATED_AT_KEY);
    Value::Object(data)
}

/// A login: the owner when the store keeps an owner index (first: a login the store refuses, `OwnerEnded`, leaves
/// the new session empty), then the `user` tag.
async fn login(session: &Session, tag: &str, owner: Option<&str>) -> Result<(), SessionError> {
    if let Some(owner) = owner {
        session.set_owner(owner).await?;
    }
    session.insert("user", tag).await
}

/// The owner's sessions as the model reads them: `[[handle, current], ...]`.
fn listing(page: &OwnerPage) -> Value {
    Value::Array(page.sessions.iter().map(|s| json!([s.handle.as_str(), s.current])).collect())
}

/// The handle of the session's id now (a new session's, or the new id of a `cycle_id`, even when not stored).
async fn own_handle(session: &Session) -> Result<Value, SessionError> {
    Ok(session.id().await?.map_or(Value::Null, |id| json!(SessionHandle::of(&id).as_str())))
}

async fn run_op(session: &Session, op: Op, value: &str, owner: Option<&str>) -> Result<Value, SessionError> {
    match op {
        Op::Get => session.data().await.map(visible),
        Op::Insert(k) => session.insert(KEYS[usize::from(k)], value).await.map(|()| json!(value)),
        Op::Remove(k) => session.remove::<Value>(KEYS[usize::from(k)]).await.map(|v| v.unwrap_or(Value::Null)),
        Op::Update => session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(|n| json!(n)),
        Op::Save => session.save().await.map(|()| Value::Null),
        Op::Touch => session.touch().await.map(|()| Value::Null),
        Op::Regenerate => {
            session.regenerate().await?;
            login(session, value, owner).await.map(|()| json!(value))
        }
        Op::CycleId => {
            // The session either moved to a new id with its data, or (when a concurrent logout ended it) went on
            // as a new, empty session, which the handler logs in again.
            session.cycle_id().await?;
            match session.get_value("user").await? {
                Some(tag) => Ok(json!({ "moved": tag })),
                None => login(session, value, owner).await.map(|()| json!({ "reset": value })),
            }
        }
        Op::Destroy => session.destroy().await.map(|()| Value::Null),
        Op::Reload => session.reload().await.map(|()| Value::Null),
        Op::Pause(0) => {
            tokio::task::yield_now().await;
            Ok(Value::Null)
        }
        Op::Pause(ms) => {
            tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
            Ok(Value::Null)
        }
        Op::EndOthers => session.end_other_sessions().await.map(|n| json!(n)),
        Op::EndAll => session.end_all_sessions().await.map(|n| json!(n)),
        Op::ListOwn => {
            let page = session.owner_sessions().await?;
            Ok(json!({ "entries": listing(&page), "more": page.more, "self": own_handle(session).await? }))
        }
        Op::EndOne => {
            let page = session.owner_sessions().await?;
            let own = own_handle(session).await?;
            let Some(other) = page.sessions.iter().find(|s| !s.current) else {
                return Ok(json!({ "entries": listing(&page), "self": own, "handle": null, "ended": false }));
            };
            let ended = session.end_owner_session(&other.handle).await?;
            Ok(json!({ "entries": listing(&page), "self": own, "handle": other.handle.as_str(), "ended": ended }))
        }
    }
}

async fn handle(session: Session, script: Script) {
    let Script { ops, tag, owner, trace, base } = script;
    if ops.is_empty() {
        return;
    }
    let first = session.get_value("user").await;
    let first_end = micros(base);
    let first = first.map(|v| v.and_then(|v| v.as_str().map(str::to_owned))).map_err(|e| error_name(&e));
    let (mut login_tag, mut owner_error) = (None, None);
    if matches!(first, Ok(None)) && ops.iter().any(|op| op.writes()) {
        let value = format!("{tag}t");
        if session.insert("user", &value).await.is_ok() {
            login_tag = Some(value);
            if let Some(owner) = &owner
                && let Err(e) = session.set_owner(owner.as_str()).await
            {
                owner_error = Some(error_name(&e));
            }
        }
    }
    {
        let mut t = trace.lock().expect("trace lock");
        t.first = Some(first);
        t.first_end = first_end;
        t.login = login_tag;
        t.owner_error = owner_error;
    }
    for (i, op) in ops.iter().enumerate() {
        let start = micros(base);
        let value = format!("{tag}o{i}");
        let result = run_op(&session, *op, &value, owner.as_deref()).await.map_err(|e| error_name(&e));
        let end = micros(base);
        // A login refused because another request ended the owner's session meanwhile: the app drops the new,
        // empty session (a regenerated session is saved even when empty, as express saves it) and answers.
        let refused = result.as_ref().is_err_and(|e| e == "OwnerEnded");
        trace.lock().expect("trace lock").ops.push(OpOut { op: *op, start, end, result });
        if refused {
            let _ = session.destroy().await;
            break;
        }
    }
}

/// The application behind the session layer: runs the request's script.
#[derive(Debug, Clone)]
pub struct App;

impl Service<Request<String>> for App {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let session = request.extensions().get::<Session>().cloned();
        let script = request.extensions().get::<Script>().cloned();
        Box::pin(async move {
            let mut response = Response::new(String::new());
            match (session, script) {
                (Some(session), Some(script)) => handle(session, script).await,
                _ => *response.status_mut() = http::StatusCode::IM_A_TEAPOT,
            }
            Ok(response)
        })
    }
}

/// The time parameters of a run.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// `cookie.maxAge`, ms.
    pub max_age: i64,
    /// The absolute timeout, ms.
    pub absolute: i64,
    /// How far the store's notion of expiry may be from the exact one, ms (0 with a manual clock; rounding to
    /// whole seconds and request latency with real time).
    pub tolerance: i64,
    /// Whether the clock is manual (time moves are clock moves) or real (time moves are sleeps).
    pub manual: bool,
}

/// One server instance: the session layer over the shared store.
pub fn instance<S: Store>(
    store: &Arc<S>,
    clock: &Clock,
    times: Times,
    rolling: bool,
    absolute: bool,
) -> express_session::SessionManager<App> {
    let mut options = SessionOptions::new()
        .secret(SECRET)
        .shared_store(Arc::clone(store))
        .clock(clock.clone())
        .rolling(rolling)
        .cookie(CookieOptions::new().max_age(Duration::from_millis(times.max_age as u64)));
    if absolute {
        options = options.absolute_timeout(Duration::from_millis(times.absolute as u64));
    }
    SessionManagerLayer::new(options).expect("valid options").layer(App)
}

/// What a request got back.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The index of the request in its step.
    pub index: usize,
    /// The session id the request's cookie named.
    pub sent: Option<String>,
    /// When it was sent and answered (microseconds since the step began).
    pub start: i64,
    /// When it was answered.
    pub end: i64,
    /// The wall-clock time (ms, the layers' clock) when it was sent and answered.
    pub wall_start: i64,
    /// As `wall_start`, at the answer.
    pub wall_end: i64,
    /// The status, or `None` when the service panicked.
    pub status: Option<u16>,
    /// Every `Set-Cookie`'s session id (`Some("")` for a removal cookie).
    pub set_cookies: Vec<String>,
    /// The layer's error, when it answered with one (in the response's extensions).
    pub error: Option<String>,
    /// What the handler saw.
    pub trace: Trace,
    /// The tag prefix of its values.
    pub tag: String,
}

/// The session id inside a `connect.sid=...` pair, `""` for a removal cookie, `None` when it is not ours.
pub fn id_of(pair: &str) -> Option<String> {
    let value = pair.split_once('=').map(|(_, v)| v)?;
    if value.is_empty() {
        return Some(String::new());
    }
    let decoded = express_session::wire::decode_uri_component(value.as_bytes())?;
    let signed = decoded.strip_prefix("s:")?;
    let id = express_session::wire::unsign(signed, SECRET.as_bytes())?;
    Some(id.to_owned())
}

/// The `Cookie` header for a session id.
pub fn cookie_for(id: &str) -> String {
    let signed = express_session::wire::sign(id, SECRET.as_bytes());
    format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")))
}

/// Sends one request and waits for its answer (a panic in the service is caught and reported).
pub async fn send(
    service: express_session::SessionManager<App>,
    index: usize,
    sent: Option<String>,
    ops: Vec<Op>,
    (tag, owner): (String, Option<String>),
    base: Instant,
    clock: Clock,
) -> Outcome {
    let trace = Arc::new(Mutex::new(Trace::default()));
    let script = Script { ops: Arc::new(ops), tag: tag.clone(), owner, trace: Arc::clone(&trace), base };
    let mut request = Request::builder().uri("/");
    if let Some(id) = &sent {
        request = request.header(http::header::COOKIE, cookie_for(id));
    }
    let mut request = request.body(String::new()).expect("a valid request");
    request.extensions_mut().insert(script);
    let start = micros(base);
    let wall_start = clock.now().as_millis();
    let mut service = service;
    let answer = tokio::spawn(async move { service.call(request).await }).await;
    let end = micros(base);
    let wall_end = clock.now().as_millis();
    let (status, set_cookies, error) = match answer {
        Ok(Ok(response)) => {
            let error = response.extensions().get::<Arc<SessionError>>().map(|e| format!("{e:?}"));
            let cookies = response
                .headers()
                .get_all(http::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| id_of(v.split(';').next().unwrap_or_default()))
                .collect();
            (Some(response.status().as_u16()), cookies, error)
        }
        Ok(Err(never)) => match never {},
        Err(_) => (None, Vec::new(), None),
    };
    let trace = trace.lock().map(|t| t.clone()).unwrap_or_default();
    Outcome { index, sent, start, end, wall_start, wall_end, status, set_cookies, error, trace, tag }
}
