#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use express_session::engine::{Begin, Engine, ErrorResponse, RequestFacts, ResponseFacts, handler_error_response};
use express_session::layer::IsSecure;
use express_session::options::RequestHead;
use express_session::{ConfigError, SessionOptions, TlsConnection};

/// The actix-web middleware: gives each request its session and finishes it once the handler's response is
/// ready (saves, touches or destroys it, and sets the cookie).
///
/// Built from the same [`SessionOptions`] and stores as the tower layer. Wrap an `App` or a `Scope` with it; the
/// cookie path is checked against the request's full path (a scope does not strip its prefix).
///
/// ```
/// use actix_web::App;
/// use express_session::{MemoryStore, SessionOptions};
/// use express_session_actix::SessionMiddleware;
///
/// let options = SessionOptions::new()
///     .secret("a long random secret, from your configuration")
///     .store(MemoryStore::new());
/// let sessions = SessionMiddleware::new(options).expect("valid options");
/// let app = App::new().wrap(sessions);
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionMiddleware {
    engine: Engine,
}

impl SessionMiddleware {
    /// Validates `options` and builds the middleware (the same validation as
    /// [`SessionManagerLayer::new`](express_session::SessionManagerLayer::new)).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a configuration mistake (no secret, a short secret, ...).
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// use express_session_actix::SessionMiddleware;
    ///
    /// assert!(SessionMiddleware::new(SessionOptions::new()).is_err(), "a secret is required");
    /// ```
    pub fn new(options: SessionOptions) -> Result<Self, ConfigError> {
        Ok(Self::from_engine(Engine::new(options)?))
    }

    /// The middleware over an engine built already (one engine can serve a tower layer and this middleware
    /// alike: clones share the store and its circuit breaker).
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// use express_session::engine::Engine;
    /// use express_session_actix::SessionMiddleware;
    ///
    /// let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"))
    ///     .expect("valid options");
    /// let sessions = SessionMiddleware::from_engine(engine);
    /// # let _ = sessions;
    /// ```
    pub fn from_engine(engine: Engine) -> Self {
        Self { engine }
    }

    /// The middleware's engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(SessionService { service, engine: self.engine.clone() }))
    }
}

/// The service [`SessionMiddleware`] wraps around the app's (actix-web makes it; you do not name it).
#[derive(Debug)]
pub struct SessionService<S> {
    service: S,
    engine: Engine,
}

/// The response future of [`SessionService`]: boxed, as actix-web's own middleware futures.
type ResponseFuture<B> = Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>>;

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<B>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        // express's first gate: a request that already has a session (an outer session middleware gave it one)
        // passes through untouched, so stacked middlewares never both run.
        if request.extensions().contains::<express_session::Session>() {
            let future = self.service.call(request);
            return Box::pin(async move { future.await.map(ServiceResponse::map_into_left_body) });
        }
        match self.engine.begin(request_facts(&self.engine, &request)) {
            Begin::Session(session) => {
                request.extensions_mut().insert(session.clone());
                let future = self.service.call(request);
                let engine = self.engine.clone();
                Box::pin(async move {
                    let response = match future.await {
                        Ok(response) => rerender_handler_error(&engine, response),
                        // The inner service failed (not a handler's error, which actix-web makes a response:
                        // another middleware's): as under tower, the error goes on and the session is not saved.
                        Err(error) => return Err(error),
                    };
                    let headers = response.headers();
                    let facts = ResponseFacts::new()
                        .vary_headers(headers.get_all(header::VARY).map(HeaderValue::as_bytes))
                        .has_cache_control(headers.contains_key(header::CACHE_CONTROL));
                    let finished = engine.finish(&session, facts).await;
                    let mut response = response;
                    for (name, value) in finished.headers() {
                        match HeaderValue::from_str(value) {
                            Ok(value) => response.headers_mut().append(HeaderName::from_static(name), value),
                            Err(error) => tracing::error!(%error, header = name, "session header not sent"),
                        }
                    }
                    if let Some((name, value)) = finished.session_header()
                        && let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value))
                    {
                        response.headers_mut().insert(name, value);
                    }
                    Ok(match finished.into_error() {
                        Some(error) => {
                            let (request, _) = response.into_parts();
                            let rendered = http_response(engine.error_response(&error), error);
                            ServiceResponse::new(request, rendered).map_into_right_body()
                        }
                        None => response,
                    })
                })
            }
            Begin::NotReady(error) => {
                let response = http_response(self.engine.error_response(&error), error);
                let response = request.into_response(response).map_into_right_body();
                Box::pin(std::future::ready(Ok(response)))
            }
            // `Begin` may grow: what a new answer does not say to handle, the handler gets without a session.
            _ => {
                let future = self.service.call(request);
                Box::pin(async move { future.await.map(ServiceResponse::map_into_left_body) })
            }
        }
    }
}

/// The request as the engine reads it. TLS only from the server's own configuration (the listener it came in
/// on) or the [`TlsConnection`] extension a middleware of the server inserted (as under the tower layer), never
/// from anything the client sent.
fn request_facts<'a>(
    engine: &Engine,
    request: &'a ServiceRequest,
) -> RequestFacts<'a, impl Iterator<Item = &'a [u8]>, impl FnOnce() -> Option<RequestHead>> {
    let (tls_extension, server_says_secure) = {
        let extensions = request.extensions();
        (extensions.contains::<TlsConnection>(), extensions.get::<IsSecure>().is_some_and(|secure| secure.0))
    };
    RequestFacts::new(request.path())
        .cookie_headers(request.headers().get_all(header::COOKIE).map(HeaderValue::as_bytes))
        .tls(request.app_config().secure() || tls_extension)
        .server_says_secure(server_says_secure)
        .forwarded_proto(request.headers().get("x-forwarded-proto").map(HeaderValue::as_bytes))
        .session_header(
            engine.session_header_name().and_then(|name| request.headers().get(name)).map(HeaderValue::as_bytes),
        )
        // Converted from actix-web's `http` 0.2 types only when the options have a custom `genid`.
        .request_head(|| request_head(request))
}

/// The request head a custom `genid` reads, in `http` 1's types (through their text and bytes).
fn request_head(request: &ServiceRequest) -> RequestHead {
    let method = http::Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or_default();
    let uri = http::Uri::try_from(request.uri().to_string()).unwrap_or_default();
    let mut headers = http::HeaderMap::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_str().as_bytes()), http::HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(name, value);
        }
    }
    RequestHead::new(method, uri, headers)
}

/// A response a handler made from a [`SessionError`] (its [`ResponseError`], with the default renderer) is
/// rendered again with the configured one, unless the handler or a middleware reworked it since (another status
/// or content type).
fn rerender_handler_error<B: MessageBody + 'static>(
    engine: &Engine,
    response: ServiceResponse<B>,
) -> ServiceResponse<EitherBody<B>> {
    let error = match response.response().error().and_then(|error| error.as_error::<SessionError>()) {
        Some(error) => error.clone(),
        None => return response.map_into_left_body(),
    };
    let default = handler_error_status(&error);
    let still_default = response.status() == default
        && response.headers().get(header::CONTENT_TYPE).is_some_and(|value| value == ErrorResponse::TEXT_PLAIN);
    if !still_default {
        return response.map_into_left_body();
    }
    let (request, handler_response) = response.into_parts();
    let rendered = engine.error_response(&error.0);
    // The handler's other headers stay; the body, its description and the status are the renderer's.
    let mut response = handler_response.set_body(BoxBody::new(()));
    render_into(&mut response, rendered);
    ServiceResponse::new(request, response).map_into_right_body()
}

/// The status the default renderer gives `error`.
fn handler_error_status(error: &SessionError) -> StatusCode {
    StatusCode::from_u16(error.0.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A response for a rendered error (the error is logged already, by the engine), with the error in its
/// extensions as an `Arc<express_session::SessionError>`, as the tower layer's answers have it.
fn http_response(rendered: ErrorResponse, error: express_session::SessionError) -> HttpResponse {
    let mut response = HttpResponse::new(StatusCode::INTERNAL_SERVER_ERROR);
    render_into(&mut response, rendered);
    response.extensions_mut().insert(Arc::new(error));
    response
}

/// Makes `response` the rendered error: its status, body, content type and `Cache-Control`; the headers that
/// described the body it replaces go with it.
fn render_into(response: &mut HttpResponse, rendered: ErrorResponse) {
    *response.status_mut() = StatusCode::from_u16(rendered.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for stale in [header::CONTENT_LENGTH, header::CONTENT_ENCODING] {
        headers.remove(stale);
    }
    for (name, value) in rendered.headers() {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                headers.insert(HeaderName::from_static(name), value);
            }
            Err(error) => tracing::error!(%error, header = name, "error response header not sent"),
        }
    }
    let body = rendered.into_body();
    let response_body = std::mem::replace(response, HttpResponse::new(StatusCode::OK));
    *response = response_body.set_body(BoxBody::new(body));
}

/// The session extractor: the request's [`express_session::Session`], which it derefs to (the same calls as
/// under axum: `get`, `insert`, `update`, `regenerate`, `destroy`, ...).
///
/// A request without a session (the middleware is not installed, or the path is outside the cookie path) is
/// answered 500 "no session: is SessionMiddleware installed?"; take `Option<Session>` where that is expected.
///
/// ```
/// use express_session_actix::{Session, SessionError};
///
/// async fn greet(session: Session) -> Result<String, SessionError> {
///     let user: Option<String> = session.get("user").await?;
///     Ok(format!("hello, {}", user.as_deref().unwrap_or("stranger")))
/// }
/// # let _ = actix_web::web::get().to(greet);
/// ```
#[derive(Clone)]
pub struct Session(express_session::Session);

impl Session {
    /// The engine's session handle.
    pub fn into_inner(self) -> express_session::Session {
        self.0
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Deref for Session {
    type Target = express_session::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequest for Session {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let session = request.extensions().get::<express_session::Session>().cloned();
        // Not logged here: `Option<Session>` (actix-web's `Option<T>`) calls this too, and its `None` is expected.
        // The rejection is logged when it becomes the 500 answer (`ResponseError::error_response`).
        std::future::ready(session.map(Session).ok_or_else(|| MissingSession.into()))
    }
}

/// The [`Session`] extractor's error: the request has no session, because [`SessionMiddleware`] is not installed
/// on this route or the path is outside the cookie path. Answered 500 "no session: is SessionMiddleware
/// installed?".
///
/// ```
/// use actix_web::ResponseError;
/// use express_session_actix::MissingSession;
///
/// assert_eq!(MissingSession.status_code(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSession;

impl fmt::Display for MissingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no session: is SessionMiddleware installed?")
    }
}

impl std::error::Error for MissingSession {}

impl ResponseError for MissingSession {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        tracing::error!(rejection = %self, "Session extractor rejected the request");
        let mut response = HttpResponse::new(self.status_code());
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response.set_body(BoxBody::new(self.to_string()))
    }
}

/// The error a handler returns for a failed session call: `session.insert(..).await?` in a handler returning
/// `Result<_, SessionError>` (or `actix_web::Result`, through `.map_err(SessionError::from)?`).
///
/// Answered 503 (store unreachable) or 500 with a short body and `Cache-Control: no-store`, the cause logged,
/// never sent: [`SessionMiddleware`] renders it with the configured renderer
/// ([`SessionOptions::error_response`]), as its own answers; without the middleware it is rendered by
/// [`DefaultResponseForError`](express_session::engine::DefaultResponseForError). The response carries the error
/// in its extensions, as an `Arc<express_session::SessionError>` (so do the middleware's own error answers, as
/// the tower layer's).
///
/// ```
/// use std::sync::Arc;
/// use actix_web::ResponseError;
/// use express_session_actix::SessionError;
///
/// let error = SessionError::from(express_session::SessionError::NoSession);
/// assert_eq!(error.status_code(), 500);
/// assert!(matches!(error.get_ref(), express_session::SessionError::NoSession));
/// let response = error.error_response();
/// assert!(response.extensions().get::<Arc<express_session::SessionError>>().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct SessionError(Arc<express_session::SessionError>);

impl SessionError {
    /// The engine's error.
    pub fn get_ref(&self) -> &express_session::SessionError {
        &self.0
    }
}

impl From<express_session::SessionError> for SessionError {
    fn from(error: express_session::SessionError) -> Self {
        Self(Arc::new(error))
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        handler_error_status(self)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = HttpResponse::new(self.status_code());
        render_into(&mut response, handler_error_response(&self.0));
        response.extensions_mut().insert(Arc::clone(&self.0));
        response
    }
}
