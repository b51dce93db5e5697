//! Failing fast while the store is down: one time budget per request for all its store calls, no call after
//! one that failed as unavailable, the circuit breaker at the store guard, and one log line per failure (with
//! its cause once). The store here is a real MemoryStore behind a switch; the same targets are checked against
//! real Redis, PostgreSQL and MySQL servers in those crates' `tests/faults.rs`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::{Counting, TestApp, options};
use express_session::options::{CircuitBreaker, OnStoreError};
use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome, Version, Versioned};
use express_session::{
    Clock, ConfigError, MemoryStore, Record, Session, SessionError, SessionId, SessionManagerLayer, SessionOptions,
    Timestamp,
};
use http::StatusCode;

/// How the [`Switch`] store behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Up,
    /// Every call fails as a refused connection (the error prints its cause and also returns it as its
    /// source, as `redis::RedisError` does).
    Refused,
    /// Every call hangs.
    Hung,
    /// Every call takes this long, then works.
    Slow(Duration),
    /// Every call fails with a backend error (500).
    Broken,
}

/// A MemoryStore behind a switch.
#[derive(Debug, Clone)]
struct Switch {
    inner: MemoryStore,
    mode: Arc<Mutex<Mode>>,
}

/// An error that prints its cause in its own message and also returns it from `source()`.
#[derive(Debug)]
struct ClientError(std::io::Error);

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl Switch {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    async fn check(&self) -> Result<(), StoreError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Up => Ok(()),
            Mode::Refused => Err(StoreError::unavailable(
                "switch",
                ClientError(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "Connection refused (os error 111)",
                )),
            )),
            Mode::Hung => std::future::pending().await,
            Mode::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Mode::Broken => Err(StoreError::backend("switch", ClientError(std::io::Error::other("WRONGTYPE")))),
        }
    }
}

impl Store for Switch {
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
}

async fn count(session: Session) -> Result<String, SessionError> {
    Ok(session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?.to_string())
}

/// Three store calls when the session exists: a read, a destroy and a create.
async fn relogin(session: Session) -> Result<&'static str, SessionError> {
    session.get::<u64>("n").await?;
    session.regenerate().await?;
    session.insert("user", "alice").await?;
    Ok("ok")
}

async fn untouched() -> &'static str {
    "ok"
}

struct Harness {
    app: TestApp,
    switch: Switch,
    calls: Counting<Switch>,
}

fn harness(options: SessionOptions) -> Harness {
    let switch = Switch { inner: MemoryStore::new(), mode: Arc::new(Mutex::new(Mode::Up)) };
    let calls = Counting::new(switch.clone());
    let routes = Router::new().route("/count", get(count)).route("/relogin", get(relogin)).route("/", get(untouched));
    let layer = SessionManagerLayer::new(options.store(calls.clone())).unwrap();
    let app = TestApp { app: routes.layer(layer), store: switch.inner.clone(), clock: Clock::system() };
    Harness { app, switch, calls }
}

/// Every log line of the test process, from one global subscriber (scoped subscribers in tests that run in
/// parallel disturb tracing's per-callsite caches). Lines carry their thread's name, which is the test's name
/// (each test runs on its own current-thread runtime).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();

/// This test's log lines from now on.
struct TestLogs {
    thread: String,
}

impl TestLogs {
    fn capture() -> Self {
        let logs = LOGS.get_or_init(|| {
            let logs = Logs::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_thread_names(true)
                .with_max_level(tracing::Level::DEBUG)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
            logs
        });
        let this = Self { thread: std::thread::current().name().expect("a named test thread").to_owned() };
        drop(this.take_from(logs));
        this
    }

    fn take_from(&self, logs: &Logs) -> String {
        let mut buffer = logs.0.lock().unwrap();
        let text = String::from_utf8_lossy(&buffer).into_owned();
        let (mine, others): (Vec<&str>, Vec<&str>) =
            text.lines().partition(|line| line.contains(&format!(" {} ", self.thread)));
        *buffer = others.iter().flat_map(|line| [line.as_bytes(), b"\n"]).flatten().copied().collect();
        mine.join("\n")
    }

    /// This test's lines since the last call.
    fn take(&self) -> String {
        self.take_from(LOGS.get().expect("capturing"))
    }

    fn errors(text: &str) -> Vec<&str> {
        text.lines().filter(|line| line.contains(" ERROR ")).collect()
    }
}

#[tokio::test]
async fn a_failing_request_calls_the_store_once_and_logs_one_line_with_its_cause_once() {
    let h = harness(options().store_circuit_breaker(None));
    let cookie = h.app.get("/count", None).await.cookie();
    h.calls.take();
    h.switch.set(Mode::Refused);
    let logs = TestLogs::capture();

    let reply = h.app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.calls.take(), ["get"], "the end of the request does not call the failing store again");
    let text = logs.take();
    let errors = TestLogs::errors(&text);
    assert_eq!(errors.len(), 1, "one error line per failing request:\n{text}");
    assert_eq!(errors[0].matches("Connection refused").count(), 1, "the cause once: {}", errors[0]);
    assert!(errors[0].contains("session store switch is unavailable"), "{}", errors[0]);

    // A request whose only store call is at the end (an untouched session is refreshed): one call, one line.
    let reply = h.app.get("/", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.calls.take(), ["refresh"]);
    assert_eq!(TestLogs::errors(&logs.take()).len(), 1);

    // Three calls planned: the first fails, the other two are never made.
    let reply = h.app.get("/relogin", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.calls.take(), ["get"]);
    assert_eq!(TestLogs::errors(&logs.take()).len(), 1);

    // Serving without a session: one line as well.
    let h = harness(options().store_circuit_breaker(None).on_store_error(OnStoreError::ServeWithoutSession));
    let cookie = h.app.get("/count", None).await.cookie();
    h.calls.take();
    h.switch.set(Mode::Refused);
    logs.take();
    let reply = h.app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "the handler got NoSession");
    assert_eq!(h.calls.take(), ["get"]);
    let text = logs.take();
    assert_eq!(TestLogs::errors(&text).len(), 1, "{text}");
    assert_eq!(TestLogs::errors(&text)[0].matches("Connection refused").count(), 1);
}

#[tokio::test]
async fn a_backend_error_is_logged_once_and_does_not_stop_later_calls() {
    let h = harness(options());
    let cookie = h.app.get("/count", None).await.cookie();
    h.calls.take();
    h.switch.set(Mode::Broken);
    let logs = TestLogs::capture();
    for _ in 0..3 {
        let reply = h.app.get("/count", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        // Not "unavailable": the end of the request makes its own call (as express does; it fails again), and
        // the breaker stays closed, so every request calls the store. Still one log line, the first failure's.
        assert_eq!(h.calls.take(), ["get", "refresh"]);
        let text = logs.take();
        let errors = TestLogs::errors(&text);
        assert_eq!(errors.len(), 1, "{text}");
        assert_eq!(errors[0].matches("WRONGTYPE").count(), 1, "{}", errors[0]);
        assert!(errors[0].contains("later_failures=1"), "{}", errors[0]);
    }
    h.switch.set(Mode::Up);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.body, "2");
}

#[tokio::test]
async fn all_the_store_calls_of_a_request_share_one_timeout() {
    // Each call takes 60 % of the timeout: the second one of a request runs out of time. Before, each call had
    // its own timeout and the request took 3 x 60 %.
    let timeout = Duration::from_millis(400);
    let h = harness(options().store_timeout(timeout));
    let cookie = h.app.get("/count", None).await.cookie();
    h.calls.take();
    h.switch.set(Mode::Slow(timeout * 6 / 10));
    let started = Instant::now();
    let reply = h.app.get("/relogin", Some(&cookie)).await;
    let took = started.elapsed();
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.calls.take(), ["get", "destroy"], "no call after the one that ran out of time");
    assert!(took >= timeout, "answered before the budget was used: {took:?}");
    assert!(took < timeout + Duration::from_millis(300), "one timeout for the whole request, took {took:?}");

    // A slow store is not a dead one: that timeout (with less than half the budget left) did not open the
    // breaker, so the next request calls the store and, given the time, succeeds.
    h.switch.set(Mode::Slow(timeout * 3 / 10));
    let reply = h.app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "2");
    assert_eq!(h.calls.take(), ["get", "save_if"]);
}

#[tokio::test]
async fn a_hung_store_costs_one_timeout_then_requests_fail_fast_until_it_answers() {
    let timeout = Duration::from_millis(300);
    let probe = Duration::from_millis(200);
    let h = harness(
        options().store_timeout(timeout).store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(probe))),
    );
    let cookie = h.app.get("/count", None).await.cookie();
    h.calls.take();
    h.switch.set(Mode::Hung);

    let started = Instant::now();
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let first = started.elapsed();
    assert!(first >= timeout && first < timeout + Duration::from_millis(300), "the first request: {first:?}");
    assert_eq!(h.calls.take(), ["get"]);

    // Open: the next requests answer 503 at once, without calling the store, whatever they need.
    for path in ["/count", "/relogin", "/"] {
        let started = Instant::now();
        let reply = h.app.get(path, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(started.elapsed() < Duration::from_millis(50), "{path} took {:?}", started.elapsed());
    }
    assert_eq!(h.app.get("/count", None).await.status, StatusCode::SERVICE_UNAVAILABLE, "a new session too");
    assert!(h.calls.take().is_empty(), "no store call while the breaker is open");

    // After the probe interval, one request at a time probes; the others still fail fast.
    tokio::time::sleep(probe).await;
    let requests: Vec<_> = (0..5)
        .map(|_| {
            let (app, cookie) = (h.app.app.clone(), cookie.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let request = http::Request::get("/count").header("cookie", cookie).body(axum::body::Body::empty());
                let response = tower::ServiceExt::oneshot(app, request.unwrap()).await.unwrap();
                (response.status(), started.elapsed())
            })
        })
        .collect();
    let mut slow = 0;
    for request in requests {
        let (status, took) = request.await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        if took >= timeout {
            slow += 1;
        }
    }
    assert_eq!(slow, 1, "exactly one probe waited for the hung store");
    assert_eq!(h.calls.take(), ["get"], "one probe");

    // The store answers again: the first request after the next probe interval gets its 200, and so do all the
    // next ones, without waiting.
    h.switch.set(Mode::Up);
    let back = Instant::now();
    loop {
        let reply = h.app.get("/count", Some(&cookie)).await;
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body, "2", "nothing was lost, nothing applied twice");
            break;
        }
        assert!(back.elapsed() < probe + Duration::from_millis(300), "not back after {:?}", back.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(back.elapsed() <= probe + Duration::from_millis(300), "first 200 after {:?}", back.elapsed());
    for n in 3..6 {
        assert_eq!(h.app.get("/count", Some(&cookie)).await.body, n.to_string());
    }
}

#[tokio::test]
async fn a_dead_store_fails_fast_and_a_backend_error_closes_nothing_it_did_not_open() {
    let probe = Duration::from_millis(100);
    let h = harness(
        options().store_circuit_breaker(Some(CircuitBreaker::new().failure_threshold(2).probe_interval(probe))),
    );
    let cookie = h.app.get("/count", None).await.cookie();
    h.calls.take();
    h.switch.set(Mode::Refused);
    // Two failures in a row open it (threshold 2); each request makes one call.
    for _ in 0..2 {
        assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h.calls.take(), ["get"]);
    }
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.calls.take().is_empty(), "open after two failures");
    // A probe that gets a backend error got an answer: the store is reachable, the breaker closes, and the 500
    // is a 500.
    tokio::time::sleep(probe).await;
    h.switch.set(Mode::Broken);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h.calls.take(), ["get", "refresh"]);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h.calls.take(), ["get", "refresh"], "closed");
    h.switch.set(Mode::Up);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.body, "2");
}

#[tokio::test]
async fn without_the_breaker_every_request_calls_the_store() {
    let h = harness(options().store_circuit_breaker(None));
    let cookie = h.app.get("/count", None).await.cookie();
    h.calls.take();
    h.switch.set(Mode::Refused);
    for _ in 0..3 {
        assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h.calls.take(), ["get"]);
    }
    h.switch.set(Mode::Up);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.body, "2", "back at once");
}

#[test]
fn nonsense_breaker_and_timeout_settings_are_refused_at_build() {
    let build = |options: SessionOptions| SessionManagerLayer::new(options).map(drop);
    let error = build(options().store_circuit_breaker(Some(CircuitBreaker::new().failure_threshold(0)))).unwrap_err();
    assert_eq!(error, ConfigError::BreakerThreshold);
    assert!(error.to_string().contains("failure_threshold"), "{error}");
    for interval in [Duration::ZERO, Duration::from_secs(61)] {
        let error = build(options().store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(interval))));
        assert_eq!(error.unwrap_err(), ConfigError::BreakerProbeInterval { interval });
    }
    assert_eq!(build(options().store_timeout(Duration::ZERO)).unwrap_err(), ConfigError::ZeroStoreTimeout);
    assert!(build(options().store_circuit_breaker(Some(CircuitBreaker::new().failure_threshold(5)))).is_ok());
    assert!(build(options().store_circuit_breaker(None)).is_ok());
}

#[tokio::test]
async fn a_probe_whose_request_goes_away_lets_the_next_request_probe() {
    let timeout = Duration::from_millis(300);
    let probe = Duration::from_millis(50);
    let h = harness(
        options().store_timeout(timeout).store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(probe))),
    );
    let cookie = h.app.get("/count", None).await.cookie();
    h.switch.set(Mode::Hung);
    let logs = TestLogs::capture();
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = logs.take();
    assert_eq!(TestLogs::errors(&text).len(), 1, "the failure that opened the breaker: {text}");
    assert_eq!(text.lines().filter(|line| line.contains(" WARN ") && line.contains("breaker open")).count(), 1);
    // Open: a fast 503, logged at debug only (the failure that opened the breaker was logged at error, and the
    // breaker logs when it opens), naming the breaker and that failure.
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let text = logs.take();
    assert!(TestLogs::errors(&text).is_empty(), "{text}");
    let debug: Vec<&str> =
        text.lines().filter(|line| line.contains(" DEBUG ") && line.contains("not called")).collect();
    assert_eq!(debug.len(), 1, "{text}");
    assert!(debug[0].contains("circuit open") && debug[0].contains("timed out"), "{}", debug[0]);
    h.calls.take();

    // The probe's request is dropped (the client went away) while it waits on the hung store.
    tokio::time::sleep(probe).await;
    let dropped = tokio::time::timeout(Duration::from_millis(50), h.app.get("/count", Some(&cookie))).await;
    assert!(dropped.is_err(), "the probe was waiting");
    assert_eq!(h.calls.take(), ["get"]);
    // The next request probes at once, instead of the breaker waiting for a probe that will never finish.
    h.switch.set(Mode::Up);
    let reply = h.app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.calls.take(), ["get", "save_if"]);
    let text = logs.take();
    assert!(text.lines().any(|line| line.contains(" INFO ") && line.contains("breaker closed")), "{text}");
}

/// Sends `GET path` on its own task (so that it runs while the test goes on).
fn spawn_get(app: &TestApp, path: &'static str, cookie: &str) -> tokio::task::JoinHandle<(StatusCode, Duration)> {
    let (app, cookie) = (app.app.clone(), cookie.to_owned());
    tokio::spawn(async move {
        let started = Instant::now();
        let request = http::Request::get(path).header("cookie", cookie).body(axum::body::Body::empty());
        let response = tower::ServiceExt::oneshot(app, request.unwrap()).await.unwrap();
        (response.status(), started.elapsed())
    })
}

#[tokio::test]
async fn a_failure_of_a_call_made_before_the_store_came_back_does_not_reopen_the_breaker() {
    let timeout = Duration::from_millis(400);
    let probe = Duration::from_millis(50);
    let h = harness(
        options().store_timeout(timeout).store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(probe))),
    );
    let cookie = h.app.get("/count", None).await.cookie();
    // A request's read hangs (a call on a connection that is gone), while the breaker is still closed.
    h.switch.set(Mode::Hung);
    let stale = spawn_get(&h.app, "/count", &cookie);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Another request's call is refused: the breaker opens.
    h.switch.set(Mode::Refused);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    // The store is back: the probe gets its answer and closes the breaker.
    h.switch.set(Mode::Up);
    tokio::time::sleep(probe).await;
    let reply = h.app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "the probe");
    assert_eq!(reply.body, "2");
    // The hung call times out now, long after the store came back: the failure is old news.
    assert_eq!(stale.await.unwrap().0, StatusCode::SERVICE_UNAVAILABLE);
    h.calls.take();
    let reply = h.app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "a stale timeout reopened the breaker of a store that answers");
    assert_eq!(reply.body, "3");
    assert_eq!(h.calls.take(), ["get", "save_if"]);
}

#[tokio::test]
async fn an_answer_to_a_call_made_before_the_breaker_opened_does_not_close_it() {
    let timeout = Duration::from_millis(300);
    let probe = Duration::from_secs(5);
    let h = harness(
        options().store_timeout(timeout).store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(probe))),
    );
    let cookie = h.app.get("/count", None).await.cookie();
    // A request's read is under way (slow) while the breaker is closed.
    h.switch.set(Mode::Slow(Duration::from_millis(150)));
    let old = spawn_get(&h.app, "/count", &cookie);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Then the store goes down: a call is refused, the breaker opens; then the store hangs.
    h.switch.set(Mode::Refused);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    h.switch.set(Mode::Hung);
    // The old read's answer (sent before the store went down) arrives now; its request then finds the breaker
    // open for its save.
    assert_eq!(old.await.unwrap().0, StatusCode::SERVICE_UNAVAILABLE);
    h.calls.take();
    // The breaker is still open: no probe is due, so requests fail fast without calling the hung store.
    let started = Instant::now();
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "an old answer closed the breaker: this request waited {:?} on the hung store",
        started.elapsed()
    );
    assert!(h.calls.take().is_empty());
}

/// Starts a read of the session, gives up on it after 20 ms but keeps the unfinished future (say, in a `select!`
/// loop) while it goes on working for a long time.
async fn holds_a_store_call(session: Session) -> &'static str {
    let read = session.get::<u64>("n");
    tokio::pin!(read);
    tokio::select! {
        _ = &mut read => {}
        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    "done"
}

#[tokio::test]
async fn a_probe_that_is_never_polled_again_does_not_keep_the_breaker_open() {
    let timeout = Duration::from_millis(200);
    let probe = Duration::from_millis(50);
    let switch = Switch { inner: MemoryStore::new(), mode: Arc::new(Mutex::new(Mode::Up)) };
    let routes = Router::new().route("/count", get(count)).route("/hold", get(holds_a_store_call));
    let options =
        options().store_timeout(timeout).store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(probe)));
    let app = TestApp {
        app: routes.layer(SessionManagerLayer::new(options.store(switch.clone())).unwrap()),
        store: switch.inner.clone(),
        clock: Clock::system(),
    };
    let cookie = app.get("/count", None).await.cookie();
    switch.set(Mode::Hung);
    assert_eq!(app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE, "opens");
    tokio::time::sleep(probe).await;
    // This request's read is the probe; the handler stops polling it without dropping it.
    let held = spawn_get(&app, "/hold", &cookie);
    tokio::time::sleep(Duration::from_millis(50)).await;
    switch.set(Mode::Up);
    // The store answers again. Once the held probe is past any time a store call may take (the store timeout),
    // the breaker lets another call probe.
    tokio::time::sleep(timeout + probe).await;
    let reply = app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "the breaker stays open as long as the held probe is kept");
    assert_eq!(reply.body, "2");
    held.abort();
}

/// Reads the session, ignores the failure, and works for a long time (the client gives up first).
async fn swallows_then_works(session: Session) -> &'static str {
    let _ = session.get::<u64>("n").await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    "done"
}

#[tokio::test]
async fn a_store_failure_is_logged_when_the_client_goes_away_before_the_request_ends() {
    let logs = TestLogs::capture();
    for mode in [OnStoreError::Fail, OnStoreError::ServeWithoutSession] {
        let switch = Switch { inner: MemoryStore::new(), mode: Arc::new(Mutex::new(Mode::Up)) };
        let routes = Router::new().route("/count", get(count)).route("/slow", get(swallows_then_works));
        let options = options().store_circuit_breaker(None).on_store_error(mode);
        let app = TestApp {
            app: routes.layer(SessionManagerLayer::new(options.store(switch.clone())).unwrap()),
            store: switch.inner.clone(),
            clock: Clock::system(),
        };
        let cookie = app.get("/count", None).await.cookie();
        switch.set(Mode::Refused);
        logs.take();
        let gone = tokio::time::timeout(Duration::from_millis(100), app.get("/slow", Some(&cookie))).await;
        assert!(gone.is_err(), "the client went away first");
        let text = logs.take();
        let errors = TestLogs::errors(&text);
        assert_eq!(errors.len(), 1, "{mode:?}: the refused read is logged once:\n{text}");
        assert_eq!(errors[0].matches("Connection refused").count(), 1, "{}", errors[0]);
    }
}

#[tokio::test]
async fn a_change_whose_save_the_open_breaker_refuses_is_a_503_never_a_200() {
    let probe = Duration::from_secs(5);
    let switch = Switch { inner: MemoryStore::new(), mode: Arc::new(Mutex::new(Mode::Up)) };
    let (updated, go_on) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let (u, g) = (Arc::clone(&updated), Arc::clone(&go_on));
    let routes = Router::new().route("/count", get(count)).route(
        "/count-then-wait",
        get(move |session: Session| async move {
            let n = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
            u.notify_one();
            g.notified().await;
            Ok::<_, SessionError>(n.to_string())
        }),
    );
    let options = options().store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(probe)));
    let app = TestApp {
        app: routes.layer(SessionManagerLayer::new(options.store(switch.clone())).unwrap()),
        store: switch.inner.clone(),
        clock: Clock::system(),
    };
    let first = app.get("/count", None).await;
    let (cookie, id) = (first.cookie(), SessionId::new(first.cookie_id()).unwrap());
    let pending = spawn_get(&app, "/count-then-wait", &cookie);
    updated.notified().await;
    // The handler's update returned; then the store goes down and another request opens the breaker.
    switch.set(Mode::Refused);
    assert_eq!(app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    switch.set(Mode::Up);
    go_on.notify_one();
    // The end of the request's save is refused by the open breaker: the change is not stored, so not a 200.
    assert_eq!(pending.await.unwrap().0, StatusCode::SERVICE_UNAVAILABLE);
    let stored = switch.inner.get(&id).await.unwrap().expect("the session is still stored");
    assert_eq!(stored.record.data()["n"], 1, "the refused change was not written");
}

#[tokio::test]
async fn clients_that_give_up_before_the_store_timeout_still_open_the_breaker_and_get_logged() {
    // The store timeout is longer than the clients' patience (say, a proxy that gives up first): no call ever
    // times out, each request is dropped while it waits on the hung store.
    let timeout = Duration::from_millis(400);
    let patience = Duration::from_millis(250);
    let h = harness(options().store_timeout(timeout));
    let cookie = h.app.get("/count", None).await.cookie();
    h.switch.set(Mode::Hung);
    let logs = TestLogs::capture();
    let gone = tokio::time::timeout(patience, h.app.get("/count", Some(&cookie))).await;
    assert!(gone.is_err(), "the client gave up");
    let text = logs.take();
    assert_eq!(TestLogs::errors(&text).len(), 1, "the abandoned wait is logged:\n{text}");
    h.calls.take();
    // Waiting more than half the store timeout for an answer that never came is the store being down: the next
    // requests fail fast instead of each hanging until its client gives up.
    let started = Instant::now();
    let reply = tokio::time::timeout(patience, h.app.get("/count", Some(&cookie))).await;
    assert_eq!(reply.expect("answered before the client gave up").status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_millis(50), "took {:?}", started.elapsed());
    assert!(h.calls.take().is_empty());
    // A client that goes away early (before half the store timeout) says nothing about the store.
    let h = harness(options().store_timeout(timeout));
    let cookie = h.app.get("/count", None).await.cookie();
    h.switch.set(Mode::Slow(timeout / 4));
    logs.take();
    assert!(tokio::time::timeout(timeout / 8, h.app.get("/count", Some(&cookie))).await.is_err());
    assert!(TestLogs::errors(&logs.take()).is_empty());
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::OK, "the breaker stayed closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_requests_at_once_on_several_threads_make_one_probe_at_a_time() {
    let timeout = Duration::from_millis(300);
    let probe = Duration::from_millis(100);
    let h = harness(
        options().store_timeout(timeout).store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(probe))),
    );
    let cookie = h.app.get("/count", None).await.cookie();
    h.switch.set(Mode::Hung);
    assert_eq!(h.app.get("/count", Some(&cookie)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    h.calls.take();
    // 200 requests at once, on four threads, for two and a half probe intervals of a hung store: one probe in
    // flight at a time, each waiting the whole timeout, so at most one store call (the first probe's).
    let deadline = Instant::now() + probe * 5 / 2;
    let requests: Vec<_> = (0..200)
        .map(|_| {
            let (app, cookie) = (h.app.app.clone(), cookie.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while Instant::now() < deadline {
                    let request = http::Request::get("/count").header("cookie", cookie.as_str());
                    let response =
                        tower::ServiceExt::oneshot(app.clone(), request.body(axum::body::Body::empty()).unwrap());
                    statuses.push(response.await.unwrap().status());
                    tokio::task::yield_now().await;
                }
                statuses
            })
        })
        .collect();
    let mut answered = 0;
    for request in requests {
        for status in request.await.unwrap() {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            answered += 1;
        }
    }
    assert!(answered > 200, "{answered}");
    assert_eq!(h.calls.take(), ["get"], "one probe at a time ({answered} requests)");
    // The store answers again: within a probe interval and a timeout, requests get their 200s.
    h.switch.set(Mode::Up);
    tokio::time::sleep(timeout + probe).await;
    let reply = h.app.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "2", "nothing lost, nothing applied twice");
}
