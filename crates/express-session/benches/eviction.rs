#![allow(missing_docs)] // criterion_group! generates undocumented items
//! What a cookie-less request costs when the bounded MemoryStore is full and must evict for every new session,
//! against the same request on an unbounded store of the same size (issue 19: a full store at capacity
//! 1,000,000 used to scan a whole shard per insert).
//!
//! Run with `cargo bench -p express-session --bench eviction`. `EVICTION_BENCH_SESSIONS` changes the size
//! (default 1,000,000). Figures are in BENCHMARKS.md, "Eviction under a flood".
//!
//! The time measured is the CPU time of the benchmark's thread (Linux's `/proc/thread-self/schedstat`), not the
//! wall clock, so that other processes on a shared machine do not skew the comparison.

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, criterion_group, criterion_main};
use express_session::store::Store;
use express_session::{MemoryStore, Record, SessionCookie, SessionId, SessionManagerLayer, SessionOptions};
use tower::ServiceExt;

const SECRET: &str = "a benchmark secret that is long enough";

/// The CPU time this thread has run, in nanoseconds (the first field of `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux's /proc/thread-self/schedstat");
    stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).expect("a number of nanoseconds")
}

/// Criterion's measurement of this thread's CPU time (the runtime below runs every task on this thread).
struct ThreadCpu;

static WALL_TIME: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, as the wall clock's.
        WALL_TIME.formatter()
    }
}

fn sessions() -> usize {
    std::env::var("EVICTION_BENCH_SESSIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000)
}

/// A store already holding `n` anonymous sessions, as a flood leaves it.
fn filled(runtime: &tokio::runtime::Runtime, store: MemoryStore, n: usize) -> MemoryStore {
    let record = Record::new(SessionCookie::default());
    runtime.block_on(async {
        for _ in 0..n {
            store.create(&SessionId::generate(), &record).await.unwrap();
        }
    });
    store
}

fn flood(c: &mut Criterion<ThreadCpu>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let n = sessions();
    let mut group = c.benchmark_group("cookie-less request (save_uninitialized)");
    group.sample_size(20).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    for (name, store) in
        [("unbounded", MemoryStore::new()), ("full at capacity", MemoryStore::builder().capacity(n).build())]
    {
        let store = filled(&runtime, store, n);
        let layer = SessionManagerLayer::new(
            SessionOptions::new().secret(SECRET).save_uninitialized(true).store(store.clone()),
        )
        .unwrap();
        let app = Router::new().route("/", get(|| async { "ok" })).layer(layer);
        group.bench_function(format!("{name}, {n} sessions"), |b| {
            b.to_async(&runtime).iter(|| {
                let app = app.clone();
                async move { black_box(app.oneshot(http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap()) }
            })
        });
        drop(app);
        drop(store);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = flood
}
criterion_main!(benches);
