//! What can be wrong with the options, found when the layer is built.

use std::time::Duration;

/// A configuration mistake found when the layer is built: what went wrong. Its message says how to fix it.
///
/// ```
/// use express_session::{ConfigError, SessionManagerLayer, SessionOptions};
///
/// let err = SessionManagerLayer::new(SessionOptions::new()).unwrap_err();
/// assert!(matches!(err, ConfigError::MissingSecret));
/// assert!(err.to_string().starts_with("express-session configuration: a secret is required"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No secret was given ([`SessionOptions::secret`](crate::SessionOptions::secret)).
    #[error(
        "express-session configuration: a secret is required to sign the session cookie: call .secret(\"...\") or \
         .secrets([...]) (express: the `secret` option)"
    )]
    MissingSecret,
    /// [`SessionOptions::touch_after`](crate::SessionOptions::touch_after) is not shorter than the cookie's
    /// `max_age`, or the cookie has no `max_age`.
    #[error(
        "express-session configuration: touch_after ({interval_ms} ms) must be shorter than the cookie's max_age, \
         which must be set (CookieOptions::max_age): a longer interval would let an active user's session expire"
    )]
    TouchAfter {
        /// The interval given, in milliseconds.
        interval_ms: i64,
    },
    /// The session header's name ([`SessionOptions::header`](crate::SessionOptions::header)) is not an RFC 7230
    /// token, or names a header HTTP gives another meaning.
    #[error(
        "express-session configuration: session header {name:?} is invalid: use a token of letters, digits and \
         '-' such as \"X-Session\", not a header HTTP already uses (Cookie, Set-Cookie, Authorization, ...)"
    )]
    InvalidHeader {
        /// The name given (lower-cased).
        name: String,
    },
    /// The store's owner key cannot name a JSON key in every store
    /// ([`check_owner_key`](crate::store::check_owner_key) says why).
    #[error("express-session configuration: {0}")]
    OwnerKey(String),
    /// A secret is empty.
    #[error("express-session configuration: a secret must not be empty: give each secret at least one byte")]
    EmptySecret,
    /// A secret is shorter than 32 bytes, without
    /// [`allow_short_secret`](crate::SessionOptions::allow_short_secret).
    #[error(
        "express-session configuration: a secret shorter than 32 bytes can be guessed from one cookie: use a long \
         random secret (e.g. 64 hex characters from a secrets manager), or .allow_short_secret(true) to accept it \
         as express does"
    )]
    ShortSecret,
    /// The cookie name is not an RFC 7230 token.
    #[error(
        "express-session configuration: cookie name {name:?} is invalid: use letters, digits and \
         !#$%&'*+-.^_`|~ only"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The cookie domain is not a host name.
    #[error(
        "express-session configuration: cookie domain {domain:?} is invalid: use a host name such as \
         \"example.com\" or \".example.com\""
    )]
    InvalidDomain {
        /// The domain given.
        domain: String,
    },
    /// The cookie path does not start with `/` or holds characters a cookie path cannot hold.
    #[error(
        "express-session configuration: cookie path {path:?} is invalid: it must start with '/' and hold \
         printable ASCII without ';' or '<'"
    )]
    InvalidPath {
        /// The path given.
        path: String,
    },
    /// `SameSite=None` without `Secure` (browsers reject it), without
    /// [`allow_insecure_attributes`](crate::CookieOptions::allow_insecure_attributes).
    #[error(
        "express-session configuration: cookie sameSite None requires Secure: set .secure(Secure::Always) (or \
         Secure::Auto), or .allow_insecure_attributes(true) to send it anyway as express does"
    )]
    SameSiteNoneWithoutSecure,
    /// `Partitioned` without `Secure` (browsers reject it), without
    /// [`allow_insecure_attributes`](crate::CookieOptions::allow_insecure_attributes).
    #[error(
        "express-session configuration: a Partitioned cookie requires Secure: set .secure(Secure::Always) (or \
         Secure::Auto), or .allow_insecure_attributes(true) to send it anyway as express does"
    )]
    PartitionedWithoutSecure,
    /// A cookie named `__Secure-...` that is not always `Secure`.
    #[error("express-session configuration: a cookie named {name:?} must be Secure: set .secure(Secure::Always)")]
    SecurePrefix {
        /// The cookie name.
        name: String,
    },
    /// A cookie named `__Host-...` that is not always `Secure`, has a path other than `/`, or a domain.
    #[error("express-session configuration: a cookie named {name:?} must be Secure, have path \"/\" and no domain")]
    HostPrefix {
        /// The cookie name.
        name: String,
    },
    /// [`store_timeout`](crate::SessionOptions::store_timeout) is zero.
    #[error("express-session configuration: store_timeout must be more than zero")]
    ZeroStoreTimeout,
    /// The circuit breaker's [`failure_threshold`](crate::options::CircuitBreaker::failure_threshold) is zero.
    #[error(
        "express-session configuration: the circuit breaker's failure_threshold must be at least 1 (use \
         .store_circuit_breaker(None) to turn the breaker off)"
    )]
    BreakerThreshold,
    /// The circuit breaker's [`probe_interval`](crate::options::CircuitBreaker::probe_interval) is not between 1 ms and
    /// 60 s.
    #[error(
        "express-session configuration: the circuit breaker's probe_interval must be between 1 ms and 60 s (got \
         {interval:?}): shorter probes a dead store all the time, longer keeps answering 503 long after the store \
         is back"
    )]
    BreakerProbeInterval {
        /// The interval given.
        interval: Duration,
    },
    /// An option read from express's JSON ([`SessionOptions::merge_express_json`](crate::SessionOptions::merge_express_json),
    /// [`CookieOptions::from_express_json`](crate::CookieOptions::from_express_json)) has a value express
    /// rejects.
    #[error("express-session configuration: {message}")]
    ExpressJson {
        /// What is wrong, and with which option.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn express_json(message: impl Into<String>) -> Self {
        Self::ExpressJson { message: message.into() }
    }
}
