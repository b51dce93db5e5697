//! The tower middleware: [`SessionManagerLayer`] makes a [`SessionManager`] around a service; its
//! [`ResponseFuture`] finishes each request's session. Built on the engine's public adapter API
//! ([`crate::engine`]) alone.
//!
//! Errors are answered through one renderer (see [`ResponseForError`](crate::engine::ResponseForError)): the
//! layer's own answers (the store not ready, the end of the request failing) and the response of a
//! [`SessionError`] a handler returns (`IntoResponse`, which renders the default because it cannot see the
//! options; the layer renders it again with the configured renderer). Both responses carry the error as an
//! `Arc<SessionError>` in their extensions, for outer middleware:
//!
//! ```
//! use std::sync::Arc;
//! use express_session::SessionError;
//!
//! fn session_error(response: &http::Response<axum::body::Body>) -> Option<&SessionError> {
//!     response.extensions().get::<Arc<SessionError>>().map(|error| &**error)
//! }
//! # let _ = session_error;
//! ```

mod future;
// tower-http's naming (`limit/layer.rs` holds `RequestBodyLimitLayer`): the file says what it holds.
#[allow(clippy::module_inception)]
mod layer;
mod service;

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Response, StatusCode};

pub use self::future::ResponseFuture;
pub use self::layer::SessionManagerLayer;
pub use self::service::SessionManager;
use crate::engine::{ErrorResponse, SessionError};

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
/// use express_session::layer::IsSecure;
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

/// The mark of a response made from a [`SessionError`] by `IntoResponse`, with the default renderer: the layer
/// renders it again with the configured one, and removes the mark. A response that a handler or a middleware
/// reworked since (another status or content type: a redirect, an error page of its own) is left as it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DefaultRendered {
    status: StatusCode,
}

impl DefaultRendered {
    /// The mark of `response`, as `IntoResponse` rendered it (only the axum extractor makes one).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn of<B>(response: &Response<B>) -> Self {
        Self { status: response.status() }
    }

    /// `response` is still the default rendering the mark was made for.
    pub(crate) fn still_default<B>(self, response: &Response<B>) -> bool {
        response.status() == self.status
            && response.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v == ErrorResponse::TEXT_PLAIN)
    }
}

/// An `http` response for a rendered error, with the error in its extensions.
pub(crate) fn error_response<B: From<String>>(rendered: ErrorResponse, error: Arc<SessionError>) -> Response<B> {
    let mut response = Response::new(B::from(String::new()));
    rerender(&mut response, rendered);
    response.extensions_mut().insert(error);
    response
}

/// Makes `response` the rendered error response: its status, body, content type and `Cache-Control`. The
/// headers that described the body it replaces (its length and encoding, which a middleware between the layer
/// and the handler may have set) go with it.
pub(crate) fn rerender<B: From<String>>(response: &mut Response<B>, rendered: ErrorResponse) {
    *response.status_mut() = StatusCode::from_u16(rendered.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for stale in [http::header::CONTENT_LENGTH, http::header::CONTENT_ENCODING] {
        response.headers_mut().remove(stale);
    }
    for (name, value) in rendered.headers() {
        match HeaderValue::try_from(value) {
            Ok(value) => {
                response.headers_mut().insert(HeaderName::from_static(name), value);
            }
            Err(error) => tracing::error!(%error, header = name, "error response header not sent"),
        }
    }
    *response.body_mut() = B::from(rendered.into_body());
}
