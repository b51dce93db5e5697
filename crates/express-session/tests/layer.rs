//! The layer's response future and its one error renderer: the fast paths pass the inner service's output
//! through untouched (an inner service whose future is neither `Send` nor `'static` included), the 503 for a
//! store that is not ready is ready at once, and the configured renderer answers on both error paths (the
//! layer's own, and a `SessionError` a handler returns), with the error in the response extensions.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{Fault, Faulty, options};
use express_session::engine::{Engine, ErrorResponse, RequestFacts};
use express_session::{CookieOptions, Session, SessionError, SessionManagerLayer};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};

/// Polls a future once, without a runtime.
fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    pin!(future).poll(&mut Context::from_waker(Waker::noop()))
}

fn inner_response(body: String) -> Response<String> {
    Response::builder()
        .status(StatusCode::CREATED)
        .header("x-inner", "1")
        .header(CACHE_CONTROL, "public, max-age=60")
        .body(body)
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn the_fast_paths_pass_a_local_inner_future_through_untouched() {
    let layer = SessionManagerLayer::new(options().cookie(CookieOptions::new().path("/app"))).unwrap();
    // The inner service's future holds an `Rc` (not `Send`) and borrows a local (not `'static`).
    let local = String::from("from the inner service");
    let marker = Rc::new(());
    let inner = tower::service_fn(|request: Request<String>| {
        let marker = Rc::clone(&marker);
        let local = local.as_str();
        async move {
            let _still_here = &marker;
            let mut response = inner_response(format!("{local}: {}", request.uri().path()));
            response.extensions_mut().insert("an extension of the inner service's");
            Ok::<_, Infallible>(response)
        }
    });
    let mut service = layer.layer(inner);

    // Outside the cookie path: no session, the output as the inner service made it, ready on the first poll.
    let future = service.call(Request::builder().uri("/elsewhere").body(String::new()).unwrap());
    let Poll::Ready(Ok(response)) = poll_once(future) else { panic!("ready at once") };
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.body(), "from the inner service: /elsewhere");
    assert_eq!(response.headers().len(), 2, "{:?}", response.headers());
    assert_eq!(response.extensions().get::<&str>(), Some(&"an extension of the inner service's"));

    // A request that already has a session (an outer layer's) passes through too.
    let engine = Engine::new(options()).unwrap();
    let outer_session = engine.begin(RequestFacts::new("/app")).into_session().unwrap();
    let mut request = Request::builder().uri("/app/x").body(String::new()).unwrap();
    request.extensions_mut().insert(outer_session);
    let Poll::Ready(Ok(response)) = poll_once(service.call(request)) else { panic!("ready at once") };
    assert_eq!((response.status(), response.body().as_str()), (StatusCode::CREATED, "from the inner service: /app/x"));
    assert!(response.headers().get(SET_COOKIE).is_none());

    // Under the cookie path the same local inner service gets a session, and its response is kept.
    let response = service.ready().await.unwrap().call(Request::builder().uri("/app/y").body(String::new()).unwrap());
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers().get(CACHE_CONTROL).unwrap(), "public, max-age=60");
    assert_eq!(response.extensions().get::<&str>(), Some(&"an extension of the inner service's"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_session_path_finishes_around_a_local_inner_future() {
    let layer = SessionManagerLayer::new(options()).unwrap();
    let marker = Rc::new(());
    let inner = tower::service_fn(|request: Request<String>| {
        let marker = Rc::clone(&marker);
        async move {
            let _still_here = &marker;
            let session = request.extensions().get::<Session>().cloned().expect("the layer's session");
            session.insert("n", 1).await.unwrap();
            Ok::<_, Infallible>(inner_response("saved".to_owned()))
        }
    });
    let response = layer.layer(inner).oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!((response.status(), response.body().as_str()), (StatusCode::CREATED, "saved"));
    assert!(response.headers().get(SET_COOKIE).is_some());
}

fn html(error: &SessionError) -> ErrorResponse {
    ErrorResponse::new(error.status().as_u16(), format!("<p>custom {}</p>", error.status().as_u16()))
        .content_type("text/html; charset=utf-8")
}

/// The parts of an error response the renderer decides, and the error in its extensions.
async fn rendered(response: Response<Body>) -> (StatusCode, String, String, String, Option<Arc<SessionError>>) {
    let error = response.extensions().get::<Arc<SessionError>>().cloned();
    let header = |name| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let (content_type, cache_control) = (header(CONTENT_TYPE), header(CACHE_CONTROL));
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), content_type, cache_control, error)
}

#[tokio::test]
async fn the_not_ready_answer_is_ready_at_once_and_rendered_by_the_hook() {
    let layer = SessionManagerLayer::new(options().store(common::not_ready()).error_response(html)).unwrap();
    let called = std::cell::Cell::new(false);
    let inner = tower::service_fn(|_: Request<Body>| {
        called.set(true);
        async { Ok::<_, Infallible>(Response::new(Body::empty())) }
    });
    let mut service = layer.layer(inner);
    let Poll::Ready(Ok(response)) = poll_once(service.call(Request::new(Body::empty()))) else { panic!("ready") };
    assert!(!called.get(), "the handler is not called");
    let (status, body, content_type, cache_control, error) = rendered(response).await;
    assert_eq!(
        (status, body.as_str(), content_type.as_str(), cache_control.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "<p>custom 503</p>", "text/html; charset=utf-8", "no-store")
    );
    assert!(matches!(error.as_deref(), Some(SessionError::Store(e)) if e.is_unavailable()), "{error:?}");
}

fn app_with_errors(options: express_session::SessionOptions) -> (Router, Faulty) {
    async fn conflict() -> Result<&'static str, SessionError> {
        Err(SessionError::SaveConflict)
    }
    async fn write(session: Session) -> Result<&'static str, SessionError> {
        session.insert("n", 1).await?;
        Ok("written")
    }
    let store = Faulty::default();
    let layer = SessionManagerLayer::new(options.store(store.clone())).unwrap();
    let app = Router::new().route("/conflict", get(conflict)).route("/write", get(write)).layer(layer);
    (app, store)
}

#[tokio::test]
async fn the_configured_renderer_answers_on_both_paths() {
    let (app, store) = app_with_errors(options().error_response(html));

    // A handler's `SessionError`: rendered again with the hook, the error in the extensions.
    let response = app.clone().oneshot(Request::get("/conflict").body(Body::empty()).unwrap()).await.unwrap();
    let (status, body, content_type, cache_control, error) = rendered(response).await;
    assert_eq!(
        (status, body.as_str(), content_type.as_str(), cache_control.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "<p>custom 500</p>", "text/html; charset=utf-8", "no-store")
    );
    assert!(matches!(error.as_deref(), Some(SessionError::SaveConflict)), "{error:?}");

    // The layer's own answer when the end of the request fails: the same hook, the error in the extensions.
    store.set(Fault::Refuse);
    let response = app.clone().oneshot(Request::get("/write").body(Body::empty()).unwrap()).await.unwrap();
    assert!(response.headers().get(SET_COOKIE).is_none());
    let (status, body, content_type, _, error) = rendered(response).await;
    assert_eq!(
        (status, body.as_str(), content_type.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "<p>custom 503</p>", "text/html; charset=utf-8")
    );
    assert!(matches!(error.as_deref(), Some(SessionError::Store(e)) if e.is_unavailable()), "{error:?}");
}

#[tokio::test]
async fn without_a_hook_both_paths_answer_the_default() {
    let (app, store) = app_with_errors(options());
    let response = app.clone().oneshot(Request::get("/conflict").body(Body::empty()).unwrap()).await.unwrap();
    let (status, body, content_type, cache_control, error) = rendered(response).await;
    assert_eq!(
        (status, body.as_str(), content_type.as_str(), cache_control.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "session error", "text/plain; charset=utf-8", "no-store")
    );
    assert!(error.is_some());
    store.set(Fault::Refuse);
    let response = app.oneshot(Request::get("/write").body(Body::empty()).unwrap()).await.unwrap();
    let (status, body, _, _, error) = rendered(response).await;
    assert_eq!((status, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable"));
    assert!(error.is_some());
}

#[tokio::test]
async fn a_layer_from_an_engine_shares_its_store_and_the_service_gives_its_inner_back() {
    let engine = Engine::new(options()).unwrap();
    let inner = tower::service_fn(|request: Request<String>| async move {
        let session = request.extensions().get::<Session>().cloned().expect("a session");
        session.insert("from", "the layer").await.unwrap();
        Ok::<_, Infallible>(Response::new(String::from("inner")))
    });
    let mut service = express_session::SessionManager::<()>::layer(engine.clone()).layer(inner);
    let response = service.ready().await.unwrap().call(Request::new(String::new())).await.unwrap();
    let set_cookie = response.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    let pair = set_cookie.split(';').next().unwrap();

    // The engine reads what the layer saved.
    let session = engine.begin(RequestFacts::new("/").cookie_headers([pair.as_bytes()])).into_session().unwrap();
    assert_eq!(session.get::<String>("from").await.unwrap().as_deref(), Some("the layer"));

    // The inner service, back: no session layer around it any more, so no cookie.
    let mut request = Request::new(String::new());
    request.extensions_mut().insert(engine.begin(RequestFacts::new("/")).into_session().unwrap());
    let response = service.into_inner().oneshot(request).await.unwrap();
    assert_eq!(response.body(), "inner");
    assert!(response.headers().get(SET_COOKIE).is_none());
}
