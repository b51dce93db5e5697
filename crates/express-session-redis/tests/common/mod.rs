//! Helpers for the store's tests: the shared Redis at `REDIS_URL`, Redis servers and clusters of the tests' own
//! (started from the `redis-server` binary, stopped when dropped or when the test process ends), and a tiny
//! HTTP/1.1 client.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use express_session::SessionId;
use express_session::testing::unreachable;
use express_session_redis::{RedisStore, RedisStoreBuilder};

pub mod secured;

/// The shared Redis the store tests use: `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test (or run) uses, so that `len` and `clear` see only the test's own records.
pub fn unique_prefix(what: &str) -> String {
    format!("test:{what}:{}:", SessionId::generate().as_str())
}

/// Test stores keep browser-session records ten minutes, not a day, so that aborted runs leave little behind.
pub fn builder(prefix: &str) -> RedisStoreBuilder {
    RedisStore::builder().prefix(prefix).ttl(Duration::from_secs(600)).timeout(Duration::from_secs(5))
}

/// A store on the shared Redis under a fresh prefix, or `None` (a loud skip; a failure under
/// `REQUIRE_SERVICES=1`) when that Redis cannot be reached.
pub async fn store() -> Option<RedisStore> {
    let url = redis_url();
    match builder(&unique_prefix("suite")).connect(&url).await {
        Ok(store) => Some(store),
        Err(error) => unreachable(&format!("Redis at {url}"), error_chain(&error)),
    }
}

/// [`store`] with an owner index under the owner key `user`.
pub async fn owned_store() -> Option<RedisStore> {
    let url = redis_url();
    match builder(&unique_prefix("suite")).owner_key("user").connect(&url).await {
        Ok(store) => Some(store),
        Err(error) => unreachable(&format!("Redis at {url}"), error_chain(&error)),
    }
}

/// An error with its sources, for messages.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A raw connection to the shared Redis, for looking at what the store wrote.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Where `redis-server` and `redis-cli` are (Debian's package puts them in /usr/bin).
pub fn binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Whether this machine can start Redis servers for the tests that need their own; if not, says so (and fails
/// under `REQUIRE_SERVICES=1`).
pub fn redis_server_available() -> bool {
    match (binary("redis-server"), binary("redis-cli")) {
        (Some(_), Some(_)) => true,
        _ => unreachable::<()>("redis-server and redis-cli", "not installed").is_some(),
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh scratch directory.
pub fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("express-session-redis-{what}-{}", SessionId::generate().as_str()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Makes sure `pid` (and `dir`) do not outlive the test process, even when it is killed: a shell that waits for
/// the test process to go away, then kills the server and removes its directory.
pub fn watchdog(pid: u32, dir: &Path) {
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.3; done; kill -9 {pid} 2>/dev/null; rm -rf '{dir}'",
        parent = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// A `redis-server` of the test's own on a free port, with append-only persistence (`appendfsync always`) in a
/// scratch directory, so that a restart on the same port finds every acknowledged write.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let mut server = Self {
            port: free_port(),
            dir: scratch_dir("server"),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port with the same data directory, and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(binary("redis-server").expect("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--daemonize", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        watchdog(child.id(), &self.dir);
        self.child = Some(child);
        wait_until_answers(self.port, &[]);
    }

    /// Freezes the server (SIGSTOP: it keeps its connections and answers nothing, as a hung or overloaded server
    /// does) or thaws it (SIGCONT).
    pub fn freeze(&self, frozen: bool) {
        let child = self.child.as_ref().expect("running");
        let status = Command::new("kill")
            .arg(if frozen { "-STOP" } else { "-CONT" })
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill failed: {status}");
    }

    /// Kills the server (SIGKILL: a crash, not a clean shutdown) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (up to 10 s) until `redis-cli -p port PING` answers, and `extra` (a `CLUSTER INFO` check) passes.
fn wait_until_answers(port: u16, extra: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ping = Command::new(binary("redis-cli").expect("redis-cli"))
            .args(["-p", &port.to_string(), "PING"])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "PONG")
            .unwrap_or(false);
        let extra_ok = extra.is_empty()
            || Command::new(binary("redis-cli").expect("redis-cli"))
                .args(["-p", &port.to_string()])
                .args(&extra[..extra.len() - 1])
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).contains(extra[extra.len() - 1]))
                .unwrap_or(false);
        if ping && extra_ok {
            return;
        }
        assert!(Instant::now() < deadline, "redis-server on port {port} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A 3-primary Redis Cluster of the test's own (no replicas), on free ports, torn down when dropped or when the
/// test process ends. Its nodes persist every write (append-only, `appendfsync always`), so that a node killed and
/// restarted on its port comes back with its data and its place in the cluster.
pub struct Cluster {
    pub ports: Vec<u16>,
    buses: Vec<u16>,
    dir: PathBuf,
    children: Vec<Option<Child>>,
}

impl Cluster {
    pub fn start() -> Self {
        let mut cluster =
            Self { ports: Vec::new(), buses: Vec::new(), dir: scratch_dir("cluster"), children: Vec::new() };
        while cluster.ports.len() < 3 {
            let (port, bus) = (free_port(), free_port());
            if port == bus || cluster.ports.contains(&port) || cluster.buses.contains(&bus) {
                continue;
            }
            cluster.ports.push(port);
            cluster.buses.push(bus);
            cluster.children.push(None);
            cluster.restart_node(cluster.ports.len() - 1);
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = Command::new(binary("redis-cli").expect("redis-cli"))
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(created.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&created.stdout));
        cluster.wait_until_ok();
        cluster
    }

    /// Starts node `i` (again, on its port, with its data and `nodes.conf`) and waits until it answers.
    pub fn restart_node(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "node {i} is running");
        let (port, bus) = (self.ports[i], self.buses[i]);
        let child = Command::new(binary("redis-server").expect("redis-server"))
            .args(["--port", &port.to_string(), "--cluster-port", &bus.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--appendfilename", &format!("{port}.aof")])
            .args(["--appenddirname", &format!("aof-{port}"), "--daemonize", "no", "--protected-mode", "no"])
            .arg("--cluster-config-file")
            .arg(self.dir.join(format!("nodes-{port}.conf")))
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        watchdog(child.id(), &self.dir);
        self.children[i] = Some(child);
        wait_until_answers(port, &[]);
    }

    /// Kills node `i` (SIGKILL).
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until every node says `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        for port in &self.ports {
            wait_until_answers(*port, &["CLUSTER", "INFO", "cluster_state:ok"]);
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.stop_node(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response of [`http_get`].
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub set_cookie: Option<String>,
    pub body: String,
}

impl HttpReply {
    /// The `name=value` part of the `Set-Cookie`.
    pub fn cookie(&self) -> String {
        self.set_cookie.as_deref().expect("a Set-Cookie").split(';').next().unwrap().to_owned()
    }
}

/// `GET path` on 127.0.0.1:`port` with an optional `Cookie`, over a fresh HTTP/1.1 connection.
pub async fn http_get(port: u16, path: &str, cookie: Option<&str>) -> HttpReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect to the Node app");
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let set_cookie = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.trim().to_owned());
    HttpReply { status, set_cookie, body: body.to_owned() }
}

/// One request through an axum app (no server): its status, the `name=value` part of its `Set-Cookie`, and its
/// body.
pub async fn call(app: &axum::Router, path: &str, cookie: Option<&str>) -> (http::StatusCode, Option<String>, String) {
    let mut request = http::Request::builder().uri(path);
    if let Some(cookie) = cookie {
        request = request.header(http::header::COOKIE, cookie);
    }
    let response =
        tower::ServiceExt::oneshot(app.clone(), request.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(http::header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, cookie, String::from_utf8_lossy(&body).into_owned())
}
