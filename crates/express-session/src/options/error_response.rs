//! The one error renderer: the response the session middleware (and `IntoResponse for SessionError`) answers
//! for a [`SessionError`], as plain parts any HTTP crate can turn into its own response.
//!
//! Shaped as tower-http's renderers are: a trait, [`ResponseForError`], with a blanket impl for closures and a
//! default, [`DefaultResponseForError`] (503 "session store unavailable" when the store is unreachable, 500
//! "session error" otherwise, as `text/plain` with `Cache-Control: no-store`). Set yours with
//! [`SessionOptions::error_response`](crate::SessionOptions::error_response).

use std::borrow::Cow;
use std::fmt;

use crate::error::SessionError;

/// A rendered error response: status, content type and body. The middleware sends it with
/// `Cache-Control: no-store` (see [`headers`](Self::headers)) and no `Set-Cookie`.
///
/// ```
/// use express_session::options::ErrorResponse;
///
/// let response = ErrorResponse::new(503, "<h1>Back in a moment</h1>").content_type("text/html; charset=utf-8");
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.body(), "<h1>Back in a moment</h1>");
/// let headers: Vec<_> = response.headers().collect();
/// assert_eq!(headers, [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ErrorResponse {
    status: u16,
    content_type: Cow<'static, str>,
    body: String,
}

impl ErrorResponse {
    /// The content type of a response built by [`new`](Self::new).
    pub const TEXT_PLAIN: &'static str = "text/plain; charset=utf-8";

    /// A response with this status and body, as `text/plain; charset=utf-8`. A status outside 100..=999 is
    /// answered as 500.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        let status = if (100..=999).contains(&status) { status } else { 500 };
        Self { status, content_type: Cow::Borrowed(Self::TEXT_PLAIN), body: body.into() }
    }

    /// The content type to send instead of `text/plain; charset=utf-8`.
    pub fn content_type(mut self, content_type: impl Into<Cow<'static, str>>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The body, owned.
    pub fn into_body(self) -> String {
        self.body
    }

    /// The headers to send, as (lower-case name, value) pairs: `content-type` and `cache-control: no-store`.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("content-type", &*self.content_type), ("cache-control", "no-store")].into_iter()
    }
}

/// Renders the response for a [`SessionError`]. The error's cause is logged by the middleware either way: do not
/// put it in the body.
///
/// Implemented for closures `Fn(&SessionError) -> R` where `R` is an [`ErrorResponse`] or a
/// `(http::StatusCode, String)` (sent as `text/plain`), and by [`DefaultResponseForError`]. Set a closure with
/// [`SessionOptions::error_response`](crate::SessionOptions::error_response), a type of yours with
/// [`SessionOptions::error_renderer`](crate::SessionOptions::error_renderer).
///
/// ```
/// use express_session::options::{ErrorResponse, ResponseForError};
/// use express_session::{SessionError, SessionOptions};
///
/// struct Html;
///
/// impl ResponseForError for Html {
///     fn response_for_error(&self, error: &SessionError) -> ErrorResponse {
///         ErrorResponse::new(error.status().as_u16(), "<h1>Please try again in a moment</h1>")
///             .content_type("text/html; charset=utf-8")
///     }
/// }
///
/// let options = SessionOptions::new().error_renderer(Html);
/// let same_with_a_closure = SessionOptions::new().error_response(|error| {
///     ErrorResponse::new(error.status().as_u16(), "<h1>Please try again in a moment</h1>")
///         .content_type("text/html; charset=utf-8")
/// });
/// # let _ = (options, same_with_a_closure);
/// ```
pub trait ResponseForError: Send + Sync {
    /// The response for `error`.
    fn response_for_error(&self, error: &SessionError) -> ErrorResponse;
}

impl<F, R> ResponseForError for F
where
    F: Fn(&SessionError) -> R + Send + Sync,
    R: Into<ErrorResponse>,
{
    fn response_for_error(&self, error: &SessionError) -> ErrorResponse {
        self(error).into()
    }
}

/// A status and a `text/plain` body: the shape [`SessionOptions::error_response`] closures have always
/// returned.
///
/// [`SessionOptions::error_response`]: crate::SessionOptions::error_response
impl From<(http::StatusCode, String)> for ErrorResponse {
    fn from((status, body): (http::StatusCode, String)) -> Self {
        Self::new(status.as_u16(), body)
    }
}

/// The default error response: 503 "session store unavailable" when the store is unreachable, 500 "session
/// error" otherwise, as `text/plain; charset=utf-8`. Nothing of the cause is sent.
///
/// ```
/// use express_session::options::{DefaultResponseForError, ResponseForError};
/// use express_session::{SessionError, StoreError};
///
/// let error = SessionError::Store(StoreError::unavailable("redis", std::io::Error::other("connection refused")));
/// let response = DefaultResponseForError.response_for_error(&error);
/// assert_eq!((response.status(), response.body()), (503, "session store unavailable"));
/// let response = DefaultResponseForError.response_for_error(&SessionError::NoSession);
/// assert_eq!((response.status(), response.body()), (500, "session error"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultResponseForError;

impl ResponseForError for DefaultResponseForError {
    fn response_for_error(&self, error: &SessionError) -> ErrorResponse {
        let status = error.status();
        let body =
            if status == http::StatusCode::SERVICE_UNAVAILABLE { "session store unavailable" } else { "session error" };
        ErrorResponse::new(status.as_u16(), body)
    }
}

impl fmt::Debug for dyn ResponseForError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseForError")
    }
}
