//! The options beyond express-session's (see the crate docs, "Security").

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::circuit_breaker::CircuitBreaker;
use super::on_store_error::OnStoreError;

/// The options beyond express-session's (see the crate docs, "Security").
#[derive(Clone)]
pub(crate) struct Hardening {
    pub(crate) allow_short_secret: bool,
    pub(crate) accept_any_id: bool,
    pub(crate) store_timeout: Duration,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) max_record_size: Option<usize>,
    pub(crate) clear_cookie_on_destroy: bool,
    pub(crate) cache_control_no_store: bool,
    pub(crate) vary_cookie: bool,
    pub(crate) absolute_timeout: Option<Duration>,
    pub(crate) hash_ids_at_rest: bool,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) error_response: Option<ErrorResponseFn>,
}

impl Default for Hardening {
    fn default() -> Self {
        Self {
            allow_short_secret: false,
            accept_any_id: false,
            store_timeout: Duration::from_secs(5),
            breaker: Some(CircuitBreaker::new()),
            max_record_size: Some(64 * 1024),
            clear_cookie_on_destroy: true,
            cache_control_no_store: false,
            vary_cookie: true,
            absolute_timeout: None,
            hash_ids_at_rest: false,
            on_store_error: OnStoreError::Fail,
            error_response: None,
        }
    }
}

impl fmt::Debug for Hardening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hardening")
            .field("allow_short_secret", &self.allow_short_secret)
            .field("accept_any_id", &self.accept_any_id)
            .field("store_timeout", &self.store_timeout)
            .field("breaker", &self.breaker)
            .field("max_record_size", &self.max_record_size)
            .field("clear_cookie_on_destroy", &self.clear_cookie_on_destroy)
            .field("cache_control_no_store", &self.cache_control_no_store)
            .field("vary_cookie", &self.vary_cookie)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("hash_ids_at_rest", &self.hash_ids_at_rest)
            .field("on_store_error", &self.on_store_error)
            .field("error_response", &self.error_response.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Renders the response for a session error (see [`SessionOptions::error_response`]).
pub(crate) type ErrorResponseFn = Arc<dyn super::error_response::ResponseForError>;
