//! The circuit breaker between the layer and the store.

use std::time::Duration;

use super::error::ConfigError;

/// The circuit breaker between the layer and the store (see [`SessionOptions::store_circuit_breaker`](crate::SessionOptions::store_circuit_breaker)).
///
/// While the store cannot be reached, every request would otherwise wait for its own connection attempt or
/// timeout before answering 503. The breaker remembers that the store is down: after `failure_threshold`
/// unavailable failures in a row (refused or lost connections, timeouts), store calls fail at once with
/// [`StoreError::Unavailable`](crate::StoreError::Unavailable) (503), except one call at a time, at most every
/// `probe_interval`, which goes to the store as a probe. The probe's answer (any answer) closes the breaker. A
/// call counts only in the state it was let through in: the answer to a call made before the breaker opened does
/// not close it, and the failure of a call made before it closed does not reopen it. A probe whose request went
/// away, or whose future the handler keeps without polling it, does not hold the breaker open: the next call
/// probes at once, or once the held probe is past the store timeout plus a probe interval.
///
/// Only unavailability counts: a backend error (500), a conflict or a missing record never opens it, and a
/// timeout counts only for a call that had at least half the store timeout to itself (a request that spent
/// its time budget on earlier calls is slow, not proof that the store is down). A call whose request goes away
/// (the client gives up) after it waited at least half the store timeout without an answer counts as timed out,
/// so a hung store opens the breaker even when the clients are less patient than the store timeout. The breaker
/// never repeats a call, so it can never make a write go through twice.
///
/// ```
/// use express_session::SessionOptions;
/// use express_session::options::CircuitBreaker;
/// use std::time::Duration;
///
/// let options = SessionOptions::new()
///     .store_circuit_breaker(Some(CircuitBreaker::new().failure_threshold(3).probe_interval(Duration::from_millis(500))));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    pub(crate) failure_threshold: u32,
    pub(crate) probe_interval: Duration,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self { failure_threshold: 1, probe_interval: Duration::from_millis(100) }
    }
}

impl CircuitBreaker {
    /// The defaults: open at the first unavailable failure, probe every 100 ms.
    ///
    /// One failure is enough because an unavailable failure already cost its request a refused connection or a
    /// whole timeout; with a hung store, waiting for a second one would make a second request wait a timeout.
    /// A store that blips once costs at most one probe interval of 503s. A short interval costs little: probing
    /// a dead store is one refused connection, and a hung store is probed by one request at a time anyway.
    ///
    /// ```
    /// let breaker = express_session::options::CircuitBreaker::new();
    /// # let _ = breaker;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many unavailable failures in a row open the breaker (default 1; at least 1).
    ///
    /// ```
    /// let breaker = express_session::options::CircuitBreaker::new().failure_threshold(3);
    /// # let _ = breaker;
    /// ```
    #[must_use]
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures;
        self
    }

    /// How long the open breaker waits before it lets one call through as a probe, and after each probe that
    /// failed (default 100 ms; between 1 ms and 60 s). A store that comes back is used again at most this long
    /// (plus the probe's own time) after.
    ///
    /// ```
    /// use std::time::Duration;
    /// let breaker = express_session::options::CircuitBreaker::new().probe_interval(Duration::from_millis(100));
    /// # let _ = breaker;
    /// ```
    #[must_use]
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.failure_threshold == 0 {
            return Err(ConfigError::BreakerThreshold);
        }
        if self.probe_interval < Duration::from_millis(1) || self.probe_interval > Duration::from_secs(60) {
            return Err(ConfigError::BreakerProbeInterval { interval: self.probe_interval });
        }
        Ok(())
    }
}
