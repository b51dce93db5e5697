//! [`SessionManager`], the service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::COOKIE;
use http::{HeaderValue, Request, Response};
use tower_service::Service;

use super::{IsSecure, ResponseFuture, SessionManagerLayer, TlsConnection};
use crate::engine::{Begin, Engine, RequestFacts, Session};
use crate::options::RequestHead;

/// The tower [`Service`] made by [`SessionManagerLayer`]: gives each request its [`Session`] (a request
/// extension) and finishes it when the inner service's response is ready.
///
/// ```
/// use express_session::engine::Engine;
/// use express_session::{SessionManager, SessionOptions};
///
/// let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"))
///     .expect("valid options");
/// let inner = tower::service_fn(|_request: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
/// });
/// let mut service = SessionManager::new(inner, engine);
/// let _inner = service.get_mut();
/// ```
#[derive(Debug, Clone)]
pub struct SessionManager<S> {
    inner: S,
    engine: Engine,
}

impl<S> SessionManager<S> {
    /// The service `inner` with sessions from `engine`.
    pub fn new(inner: S, engine: Engine) -> Self {
        Self { inner, engine }
    }

    /// The layer that makes this service (the same as [`SessionManagerLayer::from_engine`]).
    pub fn layer(engine: Engine) -> SessionManagerLayer {
        SessionManagerLayer::from_engine(engine)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The service's engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionManager<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The inner service is called right here (only its future goes into ours), so the instance that was
        // driven to readiness is the one called, and no clone of it is needed.
        // express's first gate: a request that already has a session (an outer session layer gave it one) passes
        // through untouched, so stacked layers never both run (no second Set-Cookie, no second save).
        if request.extensions().get::<Session>().is_some() {
            return ResponseFuture::passthrough(self.inner.call(request));
        }
        let facts = RequestFacts::new(original_path(&request))
            .cookie_headers(request.headers().get_all(COOKIE).iter().map(HeaderValue::as_bytes))
            .tls(request.extensions().get::<TlsConnection>().is_some())
            .server_says_secure(request.extensions().get::<IsSecure>().is_some_and(|s| s.0))
            .forwarded_proto(request.headers().get("x-forwarded-proto").map(HeaderValue::as_bytes))
            .session_header(
                self.engine
                    .session_header_name()
                    .and_then(|name| request.headers().get(name))
                    .map(HeaderValue::as_bytes),
            )
            .request_head(|| {
                RequestHead::new(request.method().clone(), request.uri().clone(), request.headers().clone())
            });
        match self.engine.begin(facts) {
            Begin::Session(session) => {
                request.extensions_mut().insert(session.clone());
                ResponseFuture::session(self.inner.call(request), session, self.engine.clone())
            }
            Begin::NotReady(error) => {
                ResponseFuture::ready(super::error_response(self.engine.error_response(&error), Arc::new(error)))
            }
            // `Begin` may grow: what a new answer does not say to handle, the handler gets without a session.
            _ => ResponseFuture::passthrough(self.inner.call(request)),
        }
    }
}

/// The path express's cookie-path gate checks: `req.originalUrl`'s. Under axum's `nest` the router strips the
/// prefix from the URI and keeps the original in [`OriginalUri`](axum::extract::OriginalUri).
fn original_path<B>(request: &Request<B>) -> &str {
    #[cfg(feature = "axum")]
    if let Some(original) = request.extensions().get::<axum::extract::OriginalUri>() {
        return original.0.path();
    }
    request.uri().path()
}
