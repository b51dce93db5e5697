//! Adversarial cases: parity with the tower layer (the error in the response extensions, HEAD, stacked
//! middlewares, logging), what a client can send to look secure, and a handler that panics on a real server.

mod common;
use common::{count, maybe, options};

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpResponse, HttpServer, web};
use express_session::{CookieOptions, MemoryStore, Secure, SessionOptions, Store};
use express_session_actix::{Session, SessionError, SessionMiddleware};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn set_cookies<B>(response: &ServiceResponse<B>) -> Vec<String> {
    response.headers().get_all("set-cookie").map(|value| value.to_str().expect("ascii").to_owned()).collect()
}

/// The error the response carries, as the tower layer puts it in its answers' extensions.
fn carried_error<B>(response: &ServiceResponse<B>) -> Option<String> {
    response.response().extensions().get::<Arc<express_session::SessionError>>().map(|error| error.to_string())
}

#[actix_web::test]
async fn the_middlewares_error_answers_carry_the_error_in_the_response_extensions() {
    let store = express_session_redis::RedisStore::builder()
        .timeout(Duration::from_millis(300))
        .connect_lazy("redis://127.0.0.1:1")
        .unwrap();
    let options = SessionOptions::new()
        .secret("keyboard cat")
        .allow_short_secret(true)
        .store(store)
        .error_response(|error| (error.status(), "come back later".to_owned()));
    let app = init_service(
        App::new()
            .wrap(SessionMiddleware::new(options).unwrap())
            // The end of the request fails (the handler ignored its own failure): the middleware's own answer.
            .route(
                "/ignore",
                web::get().to(|session: Session| async move {
                    let _ignored = session.insert("x", 1).await;
                    "ok"
                }),
            )
            // The handler's error, rendered again by the middleware.
            .route("/count", web::get().to(count)),
    )
    .await;
    for path in ["/ignore", "/count"] {
        let response = app.call(TestRequest::get().uri(path).to_request()).await.unwrap();
        assert_eq!(response.status(), 503, "{path}");
        assert!(carried_error(&response).is_some(), "{path}: the error is in the response extensions, as under tower");
    }
}

#[actix_web::test]
async fn a_handler_error_without_the_middleware_carries_the_error_too() {
    let app = init_service(App::new().route(
        "/",
        web::get().to(|| async { Err::<&str, _>(SessionError::from(express_session::SessionError::NoSession)) }),
    ))
    .await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.status(), 500);
    assert!(carried_error(&response).is_some(), "as axum's IntoResponse for SessionError");
}

/// The log lines written while `f` runs on this thread (the test runtime is single-threaded).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn option_session_without_a_session_logs_no_error() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Outside the cookie path express leaves `req.session` unset: `Option<Session>` is `None`, expected.
    let options = options().cookie(CookieOptions::new().path("/app"));
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/public", web::get().to(maybe)))
            .await;
    for _ in 0..3 {
        let response = call_service(&app, TestRequest::get().uri("/public").to_request()).await;
        assert_eq!(response.status(), 200);
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.is_empty(), "an expected None is not an error: {logs}");
}

#[actix_web::test]
async fn a_head_request_gets_the_cookie_as_a_get_does() {
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(options()).unwrap()).route("/", web::route().to(count)))
            .await;
    let response = call_service(&app, TestRequest::default().method(actix_web::http::Method::HEAD).to_request()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(set_cookies(&response).len(), 1);
}

#[actix_web::test]
async fn two_stacked_middlewares_answer_once() {
    let store = MemoryStore::new();
    let options = || options().store(store.clone()).vary_cookie(true);
    let app = init_service(
        App::new()
            .wrap(SessionMiddleware::new(options()).unwrap())
            .wrap(SessionMiddleware::new(options()).unwrap())
            .route("/", web::get().to(count)),
    )
    .await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(set_cookies(&response).len(), 1);
    assert_eq!(response.headers().get_all("vary").count(), 1);
    assert_eq!(store.len().await.unwrap(), 1, "one session saved, once");
}

#[actix_web::test]
async fn nothing_a_client_sends_makes_a_plain_request_secure() {
    let auto = || options().cookie(CookieOptions::new().secure(Secure::Auto).same_site_auto());
    let always = || options().cookie(CookieOptions::new().secure(Secure::Always));
    let hostile: [(&str, &str); 6] = [
        ("forwarded", "proto=https"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-scheme", "https"),
        ("x-forwarded-ssl", "on"),
        ("front-end-https", "on"),
        ("host", "example.com:443"),
    ];
    for (name, value) in hostile {
        // `proxy` unset and `proxy(Some(false))`: X-Forwarded-Proto is not trusted, nothing else ever is.
        for options in [auto(), auto().proxy(Some(false)), always(), always().proxy(Some(false))] {
            let app = init_service(
                App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/", web::get().to(count)),
            )
            .await;
            for uri in ["/", "https://example.com/"] {
                let request = TestRequest::get().uri(uri).insert_header((name, value)).to_request();
                let response = call_service(&app, request).await;
                for cookie in set_cookies(&response) {
                    assert!(!cookie.contains("Secure"), "{name}: {value} on {uri}: {cookie}");
                    assert!(!cookie.contains("SameSite=None"), "{name}: {value} on {uri}: {cookie}");
                }
            }
        }
    }
    // With `proxy(Some(true))` only X-Forwarded-Proto counts: not `Forwarded`, not `X-Forwarded-Scheme`.
    for (name, value) in hostile.into_iter().filter(|(name, _)| *name != "x-forwarded-proto") {
        let app = init_service(
            App::new().wrap(SessionMiddleware::new(auto().proxy(Some(true))).unwrap()).route("/", web::get().to(count)),
        )
        .await;
        let response = call_service(&app, TestRequest::get().uri("/").insert_header((name, value)).to_request()).await;
        let cookie = set_cookies(&response).pop().expect("a cookie");
        assert!(!cookie.contains("Secure"), "{name}: {value}: {cookie}");
    }
}

/// A raw HTTP/1.1 request over a new connection; the reply's head and body.
async fn raw(address: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    String::from_utf8_lossy(&reply).into_owned()
}

#[actix_web::test]
async fn on_a_real_server_an_absolute_https_uri_is_not_secure_and_a_panicking_handler_saves_nothing() {
    let store = MemoryStore::new();
    let options = options().store(store.clone()).cookie(CookieOptions::new().secure(Secure::Auto).same_site_auto());
    let sessions = SessionMiddleware::new(options).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/", web::get().to(count))
            .route(
                "/panic",
                web::get().to(|session: Session| async move {
                    session.insert("half", true).await?;
                    if std::hint::black_box(true) {
                        panic!("the handler fails after writing to its session");
                    }
                    Ok::<_, SessionError>(HttpResponse::Ok().finish())
                }),
            )
            .route(
                "/slow",
                web::get().to(|session: Session| async move {
                    session.insert("slow", true).await?;
                    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, SessionError>(HttpResponse::Ok().finish())
                }),
            )
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let reply = raw(address, "GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-Proto: https\r\nForwarded: proto=https\r\nConnection: close\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let cookie = reply.lines().find(|line| line.to_ascii_lowercase().starts_with("set-cookie:")).expect("a cookie");
    assert!(!cookie.contains("Secure") && !cookie.contains("SameSite=None"), "{cookie}");
    assert_eq!(store.len().await.unwrap(), 1);

    // A panicking handler: no answer, nothing saved, and the workers still serve.
    let reply = raw(address, "GET /panic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(!reply.contains("set-cookie") && !reply.contains("Set-Cookie"), "{reply}");
    assert_eq!(store.len().await.unwrap(), 1, "the panicking handler's session is not saved");
    for _ in 0..4 {
        let reply = raw(address, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    assert_eq!(store.len().await.unwrap(), 5);

    // A client that leaves mid-request: the session is saved whole or not at all, never twice.
    {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let saved = store.len().await.unwrap();
    assert!(saved == 5 || saved == 6, "{saved}");
    handle.stop(true).await;
}

#[actix_web::test]
async fn the_tls_connection_extension_makes_a_request_secure_as_under_tower() {
    use actix_web::HttpMessage;
    use actix_web::dev::Service as _;
    // What the engine's "Secure cookie held back" warning tells a server that terminates TLS itself to do.
    let options = options().cookie(CookieOptions::new().secure(Secure::Always)).proxy(Some(false));
    let app = init_service(
        App::new()
            .wrap(SessionMiddleware::new(options).unwrap())
            .wrap_fn(|request, service| {
                request.extensions_mut().insert(express_session::TlsConnection);
                service.call(request)
            })
            .route("/", web::get().to(count)),
    )
    .await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    let cookie = set_cookies(&response).pop().expect("a Secure cookie on a TLS connection");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[actix_web::test]
async fn a_failed_request_is_logged_once() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let store = express_session_redis::RedisStore::builder()
        .timeout(Duration::from_millis(300))
        .connect_lazy("redis://127.0.0.1:1")
        .unwrap();
    let options = SessionOptions::new().secret("keyboard cat").allow_short_secret(true).store(store);
    let app = init_service(
        App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/count", web::get().to(count)).route(
            "/ignore",
            web::get().to(|session: Session| async move {
                let _ignored = session.insert("x", 1).await;
                "ok"
            }),
        ),
    )
    .await;
    // The first failure is logged once, with its cause (the handler's error is not logged again); the next
    // request is refused by the open circuit breaker, which is logged at debug only.
    for (path, errors) in [("/count", 1), ("/ignore", 0)] {
        captured.0.lock().unwrap().clear();
        let response = app.call(TestRequest::get().uri(path).to_request()).await.unwrap();
        assert_eq!(response.status(), 503, "{path}");
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(logs.lines().filter(|line| line.contains(" ERROR ")).count(), errors, "{path}: {logs}");
    }
}
