//! Helpers for the tests against a real PostgreSQL: the server's URL, an admin pool, a fresh schema per test, a
//! TCP proxy that can cut the connection, and the Node side of the interop tests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use express_session::SessionId;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};

/// `DATABASE_URL`, default `postgres://postgres@127.0.0.1/test`.
pub fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into())
}

/// A small pool for the test's own statements, or `None` (skip, or panic under `REQUIRE_SERVICES=1`) when the
/// server is unreachable.
pub async fn admin() -> Option<PgPool> {
    let url = url();
    match PgPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(5)).connect(&url).await {
        Ok(pool) => Some(pool),
        Err(error) => express_session::store::testing::unreachable(&format!("PostgreSQL at {url}"), error),
    }
}

/// A short random lowercase name part.
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

/// Creates a fresh schema `es_t_<unix seconds>_<random>` for one test, after dropping those that earlier runs left
/// behind more than ten minutes ago.
pub async fn fresh_schema(admin: &PgPool) -> String {
    let old: Vec<String> = sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'es\\_t\\_%'")
        .fetch_all(admin)
        .await
        .unwrap();
    for name in old {
        let born = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        if born + 600 < unix_now() {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).execute(admin).await;
        }
    }
    let name = format!("es_t_{}_{}", unix_now(), random_suffix());
    sqlx::query(&format!("CREATE SCHEMA \"{name}\"")).execute(admin).await.unwrap();
    name
}

/// A local TCP port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP proxy on a fixed local port to the database: `stop` closes the listener and cuts every connection (the
/// database looks down), `start` brings it back on the same port.
pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    pub async fn new(target: SocketAddr) -> Arc<Self> {
        let proxy = Arc::new(Self { port: closed_port().await, target, task: Mutex::new(None) });
        proxy.start().await;
        proxy
    }

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

    pub async fn stop(&self) {
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `npm ci` in `dir` when its `node_modules` is missing. `None` (skip or panic) when npm is not there.
/// Tests of one binary run in parallel: one lock makes them install once, never two `npm ci` over each other.
pub async fn npm_ci(dir: &Path) -> Option<()> {
    static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _once = INSTALL.lock().await;
    if dir.join("node_modules/.package-lock.json").is_file() {
        return Some(());
    }
    let out = tokio::process::Command::new("npm")
        .arg("ci")
        .arg("--no-audit")
        .arg("--no-fund")
        .current_dir(dir)
        .output()
        .await;
    match out {
        Ok(out) if out.status.success() => Some(()),
        Ok(out) => express_session::store::testing::unreachable(
            &format!("npm ci in {}", dir.display()),
            String::from_utf8_lossy(&out.stderr),
        ),
        Err(error) => express_session::store::testing::unreachable("npm", error),
    }
}
