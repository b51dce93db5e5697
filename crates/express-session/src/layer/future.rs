//! [`ResponseFuture`], the response future of [`SessionManager`](super::SessionManager).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::{CACHE_CONTROL, VARY};
use http::{HeaderName, HeaderValue, Response};
use pin_project_lite::pin_project;

use super::DefaultRendered;
use crate::engine::{Engine, Finished, ResponseFacts, Session, SessionError};

/// The end of a request, boxed: the engine's `async fn`, with the engine handed back for the response.
type Finish = Pin<Box<dyn Future<Output = (Engine, Finished)> + Send>>;

pin_project! {
    /// The response future of [`SessionManager`](super::SessionManager): the inner service's response, with the
    /// session saved and its cookie set.
    ///
    /// A request without a session (outside the cookie path, or already given one by an outer layer) polls the
    /// inner future directly, and the answer for a store that is not ready is ready at once: neither is boxed.
    /// Only the end of a request that has a session (the engine's store work) is boxed.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // No session: the inner future's output, untouched.
        Passthrough { #[pin] future: F },
        // The layer's own answer, ready (`None` once taken).
        Ready { response: Option<Response<B>> },
        // The handler runs with the session (both `None` once its response is in).
        Handler { #[pin] future: F, session: Option<Session>, engine: Option<Engine> },
        // The end of the request runs (the response `None` once sent).
        Finishing { response: Option<Response<B>>, finish: Finish },
    }
}

const POLLED_AFTER_READY: &str = "ResponseFuture polled after it completed";

impl<F, B> ResponseFuture<F, B> {
    pub(super) fn passthrough(future: F) -> Self {
        Self { state: State::Passthrough { future } }
    }

    pub(super) fn ready(response: Response<B>) -> Self {
        Self { state: State::Ready { response: Some(response) } }
    }

    pub(super) fn session(future: F, session: Session, engine: Engine) -> Self {
        Self { state: State::Handler { future, session: Some(session), engine: Some(engine) } }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<String>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Passthrough { future } => return future.poll(cx),
                StateProj::Ready { response } => return Poll::Ready(Ok(response.take().expect(POLLED_AFTER_READY))),
                StateProj::Handler { future, session, engine } => {
                    let mut response = ready!(future.poll(cx))?;
                    let (Some(session), Some(engine)) = (session.take(), engine.take()) else {
                        panic!("{POLLED_AFTER_READY}");
                    };
                    rerender_handler_error(&engine, &mut response);
                    let headers = response.headers();
                    let facts = ResponseFacts::new()
                        .vary_headers(headers.get_all(VARY).iter().map(HeaderValue::as_bytes))
                        .has_cache_control(headers.contains_key(CACHE_CONTROL));
                    let finish: Finish = Box::pin(async move {
                        let finished = engine.finish(&session, facts).await;
                        (engine, finished)
                    });
                    State::Finishing { response: Some(response), finish }
                }
                StateProj::Finishing { response, finish } => {
                    let (engine, finished) = ready!(finish.as_mut().poll(cx));
                    let response = response.take().expect(POLLED_AFTER_READY);
                    return Poll::Ready(Ok(finish_response(&engine, response, finished)));
                }
            };
            this.state.set(next);
        }
    }
}

/// A response a handler made from a [`SessionError`] (`IntoResponse`, with the default renderer) is rendered
/// again with the configured one.
fn rerender_handler_error<B: From<String>>(engine: &Engine, response: &mut Response<B>) {
    match response.extensions_mut().remove::<DefaultRendered>() {
        Some(mark) if mark.still_default(response) => {}
        _ => return,
    }
    if let Some(error) = response.extensions().get::<Arc<SessionError>>().cloned() {
        super::rerender(response, engine.error_response(&error));
    }
}

/// A header value of the end of the request: the constant ones (`Vary: Cookie`, `Cache-Control: no-store`)
/// without copying them.
fn header_value(value: &str) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    match value {
        "Cookie" => Ok(HeaderValue::from_static("Cookie")),
        "no-store" => Ok(HeaderValue::from_static("no-store")),
        _ => HeaderValue::try_from(value),
    }
}

/// The handler's response with the end of the request's headers, or the error response instead.
fn finish_response<B: From<String>>(engine: &Engine, mut response: Response<B>, finished: Finished) -> Response<B> {
    for (name, value) in finished.headers() {
        match header_value(value) {
            Ok(value) => {
                response.headers_mut().append(HeaderName::from_static(name), value);
            }
            Err(error) => tracing::error!(%error, header = name, "session header not sent"),
        }
    }
    if let Some((name, value)) = finished.session_header() {
        // Both were checked: the name when the layer was built, the value is the cookie's (visible ASCII).
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    match finished.into_error() {
        Some(error) => super::error_response(engine.error_response(&error), Arc::new(error)),
        None => response,
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Passthrough { .. } => "Passthrough",
            State::Ready { .. } => "Ready",
            State::Handler { .. } => "Handler",
            State::Finishing { .. } => "Finishing",
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}
