//! The axum extractor for [`Session`] and the response of a [`SessionError`].

use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::engine::{Session, SessionError, handler_error_response};
use crate::layer::DefaultRendered;

/// Why the [`Session`] extractor failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The request has no session: the [`SessionManagerLayer`](crate::SessionManagerLayer) is not installed on
    /// this route, or the request path is outside the cookie path (express leaves `req.session` unset then too).
    #[error("no session for this request: is SessionManagerLayer installed, and is the path under the cookie path?")]
    Missing,
}

impl SessionRejection {
    /// The status of the rejection's response (500: this is a server configuration problem).
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The text of the rejection's response.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        tracing::error!(rejection = %self, "Session extractor rejected the request");
        (self.status(), self.body_text()).into_response()
    }
}

/// ```
/// use axum::{Router, routing::get};
/// use express_session::Session;
///
/// async fn handler(session: Session) -> String {
///     let n = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await.unwrap_or(0);
///     n.to_string()
/// }
/// let app: Router = Router::new().route("/", get(handler));
/// # let _ = app;
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Session>().cloned().ok_or(SessionRejection::Missing)
    }
}

/// `Option<Session>`: `None` where express leaves `req.session` unset (path outside the cookie path, or a store
/// that is not ready with [`StoreNotReady::PassThrough`](crate::options::StoreNotReady::PassThrough)).
impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Session>().cloned())
    }
}

/// A handler can return `Result<_, SessionError>`: the error becomes a 503 (store unreachable) or 500 response
/// with a short body, and `Cache-Control: no-store`; the cause is logged, never sent. A store failure is logged
/// once, by the session layer at the end of the request (with its cause); other errors are logged here.
///
/// The response is rendered by [`DefaultResponseForError`](crate::engine::DefaultResponseForError) (the options
/// are out of reach here); the session layer renders it again with the configured renderer
/// ([`SessionOptions::error_response`](crate::SessionOptions::error_response)), so that the layer's own error
/// answers and the handlers' look alike. The error is in the response extensions, as an `Arc<SessionError>`.
///
/// ```
/// use std::sync::Arc;
/// use axum::response::IntoResponse;
/// use express_session::SessionError;
///
/// let response = SessionError::NoSession.into_response();
/// assert_eq!(response.status(), 500);
/// assert!(matches!(response.extensions().get::<Arc<SessionError>>().map(|e| &**e), Some(SessionError::NoSession)));
/// ```
impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let rendered = handler_error_response(&self);
        let mut response = crate::layer::error_response(rendered, Arc::new(self));
        let mark = DefaultRendered::of(&response);
        response.extensions_mut().insert(mark);
        response
    }
}
