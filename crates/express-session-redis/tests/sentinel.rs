//! Redis Sentinel, on servers of the tests' own: a master, a replica (`--replicaof`) and one sentinel (quorum 1,
//! `down-after-milliseconds` 1000), each on a free port, started from Debian's `redis-sentinel` (or
//! `redis-server --sentinel`) and `redis-server`, and killed by PID when dropped or when the test process ends.
//! The master and replica require a password, so the master's login goes through the store's Sentinel
//! configuration.
//!
//! The shared store suite runs through Sentinel (with an owner index and `wait_for_replicas`); the failover test
//! kills the master (SIGKILL) under the load of 8 HTTP clients and prints its figures.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use express_session::store::{SaveOutcome, Store};
use express_session::{Record, Session, SessionCookie, SessionError, SessionId, SessionManagerLayer, SessionOptions};
use express_session_redis::{RedisConnection, RedisStore, SentinelConfig};
use http::StatusCode;
use serde_json::json;

const MASTER_NAME: &str = "sessions";
const PASSWORD: &str = "test-servers-password";

/// One `redis-server` (or sentinel) process of the test's own.
struct Node {
    port: u16,
    child: Option<Child>,
}

impl Node {
    fn spawn(program: &PathBuf, args: &[String], dir: &std::path::Path) -> Self {
        let port = args.iter().position(|a| a == "--port").map(|i| args[i + 1].parse().unwrap()).unwrap_or(0);
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        common::watchdog(child.id(), dir);
        Self { port, child: Some(child) }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL (a crash), and waits until the process is gone.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP or SIGCONT.
    fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill").arg(if frozen { "-STOP" } else { "-CONT" }).arg(pid.to_string()).status();
        assert!(status.expect("kill runs").success());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP relay between the replica and the master (plain threads, so that it outlives any test's runtime), whose
/// master-to-replica direction can be held: the master goes on acknowledging writes that the replica does not
/// get, as when a replica lags.
struct Link {
    port: u16,
    held: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

impl Link {
    fn start(upstream: u16) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (held, closed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (held2, closed2) = (Arc::clone(&held), Arc::clone(&closed));
        std::thread::spawn(move || {
            while !closed2.load(Ordering::SeqCst) {
                let Ok((replica, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let Ok(master) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                replica.set_nonblocking(false).unwrap();
                for (from, to, hold) in [
                    (master.try_clone().unwrap(), replica.try_clone().unwrap(), Some(Arc::clone(&held2))),
                    (replica, master, None),
                ] {
                    let closed = Arc::clone(&closed2);
                    std::thread::spawn(move || relay(from, to, hold, &closed));
                }
            }
        });
        Self { port, held, closed }
    }

    fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
    }

    /// Closes every connection, dropping what was held.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.close();
    }
}

/// Copies `from` to `to` until either closes or the link is closed; while `hold` is set, reads nothing.
fn relay(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    hold: Option<Arc<AtomicBool>>,
    closed: &AtomicBool,
) {
    use std::io::{Read, Write};
    from.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    let mut buffer = vec![0u8; 1 << 16];
    while !closed.load(Ordering::SeqCst) {
        if hold.as_ref().is_some_and(|hold| hold.load(Ordering::SeqCst)) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A master, its replica and a sentinel that monitors them as [`MASTER_NAME`].
struct Servers {
    master: Node,
    replica: Node,
    sentinel: Node,
    /// The replica's link to the master, if it goes through one of the test's.
    link: Option<Link>,
    dir: PathBuf,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.link.take();
        self.sentinel.kill();
        self.replica.kill();
        self.master.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `redis-sentinel`, else `redis-server` with `--sentinel` (the same program).
fn sentinel_program() -> Option<(PathBuf, bool)> {
    match common::binary("redis-sentinel") {
        Some(path) => Some((path, false)),
        None => common::binary("redis-server").map(|path| (path, true)),
    }
}

/// A synchronous connection to `url` (for the setup and the checks), with short timeouts.
fn sync_connection(url: &str, password: Option<&str>) -> redis::RedisResult<redis::Connection> {
    let url = match password {
        Some(password) => url.replacen("redis://", &format!("redis://:{password}@"), 1),
        None => url.to_owned(),
    };
    let connection = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(1))?;
    connection.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(connection)
}

/// Polls `ready` every 50 ms until it holds, for at most `limit`.
fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A sentinel (of its own configuration file `file` in `dir`) that monitors the master on port `master`.
fn start_sentinel(dir: &std::path::Path, file: &str, master: u16) -> Node {
    let (sentinel_program, with_flag) = sentinel_program().expect("redis-sentinel or redis-server");
    let sentinel_port = common::free_port();
    let config = dir.join(file);
    std::fs::write(
        &config,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir {dir}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 1\n\
             sentinel auth-pass {MASTER_NAME} {PASSWORD}\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n",
            dir = dir.display(),
        ),
    )
    .unwrap();
    let mut args = vec![config.display().to_string()];
    if with_flag {
        args.push("--sentinel".into());
    }
    args.extend(["--port".into(), sentinel_port.to_string()]);
    Node::spawn(&sentinel_program, &args, dir)
}

impl Servers {
    /// Starts the three, and waits until the replica is in sync and the sentinel knows it; `None` (a loud skip,
    /// a failure under `REQUIRE_SERVICES=1`) without `redis-server`. With `link`, the replica reaches the master
    /// through a [`Link`].
    fn start(link: bool) -> Option<Self> {
        if !common::redis_server_available() {
            return None;
        }
        sentinel_program()?;
        let server = common::binary("redis-server").expect("redis-server");
        let dir = common::scratch_dir("sentinel");
        let node = |port: u16, extra: &[String]| {
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
                "--requirepass",
                PASSWORD,
                "--masterauth",
                PASSWORD,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra.iter().cloned());
            Node::spawn(&server, &args, &node_dir)
        };
        let master = node(common::free_port(), &[]);
        let master_url = master.url();
        wait_until("the master answers", Duration::from_secs(10), || {
            sync_connection(&master_url, Some(PASSWORD)).is_ok()
        });
        let link = link.then(|| Link::start(master.port));
        let upstream = link.as_ref().map_or(master.port, |link| link.port);
        let replica = node(common::free_port(), &["--replicaof".into(), "127.0.0.1".into(), upstream.to_string()]);
        let replica_url = replica.url();
        wait_until("the replica is in sync", Duration::from_secs(10), || {
            let Ok(mut connection) = sync_connection(&replica_url, Some(PASSWORD)) else { return false };
            let info: String = redis::cmd("INFO").arg("replication").query(&mut connection).unwrap_or_default();
            info.contains("master_link_status:up")
        });
        let sentinel = start_sentinel(&dir, "sentinel.conf", master.port);
        let servers = Self { master, replica, sentinel, link, dir };
        let sentinel_url = servers.sentinel.url();
        wait_until("the sentinel knows the replica", Duration::from_secs(15), || {
            let Ok(mut connection) = sync_connection(&sentinel_url, None) else { return false };
            let replicas: Vec<std::collections::HashMap<String, String>> =
                redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER_NAME).query(&mut connection).unwrap_or_default();
            replicas.iter().any(|r| r.get("flags").map(String::as_str) == Some("slave"))
        });
        Some(servers)
    }

    fn config(&self) -> SentinelConfig {
        SentinelConfig::new([self.sentinel.url()], MASTER_NAME).master_password(PASSWORD)
    }

    /// The master's address the sentinel gives now (`host:port`).
    fn sentinel_master(&self) -> Option<String> {
        let mut connection = sync_connection(&self.sentinel.url(), None).ok()?;
        let address: Option<(String, u16)> =
            redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(MASTER_NAME).query(&mut connection).ok()?;
        address.map(|(host, port)| format!("{host}:{port}"))
    }
}

fn master_of(store: &RedisStore) -> Option<String> {
    match store.connection() {
        RedisConnection::Sentinel(sentinel) => sentinel.master_address(),
        other => panic!("not a Sentinel connection: {other:?}"),
    }
}

/// The servers the suite's stores share (started once per test process; the watchdog ends them with it).
fn suite_servers() -> Option<&'static Servers> {
    static SERVERS: OnceLock<Option<Servers>> = OnceLock::new();
    SERVERS.get_or_init(|| Servers::start(false)).as_ref()
}

async fn suite_store() -> Option<RedisStore> {
    let servers = suite_servers()?;
    let config = servers.config().wait_for_replicas(1, Duration::from_secs(1));
    Some(common::builder(&common::unique_prefix("sentinel")).owner_key("user").connect_sentinel(config).await.unwrap())
}

/// The shared store suite, through Sentinel, every write waiting for the replica.
mod suite {
    express_session::store_suite!(|| async { super::suite_store().await });
}

fn record(store: &RedisStore, n: u64) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(600)), store.now());
    let mut record = Record::new(cookie);
    record.data_mut().insert("n".into(), json!(n));
    record
}

/// `wait_for_replicas`: an acknowledged write is on the replica at once; its cost, per write, printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_write_is_on_the_replica_and_what_waiting_costs() {
    let Some(servers) = suite_servers() else { return };
    let prefix = common::unique_prefix("sentinel-wait");
    let waiting = common::builder(&prefix)
        .connect_sentinel(servers.config().wait_for_replicas(1, Duration::from_secs(1)))
        .await
        .unwrap();
    let plain = common::builder(&prefix).connect_sentinel(servers.config()).await.unwrap();
    let mut replica = sync_connection(&servers.replica.url(), Some(PASSWORD)).unwrap();
    const WRITES: u64 = 200;
    let mut timings = Vec::new();
    for (name, store) in [("without WAIT", &plain), ("with WAIT 1", &waiting), ("without WAIT", &plain)] {
        let id = SessionId::generate();
        store.create(&id, &record(store, 0)).await.unwrap();
        let mut took = Vec::with_capacity(WRITES as usize);
        for n in 1..=WRITES {
            let read = store.get(&id).await.unwrap().unwrap();
            let started = Instant::now();
            let saved = store.save_if(&id, &record(store, n), &read.version).await.unwrap();
            took.push(started.elapsed());
            assert!(matches!(saved, SaveOutcome::Saved(_)));
            if name == "with WAIT 1" {
                let on_replica: Option<String> = redis::cmd("GET").arg(store.key(&id)).query(&mut replica).unwrap();
                assert!(
                    on_replica.is_some_and(|json| json.contains(&format!("\"n\":{n}"))),
                    "write {n} not on the replica"
                );
            }
        }
        took.sort();
        timings.push((name, took[took.len() / 2], took[took.len() * 99 / 100]));
    }
    eprintln!("save_if through Sentinel, {WRITES} sequential writes each (median, p99): {timings:?}");
}

/// With `wait_for_replicas`, a write that the replica does not confirm (it is frozen) answers 503 after the wait's
/// timeout, on every write path (`create`, `save_if`, `set`, `touch`, `refresh`, `refresh_after`, `destroy`,
/// `end_sessions_of`, `clear`, with an owner index); reads go on; once the replica is back, writes are
/// acknowledged again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_no_replica_confirms_is_unavailable() {
    let Some(servers) = Servers::start(false) else { return };
    let wait = Duration::from_millis(200);
    let store = common::builder(&common::unique_prefix("sentinel-noreplica"))
        .owner_key("user")
        .timeout(Duration::from_secs(2))
        .connect_sentinel(servers.config().wait_for_replicas(1, wait))
        .await
        .unwrap();
    let id = SessionId::generate();
    store.create(&id, &record(&store, 1)).await.unwrap();
    let read = store.get(&id).await.unwrap().unwrap();
    // For the other write paths: a session of an owner (so that the owner index's scripts run), and a store of
    // another prefix with a record, for `clear`.
    let owned = |n| {
        let mut record = record(&store, n);
        record.data_mut().insert("user".into(), json!("waiting-owner"));
        record
    };
    let other = SessionId::generate();
    store.create(&other, &owned(1)).await.unwrap();
    let cleared = common::builder(&common::unique_prefix("sentinel-noreplica-clear"))
        .connect_sentinel(servers.config().wait_for_replicas(1, wait))
        .await
        .unwrap();
    cleared.create(&SessionId::generate(), &record(&cleared, 1)).await.unwrap();
    servers.replica.freeze(true);
    let started = Instant::now();
    let error = store.save_if(&id, &record(&store, 2), &read.version).await.unwrap_err();
    let took = started.elapsed();
    assert!(error.is_unavailable(), "{error}");
    assert!(common::error_chain(&error).contains("NOREPLICAS"), "{}", common::error_chain(&error));
    assert!(took >= wait && took < Duration::from_secs(2), "{took:?}");
    assert!(store.create(&SessionId::generate(), &record(&store, 1)).await.unwrap_err().is_unavailable());
    // Every other write waits too: a write the replica did not confirm came before, so any `WAIT` fails, and a
    // path that sent none would succeed here.
    let unconfirmed = |what: &str, result: Result<(), express_session::StoreError>| match result {
        Err(error) => assert!(error.is_unavailable() && common::error_chain(&error).contains("NOREPLICAS"), "{what}"),
        Ok(()) => panic!("{what}: acknowledged, but no replica confirmed it"),
    };
    unconfirmed("set", store.set(&other, &owned(2)).await);
    unconfirmed("touch", store.touch(&other, &owned(2)).await.map(drop));
    unconfirmed("refresh", store.refresh(&other).await.map(drop));
    unconfirmed("refresh_after", store.refresh_after(&other, Duration::ZERO).await.map(drop));
    unconfirmed("end_sessions_of", store.end_sessions_of("waiting-owner", None).await.map(drop));
    unconfirmed("destroy", store.destroy(&other).await);
    unconfirmed("clear", cleared.clear().await);
    // Reads need no replica.
    assert!(store.get(&id).await.unwrap().is_some());
    servers.replica.freeze(false);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let read = store.get(&id).await.unwrap().unwrap();
        match store.save_if(&id, &record(&store, 3), &read.version).await {
            Ok(outcome) => {
                assert!(matches!(outcome, SaveOutcome::Saved(_)), "{outcome:?}");
                break;
            }
            Err(error) => assert!(error.is_unavailable() && Instant::now() < deadline, "{error}"),
        }
    }
}

/// A master demoted to a replica behind the store's back (no `CLIENT KILL`, so the store's connection stays
/// open): the next write hears `READONLY`, answers 503 and drops the connection; the store asks the sentinel
/// again, and is refused the demoted server (`ROLE` says replica), so nothing is written to it; once it is a
/// master again the store uses it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_master_is_never_written_to() {
    let Some(servers) = Servers::start(false) else { return };
    let store = common::builder(&common::unique_prefix("sentinel-demoted"))
        .timeout(Duration::from_secs(2))
        .connect_sentinel(servers.config())
        .await
        .unwrap();
    let master = format!("127.0.0.1:{}", servers.master.port);
    assert_eq!(master_of(&store).as_deref(), Some(master.as_str()));
    let id = SessionId::generate();
    store.create(&id, &record(&store, 1)).await.unwrap();
    let read = store.get(&id).await.unwrap().unwrap();

    // A replica of a server that does not exist: it keeps its data and refuses writes.
    let mut admin = sync_connection(&servers.master.url(), Some(PASSWORD)).unwrap();
    let nowhere = common::free_port();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(nowhere).query(&mut admin).unwrap();
    let error = store.save_if(&id, &record(&store, 2), &read.version).await.unwrap_err();
    assert!(error.is_unavailable(), "READONLY is a 503: {error}");
    assert!(
        common::error_chain(&error).to_lowercase().contains("read only replica"),
        "{}",
        common::error_chain(&error)
    );
    assert_eq!(master_of(&store), None, "the connection to the demoted master was dropped");
    for _ in 0..3 {
        let error = store.save_if(&id, &record(&store, 3), &read.version).await.unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert_eq!(master_of(&store), None, "connected to a replica");
    }
    let json: String = redis::cmd("GET").arg(store.key(&id)).query(&mut admin).unwrap();
    assert!(json.contains("\"n\":1"), "the demoted server was written to: {json}");

    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut admin).unwrap();
    assert!(matches!(store.save_if(&id, &record(&store, 4), &read.version).await.unwrap(), SaveOutcome::Saved(_)));
    assert_eq!(master_of(&store).as_deref(), Some(master.as_str()));
}

/// A master that hangs (SIGSTOP: its connections stay open, nothing answers) for less than the sentinel's
/// `down-after-milliseconds`: the call times out (503) and its connection is dropped, not kept waiting on; once the
/// master answers again the store asks the sentinel and uses it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_master_is_left_after_a_timeout() {
    let Some(servers) = Servers::start(false) else { return };
    let limit = Duration::from_millis(600);
    let store = common::builder(&common::unique_prefix("sentinel-hung"))
        .timeout(limit)
        .connect_sentinel(servers.config())
        .await
        .unwrap();
    let id = SessionId::generate();
    store.create(&id, &record(&store, 1)).await.unwrap();
    assert!(master_of(&store).is_some());
    servers.master.freeze(true);
    let started = Instant::now();
    let error = store.get(&id).await.unwrap_err();
    let took = started.elapsed();
    servers.master.freeze(false);
    assert!(error.is_unavailable(), "{error}");
    assert!(took >= limit && took < limit + Duration::from_millis(400), "{took:?}");
    assert_eq!(master_of(&store), None, "the connection to the hung master was kept");
    assert_eq!(store.get(&id).await.unwrap().unwrap().record.data()["n"], 1);
    assert_eq!(master_of(&store), Some(format!("127.0.0.1:{}", servers.master.port)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sentinel_or_an_unknown_master_is_unavailable() {
    let limit = Duration::from_millis(500);
    let nowhere = SentinelConfig::new([format!("redis://127.0.0.1:{}", common::free_port())], MASTER_NAME);
    let started = Instant::now();
    let error = RedisStore::builder().timeout(limit).connect_sentinel(nowhere).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(started.elapsed() < limit + Duration::from_millis(400));
    let none = SentinelConfig::new(Vec::<String>::new(), MASTER_NAME);
    assert!(!RedisStore::builder().connect_sentinel(none).await.unwrap_err().is_unavailable());
    let Some(servers) = suite_servers() else { return };
    // The master's password: the builder's, unless the Sentinel configuration gives one; a wrong one is refused.
    let bare = || SentinelConfig::new([servers.sentinel.url()], MASTER_NAME);
    let store = RedisStore::builder().password(PASSWORD).connect_sentinel(bare()).await.unwrap();
    assert!(store.get(&SessionId::generate()).await.unwrap().is_none());
    let error = RedisStore::builder().password("wrong").connect_sentinel(bare()).await.unwrap_err();
    assert!(!error.is_unavailable(), "a refused login is a Backend error: {error}");
    assert!(!format!("{error:?}").contains("wrong"), "{error:?}");
    let store = RedisStore::builder().password("wrong").connect_sentinel(bare().master_password(PASSWORD)).await;
    assert!(store.is_ok());
    let unknown = SentinelConfig::new([servers.sentinel.url()], "no-such-master");
    let error = RedisStore::builder().timeout(limit).connect_sentinel(unknown).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
}

/// A transaction of the app's own (`MULTI`/`EXEC` pipeline) through the store's connection, with
/// `wait_for_replicas`: it answers (its `WAIT` goes after `EXEC`, not into the transaction) and is on the replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_through_the_connection_answers_and_is_waited_for() {
    let Some(servers) = suite_servers() else { return };
    let store = common::builder(&common::unique_prefix("sentinel-multi"))
        .connect_sentinel(servers.config().wait_for_replicas(1, Duration::from_secs(1)))
        .await
        .unwrap();
    let key = store.key(&SessionId::generate());
    let mut connection = store.connection();
    let transaction = redis::pipe().atomic().incr(&key, 1).incr(&key, 1).expire(&key, 60).ignore().clone();
    let reply = tokio::time::timeout(Duration::from_secs(3), transaction.query_async::<(i64, i64)>(&mut connection))
        .await
        .expect("the transaction answers within 3 s");
    assert_eq!(reply.unwrap(), (1, 2));
    let mut replica = sync_connection(&servers.replica.url(), Some(PASSWORD)).unwrap();
    let on_replica: Option<i64> = redis::cmd("GET").arg(&key).query(&mut replica).unwrap();
    assert_eq!(on_replica, Some(2), "acknowledged, not on the replica");
}

/// A discovery that takes longer than the store's time limit (the first sentinel hangs: SIGSTOP, so each of its
/// connections waits for redis-rs's 500 ms response timeout) still ends, and the calls after it reach the master:
/// it is not given up with the call that started it, to start again, and never end, with the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_slower_than_the_time_limit_still_ends() {
    let Some(servers) = Servers::start(false) else { return };
    let hung = start_sentinel(&servers.dir, "sentinel-hung.conf", servers.master.port);
    let hung_url = hung.url();
    wait_until("the second sentinel answers", Duration::from_secs(10), || sync_connection(&hung_url, None).is_ok());
    let config = SentinelConfig::new([hung.url(), servers.sentinel.url()], MASTER_NAME).master_password(PASSWORD);
    let store = common::builder(&common::unique_prefix("sentinel-slow"))
        .timeout(Duration::from_millis(300))
        .connect_sentinel(config)
        .await
        .unwrap();
    let id = SessionId::generate();
    store.create(&id, &record(&store, 1)).await.unwrap();
    hung.freeze(true);
    // The store's connection breaks (as when the sentinels demote a master): the next call asks the sentinels.
    let mut admin = sync_connection(&servers.master.url(), Some(PASSWORD)).unwrap();
    let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query(&mut admin).unwrap();
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut failures = 0;
    loop {
        match store.get(&id).await {
            Ok(found) => {
                assert!(found.is_some());
                break;
            }
            Err(error) => {
                assert!(error.is_unavailable(), "{error}");
                failures += 1;
                assert!(Instant::now() < deadline, "no call reached the master in 6 s ({failures} failed): {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    hung.freeze(false);
}

/// What one client saw.
#[derive(Default, Debug)]
struct Seen {
    /// The counter values acknowledged (200), in order, with when their requests started and ended, from the kill.
    acknowledged: Vec<(u64, f64, f64)>,
    /// Requests that answered 503: when they started and ended, from the kill (negative: before it).
    unavailable: Vec<(f64, f64)>,
    /// Any other answer.
    other: Vec<(u16, String)>,
}

async fn increment(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    Ok(n.to_string())
}

async fn current(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<u64>("n").await?.unwrap_or(0).to_string())
}

/// The failover test. 8 clients increment counters in their sessions through the HTTP layer, on a
/// store built with `connect_sentinel` and `wait_for_replicas(1, …)`; the replica's link to the master stops
/// passing data for 300 ms (a lagging replica), then the master is killed (SIGKILL) under that load, and what the
/// link held is dropped. Every request answers 200 or 503; the 503s all started before service resumed; service resumes within
/// a second of the sentinel's switch to the new master (and within 20 s of the kill); and nothing acknowledged
/// is lost: every client's acknowledged values only grow, and its final counter is at least its last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_killed_under_load_fails_over_with_503s_and_loses_nothing_acknowledged() {
    let Some(lost) = failover(true).await else { return };
    assert_eq!(lost, 0, "acknowledged increments were lost");
}

/// The same without `wait_for_replicas`: the same failover and recovery, and acknowledged increments lost (the
/// master acknowledged them while the replica lagged): what `wait_for_replicas` prevents, and the proof that the
/// test above would see a loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_killed_under_load_without_waiting_for_the_replica_loses_writes() {
    let Some(lost) = failover(false).await else { return };
    assert!(lost > 0, "nothing lost: the replica did not lag");
}

/// How long the replica lags before the master dies, in the failover tests.
const HELD: Duration = Duration::from_millis(300);

/// Runs the failover; the acknowledged increments lost, or `None` (skipped).
async fn failover(wait: bool) -> Option<u64> {
    const CLIENTS: usize = 8;
    let mut servers = Servers::start(true)?;
    let config =
        if wait { servers.config().wait_for_replicas(1, Duration::from_millis(500)) } else { servers.config() };
    let store = common::builder(&common::unique_prefix("sentinel-failover"))
        .timeout(Duration::from_secs(1))
        .connect_sentinel(config)
        .await
        .unwrap();
    let old_master = format!("127.0.0.1:{}", servers.master.port);
    let new_master = format!("127.0.0.1:{}", servers.replica.port);
    assert_eq!(master_of(&store).as_deref(), Some(old_master.as_str()));
    let layer = SessionManagerLayer::new(
        SessionOptions::new().secret("a secret of at least thirty-two bytes, for the test").store(store.clone()),
    )
    .unwrap();
    let app = Router::new().route("/inc", get(increment)).route("/n", get(current)).layer(layer);

    let mut cookies = Vec::new();
    for _ in 0..CLIENTS {
        let (status, cookie, body) = common::call(&app, "/inc", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1"));
        cookies.push(cookie.expect("a session cookie"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at: Arc<OnceLock<Instant>> = Arc::default();
    let seen: Vec<Arc<Mutex<Seen>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let since_kill = |killed_at: &OnceLock<Instant>, at: Instant| match killed_at.get() {
        Some(&kill) if at >= kill => (at - kill).as_secs_f64(),
        Some(&kill) => -(kill - at).as_secs_f64(),
        None => f64::NEG_INFINITY,
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (app, cookie, stop, killed_at, seen) =
                (app.clone(), cookies[i].clone(), Arc::clone(&stop), Arc::clone(&killed_at), Arc::clone(&seen[i]));
            tokio::spawn(async move {
                seen.lock().unwrap().acknowledged.push((1, f64::NEG_INFINITY, f64::NEG_INFINITY));
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let (status, _, body) = common::call(&app, "/inc", Some(&cookie)).await;
                    let span = (since_kill(&killed_at, started), since_kill(&killed_at, Instant::now()));
                    {
                        let mut seen = seen.lock().unwrap();
                        match status {
                            StatusCode::OK => seen.acknowledged.push((body.parse().expect("a number"), span.0, span.1)),
                            StatusCode::SERVICE_UNAVAILABLE => seen.unavailable.push(span),
                            other => seen.other.push((other.as_u16(), body)),
                        }
                    }
                    if status != StatusCode::OK {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before: usize = seen.iter().map(|s| s.lock().unwrap().acknowledged.len() - 1).sum();
    // The replica falls behind (its link holds what the master sends), then the master dies, and what the link
    // held is gone: the writes of those 300 ms are on no server that is left.
    let link = servers.link.as_ref().expect("a link");
    link.hold();
    tokio::time::sleep(HELD).await;
    let kill = Instant::now();
    killed_at.set(kill).unwrap();
    servers.master.kill();
    link.close();
    // The sentinel's switch to the new master, and the first request started after the kill that was acknowledged
    // (through the new master: the old one is dead).
    let resumed = || {
        seen.iter()
            .flat_map(|s| s.lock().unwrap().acknowledged.iter().filter(|a| a.1 > 0.0).map(|a| a.2).collect::<Vec<_>>())
            .reduce(f64::min)
    };
    let mut switched = None;
    while switched.is_none() || resumed().is_none() {
        assert!(kill.elapsed() < Duration::from_secs(20), "no failover within 20 s (switched {switched:?})");
        if switched.is_none() && servers.sentinel_master().as_deref() == Some(new_master.as_str()) {
            switched = Some(kill.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Load after the failover, then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let switched = switched.unwrap();
    let resumed = Duration::from_secs_f64(resumed().unwrap());
    assert_eq!(master_of(&store).as_deref(), Some(new_master.as_str()), "the store moved to the new master");

    let (mut lost, mut regressions) = (0u64, 0u64);
    let (mut unavailable, mut total_ok, mut after_kill_ok) = (0usize, 0usize, 0usize);
    let mut last_unavailable_start = f64::NEG_INFINITY;
    let mut last_unavailable_end = f64::NEG_INFINITY;
    let seen: Vec<Seen> = seen.iter().map(|seen| std::mem::take(&mut *seen.lock().unwrap())).collect();
    for (i, seen) in seen.iter().enumerate() {
        assert!(seen.other.is_empty(), "client {i}: answers other than 200 and 503: {:?}", seen.other);
        for pair in seen.acknowledged.windows(2) {
            let (a, b) = (pair[0].0, pair[1].0);
            assert!(!wait || b > a, "client {i}: acknowledged {a} then {b}: an increment was lost");
            regressions += a.saturating_sub(b.saturating_sub(1));
        }
        let last = seen.acknowledged.iter().map(|a| a.0).max().unwrap();
        let (status, _, body) = common::call(&app, "/n", Some(&cookies[i])).await;
        assert_eq!(status, StatusCode::OK);
        let now: u64 = body.parse().unwrap();
        lost += last.saturating_sub(now);
        unavailable += seen.unavailable.len();
        for &(start, end) in &seen.unavailable {
            last_unavailable_start = last_unavailable_start.max(start);
            last_unavailable_end = last_unavailable_end.max(end);
        }
        total_ok += seen.acknowledged.len() - 1;
        after_kill_ok += seen.acknowledged.iter().filter(|a| a.1 > 0.0).count();
    }
    eprintln!(
        "Sentinel failover (replica held {HELD:?}, then master SIGKILLed, under {CLIENTS} clients, down-after 1000 ms, {}): \
         sentinel switched {switched:?} after the kill; store served again {resumed:?} after the kill; \
         {unavailable} requests answered 503, the last one started {last_unavailable_start:.3} s and ended \
         {last_unavailable_end:.3} s after the kill; {total_ok} requests acknowledged ({before} in the first \
         second of load, {after_kill_ok} started after the kill); lost = {lost} (counters), {regressions} (acknowledged \
         values seen again)",
        if wait { "wait_for_replicas(1, 500 ms)" } else { "no WAIT" },
    );
    assert!(unavailable > 0, "killing the master cost no request anything: was it the master?");
    assert!(after_kill_ok > CLIENTS * 10, "too little was served after the failover: {after_kill_ok}");
    assert!(
        resumed <= switched + Duration::from_secs(1),
        "served again {resumed:?} after the kill, the sentinel switched at {switched:?}"
    );
    assert!(
        last_unavailable_start <= resumed.as_secs_f64() + 0.2,
        "a request started after the service resumed answered 503 ({last_unavailable_start:.3} s)"
    );
    Some(lost.max(regressions))
}
