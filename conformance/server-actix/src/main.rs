//! The Rust twin of the conformance harness on actix-web: the protocol of `conformance/README.md`, served by
//! `express-session-actix`. Started with `PORT` and `SESSION_OPTIONS`, as the axum server (`conformance/server`);
//! what does not depend on the framework (the options, the store, the ops) is `conformance-common`'s. This is the
//! glue: the middleware, `GET /__health`, express's `trust proxy` and the JSON answers.

use actix_web::dev::Service;
use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use conformance_common::{Answer, Harness, answer_get, answer_post, express_secure, fail};
use express_session::layer::IsSecure;
use express_session_actix::{Session, SessionMiddleware};

const PROGRAM: &str = "conformance-server-actix";

/// The largest body read, as the axum server's (a larger one runs no ops there too).
const BODY_LIMIT: usize = 1 << 20;

async fn handle(
    session: Option<Session>,
    harness: web::Data<Harness>,
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    let session = session.map(Session::into_inner);
    if request.method() == Method::GET {
        return HttpResponse::Ok().json(answer_get(session.as_ref()).await);
    }
    let body = body.unwrap_or_default();
    match answer_post(session.as_ref(), &body, &harness).await {
        // The handler fails: express answers 500 and still saves the session as the response ends.
        Answer::Error(body) => HttpResponse::InternalServerError().json(body),
        Answer::Ops(status, body) => {
            let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
                // No body for these, as express's `res.send` (and hyper, under axum): actix-web would write the
                // bytes after a 204's head without framing them, and the client would read them as garbage.
                return HttpResponse::build(status).finish();
            }
            HttpResponse::build(status).json(body)
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The store is connected on the main runtime, before the workers start: its clones serve every worker.
    let setup = conformance_common::setup(PROGRAM).await;
    let sessions = match SessionMiddleware::new(setup.options) {
        Ok(sessions) => sessions,
        Err(error) => fail(PROGRAM, &error.to_string()),
    };
    let (harness, trust_proxy) = (web::Data::new(setup.harness), setup.trust_proxy);
    HttpServer::new(move || {
        // Express's `req.secure` under its `trust proxy`, outside the session middleware (the last `wrap` is the
        // outermost); `/__health` outside both.
        let scope = web::scope("")
            .app_data(harness.clone())
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .default_service(web::to(handle))
            .wrap(sessions.clone())
            .wrap_fn(move |request, service| {
                let proto = request.headers().get("x-forwarded-proto").and_then(|v| v.to_str().ok());
                let secure = express_secure(trust_proxy, proto);
                request.extensions_mut().insert(IsSecure(secure));
                service.call(request)
            });
        App::new().service(web::resource("/__health").route(web::get().to(|| async { "ok" }))).service(scope)
    })
    // At least two workers (actix-web starts one per core): the concurrency cases (conformance/concurrency.js)
    // then always run across several single-threaded runtimes sharing the store and its connections.
    .workers(std::thread::available_parallelism().map_or(2, |n| n.get().max(2)))
    // SIGTERM ends the process at once, as the axum server (actix-web's own handler would drain for 30 s).
    .disable_signals()
    .bind(("127.0.0.1", setup.port))?
    .run()
    .await
}
