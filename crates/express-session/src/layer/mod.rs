//! The tower middleware: [`SessionManagerLayer`] and [`SessionManager`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE, VARY};
use http::{HeaderValue, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::engine::config::Config;
use crate::engine::guard::StoreFailure;
use crate::engine::session::{Session, SessionError};
use crate::engine::{self, Begin, Transport};
use crate::options::{ConfigError, OnStoreError, RequestHead, SessionOptions};

/// A request extension that tells the layer the request is secure (express: `req.secure`, which Express derives
/// from its `trust proxy` setting).
///
/// It is read only when the [`proxy`](crate::SessionOptions::proxy) option is unset (the default): the layer then
/// considers a request secure when it arrived over a TLS connection (see [`TlsConnection`]) or this extension says
/// `true`. Insert it from the layer that applies your trust-proxy policy. With `proxy(Some(true))` the layer reads
/// `X-Forwarded-Proto` itself; with `proxy(Some(false))` only [`TlsConnection`] counts. The request URI's scheme
/// never counts: the client chooses it (`GET https://example.com/ HTTP/1.1` can be sent over plain TCP).
///
/// ```
/// use express_session::IsSecure;
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(IsSecure(true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsSecure(pub bool);

/// A request extension that says the request arrived over a TLS connection the server itself accepted (express:
/// `req.connection.encrypted`). Such a request is secure whatever the [`proxy`](crate::SessionOptions::proxy)
/// option says, so `Secure` cookies are sent and `Secure::Auto` / `SameSite` auto resolve to `Secure` and `None`.
///
/// Only the server knows this, so only the server may insert it: the code that serves connections accepted by
/// its TLS acceptor (tokio-rustls, native-tls, axum-server's `bind_rustls`) adds it to every request of those
/// connections. Never derive it from anything in the request (its URI scheme, HTTP/2 `:scheme`, a header): the
/// client chooses those. Behind a TLS-terminating proxy, use `proxy(Some(true))` (the layer then trusts
/// `X-Forwarded-Proto`) instead.
///
/// With hyper, in the per-connection service of a TLS listener:
///
/// ```
/// use express_session::TlsConnection;
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(TlsConnection);
/// ```
///
/// With axum, on the router that only a TLS listener serves (for example `axum_server::bind_rustls(..)
/// .serve(app.into_make_service())`); a router served on plain HTTP too gets the extension only on its TLS
/// listener's copy:
///
/// ```
/// use axum::{Extension, Router};
/// use express_session::{SessionManagerLayer, SessionOptions, TlsConnection};
///
/// let sessions = SessionManagerLayer::new(SessionOptions::new().secret("a long random secret, from your configuration"))
///     .expect("valid options");
/// let app = Router::new().layer(sessions);
/// // Layers added later run first: the extension is there when the session layer looks.
/// let served_over_tls: Router = app.clone().layer(Extension(TlsConnection));
/// let served_over_http: Router = app;
/// # let _ = (served_over_tls, served_over_http);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsConnection;

/// The tower [`Layer`] that gives every request a [`Session`](crate::Session), as `app.use(session(options))`
/// does in express.
///
/// As in express: a request that already has a session (an outer session layer gave it one) passes through
/// untouched, so stacked layers never both set a cookie or save; and the cookie-path gate checks the original
/// request path (express's `originalUrl`), which under axum's `Router::nest` is the
/// [`OriginalUri`](https://docs.rs/axum/latest/axum/extract/struct.OriginalUri.html), not the stripped URI.
///
/// ```
/// use express_session::{SessionManagerLayer, SessionOptions};
///
/// let layer = SessionManagerLayer::new(
///     SessionOptions::new()
///         .secret("a long random secret, from your configuration")
///         .resave(false)
///         .save_uninitialized(true),
/// )
/// .expect("valid options");
/// let app: axum::Router = axum::Router::new().layer(layer);
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct SessionManagerLayer {
    config: Arc<Config>,
}

impl fmt::Debug for SessionManagerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManagerLayer").field("config", &self.config).finish()
    }
}

impl SessionManagerLayer {
    /// Validates the options and builds the layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a configuration mistake (no secret, an invalid cookie name, path or domain,
    /// `SameSite=None` or `Partitioned` without `Secure`, a `__Host-`/`__Secure-` name without the attributes
    /// its prefix requires). The message says how to fix it.
    pub fn new(options: SessionOptions) -> Result<Self, ConfigError> {
        Ok(Self { config: Arc::new(options.build()?) })
    }
}

impl<S> Layer<S> for SessionManagerLayer {
    type Service = SessionManager<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionManager { inner, config: Arc::clone(&self.config) }
    }
}

/// The tower [`Service`] made by [`SessionManagerLayer`].
#[derive(Clone)]
pub struct SessionManager<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for SessionManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager").field("inner", &self.inner).field("config", &self.config).finish()
    }
}

/// The response the layer answers by itself for an error: the configured renderer's, or a short text without
/// internals.
fn error_response<B: From<String>>(config: &Config, error: &SessionError) -> Response<B> {
    let (status, body) = match &config.hardening.error_response {
        Some(render) => render(error),
        None => {
            let status = error.status();
            let body =
                if status == StatusCode::SERVICE_UNAVAILABLE { "session store unavailable" } else { "session error" };
            (status, body.to_owned())
        }
    };
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `Vary: Cookie` and, if configured, `Cache-Control: no-store` on a response that depends on the session.
fn mark_session_dependent(config: &Config, headers: &mut http::HeaderMap) {
    if config.hardening.vary_cookie {
        let already = headers.get_all(VARY).iter().any(|v| {
            v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("cookie") || t.trim() == "*"))
        });
        if !already {
            headers.append(VARY, HeaderValue::from_static("Cookie"));
        }
    }
    if config.hardening.cache_control_no_store && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
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
            tracing::error!(error = %crate::engine::guard::error_chain(error), "session middleware failed; {outcome}");
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionManager<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The inner service is called right here (only its future goes into ours), so the instance that was
        // driven to readiness is the one called, and no clone of it is needed.
        // express's first gate: a request that already has a session (an outer session layer gave it one) passes
        // through untouched, so stacked layers never both run (no second Set-Cookie, no second save).
        if request.extensions().get::<Session>().is_some() {
            return ResponseFuture(Box::pin(self.inner.call(request)));
        }
        let transport = Transport {
            tls: request.extensions().get::<TlsConnection>().is_some(),
            server_says_secure: request.extensions().get::<IsSecure>().is_some_and(|s| s.0),
            forwarded_proto: request.headers().get("x-forwarded-proto").map(HeaderValue::as_bytes),
        };
        let begin = engine::begin(
            &self.config,
            original_path(&request),
            request.headers().get_all(COOKIE).iter().map(HeaderValue::as_bytes),
            transport,
            || RequestHead {
                method: request.method().clone(),
                uri: request.uri().clone(),
                headers: request.headers().clone(),
            },
        );
        let session = match begin {
            Begin::Skip => return ResponseFuture(Box::pin(self.inner.call(request))),
            Begin::NotReady => {
                tracing::warn!("session store is not ready; answering 503");
                let error = SessionError::Store(crate::StoreError::unavailable("session", StoreNotReadyError));
                let response = error_response(&self.config, &error);
                return ResponseFuture(Box::pin(std::future::ready(Ok(response))));
            }
            Begin::Session(session) => session,
        };
        request.extensions_mut().insert(session.clone());
        let future = self.inner.call(request);
        let config = Arc::clone(&self.config);
        ResponseFuture(Box::pin(async move {
            let mut response = future.await?;
            let finished = session.finish().await;
            // The request's store failure, if any (handler's calls included), is logged once, here.
            let failure = session.take_store_failure();
            match finished {
                Ok(finished) => {
                    let outcome = if config.hardening.on_store_error == OnStoreError::ServeWithoutSession {
                        "serving the request without a session"
                    } else {
                        "the request went on without it"
                    };
                    log_error(outcome, None, failure);
                    if finished.secure_cookie_held_back && !config.warned_insecure.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "a Secure session cookie was not sent: the request is not secure as far as the session \
                             layer can tell, so the browser keeps no session. Behind a TLS-terminating proxy set \
                             `proxy(Some(true))` (X-Forwarded-Proto is then trusted); a server that terminates TLS \
                             itself inserts the `TlsConnection` extension on its TLS connections' requests. Logged \
                             once per layer"
                        );
                    }
                    if let Some(cookie) = finished.set_cookie {
                        match HeaderValue::try_from(cookie) {
                            Ok(value) => {
                                response.headers_mut().append(SET_COOKIE, value);
                            }
                            Err(error) => tracing::error!(%error, "session cookie not sent"),
                        }
                    }
                    if finished.used {
                        mark_session_dependent(&config, response.headers_mut());
                    }
                    Ok(response)
                }
                Err(error) if config.hardening.on_store_error == OnStoreError::ServeWithoutSession => {
                    log_failed("serving the request without a session", &error, failure);
                    Ok(response)
                }
                Err(error) => {
                    let outcome = if error.status() == StatusCode::SERVICE_UNAVAILABLE {
                        "answering 503"
                    } else {
                        "answering 500"
                    };
                    log_failed(outcome, &error, failure);
                    Ok(error_response(&config, &error))
                }
            }
        }))
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

/// The cause logged when the store reports it is not ready.
#[derive(Debug, thiserror::Error)]
#[error("the store reports that it is not ready")]
struct StoreNotReadyError;

/// The response future of [`SessionManager`]: the handler's response with the session saved and its cookie set.
pub struct ResponseFuture<B, E>(Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>);

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}
