//! The Rust twin of the conformance harness on axum: the protocol of `conformance/README.md`, served by our
//! tower layer. Started with `PORT` and `SESSION_OPTIONS`; what does not depend on the framework (the options,
//! the store, the ops) is `conformance-common`'s, shared with the actix-web server (`conformance/server-actix`).
//! This is the glue: the layer, `GET /__health`, express's `trust proxy` and the JSON answers.

use axum::Router;
use axum::extract::{Json, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use conformance_common::{Answer, Harness, answer_get, answer_post, express_secure, fail};
use express_session::{Session, SessionManagerLayer};

const PROGRAM: &str = "conformance-server";

async fn handle(session: Option<Session>, harness: Harness, request: Request) -> Response {
    if request.method() == http::Method::GET {
        return Json(answer_get(session.as_ref()).await).into_response();
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap_or_default();
    match answer_post(session.as_ref(), &body, &harness).await {
        // The handler fails: express answers 500 and still saves the session as the response ends.
        Answer::Error(body) => (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response(),
        Answer::Ops(status, body) => (status, Json(body)).into_response(),
    }
}

#[tokio::main]
async fn main() {
    let setup = conformance_common::setup(PROGRAM).await;
    let layer = match SessionManagerLayer::new(setup.options) {
        Ok(layer) => layer,
        Err(error) => fail(PROGRAM, &error.to_string()),
    };
    let (harness, trust_proxy) = (setup.harness, setup.trust_proxy);
    let sessions = Router::new()
        .fallback(move |session: Option<Session>, request: Request| handle(session, harness.clone(), request))
        .layer(layer)
        .layer(axum::middleware::from_fn(move |mut request: Request, next: axum::middleware::Next| async move {
            let proto = request.headers().get("x-forwarded-proto").and_then(|v| v.to_str().ok());
            let secure = express_secure(trust_proxy, proto);
            request.extensions_mut().insert(express_session::layer::IsSecure(secure));
            next.run(request).await
        }));
    let app = Router::new().route("/__health", get(|| async { "ok" })).fallback_service(sessions);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", setup.port)).await.expect("bind");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
}
