//! Running a sequence: two server instances (session layers) over one store, the clients' cookie jars, and the
//! handler that performs each request's ops and records what it saw and when.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use express_session::record::CREATED_AT_KEY;
use express_session::{Clock, CookieOptions, Session, SessionError, SessionManagerLayer, SessionOptions, Store};
use http::{Request, Response};
use serde_json::{Value, json};
use tower_layer::Layer as _;
use tower_service::Service;

use crate::sequence::{KEYS, Op};

/// The layers' secret (the Node app would share it).
pub const SECRET: &str = "the checker's secret, long enough for the checks";

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
    /// count; `regenerate`: the new login's tag; `cycle_id`: `{"moved": tag}` or `{"reset": new login's tag}`) or the
    /// error's name.
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
    /// The ops, in order.
    pub ops: Vec<OpOut>,
}

/// A request's script, passed to the handler in the request's extensions.
#[derive(Clone)]
struct Script {
    ops: Arc<Vec<Op>>,
    tag: String,
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

async fn run_op(session: &Session, op: Op, value: &str) -> Result<Value, SessionError> {
    match op {
        Op::Get => session.data().await.map(visible),
        Op::Insert(k) => session.insert(KEYS[usize::from(k)], value).await.map(|()| json!(value)),
        Op::Remove(k) => session.remove::<Value>(KEYS[usize::from(k)]).await.map(|v| v.unwrap_or(Value::Null)),
        Op::Update => session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.map(|n| json!(n)),
        Op::Save => session.save().await.map(|()| Value::Null),
        Op::Touch => session.touch().await.map(|()| Value::Null),
        Op::Regenerate => {
            session.regenerate().await?;
            session.insert("user", value).await.map(|()| json!(value))
        }
        Op::CycleId => {
            // The session either moved to a new id with its data, or (when a concurrent logout ended it) went on
            // as a new, empty session, which the handler logs in again.
            session.cycle_id().await?;
            match session.get_value("user").await? {
                Some(tag) => Ok(json!({ "moved": tag })),
                None => session.insert("user", value).await.map(|()| json!({ "reset": value })),
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
    }
}

async fn handle(session: Session, script: Script) {
    let Script { ops, tag, trace, base } = script;
    if ops.is_empty() {
        return;
    }
    let first = session.get_value("user").await;
    let first_end = micros(base);
    let first = first.map(|v| v.and_then(|v| v.as_str().map(str::to_owned))).map_err(|e| error_name(&e));
    let mut login = None;
    if matches!(first, Ok(None)) && ops.iter().any(|op| op.writes()) {
        let value = format!("{tag}t");
        if session.insert("user", &value).await.is_ok() {
            login = Some(value);
        }
    }
    {
        let mut t = trace.lock().expect("trace lock");
        t.first = Some(first);
        t.first_end = first_end;
        t.login = login;
    }
    for (i, op) in ops.iter().enumerate() {
        let start = micros(base);
        let value = format!("{tag}o{i}");
        let result = run_op(&session, *op, &value).await.map_err(|e| error_name(&e));
        let end = micros(base);
        trace.lock().expect("trace lock").ops.push(OpOut { op: *op, start, end, result });
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
    tag: String,
    base: Instant,
    clock: Clock,
) -> Outcome {
    let trace = Arc::new(Mutex::new(Trace::default()));
    let script = Script { ops: Arc::new(ops), tag: tag.clone(), trace: Arc::clone(&trace), base };
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
    let (status, set_cookies) = match answer {
        Ok(Ok(response)) => {
            let cookies = response
                .headers()
                .get_all(http::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| id_of(v.split(';').next().unwrap_or_default()))
                .collect();
            (Some(response.status().as_u16()), cookies)
        }
        Ok(Err(never)) => match never {},
        Err(_) => (None, Vec::new()),
    };
    let trace = trace.lock().map(|t| t.clone()).unwrap_or_default();
    Outcome { index, sent, start, end, wall_start, wall_end, status, set_cookies, trace, tag }
}
