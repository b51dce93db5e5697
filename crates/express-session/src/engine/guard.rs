//! The guard the engine wraps every store in: one time budget per request for all its store calls, no call after
//! one that failed as unavailable, the circuit breaker shared by every request, and ids hashed at rest. It is
//! engine policy (the options say how much time and how many failures), so it lives here, above the store.

use std::future::Future;
use std::sync::Arc;

use crate::id::SessionId;
use crate::options::CircuitBreaker;
use crate::record::Record;
use crate::store::{
    CreateOutcome, ErasedStore, OwnerPage, SaveOutcome, SessionHandle, Store, StoreError, TouchOutcome, Version,
    Versioned,
};

/// How the layer guards the user's store (from the options).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardOptions {
    /// The time one request's store calls may take together.
    pub(crate) timeout: std::time::Duration,
    pub(crate) hash_ids: bool,
    /// `None`: no circuit breaker.
    pub(crate) breaker: Option<CircuitBreaker>,
}

/// What the layer wraps every store in: one time budget per request for all its store calls (a call that takes
/// longer than what is left of it is the store being unreachable, so no request waits on a dead backend longer
/// than one store timeout), no call after one that failed as unavailable in the same request, a circuit breaker
/// shared by every request (see [`CircuitBreaker`]), and optionally ids hashed at
/// rest.
#[derive(Debug)]
pub(crate) struct Guarded {
    inner: Arc<dyn ErasedStore>,
    timeout: std::time::Duration,
    hash_ids: bool,
    breaker: Option<Breaker>,
}

/// Why a store call failed without the store's own error: it was not made, or it was cut short.
#[derive(Debug, thiserror::Error)]
enum NotCalled {
    /// The call took longer than what was left of the request's budget.
    #[error("session store call timed out after {0:?}")]
    TimedOut(std::time::Duration),
    /// The request went away after the call had waited this long without an answer.
    #[error(
        "session store call abandoned after {0:?} without an answer (the request went away: the client gave up \
         before the store timeout)"
    )]
    Abandoned(std::time::Duration),
    /// Nothing was left of the budget.
    #[error("not called: the request's store calls took the whole store timeout ({0:?}) together")]
    OutOfTime(std::time::Duration),
    /// An earlier call of the same request failed as unavailable.
    #[error("not called: an earlier store call of this request failed as unavailable")]
    EarlierFailure,
    /// The circuit breaker is open.
    #[error("not called: the store has been failing for {open_for:?} (circuit open; last failure: {cause})")]
    CircuitOpen {
        /// How long the breaker has been open.
        open_for: std::time::Duration,
        /// The failure that opened it (or the last probe's).
        cause: Arc<str>,
    },
}

/// An error and its causes on one line, each cause once: a cause whose text is already in the line (an error
/// that prints its source and also returns it from `source()`, or `#[error(transparent)]`) is left out.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !line.is_empty() && !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// The first store failure of a request, for the one log line the layer writes about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreFailure {
    /// The error and its causes ([`error_chain`]).
    pub(crate) message: String,
    /// How many more store calls of the request failed after it (without a call: not counted).
    pub(crate) more: u32,
    /// The first failure was the open circuit breaker refusing the call: the store failure behind it was logged
    /// by the request that made that call, and the breaker logs when it opens and closes.
    pub(crate) refused: bool,
}

/// One request's store calls: the time they took together, and whether one failed as unavailable (the next
/// calls then fail at once, without calling the store). Shared by the clones of the request's session.
#[derive(Debug, Default)]
pub(crate) struct RequestCalls {
    spent_nanos: std::sync::atomic::AtomicU64,
    unavailable: std::sync::atomic::AtomicBool,
    failure: std::sync::Mutex<Option<StoreFailure>>,
}

/// A failure the layer did not take (the response future was dropped: the client went away, or the inner service
/// failed or panicked, before the end of the request) is logged here, when the last clone of the request's
/// session goes, so that no store failure goes unlogged.
impl Drop for RequestCalls {
    fn drop(&mut self) {
        let failure = self.failure.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match failure {
            Some(failure) if failure.refused => tracing::debug!(
                error = %failure.message,
                "session store not called; the request went away before it ended"
            ),
            Some(failure) => tracing::error!(
                error = %failure.message,
                later_failures = failure.more,
                "session store failed; the request went away before it ended"
            ),
            None => {}
        }
    }
}

impl RequestCalls {
    /// The request's first store failure, if any (taken: the layer logs it once).
    pub(crate) fn take_failure(&self) -> Option<StoreFailure> {
        self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    fn failed(&self, error: &StoreError) {
        self.note(error, false);
    }

    fn refused(&self, error: &StoreError) {
        self.note(error, true);
    }

    fn note(&self, error: &StoreError, refused: bool) {
        if matches!(error, StoreError::Unavailable { .. }) {
            self.unavailable.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut slot = self.failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &mut *slot {
            None => *slot = Some(StoreFailure { message: error_chain(error), more: 0, refused }),
            Some(first) => first.more = first.more.saturating_add(1),
        }
    }

    fn spend(&self, time: std::time::Duration) {
        let nanos = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        self.spent_nanos.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    fn spent(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.spent_nanos.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The circuit breaker at the store guard (settings: [`CircuitBreaker`]).
///
/// Closed, every call goes to the store. `failure_threshold` unavailable failures in a row (refused or lost
/// connections, timeouts) open it: calls then fail at once with [`StoreError::Unavailable`], except one call at
/// a time, at most every `probe_interval`, which goes to the store as a probe. The probe's answer (any answer,
/// a backend error too: the store is reachable) closes it. Backend errors and conflicts never count as
/// failures, and the breaker never repeats a call.
///
/// A call's outcome counts only in the state it was let through in (see `epoch`): an answer to a call made
/// before the breaker opened may have left the store before the failure that opened it, so it does not close
/// the breaker; a failure of a call made before the breaker last closed is older than the probe's answer, so it
/// does not reopen it (nor hold back the next probe while open).
#[derive(Debug)]
struct Breaker {
    settings: CircuitBreaker,
    /// Unavailable failures in a row (while closed).
    failures: std::sync::atomic::AtomicU32,
    /// Even: closed; odd: open (mirrors `state.is_some()`, so that a closed breaker costs one atomic load per
    /// call). Changed only with `state` locked, by one at each opening and closing.
    epoch: std::sync::atomic::AtomicU64,
    /// Calls refused since the breaker opened.
    refused: std::sync::atomic::AtomicU64,
    state: std::sync::Mutex<Option<OpenState>>,
}

#[derive(Debug)]
struct OpenState {
    since: tokio::time::Instant,
    next_probe: tokio::time::Instant,
    /// The probe in flight: its number, and when it is overdue (past any time the call may take, plus a probe
    /// interval: a probe whose future is kept but never polled again, or leaked, must not hold the breaker open).
    probe: Option<(u64, tokio::time::Instant)>,
    /// The number of the next probe.
    probes: u64,
    store: &'static str,
    cause: Arc<str>,
}

/// A call let through by the breaker: the epoch it was let through in, and whether it is the probe (with its
/// number). A probe dropped unfinished (the request went away) lets the next call probe at once.
struct Ticket<'a> {
    breaker: &'a Breaker,
    epoch: u64,
    probe: Option<u64>,
    done: bool,
}

impl OpenState {
    /// The probe numbered `number` is over: the next one may start (if it is still the one in flight).
    fn probe_over(&mut self, number: u64) {
        if self.probe.is_some_and(|(current, _)| current == number) {
            self.probe = None;
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(number) = self.probe
            && !self.done
        {
            let mut state = self.breaker.lock();
            if self.breaker.epoch.load(std::sync::atomic::Ordering::Relaxed) == self.epoch
                && let Some(open) = state.as_mut()
            {
                open.probe_over(number);
            }
        }
    }
}

impl Breaker {
    fn new(settings: CircuitBreaker) -> Self {
        Self {
            settings,
            failures: std::sync::atomic::AtomicU32::new(0),
            epoch: std::sync::atomic::AtomicU64::new(0),
            refused: std::sync::atomic::AtomicU64::new(0),
            state: std::sync::Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenState>> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Ok(ticket)`: call (closed, or open and this call probes; `limit`: the most the call may take). `Err`:
    /// open, do not call.
    fn admit(&self, limit: std::time::Duration) -> Result<Ticket<'_>, StoreError> {
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        if epoch.is_multiple_of(2) {
            return Ok(Ticket { breaker: self, epoch, probe: None, done: false });
        }
        let mut state = self.lock();
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Relaxed);
        let Some(open) = state.as_mut() else { return Ok(Ticket { breaker: self, epoch, probe: None, done: false }) };
        let now = tokio::time::Instant::now();
        if now >= open.next_probe && open.probe.is_none_or(|(_, overdue)| now >= overdue) {
            let number = open.probes;
            open.probes = open.probes.wrapping_add(1);
            open.probe = Some((number, now + limit + self.settings.probe_interval));
            return Ok(Ticket { breaker: self, epoch, probe: Some(number), done: false });
        }
        let open_for = now.saturating_duration_since(open.since);
        self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Err(StoreError::unavailable(open.store, NotCalled::CircuitOpen { open_for, cause: Arc::clone(&open.cause) }))
    }

    /// The store answered the call.
    fn answered(&self, mut ticket: Ticket<'_>) {
        ticket.done = true;
        if self.epoch.load(std::sync::atomic::Ordering::Acquire) != ticket.epoch {
            // Let through before the breaker last opened or closed: old news.
            return;
        }
        if ticket.probe.is_none() {
            if self.failures.load(std::sync::atomic::Ordering::Relaxed) != 0 {
                self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
            }
            return;
        }
        let mut state = self.lock();
        if self.epoch.load(std::sync::atomic::Ordering::Relaxed) == ticket.epoch
            && let Some(open) = state.take()
        {
            self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
            self.epoch.store(ticket.epoch.wrapping_add(1), std::sync::atomic::Ordering::Release);
            let refused = self.refused.swap(0, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(after = ?open.since.elapsed(), refused, "session store answers again; circuit breaker closed");
        }
    }

    /// The store could not be reached.
    fn down(&self, mut ticket: Ticket<'_>, store: &'static str, error: &StoreError) {
        ticket.done = true;
        if self.epoch.load(std::sync::atomic::Ordering::Acquire) != ticket.epoch {
            // Let through before the breaker last opened or closed: old news.
            return;
        }
        let Some(number) = ticket.probe else {
            let failures = self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed).saturating_add(1);
            if failures < self.settings.failure_threshold {
                return;
            }
            return self.open(ticket.epoch, store, error);
        };
        let mut state = self.lock();
        if self.epoch.load(std::sync::atomic::Ordering::Relaxed) == ticket.epoch
            && let Some(open) = state.as_mut()
        {
            // The probe failed.
            open.next_probe = tokio::time::Instant::now() + self.settings.probe_interval;
            open.probe_over(number);
            open.cause = error_chain(error).into();
        }
    }

    /// Opens the breaker, if it is still closed in `epoch`.
    fn open(&self, epoch: u64, store: &'static str, error: &StoreError) {
        let now = tokio::time::Instant::now();
        let cause: Arc<str> = error_chain(error).into();
        let mut state = self.lock();
        if self.epoch.load(std::sync::atomic::Ordering::Relaxed) != epoch || state.is_some() {
            return;
        }
        *state = Some(OpenState {
            since: now,
            next_probe: now + self.settings.probe_interval,
            probe: None,
            probes: 0,
            store,
            cause,
        });
        let failures = self.failures.swap(0, std::sync::atomic::Ordering::Relaxed);
        self.epoch.store(epoch.wrapping_add(1), std::sync::atomic::Ordering::Release);
        self.refused.store(0, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            failures,
            probe_interval = ?self.settings.probe_interval,
            "session store unreachable; circuit breaker open: store calls fail at once (logged at debug) until a \
             probe gets an answer"
        );
    }
}

/// A store call waiting for its answer. Dropped while waiting (its request went away: the client gave up, a
/// timeout layer fired), a call that waited at least half the store timeout counts as timed out: the request's
/// failure (logged when the request's session goes) and, for the breaker, the store being unreachable, as a
/// timeout would have. Else, with clients less patient than the store timeout, a hung store would never open the
/// breaker, and every request would hang until its client gave up, with nothing logged.
struct Waiting<'a> {
    calls: &'a RequestCalls,
    ticket: Option<Ticket<'a>>,
    start: tokio::time::Instant,
    timeout: std::time::Duration,
    /// The call finished (answered or timed out).
    finished: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let waited = self.start.elapsed();
        self.calls.spend(waited);
        if waited < self.timeout / 2 {
            return;
        }
        let error = StoreError::unavailable("session", NotCalled::Abandoned(waited));
        if let Some(ticket) = self.ticket.take() {
            ticket.breaker.down(ticket, "session", &error);
        }
        self.calls.failed(&error);
    }
}

impl Guarded {
    /// Wraps the user's store (type-erased: each call is one boxed future, the guard's own work is not boxed).
    pub(crate) fn new(inner: Arc<dyn ErasedStore>, options: GuardOptions) -> Self {
        Self { inner, timeout: options.timeout, hash_ids: options.hash_ids, breaker: options.breaker.map(Breaker::new) }
    }

    /// Whether the user's store says it is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    fn key<'a>(&self, id: &'a SessionId) -> std::borrow::Cow<'a, SessionId> {
        if !self.hash_ids {
            return std::borrow::Cow::Borrowed(id);
        }
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(id.as_str().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        std::borrow::Cow::Owned(SessionId::new(hex).expect("64 hex characters are a valid id"))
    }

    async fn timed<T>(
        &self,
        calls: &RequestCalls,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        // After a call that failed as unavailable, the request's later calls fail at once. Not a new failure: the
        // request's first one is what gets logged. (A backend error, a 500, does not stop later calls: each is
        // the store's answer to its own call, as in express.)
        if calls.unavailable.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::unavailable("session", NotCalled::EarlierFailure));
        }
        let Some(limit) = self.timeout.checked_sub(calls.spent()).filter(|left| !left.is_zero()) else {
            let error = StoreError::unavailable("session", NotCalled::OutOfTime(self.timeout));
            calls.failed(&error);
            return Err(error);
        };
        let mut ticket = match self.breaker.as_ref().map(|breaker| breaker.admit(limit)) {
            None => None,
            Some(Ok(ticket)) => Some(ticket),
            Some(Err(error)) => {
                calls.refused(&error);
                return Err(error);
            }
        };
        // A call that is done at its first poll (an in-process store) needs no timer: skipping it saves two clock
        // reads and a timer-wheel entry per store call.
        let mut call = std::pin::pin!(call);
        let first = std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
            std::task::Poll::Ready(result) => std::task::Poll::Ready(Some(result)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await;
        let mut timed_out = false;
        let result = match first {
            Some(result) => result,
            None => {
                let mut waiting = Waiting {
                    calls,
                    ticket: ticket.take(),
                    start: tokio::time::Instant::now(),
                    timeout: self.timeout,
                    finished: false,
                };
                let result = match tokio::time::timeout(limit, call).await {
                    Ok(result) => result,
                    Err(_) => {
                        timed_out = true;
                        Err(StoreError::unavailable("session", NotCalled::TimedOut(limit)))
                    }
                };
                calls.spend(waiting.start.elapsed());
                ticket = waiting.ticket.take();
                waiting.finished = true;
                result
            }
        };
        if let (Some(breaker), Some(ticket)) = (&self.breaker, ticket) {
            match &result {
                // A timeout with little of the budget left says the request was slow, not that the store is down.
                Err(_) if timed_out && limit < self.timeout / 2 => drop(ticket),
                Err(error @ StoreError::Unavailable { store, .. }) => breaker.down(ticket, store, error),
                _ => breaker.answered(ticket),
            }
        }
        if let Err(error) = &result {
            calls.failed(error);
        }
        result
    }
}

/// The store as one request calls it: the layer's guarded store with the request's [`RequestCalls`].
#[derive(Clone, Copy)]
pub(crate) struct RequestStore<'a> {
    pub(crate) store: &'a Guarded,
    pub(crate) calls: &'a RequestCalls,
}

/// Calls a store method through the guard: on [`MemoryStore`] (the default store) directly, its future not boxed
/// (every call of it is done at its first poll), on any other store through its type-erased, boxed future.
macro_rules! guarded_call {
    ($request:ident, $method:ident($($arg:expr),*)) => {
        match $request.store.inner.as_memory() {
            Some(memory) => $request.store.timed($request.calls, Store::$method(memory, $($arg),*)).await,
            None => $request.store.timed($request.calls, $request.store.inner.$method($($arg),*)).await,
        }
    };
}

impl<'a> RequestStore<'a> {
    pub(crate) async fn get(self, id: &SessionId) -> Result<Option<Versioned>, StoreError> {
        let key = self.store.key(id);
        guarded_call!(self, get(&key))
    }
    pub(crate) async fn create(self, id: &SessionId, record: &Record) -> Result<CreateOutcome, StoreError> {
        let key = self.store.key(id);
        guarded_call!(self, create(&key, record))
    }
    pub(crate) async fn save_if(
        self,
        id: &SessionId,
        record: &Record,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        let key = self.store.key(id);
        guarded_call!(self, save_if(&key, record, expected))
    }
    pub(crate) async fn touch(self, id: &SessionId, record: &Record) -> Result<TouchOutcome, StoreError> {
        let key = self.store.key(id);
        guarded_call!(self, touch(&key, record))
    }
    pub(crate) async fn refresh(self, id: &SessionId) -> Result<TouchOutcome, StoreError> {
        let key = self.store.key(id);
        guarded_call!(self, refresh(&key))
    }
    pub(crate) async fn refresh_after(
        self,
        id: &SessionId,
        interval: std::time::Duration,
    ) -> Result<TouchOutcome, StoreError> {
        let key = self.store.key(id);
        guarded_call!(self, refresh_after(&key, interval))
    }
    pub(crate) async fn destroy(self, id: &SessionId) -> Result<(), StoreError> {
        let key = self.store.key(id);
        guarded_call!(self, destroy(&key))
    }
    pub(crate) fn owner_key(self) -> Option<&'a str> {
        self.store.inner.owner_key()
    }
    /// The handle of the session with this id, as the store keeps it.
    pub(crate) fn handle(self, id: &SessionId) -> SessionHandle {
        SessionHandle::of(&self.store.key(id))
    }
    pub(crate) async fn sessions_of(self, owner: &str, limit: usize) -> Result<OwnerPage, StoreError> {
        self.store.timed(self.calls, self.store.inner.sessions_of(owner, limit)).await
    }
    pub(crate) async fn end_session_of(self, owner: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.store.timed(self.calls, self.store.inner.end_session_of(owner, handle)).await
    }
    pub(crate) async fn end_sessions_of(self, owner: &str, keep: Option<&SessionId>) -> Result<u64, StoreError> {
        let keep = keep.map(|id| self.store.key(id));
        self.store.timed(self.calls, self.store.inner.end_sessions_of(owner, keep.as_deref())).await
    }
}
