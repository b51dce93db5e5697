//! The engine's public adapter API: express-session's work on a request, over plain inputs, for any HTTP
//! framework.
//!
//! The tower layer ([`SessionManagerLayer`](crate::SessionManagerLayer)) and the axum extractor are built on this
//! API alone, and so is any other adapter (actix-web's): the request and response facts name no type of the
//! `http` crate, so an adapter on another version of it (actix-web uses `http` 0.2) passes header values as
//! bytes, paths as `&str` and gets header values back as strings, and statuses as `u16`
//! ([`ErrorResponse::status`]). Two things speak `http` 1: [`SessionError::status`], and the
//! [`RequestHead`] a custom [`genid`](crate::SessionOptions::genid) reads, which such an adapter builds from its
//! request's method, URI and headers (converted through their text and bytes) only when the options have one
//! ([`RequestFacts::request_head`] takes a closure).
//!
//! A request goes through three steps:
//!
//! 1. [`Engine::begin`] with the request's [`RequestFacts`]: express-session's entry gates (store readiness, the
//!    cookie path) and cookie reading. It answers [`Begin::Skip`] (call the handler without a session),
//!    [`Begin::NotReady`] (answer [`Engine::error_response`] instead of calling the handler) or
//!    [`Begin::Session`] (give the [`Session`] to the handler: nothing is read from the store until the handler
//!    asks).
//! 2. The handler uses the [`Session`].
//! 3. [`Engine::finish`] with the response's [`ResponseFacts`]: the end of the request (express's header-time
//!    and `res.end` work: save, touch or destroy, and the cookie). The [`Finished`] it returns holds the headers
//!    to add to the response, or the error to answer with [`Engine::error_response`] instead. The end of the
//!    request also writes the one log line about a request whose store calls failed, and the once-per-engine
//!    warning about a `Secure` cookie held back on a request that is not secure.
//!
//! ```
//! use express_session::engine::{Begin, Engine, RequestFacts, ResponseFacts};
//! use express_session::SessionOptions;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"))
//!     .expect("valid options");
//!
//! // A first request, without a cookie.
//! let Begin::Session(session) = engine.begin(RequestFacts::new("/")) else { panic!("a session") };
//! session.insert("user", "alice").await.expect("inserted");
//! let finished = engine.finish(&session, ResponseFacts::new()).await;
//! let set_cookie = finished.set_cookie().expect("a new session sends its cookie").to_owned();
//!
//! // The browser sends the cookie back: the next request reads the session.
//! let cookie = set_cookie.split(';').next().unwrap_or_default();
//! let facts = RequestFacts::new("/").cookie_headers([cookie.as_bytes()]);
//! let session = engine.begin(facts).into_session().expect("a session");
//! assert_eq!(session.get::<String>("user").await.expect("read"), Some("alice".to_owned()));
//! # }
//! ```

pub(crate) mod config;
pub(crate) mod guard;
pub(crate) mod session;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use crate::options::{DefaultResponseForError, ErrorResponse, ResponseForError};
// The handle the engine hands out and its error, where adapters find them (also at the crate root).
use self::config::Config;
#[doc(no_inline)]
pub use self::session::Session;
use crate::cookie::signed_session_value;
use crate::engine::guard::{StoreFailure, error_chain};
pub use crate::error::SessionError;
use crate::id::SessionId;
use crate::options::{ConfigError, OnStoreError, RequestHead, SessionOptions, StoreNotReady};
use crate::store::StoreError;

/// express-session's engine for one set of options: cheap to clone (clones share the configuration, the
/// store and its circuit breaker).
///
/// See the [module docs](self) for the steps of a request.
#[derive(Clone)]
pub struct Engine {
    config: Arc<Config>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").field("config", &self.config).finish()
    }
}

/// What a request gets from [`Engine::begin`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Begin {
    /// No session for this request (the path is outside the cookie path, or the store is not ready and the
    /// options say to pass through, [`StoreNotReady::PassThrough`]): call the handler as is. express leaves
    /// `req.session` unset then.
    Skip,
    /// The store is not ready and the options say to fail ([`StoreNotReady::Fail`]): answer
    /// [`Engine::error_response`] for this error (a 503 by default) without calling the handler.
    NotReady(SessionError),
    /// The session for the handler. Give it back to [`Engine::finish`] once the handler's response is ready.
    Session(Session),
}

impl Begin {
    /// The session, if the request has one.
    ///
    /// ```
    /// use express_session::engine::{Engine, RequestFacts};
    /// use express_session::SessionOptions;
    ///
    /// let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"))
    ///     .expect("valid options");
    /// assert!(engine.begin(RequestFacts::new("/")).into_session().is_some());
    /// ```
    pub fn into_session(self) -> Option<Session> {
        match self {
            Self::Session(session) => Some(session),
            Self::Skip | Self::NotReady(_) => None,
        }
    }
}

/// The request, as [`Engine::begin`] reads it: the path, the `Cookie` headers, and how secure the request is as
/// far as the server established it.
///
/// Nothing the client chose counts towards "secure": not the request URI's scheme (`GET https://example.com/
/// HTTP/1.1` can be sent over plain TCP, and HTTP/2's `:scheme` is the client's too), and `X-Forwarded-Proto`
/// only when the [`proxy`](crate::SessionOptions::proxy) option trusts it. Give the facts you have: the engine
/// applies the options (express-session's `issecure(req, trustProxy)`).
///
/// ```
/// use express_session::engine::RequestFacts;
///
/// let cookie_headers: Vec<&[u8]> = vec![b"connect.sid=s%3A..."];
/// let facts = RequestFacts::new("/account")
///     .cookie_headers(cookie_headers)
///     .tls(false)
///     .server_says_secure(false)
///     .forwarded_proto(Some(b"https"));
/// # let _ = facts;
/// ```
#[must_use]
pub struct RequestFacts<'a, C = std::iter::Empty<&'a [u8]>, H = fn() -> Option<RequestHead>> {
    path: &'a str,
    cookie_headers: C,
    tls: bool,
    server_says_secure: bool,
    forwarded_proto: Option<&'a [u8]>,
    session_header: Option<&'a [u8]>,
    head: H,
}

impl<C, H> fmt::Debug for RequestFacts<'_, C, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cookie headers are credentials: not shown.
        f.debug_struct("RequestFacts")
            .field("path", &self.path)
            .field("tls", &self.tls)
            .field("server_says_secure", &self.server_says_secure)
            .field("forwarded_proto", &self.forwarded_proto.map(String::from_utf8_lossy))
            .finish_non_exhaustive()
    }
}

/// No request head: a custom `genid` is then not called (the default generator makes the id).
fn no_head() -> Option<RequestHead> {
    None
}

impl<'a> RequestFacts<'a> {
    /// A request for `path`, the path express's cookie-path gate checks (`req.originalUrl`'s: the path before
    /// any router stripped a prefix from it), with no `Cookie` header and nothing that makes it secure.
    pub fn new(path: &'a str) -> Self {
        Self {
            path,
            cookie_headers: std::iter::empty(),
            tls: false,
            server_says_secure: false,
            forwarded_proto: None,
            session_header: None,
            head: no_head,
        }
    }
}

impl<'a, C, H> RequestFacts<'a, C, H> {
    /// The values of the request's `Cookie` headers, as bytes, in order.
    pub fn cookie_headers<I>(self, headers: I) -> RequestFacts<'a, I, H>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        RequestFacts {
            path: self.path,
            cookie_headers: headers,
            tls: self.tls,
            server_says_secure: self.server_says_secure,
            forwarded_proto: self.forwarded_proto,
            session_header: self.session_header,
            head: self.head,
        }
    }

    /// The connection itself is TLS, as the server's TLS acceptor says (express: `req.connection.encrypted`).
    /// Such a request is secure whatever the `proxy` option says.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// The server says the request is secure (express: `req.secure`, which Express derives from its `trust
    /// proxy` setting). Read only when the `proxy` option is unset.
    pub fn server_says_secure(mut self, secure: bool) -> Self {
        self.server_says_secure = secure;
        self
    }

    /// The raw `X-Forwarded-Proto` header, if the request has one. Read only with `proxy(Some(true))`.
    pub fn forwarded_proto(mut self, value: Option<&'a [u8]>) -> Self {
        self.forwarded_proto = value;
        self
    }

    /// The value of the request's session header (the first line of the header that
    /// [`Engine::session_header_name`] names), when the options have one
    /// ([`SessionOptions::header`](crate::SessionOptions::header)). Read only then; a valid session cookie wins
    /// over it.
    pub fn session_header(mut self, value: Option<&'a [u8]>) -> Self {
        self.session_header = value;
        self
    }

    /// The request head a custom [`genid`](crate::SessionOptions::genid) reads, made only if the options have
    /// one. Adapters give it whenever they can: without it, the default generator makes new ids.
    pub fn request_head<G>(self, head: G) -> RequestFacts<'a, C, impl FnOnce() -> Option<RequestHead>>
    where
        G: FnOnce() -> RequestHead,
    {
        RequestFacts {
            path: self.path,
            cookie_headers: self.cookie_headers,
            tls: self.tls,
            server_says_secure: self.server_says_secure,
            forwarded_proto: self.forwarded_proto,
            session_header: self.session_header,
            head: move || Some(head()),
        }
    }
}

/// The response, as [`Engine::finish`] reads it: whether it already varies on `Cookie` and already has a
/// `Cache-Control`, so that the headers [`Finished`] asks for are not doubled.
///
/// ```
/// use express_session::engine::ResponseFacts;
///
/// let facts = ResponseFacts::new().vary_headers([&b"Accept-Encoding"[..]]).has_cache_control(false);
/// # let _ = facts;
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct ResponseFacts {
    varies_on_cookie: bool,
    has_cache_control: bool,
}

impl ResponseFacts {
    /// A response with no `Vary` and no `Cache-Control` header.
    pub fn new() -> Self {
        Self::default()
    }

    /// The values of the response's `Vary` headers, as bytes (read now: nothing is kept). Called again, it adds
    /// to the values given before.
    pub fn vary_headers<'v>(mut self, values: impl IntoIterator<Item = &'v [u8]>) -> Self {
        self.varies_on_cookie |= values.into_iter().any(|value| {
            // As `http::HeaderValue::to_str`: a value with other than visible ASCII is not read.
            let visible = value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
            visible
                && value.split(|&b| b == b',').any(|token| {
                    let token = token.trim_ascii();
                    token.eq_ignore_ascii_case(b"cookie") || token == b"*"
                })
        });
        self
    }

    /// The response has a `Cache-Control` header.
    pub fn has_cache_control(mut self, present: bool) -> Self {
        self.has_cache_control = present;
        self
    }
}

/// What the end of a request produced: the headers to add to the handler's response, or the error to answer
/// with instead.
#[must_use]
pub struct Finished {
    set_cookie: Option<String>,
    session_header: Option<(Arc<str>, String)>,
    vary_cookie: bool,
    vary_session_header: Option<Arc<str>>,
    cache_control_no_store: bool,
    depends_on_session: bool,
    error: Option<SessionError>,
}

impl fmt::Debug for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cookie's value is the signed session id, a credential: only its name and attributes are shown.
        let set_cookie = self.set_cookie.as_deref().map(|cookie| match cookie.split_once(';') {
            Some((pair, attributes)) => format!("{}=[redacted];{attributes}", pair.split('=').next().unwrap_or("")),
            None => format!("{}=[redacted]", cookie.split('=').next().unwrap_or("")),
        });
        f.debug_struct("Finished")
            .field("set_cookie", &set_cookie)
            .field("vary_cookie", &self.vary_cookie)
            .field("vary_session_header", &self.vary_session_header)
            .field("cache_control_no_store", &self.cache_control_no_store)
            .field("depends_on_session", &self.depends_on_session)
            .field("error", &self.error)
            .finish()
    }
}

impl Finished {
    /// Nothing to add, nothing failed.
    fn nothing() -> Self {
        Self {
            set_cookie: None,
            session_header: None,
            vary_cookie: false,
            vary_session_header: None,
            cache_control_no_store: false,
            depends_on_session: false,
            error: None,
        }
    }

    /// The `Set-Cookie` value to append, if express would send one (or the removal cookie after a destroy).
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    /// The session header to add, as (lower-case name, value), when the options have one
    /// ([`SessionOptions::header`](crate::SessionOptions::header)) and the session is new or its id changed. The
    /// value is the session cookie's (`s%3A` and the signed id).
    pub fn session_header(&self) -> Option<(&str, &str)> {
        self.session_header.as_ref().map(|(name, value)| (&**name, value.as_str()))
    }

    /// The handler used the session or a cookie is sent: the response depends on the session, so caches must
    /// not share it (see [`headers`](Self::headers)).
    pub fn depends_on_session(&self) -> bool {
        self.depends_on_session
    }

    /// The headers to append to the handler's response, as (lower-case name, value) pairs, in order:
    /// `set-cookie`, then for a response that depends on the session and as the options ask, `vary: Cookie`
    /// (unless it already varies on `Cookie`), `vary` with the session header's name when sessions may travel in
    /// one ([`SessionOptions::header`](crate::SessionOptions::header): the response depends on that header as
    /// much as on the cookie), and `cache-control: no-store` (unless it has a `Cache-Control`). None when
    /// [`error`](Self::error) is set.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let set_cookie = self.set_cookie.as_deref().map(|value| ("set-cookie", value));
        let vary = self.vary_cookie.then_some(("vary", "Cookie"));
        let vary_header = self.vary_session_header.as_deref().map(|name| ("vary", name));
        let no_store = self.cache_control_no_store.then_some(("cache-control", "no-store"));
        set_cookie.into_iter().chain(vary).chain(vary_header).chain(no_store)
    }

    /// The error the end of the request failed with, when the options say to fail
    /// ([`OnStoreError::Fail`], the default): answer [`Engine::error_response`] for it instead of the handler's
    /// response. It is logged already.
    pub fn error(&self) -> Option<&SessionError> {
        self.error.as_ref()
    }

    /// The error, owned (see [`error`](Self::error)).
    pub fn into_error(self) -> Option<SessionError> {
        self.error
    }
}

impl Engine {
    /// Validates the options and builds the engine.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a configuration mistake (see
    /// [`SessionManagerLayer::new`](crate::SessionManagerLayer::new)).
    ///
    /// ```
    /// use express_session::engine::Engine;
    /// use express_session::SessionOptions;
    ///
    /// assert!(Engine::new(SessionOptions::new()).is_err(), "a secret is required");
    /// let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"));
    /// assert!(engine.is_ok());
    /// ```
    pub fn new(options: SessionOptions) -> Result<Self, ConfigError> {
        Ok(Self { config: Arc::new(options.build()?) })
    }

    /// The start of a request: express-session's entry gates, in its order (store readiness, then the cookie
    /// path, a raw prefix of the request path, as express checks it), then the cookie.
    ///
    /// A missing, unsigned, tampered or malformed cookie starts a new session without asking the store. Nothing
    /// is read from the store here.
    ///
    /// ```
    /// use express_session::engine::{Begin, Engine, RequestFacts};
    /// use express_session::{CookieOptions, SessionOptions};
    ///
    /// let options = SessionOptions::new()
    ///     .secret("a long random secret, from your configuration")
    ///     .cookie(CookieOptions::new().path("/app"));
    /// let engine = Engine::new(options).expect("valid options");
    /// assert!(matches!(engine.begin(RequestFacts::new("/app/cart")), Begin::Session(_)));
    /// assert!(matches!(engine.begin(RequestFacts::new("/other")), Begin::Skip));
    /// ```
    pub fn begin<'a, C, H>(&self, request: RequestFacts<'a, C, H>) -> Begin
    where
        C: IntoIterator<Item = &'a [u8]>,
        H: FnOnce() -> Option<RequestHead>,
    {
        let config = &self.config;
        if !config.store.is_ready() {
            return match config.store_not_ready {
                StoreNotReady::Fail => {
                    tracing::warn!("session store is not ready; answering 503");
                    Begin::NotReady(SessionError::Store(StoreError::unavailable("session", StoreNotReadyError)))
                }
                StoreNotReady::PassThrough => Begin::Skip,
            };
        }
        let path = if request.path.is_empty() { "/" } else { request.path };
        if !path.starts_with(config.cookie.path.as_str()) {
            return Begin::Skip;
        }
        let cookie_id = cookie_session_id(config, request.cookie_headers)
            .or_else(|| config.header.as_ref().and(request.session_header).and_then(|v| header_session_id(config, v)));
        let transport = Transport {
            tls: request.tls,
            server_says_secure: request.server_says_secure,
            forwarded_proto: request.forwarded_proto,
        };
        let secure = is_secure(config.proxy, transport);
        let head = if config.genid.is_some() { (request.head)() } else { None };
        Begin::Session(Session::begin(Arc::clone(config), cookie_id, secure, head))
    }

    /// The name (lower case) of the request header that may carry the session, when the options have one
    /// ([`SessionOptions::header`](crate::SessionOptions::header)): an adapter reads it into
    /// [`RequestFacts::session_header`].
    ///
    /// ```
    /// use express_session::engine::Engine;
    /// use express_session::SessionOptions;
    ///
    /// let options = SessionOptions::new().secret("a long random secret, from your configuration");
    /// assert_eq!(Engine::new(options.clone().header("X-Session")).unwrap().session_header_name(), Some("x-session"));
    /// assert_eq!(Engine::new(options).unwrap().session_header_name(), None);
    /// ```
    pub fn session_header_name(&self) -> Option<&str> {
        self.config.header.as_deref()
    }

    /// The end of a request, once the handler's response is ready: express's header-time and `res.end` work.
    /// Decides, writes to the store, and returns the headers to add, or the error to answer instead.
    ///
    /// Logs, so that every adapter does alike: the request's first store failure with its cause, once (a
    /// request refused by the open circuit breaker at debug level); the error the end of the request hit; and,
    /// once per engine, that a `Secure` cookie was held back on a request that is not secure. With
    /// [`OnStoreError::ServeWithoutSession`] a failure is logged and the response goes out as the handler made
    /// it, without a cookie.
    ///
    /// `session` should come from this engine's [`begin`](Self::begin); it is finished with the options it began
    /// with.
    ///
    /// ```
    /// use express_session::engine::{Engine, RequestFacts, ResponseFacts};
    /// use express_session::SessionOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let options = SessionOptions::new().secret("a long random secret, from your configuration").vary_cookie(true);
    /// let engine = Engine::new(options).expect("valid options");
    /// let session = engine.begin(RequestFacts::new("/")).into_session().expect("a session");
    /// session.insert("n", 1).await.expect("inserted");
    /// let finished = engine.finish(&session, ResponseFacts::new()).await;
    /// assert!(finished.error().is_none());
    /// let names: Vec<&str> = finished.headers().map(|(name, _)| name).collect();
    /// assert_eq!(names, ["set-cookie", "vary"]);
    /// # }
    /// ```
    pub async fn finish(&self, session: &Session, response: ResponseFacts) -> Finished {
        // The session's own configuration (the same as this engine's for a session this engine began): a session
        // is finished with the options it began with, whichever engine finishes it.
        let config = session.config();
        let ended = session.finish().await;
        // The request's store failure, if any (the handler's calls included), is logged once, here.
        let failure = session.take_store_failure();
        let serve_without_session = config.hardening.on_store_error == OnStoreError::ServeWithoutSession;
        match ended {
            Ok(ended) => {
                let outcome = if serve_without_session {
                    "serving the request without a session"
                } else {
                    "the request went on without it"
                };
                log_error(outcome, None, failure);
                if ended.secure_cookie_held_back && !config.warned_insecure.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "a Secure session cookie was not sent: the request is not secure as far as the session \
                         layer can tell, so the browser keeps no session. Behind a TLS-terminating proxy set \
                         `proxy(Some(true))` (X-Forwarded-Proto is then trusted); a server that terminates TLS \
                         itself inserts the `TlsConnection` extension on its TLS connections' requests. Logged \
                         once per layer"
                    );
                }
                let used = ended.used;
                let session_header = match (&config.header, ended.header_value) {
                    (Some(name), Some(value)) => Some((Arc::clone(name), value)),
                    _ => None,
                };
                Finished {
                    set_cookie: ended.set_cookie,
                    session_header,
                    vary_cookie: used && config.hardening.vary_cookie && !response.varies_on_cookie,
                    // Not skipped when the response varies on `*` or the header already: a repeated token is
                    // harmless, and `ResponseFacts` does not keep the header's name.
                    vary_session_header: config.header.clone().filter(|_| used && config.hardening.vary_cookie),
                    cache_control_no_store: used
                        && config.hardening.cache_control_no_store
                        && !response.has_cache_control,
                    depends_on_session: used,
                    error: None,
                }
            }
            Err(error) if serve_without_session => {
                log_failed("serving the request without a session", &error, failure);
                Finished::nothing()
            }
            Err(error) => {
                let outcome = if error.status() == http::StatusCode::SERVICE_UNAVAILABLE {
                    "answering 503"
                } else {
                    "answering 500"
                };
                log_failed(outcome, &error, failure);
                Finished { error: Some(error), ..Finished::nothing() }
            }
        }
    }

    /// The response to send for `error`, by the configured renderer
    /// ([`SessionOptions::error_response`](crate::SessionOptions::error_response)) or
    /// [`DefaultResponseForError`]. Send it with its [`headers`](ErrorResponse::headers) and no `Set-Cookie`.
    ///
    /// ```
    /// use express_session::engine::Engine;
    /// use express_session::{SessionError, SessionOptions};
    ///
    /// let options = SessionOptions::new()
    ///     .secret("a long random secret, from your configuration")
    ///     .error_response(|error| (error.status(), "try again".to_owned()));
    /// let engine = Engine::new(options).expect("valid options");
    /// let response = engine.error_response(&SessionError::NoSession);
    /// assert_eq!((response.status(), response.body()), (500, "try again"));
    /// ```
    pub fn error_response(&self, error: &SessionError) -> ErrorResponse {
        match &self.config.hardening.error_response {
            Some(render) => render.response_for_error(error),
            None => DefaultResponseForError.response_for_error(error),
        }
    }
}

/// The response for an error a handler returned (axum's `IntoResponse for SessionError`, actix's
/// `ResponseError`), which has no access to the options: logs it as the engine logs errors (a store failure is
/// logged by [`Engine::finish`], with its cause, so it is not logged here), and renders it with
/// [`DefaultResponseForError`].
///
/// The middleware, seeing the error in the response (the axum adapter puts an `Arc<SessionError>` in the
/// response extensions), renders it again with the configured renderer ([`Engine::error_response`]).
///
/// ```
/// use express_session::engine::handler_error_response;
/// use express_session::SessionError;
///
/// let response = handler_error_response(&SessionError::NoSession);
/// assert_eq!((response.status(), response.body()), (500, "session error"));
/// ```
pub fn handler_error_response(error: &SessionError) -> ErrorResponse {
    match error {
        SessionError::Store(_) => {
            tracing::debug!(status = %error.status(), "session store error answered; the session layer logs it")
        }
        // After `destroy`/`unset`, or when the store failed and the layer serves without a session (that
        // failure is logged by the layer).
        SessionError::NoSession => tracing::warn!(%error, "session error"),
        _ => tracing::error!(error = %error_chain(error), "session error"),
    }
    DefaultResponseForError.response_for_error(error)
}

/// The cause logged when the store reports it is not ready.
#[derive(Debug, thiserror::Error)]
#[error("the store reports that it is not ready")]
struct StoreNotReadyError;

/// How secure the request is, as far as the server established it (see [`RequestFacts`]).
#[derive(Debug, Clone, Copy, Default)]
struct Transport<'a> {
    /// The connection itself is TLS, as the server's TLS acceptor says (express: `req.connection.encrypted`).
    tls: bool,
    /// The server says the request is secure (express: `req.secure`, from its `trust proxy` setting).
    server_says_secure: bool,
    /// The raw `X-Forwarded-Proto` header.
    forwarded_proto: Option<&'a [u8]>,
}

/// express-session's `issecure(req, trustProxy)`.
fn is_secure(proxy: Option<bool>, transport: Transport<'_>) -> bool {
    if transport.tls {
        return true;
    }
    match proxy {
        Some(false) => false,
        None => transport.server_says_secure,
        Some(true) => transport.forwarded_proto.is_some_and(|value| {
            let first = value.split(|&b| b == b',').next().unwrap_or_default();
            first.trim_ascii().eq_ignore_ascii_case(b"https")
        }),
    }
}

/// The verified session id in a request's `Cookie` headers, or `None` for a missing, unsigned, tampered or
/// malformed cookie (express then starts a new session without asking the store).
fn cookie_session_id<'a>(config: &Config, headers: impl IntoIterator<Item = &'a [u8]>) -> Option<SessionId> {
    signed_session_value(headers, &config.name, |signed| unsigned_id(config, signed))
}

/// The id a session header carries: the cookie's value (percent-encoded or not), by the cookie's rules.
fn header_session_id(config: &Config, value: &[u8]) -> Option<SessionId> {
    let value = value.trim_ascii();
    if value.len() > crate::cookie::MAX_COOKIE_VALUE {
        return None;
    }
    let decoded = crate::cookie::decode_uri_component(value)?;
    unsigned_id(config, decoded.strip_prefix("s:")?)
}

/// The id in a signed value (`id.mac`), if the MAC verifies with one of the secrets and the id has the format the
/// options accept.
fn unsigned_id(config: &Config, signed: &str) -> Option<SessionId> {
    let id = config.signer.unsign(signed)?;
    if !config.hardening.accept_any_id && !SessionId::is_default_format(id) {
        tracing::info!("a validly signed session id is in a foreign format; ignored");
        return None;
    }
    SessionId::new(id)
}

/// The one log line about a request the session layer failed, or whose store calls failed: the request's first
/// store failure with its cause (once), or the error the end of the request hit. A request refused by the open
/// circuit breaker is logged at debug.
fn log_error(outcome: &'static str, error: Option<&SessionError>, failure: Option<StoreFailure>) {
    match (failure, error) {
        // Refused by the open circuit breaker: not a new failure (the one that opened it was logged, and the
        // breaker logs when it opens and closes); at error level it would be one line per request of an outage.
        (Some(failure), _) if failure.refused => {
            tracing::debug!(error = %failure.message, "session store not called; {outcome}");
        }
        (Some(failure), _) => {
            tracing::error!(error = %failure.message, later_failures = failure.more, "session store failed; {outcome}");
        }
        (None, Some(error)) => {
            tracing::error!(error = %error_chain(error), "session middleware failed; {outcome}");
        }
        (None, None) => {}
    }
}

/// The log of a request whose end failed with `error`: its store failure once (a store error from the end of the
/// request is that failure, or came without a call after it), and `error` too when it is something else.
fn log_failed(outcome: &'static str, error: &SessionError, failure: Option<StoreFailure>) {
    if failure.is_some() && !matches!(error, SessionError::Store(_)) {
        log_error(outcome, Some(error), None);
    }
    log_error(outcome, Some(error), failure);
}

#[cfg(test)]
mod tests;
