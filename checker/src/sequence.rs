//! Sequences: what the checker runs, how it generates them from a seed, and how it shrinks a failing one.

use std::fmt;

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same sequence on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `true` with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// One thing a handler does with its session.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `data()`: reads every key.
    Get,
    /// `insert(key, unique value)`, key `a`, `b` or `c`.
    Insert(u8),
    /// `remove(key)`.
    Remove(u8),
    /// `update("n", n + 1)`: the counter.
    Update,
    /// `save()`.
    Save,
    /// `touch()`.
    Touch,
    /// `regenerate()`, then a new login (`insert("user", new tag)`).
    Regenerate,
    /// `cycle_id()`.
    CycleId,
    /// `destroy()` (a logout).
    Destroy,
    /// `reload()`.
    Reload,
    /// A pause of that many milliseconds (0: a yield), so that requests interleave.
    Pause(u8),
    /// `end_other_sessions()`: "log out other devices" of the session's owner.
    EndOthers,
    /// `end_all_sessions()`: "log out everywhere" (this session too).
    EndAll,
    /// `owner_sessions()`, then `end_owner_session(handle)` of the first listed session that is not this one.
    EndOne,
    /// `owner_sessions()`: the owner's live sessions, this one marked.
    ListOwn,
}

impl Op {
    /// The name used in `CHECKER_OPS`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Insert(_) => "insert",
            Op::Remove(_) => "remove",
            Op::Update => "update",
            Op::Save => "save",
            Op::Touch => "touch",
            Op::Regenerate => "regenerate",
            Op::CycleId => "cycle_id",
            Op::Destroy => "destroy",
            Op::Reload => "reload",
            Op::Pause(_) => "pause",
            Op::EndOthers => "end_others",
            Op::EndAll => "end_all",
            Op::EndOne => "end_one",
            Op::ListOwn => "list_own",
        }
    }

    /// Whether the op ends or moves the request's session (at most one per request).
    pub fn is_mover(self) -> bool {
        matches!(self, Op::Regenerate | Op::CycleId | Op::Destroy | Op::EndAll)
    }

    /// Whether the op writes, or needs an owner (a request with one logs in first when its session is new).
    pub fn writes(self) -> bool {
        !matches!(self, Op::Get | Op::Pause(_) | Op::Touch | Op::Reload)
    }

    /// Whether the op uses the owner index (generated only on a store that keeps one).
    pub fn is_owner_op(self) -> bool {
        matches!(self, Op::EndOthers | Op::EndAll | Op::EndOne | Op::ListOwn)
    }
}

/// The key names of `Insert` and `Remove`.
pub const KEYS: [&str; 3] = ["a", "b", "c"];

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Insert(k) => write!(f, "insert({})", KEYS[usize::from(*k)]),
            Op::Remove(k) => write!(f, "remove({})", KEYS[usize::from(*k)]),
            Op::Pause(0) => f.write_str("yield"),
            Op::Pause(ms) => write!(f, "sleep({ms}ms)"),
            op => f.write_str(op.name()),
        }
    }
}

/// One request: a client (cookie jar) sends it to one of the two server instances; the handler runs `ops`.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// The client whose cookie jar is used.
    pub client: usize,
    /// Server instance 0 or 1 (two layers over one store).
    pub instance: usize,
    /// What the handler does, in order.
    pub ops: Vec<Op>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} -> server {}: {:?}", self.client, self.instance, self.ops)
    }
}

/// One step of a sequence.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// These requests, sent at once (their handlers run concurrently).
    Requests(Vec<Request>),
    /// Time moves on by this many milliseconds (the manual clock, or a real sleep).
    Advance(u64),
    /// The Node app writes a session (no creation stamp, `domain: ""`) and hands its cookie to this client.
    NodeSession {
        /// The client that gets the cookie.
        client: usize,
    },
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Requests(requests) if requests.len() == 1 => write!(f, "{:?}", requests[0]),
            Step::Requests(requests) => f.debug_list().entries(requests).finish(),
            Step::Advance(ms) => write!(f, "time +{ms} ms"),
            Step::NodeSession { client } => write!(f, "node writes a session for client {client}"),
        }
    }
}

/// A generated test case: the options and the steps.
#[derive(Clone, PartialEq, Eq)]
pub struct Sequence {
    /// How many clients (cookie jars).
    pub clients: usize,
    /// Each client's owner (0 or 1: two clients can be two devices of one owner), named at every login
    /// (`set_owner`) and in the client's Node-written records; empty when the store keeps no owner index.
    pub owners: Vec<usize>,
    /// The layers' `rolling` option.
    pub rolling: bool,
    /// Whether the layers have an absolute timeout.
    pub absolute: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl fmt::Debug for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} clients", self.clients)?;
        if !self.owners.is_empty() {
            write!(f, " (owners {:?})", self.owners)?;
        }
        writeln!(f, ", rolling {}, absolute timeout {}:", self.rolling, self.absolute)?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "  {i:>2}. {step:?}")?;
        }
        Ok(())
    }
}

/// What the generator may produce (from the environment: `CHECKER_OPS`, `CHECKER_ABSOLUTE`, `CHECKER_NODE`).
#[derive(Debug, Clone)]
pub struct Shape {
    /// The op names allowed (`Op::name`), plus `time`.
    pub ops: Vec<String>,
    /// `Some(b)`: the absolute timeout is always on (`true`) or off; `None`: either.
    pub absolute: Option<bool>,
    /// Whether Node-written sessions are seeded.
    pub node: bool,
    /// Whether the rolling option may be on.
    pub rolling: Option<bool>,
    /// The time moves to choose from, in milliseconds.
    pub moves: Vec<u64>,
    /// The most steps in a sequence.
    pub max_steps: usize,
    /// The share of steps that move time, in percent.
    pub time_percent: usize,
    /// Whether the store keeps an owner index: logins name an owner, and the owner ops are generated.
    pub owners: bool,
}

impl Shape {
    fn allows(&self, name: &str) -> bool {
        self.ops.iter().any(|o| o == name)
    }
}

/// Every op name, the default of `CHECKER_OPS`.
pub const ALL_OPS: &[&str] = &[
    "get",
    "insert",
    "remove",
    "update",
    "save",
    "touch",
    "regenerate",
    "cycle_id",
    "destroy",
    "reload",
    "pause",
    "end_others",
    "end_all",
    "end_one",
    "list_own",
    "time",
];

/// How many owners the clients share.
pub const OWNERS: usize = 2;

/// Generates the sequence of `seed`.
pub fn generate(seed: u64, shape: &Shape) -> Sequence {
    let mut rng = Rng::new(seed);
    let clients = 2 + rng.below(3);
    let rolling = shape.rolling.unwrap_or_else(|| rng.chance(30));
    let absolute = shape.absolute.unwrap_or_else(|| rng.chance(40));
    let weights: Vec<(Op, usize)> = [
        (Op::Get, 3),
        (Op::Insert(0), 3),
        (Op::Remove(0), 1),
        (Op::Update, 4),
        (Op::Save, 2),
        (Op::Touch, 1),
        (Op::Regenerate, 1),
        (Op::CycleId, 2),
        (Op::Destroy, 1),
        (Op::Reload, 1),
        (Op::Pause(0), 3),
        (Op::EndOthers, 1),
        (Op::EndAll, 1),
        (Op::EndOne, 1),
        (Op::ListOwn, 2),
    ]
    .into_iter()
    .filter(|(op, _)| shape.allows(op.name()) && (shape.owners || !op.is_owner_op()))
    .collect();
    // Client 0 is owner 0; each other client is owner 0 or 1 (drawn only with an owner index, so that the
    // sequences of a seed stay as they were on stores without one).
    let owners: Vec<usize> =
        if shape.owners { (0..clients).map(|c| if c == 0 { 0 } else { rng.below(OWNERS) }).collect() } else { vec![] };
    let total: usize = weights.iter().map(|(_, w)| w).sum();
    let time = shape.allows("time") && !shape.moves.is_empty();
    let len = 3 + rng.below(shape.max_steps.saturating_sub(2).max(1));
    let mut steps = Vec::with_capacity(len);
    for _ in 0..len {
        let roll = rng.below(100);
        if time && roll < shape.time_percent {
            steps.push(Step::Advance(shape.moves[rng.below(shape.moves.len())]));
        } else if shape.node && roll >= 92 {
            let client = if rng.chance(50) { 0 } else { rng.below(clients) };
            steps.push(Step::NodeSession { client });
        } else {
            let most = if rng.chance(50) { 1 } else { 4 };
            let n = 1 + rng.below(most);
            let mut requests = Vec::with_capacity(n);
            for _ in 0..n {
                let mut ops = Vec::new();
                let mut moved = false;
                let count = if total == 0 { 0 } else { rng.below(5) };
                for _ in 0..count {
                    let mut pick = rng.below(total);
                    let mut op = Op::Get;
                    for (candidate, weight) in &weights {
                        if pick < *weight {
                            op = *candidate;
                            break;
                        }
                        pick -= weight;
                    }
                    op = match op {
                        Op::Insert(_) => Op::Insert(rng.below(3) as u8),
                        Op::Remove(_) => Op::Remove(rng.below(3) as u8),
                        Op::Pause(_) => Op::Pause([0, 0, 1, 3, 10][rng.below(5)]),
                        op => op,
                    };
                    if op.is_mover() {
                        if moved {
                            continue;
                        }
                        moved = true;
                    }
                    ops.push(op);
                }
                // Client 0 sends half the requests, so that one session lives through many steps.
                let client = if rng.chance(60) { 0 } else { rng.below(clients) };
                requests.push(Request { client, instance: rng.below(2), ops });
            }
            steps.push(Step::Requests(requests));
        }
    }
    Sequence { clients, owners, rolling, absolute, steps }
}

/// The sequences one step smaller than `seq`, smallest changes last: without a step, without a request, without
/// an op, with a shorter time move.
pub fn shrink_candidates(seq: &Sequence, moves: &[u64]) -> Vec<Sequence> {
    let mut moves = moves.to_vec();
    moves.sort_unstable();
    moves.dedup();
    let mut out = Vec::new();
    for i in 0..seq.steps.len() {
        let mut s = seq.clone();
        s.steps.remove(i);
        out.push(s);
    }
    for (i, step) in seq.steps.iter().enumerate() {
        match step {
            Step::Requests(requests) => {
                for j in 0..requests.len() {
                    if requests.len() > 1 {
                        let mut s = seq.clone();
                        if let Step::Requests(r) = &mut s.steps[i] {
                            r.remove(j);
                        }
                        out.push(s);
                    }
                    for k in 0..requests[j].ops.len() {
                        let mut s = seq.clone();
                        if let Step::Requests(r) = &mut s.steps[i] {
                            r[j].ops.remove(k);
                        }
                        out.push(s);
                    }
                }
            }
            Step::Advance(ms) => {
                for smaller in moves.iter().filter(|m| *m < ms) {
                    let mut s = seq.clone();
                    s.steps[i] = Step::Advance(*smaller);
                    out.push(s);
                }
            }
            Step::NodeSession { .. } => {}
        }
    }
    if seq.rolling {
        out.push(Sequence { rolling: false, ..seq.clone() });
    }
    if seq.absolute {
        out.push(Sequence { absolute: false, ..seq.clone() });
    }
    out
}

/// The minimal sequences of what the checker found (`FINDINGS.md`), run before the random search on every run,
/// with their names. Time moves are scaled to the clock: a manual clock's `maxAge` is 60 s, real time's 4 s.
/// `owners`: the store keeps an owner index (the owner sequences are added).
pub fn corpus(manual: bool, owners: bool) -> Vec<(&'static str, Sequence)> {
    let one = |client: usize, ops: Vec<Op>| Request { client, instance: 0, ops };
    let other = |client: usize, ops: Vec<Op>| Request { client, instance: 1, ops };
    let at = |requests: Vec<Request>| Step::Requests(requests);
    let (short, long) = if manual { (20_000, 40_000) } else { (2_400, 2_400) };
    let seq =
        |absolute: bool, steps: Vec<Step>| Sequence { clients: 2, owners: vec![], rolling: false, absolute, steps };
    let mut node_reads = vec![Step::NodeSession { client: 0 }, at(vec![one(0, vec![])])];
    let reads = if manual { vec![40_000, 59_000] } else { vec![2_400; 5] };
    for ms in reads {
        node_reads.push(Step::Advance(ms));
        node_reads.push(at(vec![one(0, vec![Op::Pause(0)])]));
    }
    let mut all = vec![
        (
            "defect 1: save() after touches",
            seq(
                false,
                vec![
                    at(vec![one(0, vec![Op::Insert(0)])]),
                    Step::Advance(short),
                    at(vec![one(0, vec![])]),
                    Step::Advance(long),
                    at(vec![one(0, vec![Op::Save])]),
                    Step::Advance(300),
                    at(vec![one(0, vec![Op::Get])]),
                ],
            ),
        ),
        (
            "defect 2: cycle_id after a logout",
            seq(
                false,
                vec![
                    at(vec![one(0, vec![Op::Update])]),
                    at(vec![one(0, vec![Op::Destroy, Op::Get]), one(0, vec![Op::Pause(1), Op::Update, Op::CycleId])]),
                ],
            ),
        ),
        (
            "defect 2: cycle_id loses a concurrent update",
            seq(
                false,
                vec![
                    at(vec![one(0, vec![Op::Update])]),
                    at(vec![other(0, vec![Op::Pause(3), Op::CycleId]), other(0, vec![Op::Update])]),
                ],
            ),
        ),
        (
            "defect 2: concurrent cycle_id calls fork the session",
            seq(
                false,
                vec![
                    at(vec![one(0, vec![Op::Update])]),
                    at(vec![other(0, vec![Op::CycleId]), one(0, vec![Op::CycleId])]),
                ],
            ),
        ),
        ("defect 3: absolute timeout of a Node session", seq(true, node_reads)),
        (
            "defect 6: a Node session's empty domain",
            seq(false, vec![Step::NodeSession { client: 0 }, at(vec![other(0, vec![Op::CycleId])])]),
        ),
        (
            "a change after a save() that lost a race",
            seq(
                false,
                vec![
                    at(vec![one(0, vec![Op::Update])]),
                    at(vec![one(0, vec![Op::Insert(0)]), one(0, vec![Op::Save, Op::Remove(0)])]),
                ],
            ),
        ),
        (
            "a change after a reload() that brings the data back to what was loaded",
            seq(
                false,
                vec![
                    at(vec![one(0, vec![Op::CycleId])]),
                    at(vec![one(0, vec![Op::Insert(1)]), one(0, vec![Op::Reload, Op::Pause(3), Op::Remove(1)])]),
                ],
            ),
        ),
        (
            "a request whose data ends as it loaded it writes nothing (no false alarm)",
            seq(
                false,
                vec![
                    at(vec![other(0, vec![Op::Remove(2)])]),
                    at(vec![
                        other(0, vec![Op::Save]),
                        other(0, vec![Op::Insert(2), Op::Remove(2)]),
                        other(0, vec![Op::Insert(2)]),
                        one(0, vec![Op::Remove(1)]),
                    ]),
                ],
            ),
        ),
    ];
    if owners {
        let owned =
            |steps: Vec<Step>| Sequence { clients: 2, owners: vec![0, 0], rolling: false, absolute: false, steps };
        all.push((
            "end_other_sessions ends the other device of the owner, and keeps this one",
            owned(vec![
                at(vec![one(0, vec![Op::Insert(0)])]),
                at(vec![other(1, vec![Op::Insert(1)])]),
                at(vec![one(0, vec![Op::EndOthers])]),
                at(vec![other(1, vec![Op::Get]), one(0, vec![Op::ListOwn])]),
            ]),
        ));
        all.push((
            "cycle_id then end_other_sessions in one request keeps this session",
            owned(vec![
                at(vec![one(0, vec![Op::Insert(0)])]),
                at(vec![one(0, vec![Op::CycleId, Op::EndOthers])]),
                at(vec![other(0, vec![Op::Get])]),
            ]),
        ));
        all.push((
            "cycle_id then owner_sessions in one request marks this session current",
            owned(vec![at(vec![one(0, vec![Op::Insert(0)])]), at(vec![one(0, vec![Op::CycleId, Op::ListOwn])])]),
        ));
        all.push((
            "an owner call ends the record cycle_id is moving to",
            owned(vec![
                at(vec![one(0, vec![Op::CycleId])]),
                at(vec![
                    one(0, vec![]),
                    one(0, vec![Op::CycleId]),
                    other(0, vec![Op::Remove(2), Op::Update, Op::EndOne]),
                ]),
            ]),
        ));
        all.push((
            "end_all_sessions while a request of the session moves it",
            owned(vec![
                at(vec![one(0, vec![Op::Update])]),
                at(vec![one(0, vec![Op::EndAll]), other(0, vec![Op::CycleId])]),
            ]),
        ));
    }
    all
}
