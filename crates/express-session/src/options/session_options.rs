//! express-session's options object: [`SessionOptions`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::cookie::is_valid_name;
use crate::store::{ErasedStore, Store};
use crate::time::Clock;

use super::circuit_breaker::CircuitBreaker;
use super::cookie_options::CookieOptions;
use super::error::ConfigError;
use super::hardening::Hardening;
use super::on_store_error::OnStoreError;
use super::request_head::{GenIdFn, RequestHead};
use super::secret::Secret;
use super::store_not_ready::StoreNotReady;
use super::unset::Unset;

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
    pub(crate) store: Option<Arc<dyn ErasedStore>>,
    pub(crate) unset: Unset,
    pub(crate) clock: Clock,
    pub(crate) store_not_ready: StoreNotReady,
    pub(crate) max_save_retries: u32,
    pub(crate) hardening: Hardening,
    /// The request and response header that may carry the session (lower case), if any.
    pub(crate) header: Option<String>,
    pub(crate) touch_after: Option<Duration>,
}

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
            header: None,
            touch_after: None,
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
            .field("header", &self.header)
            .field("touch_after", &self.touch_after)
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
    #[must_use]
    pub fn cookie(mut self, cookie: CookieOptions) -> Self {
        self.cookie = cookie;
        self
    }

    /// `genid`: makes the id of each new session. It gets the request's method, URI and headers. It must return
    /// a non-empty string of at most [`MAX_ID_LEN`](crate::id::MAX_ID_LEN) bytes that is unique; an id that
    /// already exists in the store is asked for again, a few times, and then the request fails.
    #[must_use]
    pub fn genid<F>(mut self, genid: F) -> Self
    where
        F: Fn(&RequestHead) -> String + Send + Sync + 'static,
    {
        self.genid = Some(GenIdFn(Arc::new(genid)));
        self
    }

    /// Sessions in a header, for clients without a cookie jar (mobile apps, scripts): the request header `name`
    /// (for example `X-Session`) may carry the same signed value as the session cookie, and the response carries
    /// it under the same name when the session is new or its id changes (a login's
    /// [`regenerate`](crate::Session::regenerate), [`cycle_id`](crate::Session::cycle_id)). Not in
    /// express-session; off by default, and with it off nothing reads or sends the header.
    ///
    /// The header follows every rule of the cookie: the same signing and secret rotation, the same strict id
    /// format, a tampered, malformed or oversized value is no session (a new one where express would make one),
    /// and destroy, regenerate and fixation work alike. When a request sends both, a valid cookie wins. The
    /// `Set-Cookie` is sent as usual too, and the header goes only with it: a `Secure` cookie held back on a
    /// request that is not secure holds the header back too. Responses that use the session vary on the header
    /// as on `Cookie` ([`vary_cookie`](Self::vary_cookie)). The header is readable to the page's scripts (the
    /// cookie is `HttpOnly`): a login made with `fetch` shows the new id to any script of the origin, so turn
    /// it on for API clients, and expose it through CORS only to origins you trust.
    ///
    /// The name must be a header token that HTTP, browsers and proxies give no meaning of their own: `Cookie`,
    /// `Location`, `Content-Type`, `Cache-Control`, hop-by-hop headers such as `Connection`, `Proxy-*`, CORS's and
    /// the forwarding headers are a [`ConfigError::InvalidHeader`](crate::ConfigError::InvalidHeader) when the
    /// layer is built.
    ///
    /// ```
    /// use express_session::engine::{Engine, RequestFacts, ResponseFacts};
    /// use express_session::SessionOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// let options = SessionOptions::new().secret("a long random secret, from your configuration").header("X-Session");
    /// let engine = Engine::new(options).expect("valid options");
    ///
    /// let session = engine.begin(RequestFacts::new("/login")).into_session().expect("a session");
    /// session.insert("user", "alice").await?;
    /// let finished = engine.finish(&session, ResponseFacts::new()).await;
    /// let (name, value) = finished.session_header().expect("a new session's header");
    /// assert_eq!(name, "x-session");
    ///
    /// // The client sends it back instead of a cookie.
    /// let session = engine.begin(RequestFacts::new("/me").session_header(Some(value.as_bytes()))).into_session().unwrap();
    /// assert_eq!(session.get::<String>("user").await?.as_deref(), Some("alice"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into().to_ascii_lowercase());
        self
    }

    /// Fewer store writes (connect-mongo's `touchAfter`): a request that leaves its session unmodified refreshes
    /// the session's expiry in the store only when it was last refreshed `interval` or more ago. The store decides
    /// from its real expiry ([`Store::refresh_after`](crate::store::Store::refresh_after), which answers
    /// [`TouchOutcome::Fresh`](crate::store::TouchOutcome::Fresh) when it wrote nothing): `MemoryStore` from its
    /// entry's expiry; Redis from the key's PTTL, in the same script as the refresh (`pttl > ttl - interval`);
    /// PostgreSQL, MySQL and SQLite from the `expire` column, read with the text in one statement and updated by a
    /// second only when stale; a store that keeps the default decides by the stored `cookie.expires`. A record
    /// whose own text already says it was refreshed within the interval is not sent to the store at all. With
    /// [`rolling`](Self::rolling), the cookie is then sent only when the store's expiry moved too, so the
    /// browser's cookie never outlives the stored session. Off by default (express touches on every such
    /// request). It skips touches only: with [`resave(true)`](Self::resave) every request saves its session
    /// anyway.
    ///
    /// The cost: a session's idle timeout is between `max_age - interval` and `max_age` instead of exactly
    /// `max_age`. The interval must be shorter than the cookie's `max_age` (a build error otherwise, as is a
    /// cookie without `max_age`, whose store lifetime the layer does not know); a stored session whose own lifetime
    /// is not longer than the interval is refreshed every time.
    ///
    /// ```
    /// use express_session::{CookieOptions, SessionOptions, SessionManagerLayer};
    /// use std::time::Duration;
    ///
    /// let options = SessionOptions::new()
    ///     .secret("a long random secret, from your configuration")
    ///     .cookie(CookieOptions::new().max_age(Duration::from_secs(3600)))
    ///     .touch_after(Duration::from_secs(60)); // at most one store write per minute for a reading client
    /// assert!(SessionManagerLayer::new(options.clone()).is_ok());
    /// assert!(SessionManagerLayer::new(options.touch_after(Duration::from_secs(3600))).is_err());
    /// ```
    #[must_use]
    pub fn touch_after(mut self, interval: Duration) -> Self {
        self.touch_after = Some(interval);
        self
    }

    /// `name`: the cookie name (default `connect.sid`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// `proxy`: `Some(true)` trusts `X-Forwarded-Proto` for "is this request secure", `Some(false)` trusts only
    /// the connection itself; `None` (the default) follows the server, through the [`IsSecure`](crate::layer::IsSecure)
    /// request extension (express: `req.secure`). Whatever the setting, a request the server marked with
    /// [`TlsConnection`](crate::TlsConnection) (it arrived over TLS) is secure; the request URI's scheme, which
    /// the client chooses, never counts.
    #[must_use]
    pub fn proxy(mut self, proxy: Option<bool>) -> Self {
        self.proxy = proxy;
        self
    }

    /// `resave`: save the session at the end of every request even when it was not modified.
    #[must_use]
    pub fn resave(mut self, resave: bool) -> Self {
        self.resave = resave;
        self
    }

    /// `rolling`: send the cookie on every response, moving its expiry forward.
    #[must_use]
    pub fn rolling(mut self, rolling: bool) -> Self {
        self.rolling = rolling;
        self
    }

    /// `saveUninitialized`: save (and send the cookie for) new sessions the handler did not modify.
    #[must_use]
    pub fn save_uninitialized(mut self, save_uninitialized: bool) -> Self {
        self.save_uninitialized = save_uninitialized;
        self
    }

    /// `secret`: one secret that signs and verifies the cookie. Replaces any secrets set before.
    #[must_use]
    pub fn secret(mut self, secret: impl Into<Secret>) -> Self {
        self.secrets = vec![secret.into()];
        self
    }

    /// `secret` as an array: the first signs, every one verifies (put a new secret first to rotate).
    #[must_use]
    pub fn secrets<I, S>(mut self, secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Secret>,
    {
        self.secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// `store`: where sessions live (default: a new [`MemoryStore`](crate::MemoryStore)).
    #[must_use]
    pub fn store<S: Store>(mut self, store: S) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// `store`, from a store already shared behind an `Arc` (several layers or services on one store).
    #[must_use]
    pub fn shared_store<S: Store>(mut self, store: Arc<S>) -> Self {
        self.store = Some(store);
        self
    }

    /// `unset`: what [`Session::unset`](crate::Session::unset) does to the stored session.
    #[must_use]
    pub fn unset(mut self, unset: Unset) -> Self {
        self.unset = unset;
        self
    }

    /// The clock that expiry decisions read (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// What to do when the store says it is not ready (default: 503).
    #[must_use]
    pub fn store_not_ready(mut self, behaviour: StoreNotReady) -> Self {
        self.store_not_ready = behaviour;
        self
    }

    /// How many times a save that lost a race is re-applied on the latest record before the request fails
    /// (default 32).
    #[must_use]
    pub fn max_save_retries(mut self, retries: u32) -> Self {
        self.max_save_retries = retries;
        self
    }

    /// Accept secrets shorter than 32 bytes, as express does. Off by default: a short secret can be guessed
    /// offline from one cookie.
    #[must_use]
    pub fn allow_short_secret(mut self, allow: bool) -> Self {
        self.hardening.allow_short_secret = allow;
        self
    }

    /// Accept any well-signed id from a cookie (at most [`MAX_ID_LEN`](crate::id::MAX_ID_LEN) bytes), not only
    /// ids in the default format. It is on automatically with a custom [`genid`](Self::genid); turn it on to
    /// share sessions with a Node app whose `genid` is custom.
    #[must_use]
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
    #[must_use]
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.hardening.store_timeout = timeout;
        self
    }

    /// The circuit breaker between the layer and the store (default: on, [`CircuitBreaker::new`]); `None` turns
    /// it off, so that every request calls the store whatever happened to the previous ones.
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// use express_session::options::CircuitBreaker;
    /// let options = SessionOptions::new().store_circuit_breaker(Some(CircuitBreaker::new().failure_threshold(2)));
    /// let without = SessionOptions::new().store_circuit_breaker(None);
    /// # let _ = (options, without);
    /// ```
    #[must_use]
    pub fn store_circuit_breaker(mut self, breaker: Option<CircuitBreaker>) -> Self {
        self.hardening.breaker = breaker;
        self
    }

    /// The largest record a request may grow a session to, in bytes of JSON (default 64 KiB); a save that
    /// would store a bigger record than both this and the stored record the request read fails with
    /// [`SessionError::TooLarge`](crate::error::SessionError::TooLarge) (the request's changes are not stored). `None`
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
    #[must_use]
    pub fn max_record_size(mut self, max: Option<usize>) -> Self {
        self.hardening.max_record_size = max;
        self
    }

    /// After [`destroy`](crate::Session::destroy) (or [`unset`](crate::Session::unset) with
    /// [`Unset::Destroy`]), send a cookie that makes the browser drop the session cookie, with the same name,
    /// path, domain, `Secure` and `SameSite` (default `true`). express sends none; `false` restores that.
    #[must_use]
    pub fn clear_cookie_on_destroy(mut self, clear: bool) -> Self {
        self.hardening.clear_cookie_on_destroy = clear;
        self
    }

    /// Add `Cache-Control: no-store` to responses that used the session or set its cookie, unless the handler
    /// set a `Cache-Control` itself (default `false`).
    #[must_use]
    pub fn cache_control_no_store(mut self, no_store: bool) -> Self {
        self.hardening.cache_control_no_store = no_store;
        self
    }

    /// Add `Vary: Cookie` to responses that used the session or set its cookie, so shared caches never serve
    /// one user's page to another (default `true`). With a session [`header`](Self::header), such responses
    /// vary on that header too.
    #[must_use]
    pub fn vary_cookie(mut self, vary: bool) -> Self {
        self.hardening.vary_cookie = vary;
        self
    }

    /// An absolute lifetime: a session older than this is over, however active it is (`rolling` and touches
    /// never extend it). The creation time is kept in the record under the key
    /// [`CREATED_AT_KEY`](crate::record::CREATED_AT_KEY). A session stored without it (created before the option
    /// was set, or by the Node app) gets it, set to the time it is first read, stored right away with a
    /// conditional write, even by a read-only request. Not set by default, as in express.
    #[must_use]
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.hardening.absolute_timeout = Some(timeout);
        self
    }

    /// Store sessions under the SHA-256 of their id (hex), so that a leak of the store does not leak usable
    /// cookies. Records are then not found by a Node app reading the same store (connect-redis,
    /// connect-pg-simple key by the plain id). Default `false`.
    #[must_use]
    pub fn hash_ids_at_rest(mut self, hash: bool) -> Self {
        self.hardening.hash_ids_at_rest = hash;
        self
    }

    /// What to do when the store fails during a request (default [`OnStoreError::Fail`]).
    #[must_use]
    pub fn on_store_error(mut self, mode: OnStoreError) -> Self {
        self.hardening.on_store_error = mode;
        self
    }

    /// Renders the response sent for a session error (a store failure, a record too large, ...) instead of the
    /// default short text ([`DefaultResponseForError`](super::DefaultResponseForError)): both the one the
    /// layer answers by itself and the one a handler's `SessionError` turns into. The closure returns a
    /// `(StatusCode, String)` (sent as `text/plain`) or an [`ErrorResponse`](super::ErrorResponse). The
    /// error's cause is logged either way; do not put it in the body.
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// let options = SessionOptions::new().error_response(|error| {
    ///     (error.status(), "Please try again in a moment".to_owned())
    /// });
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn error_response<F, R>(mut self, render: F) -> Self
    where
        F: Fn(&crate::error::SessionError) -> R + Send + Sync + 'static,
        R: Into<super::ErrorResponse>,
    {
        self.hardening.error_response = Some(Arc::new(render));
        self
    }

    /// Like [`error_response`](Self::error_response), with a renderer type of yours (see
    /// [`ResponseForError`](super::ResponseForError)).
    #[must_use]
    pub fn error_renderer(mut self, renderer: impl super::ResponseForError + 'static) -> Self {
        self.hardening.error_response = Some(Arc::new(renderer));
        self
    }

    /// Checks the options as [`SessionManagerLayer::new`](crate::SessionManagerLayer::new) does before it builds
    /// the layer.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.secrets.is_empty() {
            return Err(ConfigError::MissingSecret);
        }
        if self.secrets.iter().any(|s| s.as_bytes().is_empty()) {
            return Err(ConfigError::EmptySecret);
        }
        if !self.hardening.allow_short_secret && self.secrets.iter().any(|s| s.as_bytes().len() < 32) {
            return Err(ConfigError::ShortSecret);
        }
        if !is_valid_name(&self.name) {
            return Err(ConfigError::InvalidName { name: self.name.clone() });
        }
        if let Some(header) = &self.header
            && (!is_valid_name(header) || TAKEN_HEADERS.contains(&header.as_str()) || header.starts_with("proxy-"))
        {
            return Err(ConfigError::InvalidHeader { name: header.clone() });
        }
        self.cookie.validate(&self.name)?;
        if let Some(interval) = self.touch_after {
            let interval_ms = crate::time::duration_millis(interval);
            match &self.cookie.lifetime {
                Some(super::cookie_options::Lifetime::MaxAge(max_age)) if interval_ms < *max_age => {}
                _ => return Err(ConfigError::TouchAfter { interval_ms }),
            }
        }
        if self.hardening.store_timeout.is_zero() {
            return Err(ConfigError::ZeroStoreTimeout);
        }
        if let Some(breaker) = &self.hardening.breaker {
            breaker.validate()?;
        }
        Ok(())
    }
}

/// Headers HTTP, browsers or proxies give a meaning of their own (RFC 9110, 9111, 9112, 6265, 6454, Fetch's CORS
/// headers), refused as the session header: answering a session id in `Location`, `Content-Type` or
/// `Cache-Control` would change what the response means, and a hop-by-hop header would be dropped or rewritten on
/// the way. `Proxy-*` is refused as a prefix.
const TAKEN_HEADERS: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-max-age",
    "access-control-request-headers",
    "access-control-request-method",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-security-policy",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "forwarded",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "origin",
    "pragma",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];
