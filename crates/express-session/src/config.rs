//! The options, with express-session's names in Rust spelling and its defaults, validated when the layer is built.
//!
//! | express-session            | Rust                                                   | default                     |
//! |----------------------------|--------------------------------------------------------|-----------------------------|
//! | `cookie.domain`            | [`CookieOptions::domain`]                              | none                        |
//! | `cookie.expires`           | [`CookieOptions::expires`]                             | none                        |
//! | `cookie.httpOnly`          | [`CookieOptions::http_only`]                           | `true`                      |
//! | `cookie.maxAge`            | [`CookieOptions::max_age`]                             | none (browser session)      |
//! | `cookie.partitioned`       | [`CookieOptions::partitioned`]                         | not set                     |
//! | `cookie.path`              | [`CookieOptions::path`]                                | `"/"`                       |
//! | `cookie.priority`          | [`CookieOptions::priority`]                            | not set                     |
//! | `cookie.sameSite`          | [`CookieOptions::same_site`], [`CookieOptions::same_site_auto`] | not set            |
//! | `cookie.secure`            | [`CookieOptions::secure`] (`Secure::Always/Never/Auto`) | not set                    |
//! | `genid`                    | [`SessionOptions::genid`]                              | 24 random bytes, base64url  |
//! | `name`                     | [`SessionOptions::name`]                               | `"connect.sid"`             |
//! | `proxy`                    | [`SessionOptions::proxy`]                              | unset: follow [`IsSecure`](crate::IsSecure) |
//! | `resave`                   | [`SessionOptions::resave`]                             | **`false`** (express: `true`, deprecated) |
//! | `rolling`                  | [`SessionOptions::rolling`]                            | `false`                     |
//! | `saveUninitialized`        | [`SessionOptions::save_uninitialized`]                 | **`false`** (express: `true`, deprecated) |
//! | `secret`                   | [`SessionOptions::secret`], [`SessionOptions::secrets`] | required                   |
//! | `store`                    | [`SessionOptions::store`]                              | a new [`MemoryStore`] |
//! | `unset`                    | [`SessionOptions::unset`]                              | [`Unset::Keep`]             |

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Uri};
use serde_json::Value;

use crate::cookie::{is_valid_domain, is_valid_name, is_valid_path};
use crate::engine::guard::{DynStore, Guardable};
use crate::id::SessionId;
use crate::record::{Spelled, Spelling, priority_from_json, same_site_from_json, truthy};
use crate::signature::Signer;
use crate::store::{MemoryStore, Store};
use crate::time::{Clock, duration_millis};

/// The `SameSite` cookie attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Strict` (express: `true` or `'strict'`).
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None`; requires `Secure`.
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_attribute(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

impl FromStr for SameSite {
    type Err = ConfigError;

    /// Case-insensitive `strict`, `lax` or `none`, as express accepts them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "lax" => Ok(Self::Lax),
            "none" => Ok(Self::None),
            _ => Err(ConfigError::new(format!(
                "cookie sameSite {s:?} is invalid: use true, false, \"lax\", \"strict\", \"none\" or \"auto\""
            ))),
        }
    }
}

/// The `Priority` cookie attribute (a Chrome extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// `Priority=Low`.
    Low,
    /// `Priority=Medium`.
    Medium,
    /// `Priority=High`.
    High,
}

impl Priority {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_attribute(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
        }
    }
}

impl FromStr for Priority {
    type Err = ConfigError;

    /// Case-insensitive `low`, `medium` or `high`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            _ => {
                Err(ConfigError::new(format!("cookie priority {s:?} is invalid: use \"low\", \"medium\" or \"high\"")))
            }
        }
    }
}

/// express's `cookie.secure`: `true`, `false` or `'auto'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Secure {
    /// Always `Secure`; no cookie is sent over plain HTTP (the session is still saved, as in express).
    Always,
    /// Never `Secure` (stored as `"secure":false`).
    Never,
    /// `Secure` when the request that creates the session is secure (TLS, or a trusted `X-Forwarded-Proto`).
    Auto,
}

/// express's `unset`: what `req.session = null` (here [`Session::unset`](crate::Session::unset)) does to the
/// stored session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Unset {
    /// Keep the stored session; only this request's changes are discarded.
    #[default]
    Keep,
    /// Destroy the stored session at the end of the request.
    Destroy,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SameSiteSetting {
    Fixed(Spelled<SameSite>),
    /// 1.19's `'auto'`: `none` on secure requests, `lax` otherwise (stored lower-case).
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lifetime {
    MaxAge(i64),
    Expires(crate::time::Timestamp),
}

/// The cookie options (express's `cookie` object). They apply to sessions when they are created; a stored session
/// keeps the attributes it was created with.
///
/// ```
/// use express_session::{CookieOptions, SameSite, Secure};
/// use std::time::Duration;
///
/// let cookie = CookieOptions::new()
///     .max_age(Duration::from_secs(3600))
///     .same_site(SameSite::Lax)
///     .secure(Secure::Auto);
/// # let _ = cookie;
/// ```
#[derive(Debug, Clone)]
pub struct CookieOptions {
    pub(crate) domain: Option<String>,
    pub(crate) lifetime: Option<Lifetime>,
    pub(crate) http_only: bool,
    pub(crate) partitioned: Option<bool>,
    pub(crate) path: String,
    pub(crate) priority: Option<Spelled<Priority>>,
    pub(crate) same_site: Option<SameSiteSetting>,
    pub(crate) secure: Option<Secure>,
    pub(crate) allow_insecure_attributes: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            domain: None,
            lifetime: None,
            http_only: true,
            partitioned: None,
            path: "/".into(),
            priority: None,
            same_site: None,
            secure: None,
            allow_insecure_attributes: false,
        }
    }
}

impl CookieOptions {
    /// express's defaults: path `/`, HttpOnly, a browser-session cookie, no other attribute.
    pub fn new() -> Self {
        Self::default()
    }

    /// `cookie.domain`. An empty domain is express's `domain: ''`: the cookie has no `Domain` attribute.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// `cookie.expires`: a fixed date. As in express, a new session turns it into a lifetime (the time left at
    /// creation), which later touches re-apply. The later of `expires` and [`max_age`](Self::max_age) wins.
    pub fn expires(mut self, expires: crate::time::Timestamp) -> Self {
        self.lifetime = Some(Lifetime::Expires(expires));
        self
    }

    /// `cookie.maxAge`: the session and its cookie expire this long after the last time they were saved or
    /// touched. Not set (the default) gives a browser-session cookie.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.lifetime = Some(Lifetime::MaxAge(duration_millis(max_age)));
        self
    }

    /// `cookie.httpOnly` (default `true`).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// `cookie.partitioned` (CHIPS); requires `Secure`.
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = Some(partitioned);
        self
    }

    /// `cookie.path` (default `/`). As in express, requests whose path does not start with it get no session. An
    /// empty path is express's `path: ''`: every request gets a session and the cookie has no `Path` attribute
    /// (the browser then uses the request's directory).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// `cookie.priority`.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(Spelled::lower(priority));
        self
    }

    /// `cookie.sameSite`. `SameSite::None` requires `Secure`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(SameSiteSetting::Fixed(Spelled::lower(same_site)));
        self
    }

    /// `cookie.sameSite: 'auto'` (express-session 1.19): `None` on secure requests, `Lax` otherwise.
    pub fn same_site_auto(mut self) -> Self {
        self.same_site = Some(SameSiteSetting::Auto);
        self
    }

    /// `cookie.secure`.
    pub fn secure(mut self, secure: Secure) -> Self {
        self.secure = Some(secure);
        self
    }

    /// Accept `SameSite=None` or `Partitioned` without `Secure`, as express does. Browsers reject such cookies,
    /// so the layer refuses them unless this is set.
    pub fn allow_insecure_attributes(mut self, allow: bool) -> Self {
        self.allow_insecure_attributes = allow;
        self
    }

    /// Reads express's `cookie` option object as JSON (`maxAge`, `expires` as an ISO string, `domain`, `path`,
    /// `httpOnly`, `secure` (`"auto"` or any value, by JavaScript truthiness), `sameSite`, `partitioned`, `priority`;
    /// a falsy value is unset as in express: `path: null` or `false` gives no `Path`), keeping the spelling
    /// express would store (`"sameSite": true`, `"priority": "High"`). Keys are applied in order, so the later of
    /// `maxAge` and `expires` wins as in express. Unknown keys are ignored, as express ignores them.
    ///
    /// This is how a configuration can be shared with a Node app, and what the conformance harness uses.
    ///
    /// ```
    /// use express_session::CookieOptions;
    /// let options = CookieOptions::from_express_json(&serde_json::json!({
    ///     "maxAge": 60000, "sameSite": "Lax", "secure": "auto"
    /// })).unwrap();
    /// # let _ = options;
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a value express would reject (`maxAge` not a number, an unknown `sameSite`, ...).
    pub fn from_express_json(value: &Value) -> Result<Self, ConfigError> {
        let Value::Object(obj) = value else {
            return Err(ConfigError::new("cookie options must be a JSON object"));
        };
        let mut out = Self::new();
        for (key, value) in obj {
            match key.as_str() {
                // Every field goes by JavaScript truthiness, as express-session's `Cookie` and cookie 0.7's
                // `serialize` do (an empty environment variable gives `""`).
                "maxAge" => match value {
                    Value::Number(n) => {
                        let ms = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0);
                        out.lifetime = Some(Lifetime::MaxAge(ms));
                    }
                    // `maxAge: ""` makes `expires` the same falsy value: a browser-session cookie.
                    v if !truthy(v) => out.lifetime = None,
                    _ => return Err(ConfigError::new("cookie maxAge must be a number of milliseconds")),
                },
                "expires" => match value {
                    Value::String(s) if !s.is_empty() => {
                        let t = crate::time::Timestamp::parse_json(s)
                            .ok_or_else(|| ConfigError::new("cookie expires must be an ISO 8601 date"))?;
                        out.lifetime = Some(Lifetime::Expires(t));
                    }
                    // A number is what the `maxAge` getter then returns, which becomes `originalMaxAge`: the first
                    // touch makes it a max age (`expires: 0` sends a cookie that expires at once, as in express).
                    Value::Number(n) => {
                        let ms = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0);
                        out.lifetime = Some(Lifetime::MaxAge(ms));
                    }
                    v if !truthy(v) => out.lifetime = None,
                    _ => return Err(ConfigError::new("cookie expires must be an ISO 8601 date")),
                },
                "domain" => out.domain = value.as_str().map(str::to_owned),
                "path" => match value {
                    Value::String(p) => out.path = p.clone(),
                    // `path: null` or `false`: cookie 0.7 writes no `Path`, and the gate is `/` (`path || '/'`),
                    // which is what the empty path does here.
                    v if !truthy(v) => out.path = String::new(),
                    _ => {}
                },
                "httpOnly" => out.http_only = truthy(value),
                "partitioned" => out.partitioned = (!value.is_null()).then(|| truthy(value)),
                "secure" => {
                    out.secure = match value {
                        Value::String(s) if s == "auto" => Some(Secure::Auto),
                        Value::Null => None,
                        v if truthy(v) => Some(Secure::Always),
                        _ => Some(Secure::Never),
                    }
                }
                "sameSite" => {
                    out.same_site = match value {
                        Value::String(s) if s == "auto" => Some(SameSiteSetting::Auto),
                        other => same_site_from_json(other)
                            .map_err(|()| ConfigError::new(format!("cookie sameSite {other} is invalid")))?
                            .map(SameSiteSetting::Fixed),
                    }
                }
                "priority" => {
                    out.priority = priority_from_json(value)
                        .map_err(|()| ConfigError::new(format!("cookie priority {value} is invalid")))?
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        // An empty domain or path is express's "not set" (cookie 0.7 leaves a falsy one out of `Set-Cookie`).
        if let Some(domain) = &self.domain
            && !domain.is_empty()
            && !is_valid_domain(domain)
        {
            return Err(ConfigError::new(format!(
                "cookie domain {domain:?} is invalid: use a host name such as \"example.com\" or \".example.com\""
            )));
        }
        if !self.path.is_empty() && (!is_valid_path(&self.path) || !self.path.starts_with('/')) {
            return Err(ConfigError::new(format!(
                "cookie path {:?} is invalid: it must start with '/' and hold printable ASCII without ';' or '<'",
                self.path
            )));
        }
        let secure_possible = matches!(self.secure, Some(Secure::Always | Secure::Auto));
        let same_site_none =
            matches!(&self.same_site, Some(SameSiteSetting::Fixed(Spelled { value: Some(SameSite::None), .. })));
        if !self.allow_insecure_attributes {
            if same_site_none && !secure_possible {
                return Err(ConfigError::new(
                    "cookie sameSite None requires Secure: set .secure(Secure::Always) (or Secure::Auto), \
                     or .allow_insecure_attributes(true) to send it anyway as express does",
                ));
            }
            if self.partitioned == Some(true) && !secure_possible {
                return Err(ConfigError::new(
                    "a Partitioned cookie requires Secure: set .secure(Secure::Always) (or Secure::Auto), \
                     or .allow_insecure_attributes(true) to send it anyway as express does",
                ));
            }
        }
        if name.starts_with("__Secure-") && self.secure != Some(Secure::Always) {
            return Err(ConfigError::new(format!(
                "a cookie named {name:?} must be Secure: set .secure(Secure::Always)"
            )));
        }
        if name.starts_with("__Host-")
            && (self.secure != Some(Secure::Always)
                || self.path != "/"
                || self.domain.as_ref().is_some_and(|d| !d.is_empty()))
        {
            return Err(ConfigError::new(format!(
                "a cookie named {name:?} must be Secure, have path \"/\" and no domain"
            )));
        }
        Ok(())
    }
}

/// The parts of a request a custom [`genid`](SessionOptions::genid) can look at (express passes `req`).
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request URI.
    pub uri: Uri,
    /// The request headers.
    pub headers: HeaderMap,
}

/// A custom `genid` closure.
#[derive(Clone)]
pub(crate) struct GenIdFn(Arc<dyn Fn(&RequestHead) -> String + Send + Sync>);

impl fmt::Debug for GenIdFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GenIdFn(custom)")
    }
}

/// A secret used to sign the session cookie. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl<T: AsRef<[u8]>> From<T> for Secret {
    fn from(value: T) -> Self {
        Self(value.as_ref().into())
    }
}

/// What the layer does when the store reports that it is not ready (express: a `disconnect` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreNotReady {
    /// Answer 503 without calling the handler (the default: fail closed).
    #[default]
    Fail,
    /// Call the handler without a session, as express does.
    PassThrough,
}

/// express-session's options. Build the layer with
/// [`SessionManagerLayer::new`](crate::SessionManagerLayer::new), which validates them.
///
/// ```
/// use express_session::{SessionOptions, CookieOptions, Unset};
/// use std::time::Duration;
///
/// let options = SessionOptions::new()
///     .secret("a secret of at least 32 bytes, from config")
///     .name("app.sid")
///     .rolling(true)
///     .unset(Unset::Destroy)
///     .cookie(CookieOptions::new().max_age(Duration::from_secs(3600)));
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct SessionOptions {
    pub(crate) cookie: CookieOptions,
    pub(crate) genid: Option<GenIdFn>,
    pub(crate) name: String,
    pub(crate) proxy: Option<bool>,
    pub(crate) resave: bool,
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) store: Option<Arc<dyn Guardable>>,
    pub(crate) unset: Unset,
    pub(crate) clock: Clock,
    pub(crate) store_not_ready: StoreNotReady,
    pub(crate) max_save_retries: u32,
    pub(crate) hardening: Hardening,
}

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

/// The circuit breaker between the layer and the store (see [`SessionOptions::store_circuit_breaker`]).
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
/// use express_session::{CircuitBreaker, SessionOptions};
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
    /// let breaker = express_session::CircuitBreaker::new();
    /// # let _ = breaker;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many unavailable failures in a row open the breaker (default 1; at least 1).
    ///
    /// ```
    /// let breaker = express_session::CircuitBreaker::new().failure_threshold(3);
    /// # let _ = breaker;
    /// ```
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
    /// let breaker = express_session::CircuitBreaker::new().probe_interval(Duration::from_millis(100));
    /// # let _ = breaker;
    /// ```
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.failure_threshold == 0 {
            return Err(ConfigError::new(
                "the circuit breaker's failure_threshold must be at least 1 (use .store_circuit_breaker(None) to \
                 turn the breaker off)",
            ));
        }
        if self.probe_interval < Duration::from_millis(1) || self.probe_interval > Duration::from_secs(60) {
            return Err(ConfigError::new(format!(
                "the circuit breaker's probe_interval must be between 1 ms and 60 s (got {:?}): shorter probes a \
                 dead store all the time, longer keeps answering 503 long after the store is back",
                self.probe_interval
            )));
        }
        Ok(())
    }
}

/// What the layer does when the store fails (or times out) during a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Answer 503 (unreachable) or 500 with a short body and no `Set-Cookie`; the cause is logged. The default.
    #[default]
    Fail,
    /// Serve the request without a session, as express does when its store is disconnected: session calls
    /// report [`SessionError::NoSession`](crate::SessionError::NoSession), a failed end-of-request write leaves
    /// the response as the handler made it (without `Set-Cookie`), and the cause is logged.
    ServeWithoutSession,
}

/// Renders the response for a session error (see [`SessionOptions::error_response`]).
pub(crate) type ErrorResponseFn = Arc<dyn Fn(&crate::SessionError) -> (http::StatusCode, String) + Send + Sync>;

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            cookie: CookieOptions::default(),
            genid: None,
            name: "connect.sid".into(),
            proxy: None,
            resave: false,
            rolling: false,
            save_uninitialized: false,
            secrets: Vec::new(),
            store: None,
            unset: Unset::Keep,
            clock: Clock::system(),
            store_not_ready: StoreNotReady::Fail,
            max_save_retries: 32,
            hardening: Hardening::default(),
        }
    }
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("cookie", &self.cookie)
            .field("genid", &self.genid.as_ref().map(|_| "custom"))
            .field("name", &self.name)
            .field("proxy", &self.proxy)
            .field("resave", &self.resave)
            .field("rolling", &self.rolling)
            .field("save_uninitialized", &self.save_uninitialized)
            .field("secrets", &format_args!("[{} redacted]", self.secrets.len()))
            .field("store", &self.store)
            .field("unset", &self.unset)
            .field("hardening", &self.hardening)
            .finish_non_exhaustive()
    }
}

impl SessionOptions {
    /// The defaults: express's, except `resave` and `save_uninitialized`, which are `false` (see the crate docs,
    /// "Differences from express-session"). A secret must still be given.
    pub fn new() -> Self {
        Self::default()
    }

    /// `cookie`: the cookie options.
    pub fn cookie(mut self, cookie: CookieOptions) -> Self {
        self.cookie = cookie;
        self
    }

    /// `genid`: makes the id of each new session. It gets the request's method, URI and headers. It must return
    /// a non-empty string of at most [`MAX_ID_LEN`](crate::id::MAX_ID_LEN) bytes that is unique; an id that
    /// already exists in the store is asked for again, a few times, and then the request fails.
    pub fn genid<F>(mut self, genid: F) -> Self
    where
        F: Fn(&RequestHead) -> String + Send + Sync + 'static,
    {
        self.genid = Some(GenIdFn(Arc::new(genid)));
        self
    }

    /// `name`: the cookie name (default `connect.sid`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// `proxy`: `Some(true)` trusts `X-Forwarded-Proto` for "is this request secure", `Some(false)` trusts only
    /// the connection itself; `None` (the default) follows the server, through the [`IsSecure`](crate::IsSecure)
    /// request extension (express: `req.secure`). Whatever the setting, a request the server marked with
    /// [`TlsConnection`](crate::TlsConnection) (it arrived over TLS) is secure; the request URI's scheme, which
    /// the client chooses, never counts.
    pub fn proxy(mut self, proxy: Option<bool>) -> Self {
        self.proxy = proxy;
        self
    }

    /// `resave`: save the session at the end of every request even when it was not modified.
    pub fn resave(mut self, resave: bool) -> Self {
        self.resave = resave;
        self
    }

    /// `rolling`: send the cookie on every response, moving its expiry forward.
    pub fn rolling(mut self, rolling: bool) -> Self {
        self.rolling = rolling;
        self
    }

    /// `saveUninitialized`: save (and send the cookie for) new sessions the handler did not modify.
    pub fn save_uninitialized(mut self, save_uninitialized: bool) -> Self {
        self.save_uninitialized = save_uninitialized;
        self
    }

    /// `secret`: one secret that signs and verifies the cookie. Replaces any secrets set before.
    pub fn secret(mut self, secret: impl Into<Secret>) -> Self {
        self.secrets = vec![secret.into()];
        self
    }

    /// `secret` as an array: the first signs, every one verifies (put a new secret first to rotate).
    pub fn secrets<I, S>(mut self, secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Secret>,
    {
        self.secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// `store`: where sessions live (default: a new [`MemoryStore`]).
    pub fn store<S: Store>(mut self, store: S) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// `store`, from a store already shared behind an `Arc` (several layers or services on one store).
    pub fn shared_store<S: Store>(mut self, store: Arc<S>) -> Self {
        self.store = Some(store);
        self
    }

    /// `unset`: what [`Session::unset`](crate::Session::unset) does to the stored session.
    pub fn unset(mut self, unset: Unset) -> Self {
        self.unset = unset;
        self
    }

    /// The clock that expiry decisions read (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// What to do when the store says it is not ready (default: 503).
    pub fn store_not_ready(mut self, behaviour: StoreNotReady) -> Self {
        self.store_not_ready = behaviour;
        self
    }

    /// How many times a save that lost a race is re-applied on the latest record before the request fails
    /// (default 32).
    pub fn max_save_retries(mut self, retries: u32) -> Self {
        self.max_save_retries = retries;
        self
    }

    /// Accept secrets shorter than 32 bytes, as express does. Off by default: a short secret can be guessed
    /// offline from one cookie.
    pub fn allow_short_secret(mut self, allow: bool) -> Self {
        self.hardening.allow_short_secret = allow;
        self
    }

    /// Accept any well-signed id from a cookie (at most [`MAX_ID_LEN`](crate::id::MAX_ID_LEN) bytes), not only
    /// ids in the default format. It is on automatically with a custom [`genid`](Self::genid); turn it on to
    /// share sessions with a Node app whose `genid` is custom.
    pub fn accept_any_id(mut self, accept: bool) -> Self {
        self.hardening.accept_any_id = accept;
        self
    }

    /// How long the store calls of one request may take **together** before the store counts as unreachable
    /// (default 5 s): a request answers 503 at most this long after its first store call, however many calls it
    /// makes. A call with nothing left of this budget fails at once; after a call that failed as unavailable,
    /// the request's later calls fail at once too, without calling the store. Must be more than zero. Only the
    /// time spent waiting on the store counts, not the handler's own time; a handler that makes many store calls
    /// over a long-lived request (a WebSocket that saves now and then) shares this budget among all of them, so
    /// give such an app a larger timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = express_session::SessionOptions::new().store_timeout(Duration::from_secs(2));
    /// # let _ = options;
    /// ```
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.hardening.store_timeout = timeout;
        self
    }

    /// The circuit breaker between the layer and the store (default: on, [`CircuitBreaker::new`]); `None` turns
    /// it off, so that every request calls the store whatever happened to the previous ones.
    ///
    /// ```
    /// use express_session::{CircuitBreaker, SessionOptions};
    /// let options = SessionOptions::new().store_circuit_breaker(Some(CircuitBreaker::new().failure_threshold(2)));
    /// let without = SessionOptions::new().store_circuit_breaker(None);
    /// # let _ = (options, without);
    /// ```
    pub fn store_circuit_breaker(mut self, breaker: Option<CircuitBreaker>) -> Self {
        self.hardening.breaker = breaker;
        self
    }

    /// The largest record a request may grow a session to, in bytes of JSON (default 64 KiB); a save that
    /// would store a bigger record than both this and the stored record the request read fails with
    /// [`SessionError::TooLarge`](crate::SessionError::TooLarge) (the request's changes are not stored). `None`
    /// removes the limit, as in express, which has none.
    ///
    /// The limit guards against a handler that lets a client grow its session without bound. It never makes a
    /// stored session unwritable: a record above it (written by the Node app in a mixed deployment, or under a
    /// larger limit before) is still read, touched and saved, as long as the request does not make it larger
    /// (changing a value for one of the same length, or removing keys, is fine; adding to it is refused). A
    /// default above what the Node stores accept was not an option: their columns and keys hold megabytes to
    /// gigabytes, far more than a session should.
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// let options = SessionOptions::new().max_record_size(Some(256 * 1024));
    /// # let _ = options;
    /// ```
    pub fn max_record_size(mut self, max: Option<usize>) -> Self {
        self.hardening.max_record_size = max;
        self
    }

    /// After [`destroy`](crate::Session::destroy) (or [`unset`](crate::Session::unset) with
    /// [`Unset::Destroy`]), send a cookie that makes the browser drop the session cookie, with the same name,
    /// path, domain, `Secure` and `SameSite` (default `true`). express sends none; `false` restores that.
    pub fn clear_cookie_on_destroy(mut self, clear: bool) -> Self {
        self.hardening.clear_cookie_on_destroy = clear;
        self
    }

    /// Add `Cache-Control: no-store` to responses that used the session or set its cookie, unless the handler
    /// set a `Cache-Control` itself (default `false`).
    pub fn cache_control_no_store(mut self, no_store: bool) -> Self {
        self.hardening.cache_control_no_store = no_store;
        self
    }

    /// Add `Vary: Cookie` to responses that used the session or set its cookie, so shared caches never serve
    /// one user's page to another (default `true`).
    pub fn vary_cookie(mut self, vary: bool) -> Self {
        self.hardening.vary_cookie = vary;
        self
    }

    /// An absolute lifetime: a session older than this is over, however active it is (`rolling` and touches
    /// never extend it). The creation time is kept in the record under the key
    /// [`CREATED_AT_KEY`](crate::record::CREATED_AT_KEY). A session stored without it (created before the option
    /// was set, or by the Node app) gets it, set to the time it is first read, stored right away with a
    /// conditional write, even by a read-only request. Not set by default, as in express.
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.hardening.absolute_timeout = Some(timeout);
        self
    }

    /// Store sessions under the SHA-256 of their id (hex), so that a leak of the store does not leak usable
    /// cookies. Records are then not found by a Node app reading the same store (connect-redis,
    /// connect-pg-simple key by the plain id). Default `false`.
    pub fn hash_ids_at_rest(mut self, hash: bool) -> Self {
        self.hardening.hash_ids_at_rest = hash;
        self
    }

    /// What to do when the store fails during a request (default [`OnStoreError::Fail`]).
    pub fn on_store_error(mut self, mode: OnStoreError) -> Self {
        self.hardening.on_store_error = mode;
        self
    }

    /// Renders the response the layer sends for a session error (a store failure, a record too large, ...)
    /// instead of the default short text. The error's cause is logged either way; do not put it in the body.
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// let options = SessionOptions::new().error_response(|error| {
    ///     (error.status(), "<h1>Please try again in a moment</h1>".to_owned())
    /// });
    /// # let _ = options;
    /// ```
    pub fn error_response<F>(mut self, render: F) -> Self
    where
        F: Fn(&crate::SessionError) -> (http::StatusCode, String) + Send + Sync + 'static,
    {
        self.hardening.error_response = Some(Arc::new(render));
        self
    }

    /// Reads express-session's options object as JSON: `secret` (string or array), `name`, `resave`, `rolling`,
    /// `saveUninitialized`, `unset`, `proxy`, and `cookie` (see [`CookieOptions::from_express_json`]). Keys that
    /// are absent keep **this crate's** defaults; call `.resave(true).save_uninitialized(true)` first to get
    /// express's implicit ones.
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// let options = SessionOptions::new()
    ///     .merge_express_json(&serde_json::json!({"secret": ["new", "old"], "rolling": true}))
    ///     .unwrap();
    /// # let _ = options;
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for values express rejects (`unset` other than `keep`/`destroy`, an empty secret array...).
    pub fn merge_express_json(mut self, value: &Value) -> Result<Self, ConfigError> {
        let Value::Object(obj) = value else {
            return Err(ConfigError::new("session options must be a JSON object"));
        };
        let truthy = |v: &Value| match v {
            Value::Null | Value::Bool(false) => false,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        for (key, value) in obj {
            match key.as_str() {
                "secret" => {
                    self.secrets = match value {
                        Value::String(s) => vec![Secret::from(s.as_bytes())],
                        Value::Array(items) => items
                            .iter()
                            .map(|i| {
                                i.as_str()
                                    .map(|s| Secret::from(s.as_bytes()))
                                    .ok_or_else(|| ConfigError::new("secret option array must contain only strings"))
                            })
                            .collect::<Result<_, _>>()?,
                        Value::Null => Vec::new(),
                        _ => return Err(ConfigError::new("secret option must be a string or an array")),
                    }
                }
                "name" => {
                    if let Some(name) = value.as_str().filter(|n| !n.is_empty()) {
                        self.name = name.to_owned();
                    }
                }
                "resave" => self.resave = truthy(value),
                "rolling" => self.rolling = truthy(value),
                "saveUninitialized" => self.save_uninitialized = truthy(value),
                "proxy" => self.proxy = value.as_bool(),
                "unset" => {
                    self.unset = match value {
                        Value::String(s) if s == "destroy" => Unset::Destroy,
                        Value::String(s) if s == "keep" => Unset::Keep,
                        v if !truthy(v) => Unset::Keep,
                        _ => return Err(ConfigError::new("unset option must be \"destroy\" or \"keep\"")),
                    }
                }
                "cookie" => {
                    let allow = self.cookie.allow_insecure_attributes;
                    self.cookie = CookieOptions::from_express_json(value)?.allow_insecure_attributes(allow);
                }
                _ => {}
            }
        }
        Ok(self)
    }

    pub(crate) fn build(self) -> Result<Config, ConfigError> {
        if self.secrets.is_empty() {
            return Err(ConfigError::new(
                "a secret is required to sign the session cookie: call .secret(\"...\") or .secrets([...]) \
                 (express: the `secret` option)",
            ));
        }
        if self.secrets.iter().any(|s| s.as_bytes().is_empty()) {
            return Err(ConfigError::new("a secret must not be empty: give each secret at least one byte"));
        }
        if !self.hardening.allow_short_secret && self.secrets.iter().any(|s| s.as_bytes().len() < 32) {
            return Err(ConfigError::new(
                "a secret shorter than 32 bytes can be guessed from one cookie: use a long random secret \
                 (e.g. 64 hex characters from a secrets manager), or .allow_short_secret(true) to accept it as \
                 express does",
            ));
        }
        if !is_valid_name(&self.name) {
            return Err(ConfigError::new(format!(
                "cookie name {:?} is invalid: use letters, digits and !#$%&'*+-.^_`|~ only",
                self.name
            )));
        }
        self.cookie.validate(&self.name)?;
        let signer = Signer::new(self.secrets.iter().map(Secret::as_bytes));
        let store: Arc<dyn Guardable> = match self.store {
            Some(store) => store,
            None => Arc::new(MemoryStore::builder().clock(self.clock.clone()).build()),
        };
        if self.hardening.store_timeout.is_zero() {
            return Err(ConfigError::new("store_timeout must be more than zero"));
        }
        if let Some(breaker) = &self.hardening.breaker {
            breaker.validate()?;
        }
        let store = store.guarded(crate::engine::guard::GuardOptions {
            timeout: self.hardening.store_timeout,
            hash_ids: self.hardening.hash_ids_at_rest,
            breaker: self.hardening.breaker,
        });
        let mut hardening = self.hardening;
        hardening.accept_any_id |= self.genid.is_some();
        Ok(Config {
            cookie: self.cookie,
            genid: self.genid,
            name: self.name,
            proxy: self.proxy,
            resave: self.resave,
            rolling: self.rolling,
            save_uninitialized: self.save_uninitialized,
            signer,
            store,
            unset: self.unset,
            clock: self.clock,
            store_not_ready: self.store_not_ready,
            max_save_retries: self.max_save_retries,
            hardening,
            write_locks: Default::default(),
            warned_insecure: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// The validated options the engine runs on.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) cookie: CookieOptions,
    pub(crate) genid: Option<GenIdFn>,
    pub(crate) name: String,
    pub(crate) proxy: Option<bool>,
    pub(crate) resave: bool,
    pub(crate) rolling: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) signer: Signer,
    pub(crate) store: Arc<dyn DynStore>,
    pub(crate) unset: Unset,
    pub(crate) clock: Clock,
    pub(crate) store_not_ready: StoreNotReady,
    pub(crate) max_save_retries: u32,
    pub(crate) hardening: Hardening,
    pub(crate) write_locks: std::sync::Mutex<std::collections::HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
    /// Whether the layer built on this configuration already warned that a `Secure` cookie was held back on an
    /// insecure request (logged once per layer).
    pub(crate) warned_insecure: std::sync::atomic::AtomicBool,
}

/// A session's save lock, removed from the table when the last holder is done with it.
pub(crate) struct WriteLock<'a> {
    config: &'a Config,
    id: SessionId,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl WriteLock<'_> {
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        let mut table = self.config.write_locks.lock().unwrap_or_else(|e| e.into_inner());
        // Two references: the table's and ours. Nobody else waits for this session's lock.
        if Arc::strong_count(&self.lock) == 2 {
            table.remove(&self.id);
        }
    }
}

impl Config {
    /// The lock that orders the saves of one session within this layer. Entries are dropped when no save
    /// holds them, so the table only ever holds the sessions being saved right now.
    pub(crate) fn write_lock(&self, id: &SessionId) -> WriteLock<'_> {
        let mut table = self.write_locks.lock().unwrap_or_else(|e| e.into_inner());
        let lock = Arc::clone(table.entry(id.clone()).or_default());
        WriteLock { config: self, id: id.clone(), lock }
    }

    /// A new session id from `genid` or the default generator.
    pub(crate) fn generate_id(&self, head: Option<&RequestHead>) -> Result<SessionId, crate::SessionError> {
        match (&self.genid, head) {
            (Some(genid), Some(head)) => SessionId::new((genid.0)(head)).ok_or(crate::SessionError::InvalidGeneratedId),
            _ => Ok(SessionId::generate()),
        }
    }

    /// The cookie of a new session: express's `new Cookie(options)` with `'auto'` resolved for this request.
    pub(crate) fn new_cookie(&self, secure_request: bool) -> crate::SessionCookie {
        let now = self.clock.now();
        let opts = &self.cookie;
        let mut cookie = crate::SessionCookie {
            http_only: Some(opts.http_only),
            path: Some(opts.path.as_str().into()),
            domain: opts.domain.as_deref().map(Into::into),
            partitioned: opts.partitioned,
            priority: opts.priority.clone(),
            ..Default::default()
        };
        match opts.lifetime {
            Some(Lifetime::MaxAge(ms)) => cookie.set_max_age_millis(Some(ms), now),
            Some(Lifetime::Expires(t)) => cookie.set_expires(Some(t), now),
            None => {}
        }
        cookie.secure = opts.secure.map(|s| match s {
            Secure::Always => true,
            Secure::Never => false,
            Secure::Auto => secure_request,
        });
        cookie.same_site = opts.same_site.as_ref().map(|s| match s {
            SameSiteSetting::Fixed(spelled) => spelled.clone(),
            SameSiteSetting::Auto => Spelled {
                value: Some(if secure_request { SameSite::None } else { SameSite::Lax }),
                spelling: Spelling::Lower,
            },
        });
        cookie
    }
}

/// A configuration mistake found when the layer is built. The message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("express-session configuration: {message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(options: SessionOptions) -> Result<Config, ConfigError> {
        options.build()
    }

    #[test]
    fn a_secret_is_required() {
        let err = build(SessionOptions::new()).unwrap_err();
        assert!(err.to_string().contains(".secret("), "{err}");
        let err = build(SessionOptions::new().secrets(Vec::<String>::new())).unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");
        assert!(build(SessionOptions::new().secret("")).is_err());
    }

    #[test]
    fn bad_cookie_names_paths_and_domains_are_refused() {
        let base = || SessionOptions::new().secret("s").allow_short_secret(true);
        assert!(build(base().name("a b")).is_err());
        assert!(build(base().name("")).is_err());
        assert!(build(base().cookie(CookieOptions::new().path("/a;b"))).is_err());
        assert!(build(base().cookie(CookieOptions::new().domain("bad domain"))).is_err());
        assert!(build(base().cookie(CookieOptions::new().domain(".example.com"))).is_ok());
    }

    #[test]
    fn same_site_none_and_partitioned_need_secure() {
        let base = || SessionOptions::new().secret("s").allow_short_secret(true);
        let err = build(base().cookie(CookieOptions::new().same_site(SameSite::None))).unwrap_err();
        assert!(err.to_string().contains("Secure"), "{err}");
        assert!(build(base().cookie(CookieOptions::new().partitioned(true))).is_err());
        assert!(build(base().cookie(CookieOptions::new().same_site(SameSite::None).secure(Secure::Always))).is_ok());
        assert!(
            build(base().cookie(CookieOptions::new().same_site(SameSite::None).allow_insecure_attributes(true)))
                .is_ok()
        );
    }

    #[test]
    fn cookie_prefixes_are_checked() {
        let base = || SessionOptions::new().secret("s").allow_short_secret(true);
        assert!(build(base().name("__Host-id")).is_err());
        assert!(build(base().name("__Host-id").cookie(CookieOptions::new().secure(Secure::Always))).is_ok());
        assert!(
            build(base().name("__Host-id").cookie(CookieOptions::new().secure(Secure::Always).domain("a.com")))
                .is_err()
        );
        assert!(build(base().name("__Secure-id")).is_err());
    }

    #[test]
    fn express_json_maps_every_option() {
        let options = SessionOptions::new()
            .merge_express_json(&serde_json::json!({
                "secret": ["a", "b"], "name": "x", "resave": true, "rolling": true,
                "saveUninitialized": true, "unset": "destroy", "proxy": true,
                "cookie": {"maxAge": 1000, "sameSite": true, "priority": "High", "secure": "auto"}
            }))
            .unwrap();
        assert_eq!(options.secrets.len(), 2);
        assert_eq!(options.name, "x");
        assert!(options.resave && options.rolling && options.save_uninitialized);
        assert_eq!(options.unset, Unset::Destroy);
        assert_eq!(options.proxy, Some(true));
        assert_eq!(options.cookie.lifetime, Some(Lifetime::MaxAge(1000)));
        assert_eq!(options.cookie.secure, Some(Secure::Auto));
        assert!(SessionOptions::new().merge_express_json(&serde_json::json!({"unset": "bogus"})).is_err());
        assert!(SessionOptions::new().merge_express_json(&serde_json::json!({"cookie": {"maxAge": "42"}})).is_err());
    }

    #[test]
    fn later_of_max_age_and_expires_wins() {
        let a = CookieOptions::from_express_json(&serde_json::json!({
            "expires": "2030-06-15T12:34:56.789Z", "maxAge": 60000
        }))
        .unwrap();
        assert_eq!(a.lifetime, Some(Lifetime::MaxAge(60000)));
        let b = CookieOptions::new().max_age(Duration::from_secs(1)).expires(crate::Timestamp::from_millis(5));
        assert_eq!(b.lifetime, Some(Lifetime::Expires(crate::Timestamp::from_millis(5))));
    }

    #[test]
    fn short_secrets_need_an_explicit_opt_in() {
        let err = build(SessionOptions::new().secret("keyboard cat")).unwrap_err();
        assert!(err.to_string().contains("allow_short_secret"), "{err}");
        assert!(build(SessionOptions::new().secret("keyboard cat").allow_short_secret(true)).is_ok());
        assert!(build(SessionOptions::new().secret([7u8; 32])).is_ok());
        assert!(build(SessionOptions::new().secrets([&[7u8; 32][..], b"short"])).is_err(), "every secret counts");
    }

    #[test]
    fn debug_hides_secrets() {
        let text = format!("{:?}", SessionOptions::new().secret("hunter2-hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
    }
}
