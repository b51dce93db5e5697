//! The helpers and cases the SQL store crates' tests share (feature `testing`; for dev-dependencies).
//!
//! - Names and services: [`unique_name`], [`is_stale`], [`admin`], [`closed_port`], [`Proxy`] (a TCP proxy that
//!   makes the database go away and come back), [`npm_ci`], [`NodeStore`] (one call of a real Node store).
//! - Cases, each over a store of the caller's making: [`a_closed_port_is_unavailable_within`],
//!   [`a_connection_killed_mid_call_is_unavailable_and_the_store_recovers`],
//!   [`idle_connections_killed_between_calls_are_replaced`], [`a_server_that_goes_away_and_comes_back`],
//!   [`node_and_rust_share_one_table`], [`values_rust_cannot_hold_survive_a_rust_write`] (through the session
//!   layer), [`prune_deletes_exactly_the_expired_rows_in_batches`],
//!   [`the_pruning_task_runs_and_stops`]; the owner column's: [`node_rows_name_their_owner`],
//!   [`reindex_adds_the_column`], [`reindex_refuses_a_column_made_for_another_key`],
//!   [`expired_owned_rows_leave_nothing`], [`the_column_agrees_with_owner_of`],
//!   and the figures
//!   [`time_ending_a_thousand_sessions`], [`time_sequential_creates`]. Cases that need no SQL are in
//!   `express_session::testing`.
//!
//! Helpers that find a service missing return `None` and say so on stderr, or panic under
//! `REQUIRE_SERVICES=1` (see `express_session::testing::unreachable`).

mod node_values;
mod owners;

pub use node_values::values_rust_cannot_hold_survive_a_rust_write;
pub use owners::{
    OWNER_VALUES, expired_owned_rows_leave_nothing, node_rows_name_their_owner, reindex_adds_the_column,
    reindex_refuses_a_column_made_for_another_key, the_column_agrees_with_owner_of, time_ending_a_thousand_sessions,
    time_sequential_creates,
};

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use express_session::store::{CreateOutcome, SaveOutcome, Store, StoreError, TouchOutcome};
use express_session::testing::{record, unreachable};
use express_session::{Record, SessionId, Timestamp};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};

/// Panics unless `result` is a [`StoreError::Unavailable`].
///
/// ```
/// # use express_session::StoreError;
/// express_session_sql::testing::assert_unavailable(Err::<(), _>(StoreError::unavailable("test", "down")));
/// ```
///
/// # Panics
///
/// When it is not.
#[track_caller]
pub fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(e) if e.is_unavailable() => {}
        other => panic!("expected StoreError::Unavailable, got {other:?}"),
    }
}

/// A short random lowercase name part.
///
/// ```
/// let suffix = express_session_sql::testing::random_suffix();
/// assert!(suffix.len() <= 10 && suffix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
/// ```
pub fn random_suffix() -> String {
    SessionId::generate()
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect::<String>()
        .to_lowercase()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A name for one test's own table or schema, `es_t_<unix seconds>_<random>`, so that tests never share one and
/// leftovers of earlier runs can be told by [`is_stale`].
///
/// ```
/// let name = express_session_sql::testing::unique_name();
/// assert!(name.starts_with("es_t_"));
/// assert!(!express_session_sql::testing::is_stale(&name));
/// ```
pub fn unique_name() -> String {
    format!("es_t_{}_{}", unix_now(), random_suffix())
}

/// Whether `name` (from [`unique_name`]) was made more than ten minutes ago: the leftover of an earlier run, to
/// drop.
///
/// ```
/// assert!(express_session_sql::testing::is_stale("es_t_1000_abc"));
/// ```
pub fn is_stale(name: &str) -> bool {
    let born = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    born + 600 < unix_now()
}

/// A small pool for a test's own statements on the database at `url`, or `None` (skip, or panic under
/// `REQUIRE_SERVICES=1`) when `label` ("PostgreSQL") cannot be reached.
pub async fn admin<DB: sqlx::Database>(label: &str, url: &str) -> Option<sqlx::Pool<DB>> {
    let options = sqlx::pool::PoolOptions::<DB>::new().max_connections(2).acquire_timeout(Duration::from_secs(5));
    match options.connect(url).await {
        Ok(pool) => Some(pool),
        Err(error) => unreachable(&format!("{label} at {url}"), error),
    }
}

/// A local TCP port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free local port");
    listener.local_addr().expect("a bound address").port()
}

/// A TCP proxy on a fixed local port to the database: [`stop`](Self::stop) closes the listener and cuts every
/// connection (the database looks down), [`start`](Self::start) brings it back on the same port.
#[derive(Debug)]
pub struct Proxy {
    /// The local port to connect to.
    pub port: u16,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// A started proxy to `host:port` (its IPv4 address).
    ///
    /// # Panics
    ///
    /// When `host` does not resolve to an IPv4 address.
    pub async fn to(host: &str, port: u16) -> Arc<Self> {
        let target = tokio::net::lookup_host((host, port))
            .await
            .expect("the database host resolves")
            .find(SocketAddr::is_ipv4)
            .expect("an IPv4 address");
        let proxy = Arc::new(Self { port: closed_port().await, target, task: Mutex::new(None) });
        proxy.start().await;
        proxy
    }

    /// Listens (again) on the proxy's port and forwards every connection.
    ///
    /// # Panics
    ///
    /// When the port cannot be bound again within five seconds.
    pub async fn start(&self) {
        let mut listener = None;
        for _ in 0..50 {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let listener = listener.expect("the proxy port can be bound again");
        let target = self.target;
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.task.lock().await = Some(task);
    }

    /// Closes the listener and cuts every connection.
    pub async fn stop(&self) {
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// Runs `npm ci` in `dir` when its `node_modules` is missing. `None` (skip or panic) when npm is not there.
/// Tests of one binary run in parallel: one lock makes them install once, never two `npm ci` over each other.
pub async fn npm_ci(dir: &Path) -> Option<()> {
    static INSTALL: Mutex<()> = Mutex::const_new(());
    let _once = INSTALL.lock().await;
    if dir.join("node_modules/.package-lock.json").is_file() {
        return Some(());
    }
    let out =
        tokio::process::Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(dir).output().await;
    match out {
        Ok(out) if out.status.success() => Some(()),
        Ok(out) => unreachable(&format!("npm ci in {}", dir.display()), String::from_utf8_lossy(&out.stderr)),
        Err(error) => unreachable("npm", error),
    }
}

/// One call of a real Node store per run of `node_store.js` (beside this module): `"pg"` (connect-pg-simple) or
/// `"mysql"` (express-mysql-session), on the schema or table the test names.
#[derive(Debug, Clone)]
pub struct NodeStore {
    store: &'static str,
    node_path: PathBuf,
    env: (&'static str, String),
    place: (&'static str, String),
}

impl NodeStore {
    /// The Node store `store`, its packages installed by [`npm_ci`] in `npm_dir`, reaching the database through
    /// the environment variable `env` (`("DATABASE_URL", url)`), its table named by `place` (`("schema", s)` or
    /// `("table", t)`). `None` (skip or panic) without npm.
    pub async fn new(
        store: &'static str,
        npm_dir: &Path,
        env: (&'static str, String),
        place: (&'static str, String),
    ) -> Option<Self> {
        npm_ci(npm_dir).await?;
        Some(Self { store, node_path: npm_dir.join("node_modules"), env, place })
    }

    /// Runs one call (`{"op": "get", "sid": ...}`, see `node_store.js`) and returns its JSON answer.
    ///
    /// # Panics
    ///
    /// With Node's stderr when the call fails.
    pub async fn call(&self, mut command: Value) -> Value {
        command["store"] = json!(self.store);
        command[self.place.0] = json!(self.place.1);
        let out = tokio::process::Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testing/node_store.js"))
            .arg(command.to_string())
            .env("NODE_PATH", &self.node_path)
            .env(self.env.0, &self.env.1)
            .output()
            .await
            .expect("node runs");
        assert!(out.status.success(), "node {command}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON line")
    }
}

/// A store on a port nothing listens on: reads and creates fail with [`StoreError::Unavailable`] within `limit`.
pub async fn a_closed_port_is_unavailable_within<S: Store>(store: &S, limit: Duration) {
    let started = Instant::now();
    assert_unavailable(store.get(&SessionId::generate()).await);
    assert_unavailable(store.create(&SessionId::generate(), &record(store, Some(1000), json!({}))).await);
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
}

/// A store with one connection: a `save_if` waiting on a row that `hold_row` locks (its guard keeps the lock) has
/// its connection killed by `kill`; it fails with [`StoreError::Unavailable`], nothing is written, and the next
/// calls reconnect.
pub async fn a_connection_killed_mid_call_is_unavailable_and_the_store_recovers<S, H, HF, G, K, KF>(
    store: S,
    hold_row: H,
    kill: K,
) where
    S: Store + Clone,
    H: FnOnce(SessionId) -> HF,
    HF: Future<Output = G>,
    K: FnOnce() -> KF,
    KF: Future<Output = ()>,
{
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.expect("create");
    let read = store.get(&id).await.expect("get").expect("the record");

    let guard = hold_row(id.clone()).await;
    let pending = {
        let (store, id, version) = (store.clone(), id.clone(), read.version.clone());
        tokio::spawn(async move {
            let next = record(&store, Some(60_000), json!({"v": 2}));
            store.save_if(&id, &next, &version).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill().await;
    assert_unavailable(pending.await.expect("the save_if task"));
    drop(guard);

    // Nothing was written, and the next calls reconnect.
    let after = store.get(&id).await.expect("get").expect("the record is still there");
    assert_eq!(after.record.data()["v"], 1);
    assert_eq!(after.version, read.version);
    let saved = store.save_if(&id, &record(&store, Some(60_000), json!({"v": 3})), &read.version).await;
    assert!(matches!(saved, Ok(SaveOutcome::Saved(_))), "{saved:?}");
    assert_eq!(store.get(&id).await.expect("get").expect("the record").record.data()["v"], 3);
}

/// A store with one connection, whose idle connection `kill` kills three times: at worst one call after each
/// kill sees the dead connection ([`StoreError::Unavailable`]), the next one works.
pub async fn idle_connections_killed_between_calls_are_replaced<S, K, KF>(store: S, mut kill: K)
where
    S: Store,
    K: FnMut() -> KF,
    KF: Future<Output = ()>,
{
    let id = SessionId::generate();
    store.create(&id, &record(&store, Some(60_000), json!({"v": 1}))).await.expect("create");
    for _ in 0..3 {
        kill().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The pool tests a connection before handing it out; at worst one call sees the dead one.
        let mut result = store.get(&id).await;
        if let Err(e) = &result {
            assert!(e.is_unavailable(), "{e:?}");
            result = store.get(&id).await;
        }
        assert_eq!(result.expect("get").expect("the record").record.data()["v"], 1);
    }
}

/// A store connected through `proxy`: while the proxy is stopped, calls fail with [`StoreError::Unavailable`]
/// within the store's timeout; once it is back, the record is there, unchanged.
pub async fn a_server_that_goes_away_and_comes_back<S: Store>(store: S, proxy: &Proxy) {
    let id = SessionId::generate();
    let created = store.create(&id, &record(&store, Some(60_000), json!({"user": "alice"}))).await.expect("create");
    let CreateOutcome::Created(version) = created else { panic!("{created:?}") };

    proxy.stop().await;
    let started = Instant::now();
    assert_unavailable(store.get(&id).await);
    assert_unavailable(store.save_if(&id, &record(&store, Some(60_000), json!({"user": "bob"})), &version).await);
    assert_unavailable(store.destroy(&id).await);
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());

    proxy.start().await;
    let back = store.get(&id).await.expect("get after the restart").expect("the record survived");
    assert_eq!(back.record.data()["user"], "alice");
    assert_eq!(back.version, version);
    proxy.stop().await;
}

fn unix_seconds() -> i64 {
    Timestamp::now().as_millis() / 1000
}

/// Node and Rust on one table: each reads what the other wrote (the same text, so the same version), with the
/// same expiry, through save, touch, destroy, expired rows and browser-session cookies. `expire_of` reads a row's
/// stored expiry in seconds since the epoch; `seconds` is the Node store's rounding of `cookie.expires`.
pub async fn node_and_rust_share_one_table<S, E, EF>(
    store: &S,
    node: &NodeStore,
    expire_of: E,
    seconds: fn(&Record) -> i64,
) where
    S: Store,
    E: Fn(SessionId) -> EF,
    EF: Future<Output = i64>,
{
    let [a, b, c, d, e] = std::array::from_fn(|_| SessionId::generate());
    let session_of = |id: &SessionId| node.call(json!({"op": "get", "sid": id.as_str()}));

    // Node writes, Rust reads the very same text (its version) and the same expiry rule.
    let written =
        node.call(json!({"op": "set", "sid": a.as_str(), "max_age": 60_000, "data": {"user": "alice"}})).await;
    let json_a = written["json"].as_str().expect("the text Node wrote").to_owned();
    let read_a = store.get(&a).await.expect("get").expect("Rust reads Node's row");
    assert_eq!(read_a.record.to_json(), json_a);
    assert_eq!(read_a.version.as_bytes(), Some(json_a.as_bytes()));
    assert_eq!(expire_of(a.clone()).await, seconds(&read_a.record));

    // Rust writes, Node reads the same session object, with the Node store's expiry.
    let rec_b = record(store, Some(60_000), json!({"user": "bob", "n": 1, "nested": {"z": [1, 2], "a": null}}));
    assert!(matches!(store.create(&b, &rec_b).await.expect("create"), CreateOutcome::Created(_)));
    let seen = session_of(&b).await;
    assert_eq!(seen["session"], serde_json::from_str::<Value>(&rec_b.to_json()).expect("JSON"));
    assert_eq!(expire_of(b.clone()).await, seconds(&rec_b));

    // A conditional save over Node's row, read back by Node.
    let mut next_a = read_a.record.clone();
    next_a.data_mut().insert("views".into(), json!(2));
    assert!(matches!(store.save_if(&a, &next_a, &read_a.version).await.expect("save_if"), SaveOutcome::Saved(_)));
    let seen = session_of(&a).await;
    assert_eq!(seen["session"]["views"], 2);
    assert_eq!(seen["session"]["user"], "alice");

    // Node's touch moves only the expiry: the text, so the Rust version, is unchanged.
    let before_b = store.get(&b).await.expect("get").expect("the record");
    node.call(json!({"op": "touch", "sid": b.as_str(), "max_age": 120_000})).await;
    let after_b = store.get(&b).await.expect("get").expect("the record");
    assert_eq!(after_b.version, before_b.version, "Node's touch leaves the stored text as it was");
    let moved = expire_of(b.clone()).await;
    assert!(moved >= unix_seconds() + 118, "Node's touch moved the expiry to now + 120 s: {moved}");
    let mut next_b = after_b.record.clone();
    next_b.data_mut().insert("n".into(), json!(2));
    assert!(matches!(store.save_if(&b, &next_b, &after_b.version).await.expect("save_if"), SaveOutcome::Saved(_)));

    // Rust's touch keeps a short-lived row alive for Node past its first expiry; its stored text stays stale.
    let rec_c = record(store, Some(1_500), json!({"short": true}));
    store.create(&c, &rec_c).await.expect("create");
    let touched = store.touch(&c, &record(store, Some(60_000), json!({}))).await.expect("touch");
    assert_eq!(touched, TouchOutcome::Touched);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let seen = session_of(&c).await;
    assert_eq!(seen["session"], serde_json::from_str::<Value>(&rec_c.to_json()).expect("JSON"));
    assert!(store.get(&c).await.expect("get").is_some());

    // Node destroys: Rust sees it gone and never writes it back.
    let latest_a = store.get(&a).await.expect("get").expect("the record");
    node.call(json!({"op": "destroy", "sid": a.as_str()})).await;
    assert!(store.get(&a).await.expect("get").is_none());
    let late = record(store, Some(60_000), json!({"user": "alice", "late": true}));
    assert_eq!(store.save_if(&a, &late, &latest_a.version).await.expect("save_if"), SaveOutcome::Gone);
    assert_eq!(store.touch(&a, &late).await.expect("touch"), TouchOutcome::Gone);
    assert_eq!(session_of(&a).await["session"], Value::Null);

    // Rust destroys: Node sees it gone.
    store.destroy(&b).await.expect("destroy");
    assert_eq!(session_of(&b).await["session"], Value::Null);

    // A row Node wrote already expired is absent for both, and its id is free for Rust's create.
    node.call(json!({"op": "set", "sid": d.as_str(), "max_age": -5_000, "data": {"old": true}})).await;
    assert!(store.get(&d).await.expect("get").is_none());
    assert_eq!(session_of(&d).await["session"], Value::Null);
    let created = store.create(&d, &record(store, Some(60_000), json!({"new": true}))).await.expect("create");
    assert!(matches!(created, CreateOutcome::Created(_)));
    assert_eq!(session_of(&d).await["session"]["new"], true);

    // Browser-session cookies: both sides give the row now + one day.
    let sess = json!({"cookie": {"originalMaxAge": null, "expires": null, "httpOnly": true, "path": "/"}, "v": 1});
    node.call(json!({"op": "set", "sid": e.as_str(), "sess": sess})).await;
    let node_expire = expire_of(e.clone()).await;
    assert!((node_expire - (unix_seconds() + 86_400)).abs() <= 2, "{node_expire}");
    let read_e = store.get(&e).await.expect("get").expect("the record");
    assert_eq!(read_e.record.cookie().expires(), None);
    let mut next_e = read_e.record.clone();
    next_e.data_mut().insert("v".into(), json!(2));
    assert!(matches!(store.save_if(&e, &next_e, &read_e.version).await.expect("save_if"), SaveOutcome::Saved(_)));
    let rust_expire = expire_of(e.clone()).await;
    assert!((rust_expire - node_expire).abs() <= 2, "node {node_expire}, rust {rust_expire}");
    assert_eq!(session_of(&e).await["session"]["v"], 2);
}

/// With a prune batch size of 10: 25 expired rows and 3 live ones; `prune` deletes exactly the 25 (in three
/// batches), a second prune nothing, and `count_rows` (every row of the table) is 3.
pub async fn prune_deletes_exactly_the_expired_rows_in_batches<S, P, PF, C, CF>(store: S, prune: P, count_rows: C)
where
    S: Store,
    P: Fn() -> PF,
    PF: Future<Output = Result<u64, StoreError>>,
    C: FnOnce() -> CF,
    CF: Future<Output = i64>,
{
    for i in 0..25 {
        store.set(&SessionId::generate(), &record(&store, Some(-5_000), json!({"i": i}))).await.expect("set");
    }
    for _ in 0..3 {
        store.create(&SessionId::generate(), &record(&store, Some(60_000), json!({}))).await.expect("create");
    }
    assert_eq!(prune().await.expect("prune"), 25);
    assert_eq!(prune().await.expect("prune"), 0);
    assert_eq!(count_rows().await, 3);
    assert_eq!(store.len().await.expect("len"), 3);
}

/// A store pruning every 200 ms in batches of 3: the task deletes 7 expired rows; once `stop` stopped it
/// (`is_pruning` says so), an expired row stays. `count_rows` counts every row of the table.
pub async fn the_pruning_task_runs_and_stops<S, C, CF>(
    store: S,
    count_rows: C,
    stop: impl FnOnce(&S),
    is_pruning: fn(&S) -> bool,
) where
    S: Store,
    C: Fn() -> CF,
    CF: Future<Output = i64>,
{
    assert!(is_pruning(&store));
    for _ in 0..7 {
        store.set(&SessionId::generate(), &record(&store, Some(-5_000), json!({}))).await.expect("set");
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(count_rows().await, 0, "the task pruned every expired row");

    stop(&store);
    assert!(!is_pruning(&store));
    store.set(&SessionId::generate(), &record(&store, Some(-5_000), json!({}))).await.expect("set");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count_rows().await, 1, "a stopped task prunes nothing");
}
