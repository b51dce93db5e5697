//! A stateful, model-based checker of the session contract, run against every store.
//!
//! A seeded generator makes sequences of steps: requests from 2-4 clients (cookie jars) sent at once to two server
//! instances (two session layers over one store), time moves that cross `maxAge` and the absolute timeout, and
//! sessions written the way the Node app writes them. Each request's handler performs a few session ops (get,
//! insert, remove, update, save, touch, regenerate, cycle_id, destroy, reload; on a store with an owner index also
//! end_other_sessions, end_all_sessions, end_owner_session and owner_sessions, logins naming one of two owners)
//! with pauses between them, so that requests interleave. After every step the [`model`] says what the answers and the store may be; a
//! violation is shrunk to a minimal sequence and reported with its seed. See `checker/README.md`.

pub mod exec;
pub mod model;
pub mod sequence;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use express_session::{Clock, Record, SessionId, Store, Timestamp};

use crate::exec::Times;
use crate::model::{Failure, Model, Seen};
use crate::sequence::{Sequence, Shape, Step};

type MakeStore<S> = Box<dyn Fn(Clock) -> Pin<Box<dyn Future<Output = Option<Arc<S>>> + Send>> + Send + Sync>;

/// A store to check: its name, whether it runs on the layers' manual clock (else real time), and how to make a
/// fresh one (`None`: the server is unreachable, and the check is skipped, loudly).
pub struct Backend<S> {
    name: &'static str,
    manual: bool,
    make: MakeStore<S>,
}

impl<S> std::fmt::Debug for Backend<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").field("name", &self.name).field("manual", &self.manual).finish_non_exhaustive()
    }
}

impl<S: Store> Backend<S> {
    /// A backend named `name` (the integration test's name); `make` builds a store on the given clock (ignored
    /// by real-time stores), once per sequence.
    pub fn new<F, Fut>(name: &'static str, manual: bool, make: F) -> Self
    where
        F: Fn(Clock) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Arc<S>>> + Send + 'static,
    {
        Self { name, manual, make: Box::new(move |clock| Box::pin(make(clock))) }
    }
}

/// The time parameters: a manual clock moves in big jumps around a 60 s `maxAge`; real time uses a 4 s `maxAge`
/// and a tolerance of 1.2 s (the stores round expiry to whole seconds: PostgreSQL up, MySQL to the nearest,
/// Redis's TTL up, plus request latency).
pub fn times(manual: bool) -> (Times, Vec<u64>) {
    if manual {
        let t = Times { max_age: 60_000, absolute: 90_000, tolerance: 0, manual };
        (t, vec![1_000, 20_000, 40_000, 40_000, 59_000, 59_000, 61_000, 100_000])
    } else {
        let t = Times { max_age: 4_000, absolute: 9_000, tolerance: 1_200, manual };
        (t, vec![2_400, 2_400, 2_400, 5_500])
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_bool(name: &str) -> Option<bool> {
    env(name).map(|v| v == "1" || v == "true")
}

/// The generator's shape from the environment: `CHECKER_OPS` (comma-separated op names, `time` for time moves;
/// default all), `CHECKER_ABSOLUTE` (`1`/`0`: absolute timeout always on/off), `CHECKER_ROLLING`, `CHECKER_NODE`
/// (`0`: no Node-written sessions), `CHECKER_STEPS` (most steps per sequence).
pub fn shape_from_env(manual: bool) -> Shape {
    let ops = env("CHECKER_OPS")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_else(|| sequence::ALL_OPS.iter().map(|s| (*s).to_owned()).collect());
    Shape {
        ops,
        absolute: env_bool("CHECKER_ABSOLUTE"),
        rolling: env_bool("CHECKER_ROLLING"),
        node: env_bool("CHECKER_NODE").unwrap_or(true),
        moves: times(manual).1,
        time_percent: if manual { 25 } else { 35 },
        max_steps: env("CHECKER_STEPS").and_then(|v| v.parse().ok()).unwrap_or(if manual { 24 } else { 12 }),
        owners: false,
    }
}

/// What a run did, for the summary.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Sequences run.
    pub sequences: u64,
    /// Steps run.
    pub steps: u64,
    /// Requests sent.
    pub requests: u64,
    /// Ops performed, by name.
    pub ops: BTreeMap<&'static str, u64>,
    /// Time moves and Node-written sessions.
    pub time_moves: u64,
    /// Node-written sessions.
    pub node_sessions: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.sequences += other.sequences;
        self.steps += other.steps;
        self.requests += other.requests;
        self.time_moves += other.time_moves;
        self.node_sessions += other.node_sessions;
        for (k, v) in &other.ops {
            *self.ops.entry(k).or_default() += v;
        }
    }
}

/// Runs one sequence on a fresh store; `Ok(None)` when the store is unreachable.
pub async fn run_sequence<S: Store>(backend: &Backend<S>, seq: &Sequence) -> Result<Option<Stats>, Failure> {
    let (times, _) = times(backend.manual);
    let clock = if backend.manual { Clock::manual(Timestamp::now()) } else { Clock::system() };
    let Some(store) = (backend.make)(clock.clone()).await else { return Ok(None) };
    if !seq.owners.is_empty() && store.owner_key() != Some(exec::OWNER_KEY) {
        return Err(Failure {
            step: 0,
            kind: "no-owner-index",
            detail: format!("the sequence names owners, but the store's owner key is {:?}", store.owner_key()),
        });
    }
    let servers = [
        exec::instance(&store, &clock, times, seq.rolling, seq.absolute),
        exec::instance(&store, &clock, times, seq.rolling, seq.absolute),
    ];
    let mut model = Model::new(times, seq.absolute, seq.rolling, seq.clients, seq.owners.clone());
    let run = SessionId::generate().as_str()[..12].to_owned();
    let mut stats = Stats { sequences: 1, ..Stats::default() };
    for (i, step) in seq.steps.iter().enumerate() {
        stats.steps += 1;
        match step {
            Step::Advance(ms) => {
                stats.time_moves += 1;
                if backend.manual {
                    clock.advance(Duration::from_millis(*ms));
                } else {
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                }
                model.quiet();
            }
            Step::NodeSession { client } => {
                stats.node_sessions += 1;
                let id = SessionId::generate();
                let now = clock.now();
                let tag = format!("node{i}");
                // The Node app names the owner under the same key (`req.session.owner = ...`).
                let owner = seq
                    .owners
                    .get(*client)
                    .map(|o| format!(r#","{}":"{}""#, exec::OWNER_KEY, exec::owner_name(&run, *o)))
                    .unwrap_or_default();
                // As express-session 1.19 stores it: no creation stamp, and `domain: ""` (an empty env var).
                let json = format!(
                    r#"{{"cookie":{{"originalMaxAge":{m},"expires":"{e}","secure":false,"httpOnly":true,"domain":"","path":"/"}},"user":"{tag}"{owner}}}"#,
                    m = times.max_age,
                    e = now.add_millis(times.max_age).to_json()
                );
                let record = Record::from_json(&json).map_err(|e| Failure {
                    step: i,
                    kind: "node-record-refused",
                    detail: format!("a record the Node app writes does not parse: {e}: {json}"),
                })?;
                store.set(&id, &record).await.map_err(|e| Failure {
                    step: i,
                    kind: "store-error",
                    detail: format!("set failed: {e:?}"),
                })?;
                model.node_session(*client, id.as_str().to_owned(), tag, now.as_millis());
                model.quiet();
            }
            Step::Requests(requests) => {
                stats.requests += requests.len() as u64;
                for r in requests {
                    for op in &r.ops {
                        *stats.ops.entry(op.name()).or_default() += 1;
                    }
                }
                let base = Instant::now();
                let tasks: Vec<_> = requests
                    .iter()
                    .enumerate()
                    .map(|(j, r)| {
                        tokio::spawn(exec::send(
                            servers[r.instance].clone(),
                            j,
                            model.jars[r.client].clone(),
                            r.ops.clone(),
                            (format!("s{i}r{j}"), seq.owners.get(r.client).map(|o| exec::owner_name(&run, *o))),
                            base,
                            clock.clone(),
                        ))
                    })
                    .collect();
                let mut outs = Vec::with_capacity(tasks.len());
                for task in tasks {
                    outs.push(task.await.map_err(|e| Failure {
                        step: i,
                        kind: "panic",
                        detail: format!("a request task panicked: {e}"),
                    })?);
                }
                model.step(i, requests, &outs)?;
            }
        }
        let ids = model.ids_to_read();
        let from = clock.now().as_millis();
        let mut seen = HashMap::with_capacity(ids.len());
        for id in ids {
            let Some(sid) = SessionId::new(&id) else { continue };
            let found = store.get(&sid).await.map_err(|e| Failure {
                step: i,
                kind: "store-error",
                detail: format!("get failed: {e:?}"),
            })?;
            seen.insert(id, found.map(|v| Seen::from_data(v.record.data())));
        }
        let to = clock.now().as_millis();
        model.verify(i, &seen, from, to)?;
    }
    Ok(Some(stats))
}

fn mix(seed: u64) -> u64 {
    sequence::Rng::new(seed).next_u64()
}

/// Runs `seq` up to `tries` times; the first failure, if any.
async fn fails<S: Store>(backend: &Backend<S>, seq: &Sequence, tries: usize) -> Option<Failure> {
    for _ in 0..tries {
        if let Err(f) = run_sequence(backend, seq).await {
            return Some(f);
        }
    }
    None
}

/// Shrinks a failing sequence: greedily drops steps, requests and ops (and shortens time moves) while the same
/// kind of failure still shows (each candidate is run a few times: interleavings vary).
async fn shrink<S: Store>(
    backend: &Backend<S>,
    seq: Sequence,
    failure: Failure,
    budget: Duration,
) -> (Sequence, Failure, u64) {
    let deadline = Instant::now() + budget;
    let tries = if backend.manual { 8 } else { 1 };
    let moves = times(backend.manual).1;
    let (mut best, mut best_failure, mut runs) = (seq, failure, 0u64);
    'outer: loop {
        // Steps after the failing one cannot matter.
        if best.steps.len() > best_failure.step + 1 {
            best.steps.truncate(best_failure.step + 1);
        }
        for candidate in sequence::shrink_candidates(&best, &moves) {
            if Instant::now() > deadline {
                break 'outer;
            }
            runs += 1;
            if let Some(f) = fails(backend, &candidate, tries).await
                && f.kind == best_failure.kind
            {
                best = candidate;
                best_failure = f;
                continue 'outer;
            }
        }
        break;
    }
    (best, best_failure, runs)
}

/// What the workers of [`check`] share.
struct Search {
    /// The first failure: its seed, sequence, failure, and when it was found.
    found: std::sync::Mutex<Option<(u64, Sequence, Failure, Duration)>>,
    stats: std::sync::Mutex<Stats>,
    next: std::sync::atomic::AtomicU64,
    skipped: std::sync::atomic::AtomicBool,
}

/// One worker of [`check`]: runs sequences of fresh seeds until the time is up or a failure is found.
async fn search<S: Store>(backend: Arc<Backend<S>>, shape: Shape, search: Arc<Search>, first: u64, until: Instant) {
    use std::sync::atomic::Ordering;
    let started = Instant::now();
    while Instant::now() < until && !search.skipped.load(Ordering::SeqCst) {
        if search.found.lock().map(|f| f.is_some()).unwrap_or(true) {
            return;
        }
        let seed = mix(first.wrapping_add(search.next.fetch_add(1, Ordering::SeqCst)));
        let seq = sequence::generate(seed, &shape);
        match run_sequence(&backend, &seq).await {
            Ok(None) => search.skipped.store(true, Ordering::SeqCst),
            Ok(Some(stats)) => {
                if let Ok(mut total) = search.stats.lock() {
                    total.add(&stats);
                }
            }
            Err(failure) => {
                if let Ok(mut found) = search.found.lock()
                    && found.is_none()
                {
                    *found = Some((seed, seq, failure, started.elapsed()));
                }
                return;
            }
        }
    }
}

/// Checks the contract on `backend` for `CHECKER_SECONDS` (default 10), or replays `CHECKER_SEED`; panics with
/// the shrunk sequence and its seed on a violation. Real-time stores run `CHECKER_PARALLEL` sequences at once
/// (default 4: they mostly sleep through their time moves; each has its own clients and ids).
pub async fn check<S: Store>(backend: Backend<S>) {
    let seconds: u64 = env("CHECKER_SECONDS").and_then(|v| v.parse().ok()).unwrap_or(10);
    let shrink_budget = Duration::from_secs(env("CHECKER_SHRINK_SECONDS").and_then(|v| v.parse().ok()).unwrap_or(60));
    let mut shape = shape_from_env(backend.manual);
    let started = Instant::now();
    // Whether the store keeps an owner index (under the checker's key): then logins name owners and the owner
    // ops run.
    let probe_clock = if backend.manual { Clock::manual(Timestamp::now()) } else { Clock::system() };
    match (backend.make)(probe_clock).await {
        None => {
            eprintln!("checker[{}]: store unreachable, skipped", backend.name);
            return;
        }
        Some(store) => shape.owners = store.owner_key() == Some(exec::OWNER_KEY),
    }
    if !shape.owners {
        eprintln!(
            "checker[{}]: the store keeps no owner index under {:?}: no owner ops",
            backend.name,
            exec::OWNER_KEY
        );
    }
    let backend = Arc::new(backend);
    let replay: Option<u64> = env("CHECKER_SEED").and_then(|v| v.parse().ok());
    // First the minimal sequences of earlier findings (each several times: interleavings vary).
    if replay.is_none() && env("CHECKER_CORPUS").as_deref() != Some("0") {
        let tries = if backend.manual { 20 } else { 1 };
        for (name, seq) in sequence::corpus(backend.manual, shape.owners) {
            for _ in 0..tries {
                match run_sequence(&backend, &seq).await {
                    Ok(None) => {
                        eprintln!("checker[{}]: store unreachable, skipped", backend.name);
                        return;
                    }
                    Ok(Some(_)) => {}
                    Err(failure) => panic!(
                        "\n=== CHECKER FAILURE on {store}: {kind} ===\ncorpus sequence \"{name}\" (checker/FINDINGS.md)\n\
                         {detail}\nsequence (step {step} fails):\n{seq:?}",
                        store = backend.name,
                        kind = failure.kind,
                        detail = failure.detail,
                        step = failure.step,
                    ),
                }
            }
        }
        eprintln!("checker[{}]: the corpus passes ({:.1}s)", backend.name, started.elapsed().as_secs_f64());
    }
    let (found, total) = if let Some(seed) = replay {
        let seq = sequence::generate(seed, &shape);
        let mut total = Stats::default();
        let mut found = None;
        for _ in 0..20 {
            match run_sequence(&backend, &seq).await {
                Ok(None) => {
                    eprintln!("checker[{}]: store unreachable, skipped", backend.name);
                    return;
                }
                Ok(Some(stats)) => total.add(&stats),
                Err(failure) => {
                    found = Some((seed, seq, failure, started.elapsed()));
                    break;
                }
            }
        }
        (found, total)
    } else {
        let first = mix(Timestamp::now().as_millis() as u64 ^ u64::from(std::process::id()));
        let workers: usize =
            env("CHECKER_PARALLEL").and_then(|v| v.parse().ok()).unwrap_or(if backend.manual { 1 } else { 4 }).max(1);
        let shared = Arc::new(Search {
            found: std::sync::Mutex::new(None),
            stats: std::sync::Mutex::new(Stats::default()),
            next: std::sync::atomic::AtomicU64::new(0),
            skipped: std::sync::atomic::AtomicBool::new(false),
        });
        let until = started + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..workers)
            .map(|_| tokio::spawn(search(Arc::clone(&backend), shape.clone(), Arc::clone(&shared), first, until)))
            .collect();
        for task in tasks {
            if let Err(error) = task.await {
                panic!("checker[{}]: a worker panicked: {error}", backend.name);
            }
        }
        if shared.skipped.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("checker[{}]: store unreachable, skipped", backend.name);
            return;
        }
        let found = shared.found.lock().map(|mut f| f.take()).unwrap_or(None);
        let total = shared.stats.lock().map(|s| s.clone()).unwrap_or_default();
        (found, total)
    };
    if let Some((seed, seq, failure, found_after)) = found {
        eprintln!(
            "checker[{}]: {} at step {} (seed {seed}) after {:.1}s and {} sequences; shrinking...",
            backend.name,
            failure.kind,
            failure.step,
            found_after.as_secs_f64(),
            total.sequences + 1
        );
        let original_len = seq.steps.len();
        let (small, failure, runs) = shrink(&backend, seq, failure, shrink_budget).await;
        panic!(
            "\n=== CHECKER FAILURE on {store}: {kind} ===\nseed {seed}, found after {found:.1}s ({n} sequences); \
             replay: CHECKER_SEED={seed} cargo test -p express-session-checker --test {store}\n{detail}\n\
             minimal sequence (step {step} fails; shrunk from {original_len} steps in {runs} runs):\n{small:?}",
            store = backend.name,
            kind = failure.kind,
            found = found_after.as_secs_f64(),
            n = total.sequences + 1,
            detail = failure.detail,
            step = failure.step,
        );
    }
    eprintln!(
        "checker[{}]: {} sequences, {} steps, {} requests, {} time moves, {} Node sessions in {:.1}s; ops {:?}",
        backend.name,
        total.sequences,
        total.steps,
        total.requests,
        total.time_moves,
        total.node_sessions,
        started.elapsed().as_secs_f64(),
        total.ops
    );
}
