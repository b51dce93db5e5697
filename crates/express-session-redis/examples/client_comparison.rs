//! The measurement behind the choice of Redis client: throughput of the store's hot path, `get` + `save_if`
//! (a `GET`, then the store's own compare-and-set script by `EVALSHA`), with 64 concurrent tasks, through the
//! `redis` crate and through `fred`, each over one connection and over a few.
//!
//! ```text
//! cargo run --release -p express-session-redis --example client-comparison [-- SECONDS_PER_RUN [ROUNDS]]
//! ```
//!
//! Uses the Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`); its keys live under a random prefix and
//! are deleted at the end. Each task updates its own session record, so every `save_if` succeeds: this measures
//! the clients, not conflicts. The runs are interleaved over `ROUNDS` rounds (default 5, of 3 s each), and the
//! median round of each configuration is reported (with the best), to damp the noise of a small shared machine.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::{ClientLike, KeysInterface};
use redis::AsyncCommands;

const TASKS: usize = 64;
const SAVE_IF: &str = include_str!("../src/lua/save_if.lua");

/// One client configuration: how to do `get` then `save_if` on a key.
trait Client: Clone + Send + Sync + 'static {
    fn get(&self, key: &str) -> impl Future<Output = Option<String>> + Send;
    fn save_if(&self, key: &str, expected: &str, new: &str) -> impl Future<Output = i64> + Send;
    fn set(&self, key: &str, value: &str) -> impl Future<Output = ()> + Send;
}

/// The `redis` crate: `ConnectionManager`s (one multiplexed, self-reconnecting connection each), round-robin.
#[derive(Clone)]
struct RedisRs {
    connections: Arc<Vec<redis::aio::ConnectionManager>>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    script: Arc<redis::Script>,
}

impl RedisRs {
    async fn connect(url: &str, connections: usize) -> Self {
        let client = redis::Client::open(url).expect("REDIS_URL");
        let mut all = Vec::new();
        for _ in 0..connections {
            all.push(client.get_connection_manager().await.expect("connect"));
        }
        Self { connections: Arc::new(all), next: Arc::default(), script: Arc::new(redis::Script::new(SAVE_IF)) }
    }

    fn connection(&self) -> redis::aio::ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[i].clone()
    }
}

impl Client for RedisRs {
    async fn get(&self, key: &str) -> Option<String> {
        self.connection().get(key).await.expect("GET")
    }
    async fn save_if(&self, key: &str, expected: &str, new: &str) -> i64 {
        let mut connection = self.connection();
        let mut call = self.script.key(key);
        call.arg(expected).arg(new).arg(3600).arg("").arg(0);
        call.invoke_async(&mut connection).await.expect("EVALSHA")
    }
    async fn set(&self, key: &str, value: &str) {
        let () = self.connection().set_ex(key, value, 3600).await.expect("SET");
    }
}

/// `fred`: one `Client` (one pipelined, self-reconnecting connection) or a round-robin `Pool`.
#[derive(Clone)]
struct Fred {
    pool: fred::clients::Pool,
    script: Arc<fred::types::scripts::Script>,
}

impl Fred {
    async fn connect(url: &str, connections: usize) -> Self {
        let config = fred::types::config::Config::from_url(url).expect("REDIS_URL");
        let pool = fred::types::Builder::from_config(config).build_pool(connections).expect("pool");
        pool.init().await.expect("connect");
        Self { pool, script: Arc::new(fred::types::scripts::Script::from_lua(SAVE_IF)) }
    }
}

impl Client for Fred {
    async fn get(&self, key: &str) -> Option<String> {
        self.pool.get(key).await.expect("GET")
    }
    async fn save_if(&self, key: &str, expected: &str, new: &str) -> i64 {
        let args: Vec<fred::types::Value> = vec![expected.into(), new.into(), 3600.into(), "".into(), 0.into()];
        self.script.evalsha_with_reload(self.pool.next(), key, args).await.expect("EVALSHA")
    }
    async fn set(&self, key: &str, value: &str) {
        let () = self.pool.set(key, value, Some(fred::types::Expiration::EX(3600)), None, false).await.expect("SET");
    }
}

fn record(n: u64) -> String {
    format!(
        r#"{{"cookie":{{"originalMaxAge":3600000,"expires":"2030-01-01T01:00:00.123Z","httpOnly":true,"path":"/"}},"user":"alice","n":{n}}}"#
    )
}

struct Figures {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// `TASKS` tasks, each looping get + save_if on its own key for `seconds`.
async fn run<C: Client>(client: C, prefix: &str, seconds: f64) -> Figures {
    let keys: Vec<String> = (0..TASKS).map(|i| format!("{prefix}{i}")).collect();
    for key in &keys {
        client.set(key, &record(0)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let (client, stop) = (client.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let current = client.get(&key).await.expect("the record");
                    n += 1;
                    let outcome = client.save_if(&key, &current, &record(n)).await;
                    assert_eq!(outcome, 1, "uncontended save_if must save");
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    Figures { ops_per_sec: latencies.len() as f64 / elapsed, p50: at(0.5), p99: at(0.99) }
}

#[tokio::main]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5).max(1);
    let prefix = format!("bench:{}:", std::process::id());
    let names = ["redis 1 connection", "fred 1 connection", "redis 4 connections", "fred pool of 4"];
    let clients = (
        RedisRs::connect(&url, 1).await,
        Fred::connect(&url, 1).await,
        RedisRs::connect(&url, 4).await,
        Fred::connect(&url, 4).await,
    );
    // Warm up both (script load, connections, allocator).
    run(clients.0.clone(), &prefix, 1.0).await;
    run(clients.1.clone(), &prefix, 1.0).await;
    let mut results: Vec<Vec<Figures>> = (0..names.len()).map(|_| Vec::new()).collect();
    let mut wins = vec![0; names.len()];
    for round in 1..=rounds {
        let figures = [
            run(clients.0.clone(), &prefix, seconds).await,
            run(clients.1.clone(), &prefix, seconds).await,
            run(clients.2.clone(), &prefix, seconds).await,
            run(clients.3.clone(), &prefix, seconds).await,
        ];
        let winner = (0..figures.len()).max_by(|&a, &b| figures[a].ops_per_sec.total_cmp(&figures[b].ops_per_sec));
        if let Some(winner) = winner {
            wins[winner] += 1;
        }
        for ((name, f), all) in names.iter().zip(figures).zip(&mut results) {
            println!(
                "round {round}: {name:<22} {:>8.0} get+save_if/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
                f.ops_per_sec,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3
            );
            all.push(f);
        }
    }
    println!("\n{rounds} rounds of {seconds} s, {TASKS} concurrent tasks; the median round of each, and the best:");
    println!("| client | median get+save_if/s | p50 | p99 | best get+save_if/s | fastest in |");
    println!("|---|---:|---:|---:|---:|---:|");
    for ((name, mut all), wins) in names.iter().zip(results).zip(wins) {
        all.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
        let (median, best) = (&all[all.len() / 2], &all[all.len() - 1]);
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.0} | {wins}/{rounds} |",
            median.ops_per_sec,
            median.p50.as_secs_f64() * 1e3,
            median.p99.as_secs_f64() * 1e3,
            best.ops_per_sec
        );
    }
    let mut connection = clients.0.connection();
    let keys: Vec<String> = (0..TASKS).map(|i| format!("{prefix}{i}")).collect();
    let _: Result<(), _> = connection.del(keys).await;
}
