//! The reference model: what the store and the answers may be after each step.
//!
//! Every session the clients create is a *lineage*: it starts with a login (a `user` tag unique to the request
//! that wrote it), moves to a new id with `cycle_id`, and ends with `destroy`, `regenerate` (which starts a new
//! lineage), expiry, or the absolute timeout. Every value a request writes is unique, so whatever the store holds
//! says which request wrote it. The model keeps, per lineage, its current id, its counter, its keys, its expiry and
//! its creation time, exactly where the contract is exact; where concurrency leaves a choice it computes the set of
//! allowed outcomes, checks the observation is in it, and adopts the observation.
//!
//! Where the contract leaves a choice:
//! - concurrent writes of one key: any of the writes that no later write (one that began after it ended)
//!   overrode;
//! - a request racing a `destroy`, `regenerate` or `cycle_id` of its session may find it gone (a new, empty
//!   session), and its writes may be dropped (the counter is then between the increments that must have landed
//!   and all of them);
//! - with real time: expiry within the tolerance (whole-second rounding of the SQL and Redis stores, request
//!   latency).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use serde_json::Value;

use express_session::SessionId;
use express_session::store::SessionHandle;

use crate::exec::{Outcome, Times};
use crate::sequence::{KEYS, Op, Request};

/// The handle the owner index lists the session stored under `id` with.
fn handle_of(id: &str) -> Option<String> {
    SessionId::new(id).map(|id| SessionHandle::of(&id).as_str().to_owned())
}

/// A contract violation: the step it showed at, its kind (for shrinking to the same failure) and what was seen.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The index of the step.
    pub step: usize,
    /// A short name of the violation.
    pub kind: &'static str,
    /// What was expected and what was seen.
    pub detail: String,
}

fn fail<T>(step: usize, kind: &'static str, detail: String) -> Result<T, Failure> {
    Err(Failure { step, kind, detail })
}

/// A record as the checker reads it from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The `user` tag.
    pub tag: Option<String>,
    /// The counter (`n`, 0 when absent).
    pub count: u64,
    /// `a`, `b`, `c`.
    pub keys: [Option<String>; 3],
}

impl Seen {
    /// From a record's data.
    pub fn from_data(data: &serde_json::Map<String, Value>) -> Self {
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        Self {
            tag: data.get("user").map(text),
            count: data.get("n").and_then(Value::as_u64).unwrap_or(0),
            keys: KEYS.map(|k| data.get(k).map(text)),
        }
    }
}

#[derive(Debug, Clone)]
struct Lineage {
    tag: String,
    id: Option<String>,
    alive: bool,
    count: u64,
    keys: [Option<String>; 3],
    exp_lo: i64,
    exp_hi: i64,
    created_lo: i64,
    /// `None`: a Node-written session our layer has not loaded yet (its lifetime starts at most then).
    created_hi: Option<i64>,
    /// The owner its login (or the Node app) named; `None` on a store without an owner index.
    owner: Option<usize>,
    /// An `end_other_sessions`/`end_all_sessions`/`end_owner_session` answered before it must have ended it.
    owner_ended: bool,
    /// It was found gone while surely live by time (destroyed, regenerated away, ended by its owner): with real
    /// time, only such sessions are surely unlisted (an expired one may be listed within the tolerance).
    ended_explicitly: bool,
}

/// An owner call that ended sessions: `end_other_sessions`, `end_all_sessions`, or an `end_owner_session` that
/// answered `true`.
#[derive(Debug, Clone)]
struct Ender {
    request: usize,
    owner: usize,
    op: Op,
    start: i64,
    end: i64,
    /// The asker's session when the request began.
    asker: Option<usize>,
    /// `end_one`: the session whose handle it ended, when it lived at that id when the step began.
    target: Option<usize>,
    /// `end_one`: the handle, when it named no session of the step's start.
    unresolved: Option<String>,
}

impl Ender {
    /// Whether it may have ended lineage `l` of owner `owner` (generously).
    fn may_end(&self, l: usize, owner: Option<usize>) -> bool {
        owner == Some(self.owner)
            && match self.op {
                Op::EndOne => self.target == Some(l) || self.unresolved.is_some(),
                _ => true,
            }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    None,
    Gone,
    Lin(usize),
}

#[derive(Debug, Clone)]
struct Commit {
    lin: usize,
    request: usize,
    start: i64,
    end: i64,
    incs: u64,
    keys: BTreeMap<usize, Option<String>>,
    /// An end-of-request commit that leaves every value as the lineage had it: the request's data may equal what
    /// it loaded, and the layer then writes nothing (express's "unmodified"), so it overrides nothing.
    maybe_noop: bool,
}

/// What a listing (`list_own`, `end_one`) is checked against.
struct Listing<'a> {
    step: usize,
    owner: usize,
    op: &'a crate::exec::OpOut,
    out: &'a Outcome,
    /// The asker's session when it listed.
    target: Target,
    /// The request moved or ended its session before it listed.
    moved_before: bool,
    n_before: usize,
    handles: &'a HashMap<String, String>,
    enders: &'a [Ender],
    ext: &'a HashMap<usize, Vec<(usize, i64, i64)>>,
    movers: &'a HashMap<usize, Vec<Mover>>,
    /// Sessions of the owner this step may have created or moved.
    creations: usize,
    surely_ends: &'a dyn Fn(&Ender, usize, &[Lineage]) -> bool,
}

/// What the owner calls of a step did to a session created in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Kept,
    Either,
    Ended,
}

#[derive(Debug, Clone, Copy)]
struct Mover {
    request: usize,
    cycle: bool,
    start: i64,
    end: i64,
}

/// What the model allows for one lineage after a step.
#[derive(Debug, Clone)]
struct Expect {
    lin: usize,
    /// Ids it may be found at, each with the counter's bounds there.
    candidates: Vec<(String, u64, u64)>,
    /// It must be found (if the time says it is live).
    must_live: bool,
    /// Allowed values per key.
    keys: [Vec<Option<String>>; 3],
}

/// The model of one sequence's run.
#[derive(Debug)]
pub struct Model {
    times: Times,
    absolute: bool,
    rolling: bool,
    lins: Vec<Lineage>,
    by_tag: HashMap<String, usize>,
    /// Each client's owner (empty: the store keeps no owner index).
    owners: Vec<usize>,
    /// The lineage that held each id the model ever adopted.
    id_lineage: HashMap<String, usize>,

    /// Every session id a client ever held.
    pub known: BTreeSet<String>,
    /// The clients' cookie jars (session ids).
    pub jars: Vec<Option<String>>,
    expects: Vec<Expect>,
    /// A log of what the model concluded, for failure reports.
    pub log: Vec<String>,
}

impl Model {
    /// A model with `clients` empty cookie jars.
    pub fn new(times: Times, absolute: bool, rolling: bool, clients: usize, owners: Vec<usize>) -> Self {
        Self {
            times,
            absolute,
            rolling,
            lins: Vec::new(),
            by_tag: HashMap::new(),
            owners,
            id_lineage: HashMap::new(),

            known: BTreeSet::new(),
            jars: vec![None; clients],
            expects: Vec::new(),
            log: Vec::new(),
        }
    }

    fn add_lineage(
        &mut self,
        tag: String,
        created: (i64, Option<i64>),
        exp: (i64, i64),
        owner: Option<usize>,
    ) -> usize {
        let i = self.lins.len();
        self.lins.push(Lineage {
            tag: tag.clone(),
            id: None,
            alive: true,
            count: 0,
            keys: [None, None, None],
            exp_lo: exp.0,
            exp_hi: exp.1,
            created_lo: created.0,
            created_hi: created.1,
            owner,
            owner_ended: false,
            ended_explicitly: false,
        });
        self.by_tag.insert(tag, i);
        i
    }

    /// The Node app wrote session `id` with `tag` at `now`; `client` holds its cookie.
    pub fn node_session(&mut self, client: usize, id: String, tag: String, now: i64) {
        let m = self.times.max_age;
        let owner = self.owners.get(client).copied();
        let l = self.add_lineage(tag, (now, None), (now + m, now + m), owner);
        self.lins[l].id = Some(id.clone());
        self.id_lineage.insert(id.clone(), l);
        self.known.insert(id.clone());
        self.jars[client] = Some(id);
    }

    fn live_lineage_at(&self, id: &str) -> Option<usize> {
        self.lins.iter().position(|l| l.alive && l.id.as_deref() == Some(id))
    }

    /// Certainly live (not expired) during `[from, to]`.
    fn surely_live(&self, l: usize, to: i64) -> bool {
        let lin = &self.lins[l];
        if self.times.manual { to < lin.exp_lo } else { to < lin.exp_lo - self.times.tolerance }
    }

    /// Certainly expired from `from` on.
    fn surely_expired(&self, l: usize, from: i64) -> bool {
        let lin = &self.lins[l];
        if self.times.manual { from >= lin.exp_hi } else { from >= lin.exp_hi + self.times.tolerance }
    }

    fn abs_surely_over(&self, l: usize, from: i64) -> bool {
        let lin = &self.lins[l];
        let tol = if self.times.manual { 0 } else { self.times.tolerance };
        self.absolute && lin.created_hi.is_some_and(|c| from >= c + self.times.absolute + tol)
    }

    fn abs_maybe_over(&self, l: usize, to: i64) -> bool {
        let lin = &self.lins[l];
        let tol = if self.times.manual { 0 } else { self.times.tolerance };
        self.absolute && to >= lin.created_lo + self.times.absolute - tol
    }

    fn describe(&self, l: usize) -> String {
        let lin = &self.lins[l];
        format!(
            "session {} (id {}, n={}, keys {:?}, expires {}..{}, created {}..{:?})",
            lin.tag,
            lin.id.as_deref().map_or("?", |id| &id[..8.min(id.len())]),
            lin.count,
            lin.keys,
            lin.exp_lo,
            lin.exp_hi,
            lin.created_lo,
            lin.created_hi
        )
    }

    /// Takes in the answers of a step's requests; checks what can be checked from them alone, and works out what
    /// the store may hold (checked by [`verify`](Self::verify)).
    pub fn step(&mut self, step: usize, requests: &[Request], outs: &[Outcome]) -> Result<(), Failure> {
        let m = self.times.max_age;
        // 1. Answers.
        for (req, out) in requests.iter().zip(outs) {
            match out.status {
                None => return fail(step, "panic", format!("request {} ({req:?}) panicked", out.index)),
                Some(418) => return fail(step, "no-session", format!("request {} had no session", out.index)),
                Some(s) if s >= 500 => {
                    return fail(
                        step,
                        "5xx",
                        format!("request {} ({req:?}) answered {s} ({:?}): {:?}", out.index, out.error, out.trace),
                    );
                }
                _ => {}
            }
            if let Some(Err(e)) = &out.trace.first {
                return fail(step, "op-error", format!("request {}: reading the session failed: {e}", out.index));
            }
        }
        // 2. Which session each request got.
        let mut initial = vec![Target::None; outs.len()];
        let mut fresh_on: Vec<Option<usize>> = vec![None; outs.len()];
        for out in outs {
            let sent_lin = out.sent.as_deref().and_then(|id| self.live_lineage_at(id));
            match &out.trace.first {
                Some(Ok(Some(tag))) => match (self.by_tag.get(tag), sent_lin) {
                    (Some(&l), Some(s)) if l == s => initial[out.index] = Target::Lin(l),
                    (Some(&l), _) => {
                        let kind = if self.lins[l].alive { "foreign-session" } else { "dead-session-readable" };
                        return fail(
                            step,
                            kind,
                            format!(
                                "request {} sent id {:?} and read {} ({})",
                                out.index,
                                out.sent.as_deref().map(|s| &s[..8]),
                                self.describe(l),
                                if self.lins[l].alive { "which lives elsewhere" } else { "which had ended" }
                            ),
                        );
                    }
                    (None, _) => {
                        return fail(
                            step,
                            "unknown-data",
                            format!("request {} read a tag {tag} nobody wrote", out.index),
                        );
                    }
                },
                Some(Ok(None)) => {
                    fresh_on[out.index] = sent_lin;
                    initial[out.index] = Target::None;
                }
                _ => {}
            }
        }
        // 3. Movers (ops that end or move a session), per lineage.
        let mut movers: HashMap<usize, Vec<Mover>> = HashMap::new();
        for out in outs {
            if let Target::Lin(l) = initial[out.index] {
                for op in &out.trace.ops {
                    let reset = op.result.as_ref().is_ok_and(|v| v.get("reset").is_some());
                    if op.op.is_mover() && op.result.is_ok() && !reset {
                        let mover =
                            Mover { request: out.index, cycle: op.op == Op::CycleId, start: op.start, end: op.end };
                        movers.entry(l).or_default().push(mover);
                        break;
                    }
                }
            }
        }
        // 3b. Owner calls that ended sessions, and the sessions of the step's start each may have ended.
        let n_before = self.lins.len();
        let mut handles: HashMap<String, String> = HashMap::new();
        for id in self.known.iter().chain(outs.iter().flat_map(|o| o.set_cookies.iter())) {
            if let Some(h) = handle_of(id) {
                handles.insert(h, id.clone());
            }
        }
        let mut enders: Vec<Ender> = Vec::new();
        for out in outs {
            let Some(owner) = self.owners.get(requests[out.index].client).copied() else { continue };
            for op in &out.trace.ops {
                let Ok(value) = &op.result else { continue };
                let (mut target, mut unresolved) = (None, None);
                match op.op {
                    Op::EndOthers | Op::EndAll => {}
                    Op::EndOne if value.get("ended") == Some(&Value::Bool(true)) => {
                        let handle = value.get("handle").and_then(Value::as_str).unwrap_or_default();
                        match handles.get(handle).and_then(|id| self.live_lineage_at(id)) {
                            Some(l) => target = Some(l),
                            None => unresolved = Some(handle.to_owned()),
                        }
                    }
                    _ => continue,
                }
                let asker = match initial[out.index] {
                    Target::Lin(l) => Some(l),
                    _ => None,
                };
                enders.push(Ender {
                    request: out.index,
                    owner,
                    op: op.op,
                    start: op.start,
                    end: op.end,
                    asker,
                    target,
                    unresolved,
                });
            }
        }
        // Per session of the step's start, the owner calls of other requests that may have ended it: (request,
        // start, end). An `end_other_sessions` keeps its asker's session, unless another request moved it
        // meanwhile (the moved-to record is another session until the move is written).
        let mut ext: HashMap<usize, Vec<(usize, i64, i64)>> = HashMap::new();
        for e in &enders {
            for l in 0..n_before {
                let lin = &self.lins[l];
                if !lin.alive || !e.may_end(l, lin.owner) {
                    continue;
                }
                let moved_by_other = movers.get(&l).is_some_and(|ms| ms.iter().any(|m| m.request != e.request));
                if e.op == Op::EndOthers && e.asker == Some(l) && !moved_by_other {
                    continue;
                }
                ext.entry(l).or_default().push((e.request, e.start, e.end));
            }
        }
        // Whether `e` surely ended session `l` of the step's start: it was live when `e` began (or already over).
        let surely_ends = |e: &Ender, l: usize, lins: &[Lineage]| -> bool {
            if l >= n_before || lins[l].owner != Some(e.owner) {
                return false;
            }
            match e.op {
                Op::EndOthers => e.asker != Some(l),
                Op::EndAll => true,
                _ => e.target == Some(l) && !movers.contains_key(&l),
            }
        };
        // 4. A request must get its session when it is surely live, and must not when it is surely over.
        for out in outs {
            if out.trace.first.is_none() {
                continue;
            }
            let Some(l) = out.sent.as_deref().and_then(|id| self.live_lineage_at(id)) else { continue };
            let joined = initial[out.index] == Target::Lin(l);
            let over = self.surely_expired(l, out.wall_start) || self.abs_surely_over(l, out.wall_start);
            if joined && over {
                let kind = if self.surely_expired(l, out.wall_start) {
                    "expired-session-readable"
                } else {
                    "absolute-timeout-ignored"
                };
                return fail(
                    step,
                    kind,
                    format!("request {} at t={} read {}", out.index, out.wall_start, self.describe(l)),
                );
            }
            if joined
                && let Some(e) =
                    enders.iter().find(|e| e.request != out.index && e.end < out.start && surely_ends(e, l, &self.lins))
            {
                return fail(
                    step,
                    "owner-ended-session-readable",
                    format!(
                        "request {} read {}, which request {} ended with {:?} before it was sent",
                        out.index,
                        self.describe(l),
                        e.request,
                        e.op
                    ),
                );
            }
            let preceded = movers
                .get(&l)
                .is_some_and(|ms| ms.iter().any(|mv| mv.request != out.index && mv.start < out.trace.first_end))
                || ext.get(&l).is_some_and(|v| v.iter().any(|x| x.0 != out.index && x.1 < out.trace.first_end));
            let live = self.surely_live(l, out.wall_end) && !self.abs_maybe_over(l, out.wall_end);
            if !joined && live && !preceded {
                return fail(
                    step,
                    "live-session-lost",
                    format!(
                        "request {} at t={} got a new session instead of {}",
                        out.index,
                        out.wall_start,
                        self.describe(l)
                    ),
                );
            }
        }
        // 5. Each request's effects.
        let mut commits: Vec<Commit> = Vec::new();
        let mut new_ids: Vec<(usize, String, usize)> = Vec::new(); // (lineage, id, request)
        let mut ended_new: BTreeSet<usize> = BTreeSet::new();
        let mut created_here: BTreeSet<usize> = BTreeSet::new();
        // Per session created in this step: the request that logged it in, and when the login began.
        let mut login_at: HashMap<usize, (usize, i64)> = HashMap::new();
        // Per owner, the sessions this step may have created or moved (for the bounds of a listing).
        let mut creations: HashMap<usize, usize> = HashMap::new();
        for out in outs {
            let Some(owner) = self.owners.get(requests[out.index].client).copied() else { continue };
            let made = usize::from(out.trace.login.is_some())
                + out
                    .trace
                    .ops
                    .iter()
                    .filter(|op| {
                        op.result.as_ref().is_ok_and(|v| {
                            op.op == Op::Regenerate || v.get("reset").is_some() || v.get("moved").is_some()
                        })
                    })
                    .count();
            *creations.entry(owner).or_default() += made;
        }
        // What the owner calls of other requests did to a session created in this step by request `q` with a login
        // begun at `t`: nothing when they were answered before the login began, surely ended when `q` was
        // answered (its record written) before they began, else either.
        let created_fate = |q: usize, t: i64, owner: Option<usize>| -> Fate {
            let mut fate = Fate::Kept;
            for e in enders.iter().filter(|e| e.request != q && Some(e.owner) == owner) {
                // An `end_owner_session` of a handle the model cannot name may have ended it (under its id, or the
                // id it had before a `cycle_id`).
                let hit = match e.op {
                    Op::EndOthers | Op::EndAll => true,
                    _ => e.unresolved.is_some(),
                };
                if !hit || e.end < t {
                    continue;
                }
                if outs[q].end < e.start && e.op != Op::EndOne {
                    return Fate::Ended;
                }
                fate = Fate::Either;
            }
            fate
        };
        for (req, out) in requests.iter().zip(outs) {
            let r = out.index;
            let mut target = initial[r];
            let owner = self.owners.get(req.client).copied();
            let concurrent_on = |l: usize| {
                outs.iter().any(|o| o.index != r && initial[o.index] == Target::Lin(l))
                    || ext.get(&l).is_some_and(|v| v.iter().any(|x| x.0 != r))
            };
            if let Some(e) = &out.trace.owner_error {
                return fail(step, "op-error", format!("request {r} ({req:?}): set_owner at login failed with {e}"));
            }
            if let Some(tag) = &out.trace.login {
                let l = self.add_lineage(
                    tag.clone(),
                    (out.wall_start, Some(out.wall_end)),
                    (out.wall_start + m, out.wall_end + m),
                    owner,
                );
                created_here.insert(l);
                login_at.insert(l, (r, out.trace.first_end));
                target = Target::Lin(l);
            }
            let mut moved_before = false;
            let mut incs = 0u64;
            let mut keys: BTreeMap<usize, Option<String>> = BTreeMap::new();
            let mut cycled = false;
            // The request saw a value its lineage did not have at the start of the step (a concurrent write): its
            // data then differs from what the step began with, and a change of it is never a no-op.
            let mut saw_other = false;
            let mut last_end = out.trace.first_end;
            for op in &out.trace.ops {
                last_end = op.end;
                let moved_already = moved_before;
                moved_before |= op.op.is_mover() && op.result.is_ok();
                let value = match &op.result {
                    Ok(v) => v,
                    Err(e) => {
                        let allowed = match (op.op, e.as_str(), target) {
                            (_, "NoSession", Target::Gone) => true,
                            (Op::Reload, "NotFound", Target::None) => true,
                            (Op::Reload, "NotFound", Target::Lin(l)) => {
                                created_here.contains(&l) || cycled || concurrent_on(l) || !self.times.manual
                            }
                            (Op::CycleId, "NotFound" | "NoSession", Target::Lin(l)) => concurrent_on(l),
                            // `regenerate` of an owned session that another request ended (or moved) meanwhile:
                            // its login is refused, and the request ends there with no session.
                            (Op::Regenerate, "OwnerEnded", Target::Lin(l)) => {
                                created_here.contains(&l)
                                    || concurrent_on(l)
                                    || !self.surely_live(l, out.wall_end)
                                    || self.abs_maybe_over(l, out.wall_end)
                            }
                            _ => false,
                        };
                        if !allowed {
                            return fail(
                                step,
                                "op-error",
                                format!("request {r} ({req:?}): {:?} failed with {e}; its session: {target:?}", op.op),
                            );
                        }
                        if e == "OwnerEnded" {
                            if let Target::Lin(l) = target
                                && created_here.contains(&l)
                            {
                                ended_new.insert(l);
                            }
                            target = Target::Gone;
                            incs = 0;
                            keys.clear();
                        }
                        continue;
                    }
                };
                match op.op {
                    Op::Insert(k) => {
                        keys.insert(usize::from(k), value.as_str().map(str::to_owned));
                    }
                    Op::Remove(k) => {
                        if !value.is_null() {
                            let own = value.as_str().is_some_and(|v| v.starts_with(out.tag.as_str()));
                            if let Target::Lin(l) = target
                                && !own
                                && self.lins[l].keys[usize::from(k)].as_deref() != value.as_str()
                            {
                                saw_other = true;
                            }
                            keys.insert(usize::from(k), None);
                        }
                    }
                    Op::Update => incs += 1,
                    Op::Save => {
                        if let Target::Lin(l) = target {
                            let keys = std::mem::take(&mut keys);
                            commits.push(Commit {
                                lin: l,
                                request: r,
                                start: op.start,
                                end: op.end,
                                incs,
                                keys,
                                maybe_noop: false,
                            });
                            incs = 0;
                        }
                    }
                    Op::Reload => {
                        incs = 0;
                        keys.clear();
                    }
                    Op::Destroy => {
                        if let Target::Lin(l) = target
                            && created_here.contains(&l)
                        {
                            ended_new.insert(l);
                        }
                        target = Target::Gone;
                        incs = 0;
                        keys.clear();
                    }
                    Op::Regenerate => {
                        if let Target::Lin(l) = target
                            && created_here.contains(&l)
                        {
                            ended_new.insert(l);
                        }
                        let tag = value.as_str().unwrap_or_default().to_owned();
                        let l = self.add_lineage(
                            tag,
                            (out.wall_start, Some(out.wall_end)),
                            (out.wall_start + m, out.wall_end + m),
                            owner,
                        );
                        created_here.insert(l);
                        login_at.insert(l, (r, op.start));
                        target = Target::Lin(l);
                        incs = 0;
                        keys.clear();
                    }
                    Op::CycleId => match value.get("reset").and_then(Value::as_str) {
                        None => cycled = true,
                        Some(tag) => {
                            // cycle_id found its session ended and went on with a new, empty one: only a
                            // concurrent logout (or expiry) may have ended it.
                            if let Target::Lin(l) = target
                                && !created_here.contains(&l)
                            {
                                let ended = movers
                                    .get(&l)
                                    .is_some_and(|ms| ms.iter().any(|mv| mv.request != r && mv.start < op.end))
                                    || ext.get(&l).is_some_and(|v| v.iter().any(|x| x.0 != r && x.1 < op.end))
                                    || !self.surely_live(l, out.wall_end)
                                    || self.abs_maybe_over(l, out.wall_end);
                                if !ended {
                                    return fail(
                                        step,
                                        "cycle-dropped-session",
                                        format!(
                                            "request {r}: cycle_id started a new session, but nothing ended {}",
                                            self.describe(l)
                                        ),
                                    );
                                }
                            }
                            let l = self.add_lineage(
                                tag.to_owned(),
                                (out.wall_start, Some(out.wall_end)),
                                (out.wall_start + m, out.wall_end + m),
                                owner,
                            );
                            created_here.insert(l);
                            login_at.insert(l, (r, op.start));
                            target = Target::Lin(l);
                            incs = 0;
                            keys.clear();
                        }
                    },
                    Op::Get => {
                        if let Target::Lin(l) = target {
                            let user = value.get("user").and_then(Value::as_str);
                            if user != Some(self.lins[l].tag.as_str()) {
                                return fail(
                                    step,
                                    "wrong-data",
                                    format!("request {r}: get saw user {user:?} in {}", self.describe(l)),
                                );
                            }
                        }
                    }
                    Op::Touch | Op::Pause(_) => {}
                    // It keeps this session; its effect on the others is the enders'.
                    Op::EndOthers => {}
                    Op::EndAll => {
                        // The others, then this one as `destroy` does.
                        if let Target::Lin(l) = target
                            && created_here.contains(&l)
                        {
                            ended_new.insert(l);
                        }
                        target = Target::Gone;
                        incs = 0;
                        keys.clear();
                    }
                    Op::ListOwn | Op::EndOne => {
                        let Some(owner) = owner else {
                            return fail(step, "op-error", format!("request {r}: {:?} without an owner", op.op));
                        };
                        let ctx = Listing {
                            step,
                            owner,
                            op,
                            out,
                            target,
                            moved_before: moved_already,
                            n_before,
                            handles: &handles,
                            enders: &enders,
                            ext: &ext,
                            movers: &movers,
                            creations: creations.get(&owner).copied().unwrap_or(0),
                            surely_ends: &surely_ends,
                        };
                        self.check_listing(&ctx, value)?;
                    }
                }
            }
            if let Target::Lin(l) = target {
                let base = &self.lins[l].keys;
                let maybe_noop = !saw_other && incs == 0 && keys.iter().all(|(k, v)| base[*k] == *v);
                commits.push(Commit { lin: l, request: r, start: last_end, end: out.end, incs, keys, maybe_noop });
            }
            // The cookie the client is given.
            let cookie = out.set_cookies.last().cloned();
            match (target, cookie) {
                (Target::Lin(l), Some(id)) if !id.is_empty() => {
                    let old = self.lins[l].id.clone();
                    if created_here.contains(&l) || cycled {
                        if old.as_deref() == Some(id.as_str()) {
                            return fail(step, "id-not-changed", format!("request {r}: cycle_id kept the id"));
                        }
                        new_ids.push((l, id, r));
                    } else if old.as_deref() != Some(id.as_str()) {
                        return fail(step, "unexpected-cookie", format!("request {r} was given another session's id"));
                    }
                }
                (Target::Lin(l), cookie) => {
                    let owner_ended = ext.get(&l).is_some_and(|v| v.iter().any(|x| x.0 != r));
                    if self.rolling
                        && !movers.contains_key(&l)
                        && !owner_ended
                        && !created_here.contains(&l)
                        && cookie.is_none()
                    {
                        return fail(
                            step,
                            "no-rolling-cookie",
                            format!("request {r} ({req:?}) used its session under `rolling` but got no cookie"),
                        );
                    }
                    // cycle_id's move is written at the end of the request: when a concurrent logout or move (or
                    // expiry) ended the session first, nothing moves, the request's changes are dropped and no
                    // cookie is sent. Only then may a cycled request end without a cookie.
                    let move_abandoned = cycled
                        && !created_here.contains(&l)
                        && cookie.is_none()
                        && (movers.get(&l).is_some_and(|ms| ms.iter().any(|mv| mv.request != r && mv.start < out.end))
                            || ext.get(&l).is_some_and(|v| v.iter().any(|x| x.0 != r && x.1 < out.end))
                            || !self.surely_live(l, out.wall_end)
                            || self.abs_maybe_over(l, out.wall_end));
                    // A new session an owner call of another request may have ended before the answer.
                    let login_ended = created_here.contains(&l)
                        && login_at.get(&l).is_some_and(|&(q, t)| created_fate(q, t, owner) != Fate::Kept);
                    if (created_here.contains(&l) || cycled) && !move_abandoned && !login_ended {
                        return fail(
                            step,
                            "no-cookie-for-new-id",
                            format!(
                                "request {r} ({req:?}) {} but sent {:?} instead of a cookie for the new id",
                                if cycled { "moved its session with cycle_id" } else { "logged in" },
                                cookie.map(|_| "a removal cookie")
                            ),
                        );
                    }
                }
                (Target::Gone | Target::None, Some(id)) if !id.is_empty() => {
                    let rolling_same = out.sent.as_deref() == Some(id.as_str()) && out.trace.first.is_none();
                    if !rolling_same {
                        return fail(step, "cookie-for-nothing", format!("request {r} ({req:?}) got a session cookie"));
                    }
                }
                _ => {}
            }
            // A Node-written session's lifetime starts at most when our layer first loads it.
            let loaded = out.trace.first.is_some() || self.absolute;
            if loaded
                && let Some(l) = out.sent.as_deref().and_then(|id| self.live_lineage_at(id))
                && self.lins[l].created_hi.is_none()
            {
                self.lins[l].created_hi = Some(out.wall_end);
            }
        }
        // 6. Expectations per lineage.
        self.expects.clear();
        for l in 0..self.lins.len() {
            if !self.lins[l].alive {
                continue;
            }
            let lin = self.lins[l].clone();
            let mine: Vec<&Commit> = commits.iter().filter(|c| c.lin == l).collect();
            let total: u64 = mine.iter().map(|c| c.incs).sum();
            let allowed_keys = |exact: bool| -> [Vec<Option<String>>; 3] {
                std::array::from_fn(|k| {
                    let writers: Vec<&&Commit> = mine.iter().filter(|c| c.keys.contains_key(&k)).collect();
                    if writers.is_empty() {
                        return vec![lin.keys[k].clone()];
                    }
                    let mut allowed: Vec<Option<String>> = writers
                        .iter()
                        .filter(|c| !exact || !writers.iter().any(|d| d.start > c.end && !d.maybe_noop))
                        .map(|c| c.keys[&k].clone())
                        .collect();
                    if !exact {
                        allowed.push(lin.keys[k].clone());
                    }
                    allowed
                })
            };
            if created_here.contains(&l) {
                if ended_new.contains(&l) {
                    self.lins[l].alive = false;
                    continue;
                }
                let Some((_, id, _)) = new_ids.iter().find(|n| n.0 == l) else {
                    self.lins[l].alive = false;
                    continue;
                };
                self.known.insert(id.clone());
                let fate = login_at.get(&l).map_or(Fate::Kept, |&(q, t)| created_fate(q, t, lin.owner));
                if fate == Fate::Ended {
                    self.lins[l].owner_ended = true;
                    self.expects.push(Expect {
                        lin: l,
                        candidates: Vec::new(),
                        must_live: false,
                        keys: allowed_keys(false),
                    });
                    continue;
                }
                self.expects.push(Expect {
                    lin: l,
                    candidates: vec![(id.clone(), total, total)],
                    must_live: fate == Fate::Kept,
                    keys: allowed_keys(true),
                });
                continue;
            }
            if enders.iter().any(|e| surely_ends(e, l, &self.lins)) {
                // Ended by its owner's call: gone under every id, whatever its concurrent requests did.
                for (_, nid, _) in &new_ids {
                    self.known.insert(nid.clone());
                }
                self.lins[l].owner_ended = true;
                self.expects.push(Expect {
                    lin: l,
                    candidates: Vec::new(),
                    must_live: false,
                    keys: allowed_keys(false),
                });
                continue;
            }
            let maybe_ended = ext.contains_key(&l);
            let ms = movers.get(&l).cloned().unwrap_or_default();
            let fresh_seen = outs.iter().any(|o| fresh_on[o.index] == Some(l));
            let maybe_users: Vec<&Outcome> = outs
                .iter()
                .filter(|o| {
                    lin.id.is_some()
                        && o.sent == lin.id
                        && (initial[o.index] == Target::Lin(l) || o.trace.first.is_none())
                })
                .collect();
            if let Some(last) = maybe_users.iter().map(|o| o.wall_end).max() {
                let sure = maybe_users
                    .iter()
                    .filter(|o| initial[o.index] == Target::Lin(l) || self.surely_live(l, o.wall_end))
                    .map(|o| o.wall_start)
                    .max();
                let lin = &mut self.lins[l];
                lin.exp_hi = lin.exp_hi.max(last + m);
                if let Some(start) = sure {
                    lin.exp_lo = lin.exp_lo.max(start + m);
                }
            }
            let id = lin.id.clone().unwrap_or_default();
            if ms.is_empty() && !fresh_seen {
                let count = lin.count + total;
                let abs_maybe = maybe_users.iter().any(|o| self.abs_maybe_over(l, o.wall_end));
                self.expects.push(Expect {
                    lin: l,
                    candidates: vec![(id, count, count)],
                    must_live: !abs_maybe && !maybe_ended,
                    keys: allowed_keys(true),
                });
                continue;
            }
            // Raced by a destroy, regenerate or cycle_id (or ended by time): where it may live now.
            let destroyers: Vec<&Mover> = ms.iter().filter(|mv| !mv.cycle).collect();
            let mut candidates = Vec::new();
            for c in ms.iter().filter(|mv| mv.cycle) {
                let Some((_, nid, _)) = new_ids.iter().find(|n| n.0 == l && n.2 == c.request) else { continue };
                self.known.insert(nid.clone());
                if destroyers.iter().any(|d| d.end < c.start) {
                    // A logout that completed before cycle_id began: the new id must not carry the session.
                    continue;
                }
                let landed: u64 =
                    mine.iter().filter(|cm| cm.request == c.request || cm.end < c.start).map(|cm| cm.incs).sum();
                candidates.push((nid.clone(), lin.count + landed, lin.count + total));
            }
            for (_, nid, _) in &new_ids {
                self.known.insert(nid.clone());
            }
            let single_cycle = destroyers.is_empty() && ms.len() == 1 && candidates.len() == 1;
            if ms.iter().any(|mv| mv.cycle) {
                let a_ok = !self.abs_maybe_over(l, outs.iter().map(|o| o.wall_end).max().unwrap_or(0));
                self.expects.push(Expect {
                    lin: l,
                    candidates,
                    must_live: single_cycle && a_ok && !maybe_ended,
                    keys: allowed_keys(false),
                });
            } else {
                // Destroyed, or found over by a request: it must be gone.
                self.expects.push(Expect {
                    lin: l,
                    candidates: Vec::new(),
                    must_live: false,
                    keys: allowed_keys(false),
                });
            }
        }
        // 7. The cookie jars: each answer's cookie, in the order the answers came.
        let mut order: Vec<&Outcome> = outs.iter().collect();
        order.sort_by_key(|o| o.end);
        for out in order {
            let client = requests[out.index].client;
            for id in &out.set_cookies {
                if id.is_empty() {
                    self.jars[client] = None;
                } else {
                    self.known.insert(id.clone());
                    self.jars[client] = Some(id.clone());
                }
            }
        }
        let mut note = format!("step {step}:");
        for e in &self.expects {
            let _ = write!(
                note,
                " {}@{:?}",
                self.lins[e.lin].tag,
                e.candidates.iter().map(|c| &c.0[..6]).collect::<Vec<_>>()
            );
        }
        self.log.push(note);
        Ok(())
    }

    /// Checks an owner's listing: every entry is a live session of the owner, the asker's own marked `current`
    /// (and only it), and the count is between the sessions surely live and undisturbed and every session that
    /// may be live.
    fn check_listing(&self, c: &Listing<'_>, value: &Value) -> Result<(), Failure> {
        let r = c.out.index;
        let entries: Vec<(String, bool)> = value
            .get("entries")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|e| Some((e.get(0)?.as_str()?.to_owned(), e.get(1)?.as_bool()?))).collect())
            .unwrap_or_default();
        let bad = |kind: &'static str, detail: String| {
            fail(c.step, kind, format!("request {r}: {:?} listed {} entries: {detail}", c.op.op, entries.len()))
        };
        let own = match c.target {
            Target::Lin(l) => Some(l),
            _ => None,
        };
        for (handle, current) in &entries {
            let id = c.handles.get(handle);
            let lin = id.and_then(|id| self.id_lineage.get(id).copied());
            let own_new = value.get("self").and_then(Value::as_str) == Some(handle.as_str());
            // A session created in this step was stored under an id the model learns only from its cookie.
            let own_created = lin.is_none() && own.is_some_and(|l| l >= c.n_before);
            let is_own = own_new || (lin.is_some() && lin == own);
            if let (Some(id), Some(l)) = (id, lin) {
                let lineage = &self.lins[l];
                if lineage.owner != Some(c.owner) {
                    return bad("foreign-listed", format!("{} of owner {:?}", self.describe(l), lineage.owner));
                }
                if !lineage.alive && (self.times.manual || lineage.ended_explicitly) {
                    return bad("dead-listed", format!("{}, which had ended", self.describe(l)));
                }
                if lineage.alive && lineage.id.as_deref() != Some(id.as_str()) {
                    return bad("retired-listed", format!("an id {} retired by cycle_id", self.describe(l)));
                }
                if let Some(e) = c.enders.iter().find(|e| e.end < c.op.start && (c.surely_ends)(e, l, &self.lins)) {
                    return bad(
                        "ended-listed",
                        format!("{}, which request {} ended with {:?} before", self.describe(l), e.request, e.op),
                    );
                }
            }
            if *current && !is_own && !own_created {
                return bad("wrong-current", format!("another session ({lin:?}) is marked current"));
            }
            if !*current && is_own {
                let what = lin.map_or_else(|| "its new id".to_owned(), |l| self.describe(l));
                return bad("current-not-marked", format!("this request's own session {what} is not marked current"));
            }
        }
        if entries.iter().filter(|e| e.1).count() > 1 {
            return bad("wrong-current", "several entries are marked current".into());
        }
        let undisturbed = |l: usize| {
            !c.movers.contains_key(&l)
                && !c.ext.contains_key(&l)
                && self.surely_live(l, c.out.wall_end)
                && !self.abs_maybe_over(l, c.out.wall_end)
        };
        if let Some(l) = own
            && l < c.n_before
            && !c.moved_before
            && undisturbed(l)
        {
            let mine = self.lins[l].id.as_deref().and_then(handle_of);
            if !entries.iter().any(|(h, cur)| *cur && Some(h) == mine.as_ref()) {
                return bad("current-missing", format!("this request's session {} is not listed", self.describe(l)));
            }
        }
        let mut lo = 0;
        let mut hi = c.creations;
        for l in 0..c.n_before {
            let lin = &self.lins[l];
            if !lin.alive || lin.owner != Some(c.owner) || lin.id.is_none() {
                continue;
            }
            if undisturbed(l) {
                lo += 1;
            }
            let ended = c.enders.iter().any(|e| e.end < c.op.start && (c.surely_ends)(e, l, &self.lins));
            if !self.surely_expired(l, c.out.wall_start) && !ended {
                hi += 1;
            }
        }
        if entries.len() < lo || entries.len() > hi {
            return bad("list-count", format!("owner {} must have {lo}..={hi} live sessions", c.owner));
        }
        Ok(())
    }

    /// Expectations for a step without requests (time moved, or a Node session was written).
    pub fn quiet(&mut self) {
        self.expects.clear();
        for l in 0..self.lins.len() {
            let lin = &self.lins[l];
            if !lin.alive {
                continue;
            }
            let Some(id) = lin.id.clone() else { continue };
            self.expects.push(Expect {
                lin: l,
                candidates: vec![(id, lin.count, lin.count)],
                must_live: true,
                keys: std::array::from_fn(|k| vec![lin.keys[k].clone()]),
            });
        }
    }

    /// The ids whose records [`verify`](Self::verify) needs.
    pub fn ids_to_read(&self) -> Vec<String> {
        let mut ids: BTreeSet<String> = self.known.clone();
        for e in &self.expects {
            ids.extend(e.candidates.iter().map(|c| c.0.clone()));
        }
        ids.into_iter().collect()
    }

    /// Checks what the store holds (read between wall times `from` and `to`) against the expectations, and
    /// adopts it.
    pub fn verify(
        &mut self,
        step: usize,
        seen: &HashMap<String, Option<Seen>>,
        from: i64,
        to: i64,
    ) -> Result<(), Failure> {
        let expects = std::mem::take(&mut self.expects);
        let mut owner: HashMap<String, usize> = HashMap::new();
        for e in &expects {
            let l = e.lin;
            let tag = self.lins[l].tag.clone();
            let found: Vec<&(String, u64, u64)> = e
                .candidates
                .iter()
                .filter(|(id, _, _)| {
                    seen.get(id).and_then(Option::as_ref).is_some_and(|s| s.tag.as_deref() == Some(&tag))
                })
                .collect();
            if found.len() > 1 {
                return fail(step, "forked", format!("{} lives under {} ids", self.describe(l), found.len()));
            }
            let Some((id, lo, hi)) = found.first().map(|c| (*c).clone()) else {
                let live = self.surely_live(l, to);
                if e.must_live && live {
                    return fail(
                        step,
                        "live-session-lost",
                        format!("at t={from} the store no longer has {}", self.describe(l)),
                    );
                }
                self.lins[l].alive = false;
                self.lins[l].ended_explicitly = live;
                continue;
            };
            if self.surely_expired(l, from) {
                return fail(
                    step,
                    "expired-session-readable",
                    format!("at t={from} the store still returns {}", self.describe(l)),
                );
            }
            let s = seen[&id].clone().expect("found");
            if s.count < lo || s.count > hi {
                let kind = if s.count > hi { "update-counted-twice" } else { "update-lost" };
                return fail(
                    step,
                    kind,
                    format!("{}: the counter is {}, it must be in {lo}..={hi}", self.describe(l), s.count),
                );
            }
            for ((name, allowed), value) in KEYS.iter().zip(&e.keys).zip(&s.keys) {
                if !allowed.contains(value) {
                    return fail(
                        step,
                        "write-lost",
                        format!("{}: key {name} is {value:?}, allowed {allowed:?}", self.describe(l)),
                    );
                }
            }
            self.id_lineage.insert(id.clone(), l);
            let lin = &mut self.lins[l];
            lin.id = Some(id.clone());
            lin.count = s.count;
            lin.keys = s.keys.clone();
            owner.insert(id, l);
        }
        // Every other id the clients ever held must be empty.
        for (id, s) in seen {
            let Some(s) = s else { continue };
            if owner.contains_key(id) {
                continue;
            }

            let what = match s.tag.as_deref().and_then(|t| self.by_tag.get(t)) {
                Some(&l) if self.lins[l].owner_ended => {
                    ("owner-ended-session-lives", format!("{}, which its owner's call ended", self.describe(l)))
                }
                Some(&l) if !self.lins[l].alive => ("resurrected", format!("ended {}", self.describe(l))),
                Some(&l) => ("forked", format!("{} (it lives elsewhere)", self.describe(l))),
                None => ("unknown-record", format!("a record with tag {:?}", s.tag)),
            };
            return fail(step, what.0, format!("id {} holds {} at t={from}", &id[..8.min(id.len())], what.1));
        }
        Ok(())
    }
}
