//! The axum extractor for [`Session`] and the response of a [`SessionError`].

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::engine::session::{Session, SessionError};

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
/// with a short body; the cause is logged, never sent. A store failure is logged once, by the session layer at
/// the end of the request (with its cause); other errors are logged here.
impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            SessionError::Store(_) => {
                tracing::debug!(%status, "session store error answered; the session layer logs it")
            }
            // After `destroy`/`unset`, or when the store failed and the layer serves without a session (that
            // failure is logged by the layer).
            SessionError::NoSession => tracing::warn!(error = %self, "session error"),
            _ => tracing::error!(error = %crate::engine::guard::error_chain(&self), "session error"),
        }
        let body =
            if status == StatusCode::SERVICE_UNAVAILABLE { "session store unavailable" } else { "session error" };
        (status, body).into_response()
    }
}
