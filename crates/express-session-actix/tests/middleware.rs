//! The middleware and the extractor through `actix_web::test` (in process, no socket): cookies, gates, secure
//! requests, the custom `genid`, and errors through the configured renderer.

mod common;
use common::{count, maybe, options};

use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::{App, HttpResponse, web};
use express_session::{CookieOptions, Secure, SessionOptions};
use express_session_actix::{Session, SessionError, SessionMiddleware};

fn set_cookie<B>(response: &ServiceResponse<B>) -> Option<String> {
    response.headers().get("set-cookie").map(|value| value.to_str().expect("ascii").to_owned())
}

/// The `name=value` pair of a `Set-Cookie`.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

async fn body<B: actix_web::body::MessageBody>(response: ServiceResponse<B>) -> String {
    String::from_utf8(read_body(response).await.to_vec()).expect("utf-8")
}

#[actix_web::test]
async fn a_new_session_gets_a_cookie_and_the_cookie_brings_it_back() {
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(options()).unwrap()).route("/", web::get().to(count)))
            .await;
    let first = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(first.status(), 200);
    let cookie = set_cookie(&first).expect("a new session sends its cookie");
    assert!(cookie.starts_with("connect.sid=s%3A"), "{cookie}");
    assert!(cookie.contains("Path=/; HttpOnly"), "express's default attributes: {cookie}");
    assert_eq!(body(first).await, "1");
    for expected in ["2", "3"] {
        let request = TestRequest::get().uri("/").insert_header(("cookie", pair(&cookie))).to_request();
        let response = call_service(&app, request).await;
        assert_eq!(set_cookie(&response), None, "resave off, rolling off: no second cookie");
        assert_eq!(body(response).await, expected);
    }
}

#[actix_web::test]
async fn hostile_cookies_are_a_new_session_never_an_error() {
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(options()).unwrap()).route("/", web::get().to(count)))
            .await;
    let first = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    let valid = pair(&set_cookie(&first).unwrap());
    let cases = common::hostile_cookies(&valid);
    for cookie in cases {
        let response =
            call_service(&app, TestRequest::get().uri("/").insert_header(("cookie", cookie.as_str())).to_request())
                .await;
        assert_eq!(response.status(), 200, "{cookie}");
        assert_eq!(body(response).await, "1", "{cookie}");
    }
    let raw = actix_web::http::header::HeaderValue::from_bytes(b"connect.sid=\xff\xfe").unwrap();
    let response = call_service(&app, TestRequest::get().uri("/").insert_header(("cookie", raw)).to_request()).await;
    assert_eq!(body(response).await, "1");
}

#[actix_web::test]
async fn the_extractor_without_the_middleware_is_a_clear_500() {
    let app = init_service(App::new().route("/", web::get().to(count)).route("/maybe", web::get().to(maybe))).await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.status(), 500);
    assert_eq!(body(response).await, "no session: is SessionMiddleware installed?");
    let response = call_service(&app, TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(body(response).await, "none");
}

#[actix_web::test]
async fn the_cookie_path_is_checked_against_the_full_path_under_a_scope() {
    let options = options().cookie(CookieOptions::new().path("/app"));
    let app = init_service(
        App::new()
            .wrap(SessionMiddleware::new(options).unwrap())
            .route("/maybe", web::get().to(maybe))
            .service(web::scope("/app").route("/maybe", web::get().to(maybe)).route("/count", web::get().to(count))),
    )
    .await;
    let outside = call_service(&app, TestRequest::get().uri("/maybe").to_request()).await;
    assert_eq!(set_cookie(&outside), None);
    assert_eq!(body(outside).await, "none", "outside the cookie path express leaves req.session unset");
    let inside = call_service(&app, TestRequest::get().uri("/app/count").to_request()).await;
    let cookie = set_cookie(&inside).expect("a cookie under /app");
    assert!(cookie.contains("Path=/app"), "{cookie}");
    let inside = call_service(&app, TestRequest::get().uri("/app/maybe").to_request()).await;
    assert_eq!(body(inside).await, "session");
}

#[actix_web::test]
async fn a_scope_can_have_its_own_middleware() {
    // The middleware on a scope sees the full path too: the cookie path `/app` matches `/app/count`.
    let options = options().cookie(CookieOptions::new().path("/app"));
    let app = init_service(App::new().service(
        web::scope("/app").wrap(SessionMiddleware::new(options).unwrap()).route("/count", web::get().to(count)),
    ))
    .await;
    let response = call_service(&app, TestRequest::get().uri("/app/count").to_request()).await;
    assert!(set_cookie(&response).is_some());
    assert_eq!(body(response).await, "1");
}

#[actix_web::test]
async fn x_forwarded_proto_counts_only_when_the_proxy_option_trusts_it() {
    let secure = || options().cookie(CookieOptions::new().secure(Secure::Always));
    for (options, expected) in
        [(secure(), false), (secure().proxy(Some(false)), false), (secure().proxy(Some(true)), true)]
    {
        let app =
            init_service(App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/", web::get().to(count)))
                .await;
        let request = TestRequest::get().uri("/").insert_header(("x-forwarded-proto", "https")).to_request();
        let response = call_service(&app, request).await;
        assert_eq!(response.status(), 200);
        match set_cookie(&response) {
            Some(cookie) => {
                assert!(expected, "a Secure cookie on a request that is not secure: {cookie}");
                assert!(cookie.contains("; Secure"), "{cookie}");
            }
            None => assert!(!expected, "the trusted X-Forwarded-Proto made the request secure"),
        }
    }
    // The scheme the client wrote in the request line does not count either.
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(secure()).unwrap()).route("/", web::get().to(count))).await;
    let response = call_service(&app, TestRequest::get().uri("https://example.com/").to_request()).await;
    assert_eq!(set_cookie(&response), None);
}

#[actix_web::test]
async fn a_custom_genid_reads_the_request_head() {
    let options = options().genid(|head| {
        let tenant = head.headers.get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("none");
        format!("{tenant}-{}-{}", head.method, head.uri.path().trim_start_matches('/'))
    });
    let options = options.accept_any_id(true);
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/here", web::post().to(count)))
            .await;
    let request = TestRequest::post().uri("/here").insert_header(("x-tenant", "acme")).to_request();
    let response = call_service(&app, request).await;
    let cookie = set_cookie(&response).expect("a cookie");
    assert!(cookie.starts_with("connect.sid=s%3Aacme-POST-here."), "{cookie}");
}

#[actix_web::test]
async fn a_handler_error_answers_through_the_configured_renderer() {
    let options = options().error_response(|error| (error.status(), "custom page".to_owned()));
    let app = init_service(App::new().wrap(SessionMiddleware::new(options).unwrap()).route(
        "/",
        web::get().to(|session: Session| async move {
            session.destroy().await?;
            // After destroy the session is gone: this call fails with `NoSession`.
            session.insert("x", 1).await?;
            Ok::<_, SessionError>("unreachable")
        }),
    ))
    .await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(body(response).await, "custom page");
}

#[actix_web::test]
async fn a_reworked_error_response_is_left_as_it_is() {
    let app = init_service(App::new().wrap(SessionMiddleware::new(options()).unwrap()).route(
        "/",
        web::get().to(|| async {
            let error = SessionError::from(express_session::SessionError::NoSession);
            let mut response = HttpResponse::from_error(error);
            *response.status_mut() = StatusCode::IM_A_TEAPOT;
            response
        }),
    ))
    .await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(body(response).await, "session error", "the handler's own status stays, with its body");
}

#[actix_web::test]
async fn without_the_middleware_a_session_error_renders_the_default() {
    let response =
        actix_web::ResponseError::error_response(&SessionError::from(express_session::SessionError::NoSession));
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers().get("content-type").unwrap(), "text/plain; charset=utf-8");
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let body = actix_web::body::to_bytes(response.into_body()).await.unwrap();
    assert_eq!(body, "session error");
}

#[actix_web::test]
async fn an_unreachable_store_is_a_503_through_the_renderer_and_no_cookie() {
    // A real Redis client pointed at a port nothing listens on.
    let store = express_session_redis::RedisStore::builder()
        .timeout(Duration::from_millis(500))
        .connect_lazy("redis://127.0.0.1:1")
        .unwrap();
    let options = SessionOptions::new()
        .secret("keyboard cat")
        .allow_short_secret(true)
        .store(store)
        .error_response(|error| (error.status(), "come back later".to_owned()));
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/", web::get().to(count))).await;
    let response = app.call(TestRequest::get().uri("/").to_request()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(set_cookie(&response), None);
    assert_eq!(body(response).await, "come back later");
}

#[actix_web::test]
async fn vary_and_cache_control_are_added_once() {
    let options = options().vary_cookie(true).cache_control_no_store(true);
    let app =
        init_service(App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/", web::get().to(count)).route(
            "/own",
            web::get().to(|session: Session| async move {
                session.insert("x", 1).await?;
                Ok::<_, SessionError>(
                    HttpResponse::Ok()
                        .insert_header(("vary", "Cookie"))
                        .insert_header(("cache-control", "private"))
                        .finish(),
                )
            }),
        ))
        .await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.headers().get_all("vary").count(), 1);
    assert_eq!(response.headers().get("vary").unwrap(), "Cookie");
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let response = call_service(&app, TestRequest::get().uri("/own").to_request()).await;
    assert_eq!(response.headers().get_all("vary").count(), 1);
    assert_eq!(response.headers().get("cache-control").unwrap(), "private");
}

#[actix_web::test]
async fn a_request_on_a_tls_listener_is_secure() {
    use actix_service::IntoServiceFactory;
    use actix_web::dev::{AppConfig, ServiceFactory};
    // What `HttpServer::bind_rustls_0_23` gives the app (actix-web's own test constructor: `AppConfig` has no
    // public one), so that no TLS stack is built for this test.
    let tls = AppConfig::__priv_test_new(true, "localhost:8443".to_owned(), "127.0.0.1:8443".parse().unwrap());
    let options = options().cookie(CookieOptions::new().secure(Secure::Always)).proxy(Some(false));
    let app = App::new().wrap(SessionMiddleware::new(options).unwrap()).route("/", web::get().to(count));
    let app = app.into_factory().new_service(tls).await.unwrap();
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    let cookie = set_cookie(&response).expect("a Secure cookie on a TLS connection");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[actix_web::test]
async fn a_handler_returning_actix_web_result_answers_through_the_renderer_too() {
    let options = options().error_response(|error| (error.status(), "custom page".to_owned()));
    let app = init_service(App::new().wrap(SessionMiddleware::new(options).unwrap()).route(
        "/",
        web::get().to(|session: Session| async move {
            session.destroy().await.map_err(SessionError::from)?;
            session.insert("x", 1).await.map_err(SessionError::from)?;
            Ok::<_, actix_web::Error>("unreachable")
        }),
    ))
    .await;
    let response = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(response.status(), 500);
    assert_eq!(body(response).await, "custom page");
}

#[actix_web::test]
async fn sessions_travel_in_a_header_for_clients_without_cookies() {
    let middleware = SessionMiddleware::new(options().header("X-Session")).unwrap();
    let app = init_service(App::new().wrap(middleware).route("/", web::get().to(count))).await;
    let first = call_service(&app, TestRequest::get().uri("/").to_request()).await;
    let header = first.headers().get("x-session").expect("a new session's header").to_str().unwrap().to_owned();
    assert_eq!(pair(&set_cookie(&first).unwrap()), format!("connect.sid={header}"), "the cookie's value");
    for expected in ["2", "3"] {
        let request = TestRequest::get().uri("/").insert_header(("X-Session", header.as_str())).to_request();
        let response = call_service(&app, request).await;
        assert!(response.headers().get("x-session").is_none(), "an unchanged id is not sent again");
        assert_eq!(body(response).await, expected);
    }
    let last = if header.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{last}", &header[..header.len() - 1]);
    let request = TestRequest::get().uri("/").insert_header(("X-Session", tampered)).to_request();
    let response = call_service(&app, request).await;
    assert_ne!(response.headers().get("x-session").unwrap().to_str().unwrap(), header, "a new session");
    assert_eq!(body(response).await, "1");
}
