//! The session layer over HTTP, group by group as express-session's own test suite checks it.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{
    ConfigError, CookieOptions, SameSite, Secure, Session, SessionError, SessionManagerLayer, SessionOptions, Unset,
};
use http::Request;

async fn untouched() -> &'static str {
    "ok"
}

async fn set_user(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "bob").await?;
    Ok("ok")
}

async fn count(session: Session) -> Result<String, SessionError> {
    let n = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    Ok(n.to_string())
}

fn routes() -> Router {
    Router::new().route("/", get(untouched)).route("/set", get(set_user)).route("/count", get(count))
}

fn max_age(ms: u64) -> CookieOptions {
    CookieOptions::new().max_age(Duration::from_millis(ms))
}

// ----- session(): creating and loading -----

#[tokio::test]
async fn creates_a_new_session_with_the_default_cookie() {
    let t = TestApp::new(options().save_uninitialized(true), routes());
    let r = t.get("/", None).await;
    let cookie = r.set_cookie.as_deref().unwrap();
    assert!(cookie.starts_with("connect.sid=s%3A"), "{cookie}");
    assert!(cookie.ends_with("; Path=/; HttpOnly"), "{cookie}");
    assert_eq!(r.cookie_id().len(), 32);
    assert_eq!(t.len().await, 1);
}

#[tokio::test]
async fn loads_the_session_from_the_cookie_and_sends_no_cookie_again() {
    let t = TestApp::new(options(), routes());
    let first = t.get("/count", None).await;
    assert_eq!(first.body, "1");
    let second = t.get("/count", Some(&first.cookie())).await;
    assert_eq!(second.body, "2");
    assert_eq!(second.set_cookie, None, "a browser-session cookie is not sent again");
}

#[tokio::test]
async fn creates_one_session_per_cookieless_request() {
    let t = TestApp::new(options().save_uninitialized(true), routes());
    let a = t.get("/", None).await.cookie_id();
    let b = t.get("/", None).await.cookie_id();
    assert_ne!(a, b);
    assert_eq!(t.len().await, 2);
}

#[tokio::test]
async fn an_unknown_signed_id_gets_a_new_id() {
    let t = TestApp::new(options(), routes());
    let first = t.get("/set", None).await;
    express_session::Store::destroy(&t.store, &express_session::SessionId::new(first.cookie_id()).unwrap())
        .await
        .unwrap();
    let second = t.get("/set", Some(&first.cookie())).await;
    assert_ne!(second.cookie_id(), first.cookie_id(), "the client's id is never adopted");
}

#[tokio::test]
async fn an_expired_session_is_replaced() {
    let t = TestApp::new(options().cookie(max_age(1_000)), routes());
    let first = t.get("/count", None).await;
    t.clock.advance(Duration::from_millis(1_001));
    let second = t.get("/count", Some(&first.cookie())).await;
    assert_eq!(second.body, "1");
    assert_ne!(second.cookie_id(), first.cookie_id());
}

#[tokio::test]
async fn a_badly_signed_cookie_is_no_session_and_not_looked_up() {
    let t = TestApp::new(options(), routes());
    let first = t.get("/count", None).await;
    let tampered = format!("{}x", first.cookie());
    let second = t.get("/count", Some(&tampered)).await;
    assert_eq!(second.body, "1");
    assert_ne!(second.cookie_id(), first.cookie_id());
    let unsigned = format!("connect.sid={}", first.cookie_id());
    assert_eq!(t.get("/count", Some(&unsigned)).await.body, "1");
}

#[tokio::test]
async fn a_record_without_a_cookie_object_is_treated_as_absent() {
    let t = TestApp::new(options(), routes());
    let first = t.get("/count", None).await;
    // A record express could not inflate either; the store treats it as absent, so a new session starts.
    let id = express_session::SessionId::new(first.cookie_id()).unwrap();
    let bogus = express_session::Record::from_json(r#"{"cookie":{}}"#).unwrap();
    express_session::Store::set(&t.store, &id, &bogus).await.unwrap();
    assert_eq!(t.get("/count", Some(&first.cookie())).await.body, "1");
}

// ----- bad input -----

#[tokio::test]
async fn hostile_cookies_mean_no_session_never_an_error() {
    let t = TestApp::new(options(), routes());
    let valid = t.get("/count", None).await.cookie();
    let long = format!("connect.sid=s%3A{}.sig", "a".repeat(5000));
    let cases = [
        "connect.sid=".to_owned(),
        "connect.sid=s%3A".to_owned(),
        "connect.sid=%".to_owned(),
        "connect.sid=s%3A%E0%A4.x".to_owned(),
        long,
        format!("connect.sid=garbage; {valid}"),
        format!("{valid}{valid}"),
        "=;=;;;".to_owned(),
    ];
    for cookie in cases {
        let r = t.get("/count", Some(&cookie)).await;
        assert_eq!(r.status, 200, "{cookie}");
        assert_eq!(r.body, "1", "{cookie}");
    }
    let raw: &[u8] = b"connect.sid=\xff\xfe";
    let request = Request::builder().uri("/count").header("cookie", raw).body(Body::empty()).unwrap();
    assert_eq!(t.request(request).await.body, "1");
}

#[tokio::test]
async fn several_cookie_headers_are_read_first_occurrence_wins() {
    let t = TestApp::new(options(), routes());
    let valid = t.get("/count", None).await.cookie();
    let request =
        Request::builder().uri("/count").header("cookie", "a=1").header("cookie", &valid).body(Body::empty()).unwrap();
    assert_eq!(t.request(request).await.body, "2");
    let request = Request::builder()
        .uri("/count")
        .header("cookie", "connect.sid=garbage")
        .header("cookie", &valid)
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.request(request).await.body, "1", "the first occurrence wins even when it is garbage");
}

// ----- options -----

#[tokio::test]
async fn name_sets_the_cookie_name() {
    let t = TestApp::new(options().name("sid").save_uninitialized(true), routes());
    assert!(t.get("/", None).await.set_cookie.unwrap().starts_with("sid=s%3A"));
}

#[tokio::test]
async fn save_uninitialized_false_stores_and_sends_nothing_for_untouched_sessions() {
    let t = TestApp::new(options().save_uninitialized(false), routes());
    let r = t.get("/", None).await;
    assert_eq!(r.set_cookie, None);
    assert_eq!(t.len().await, 0);
    let r = t.get("/set", None).await;
    assert!(r.set_cookie.is_some());
    assert_eq!(t.len().await, 1);
}

#[tokio::test]
async fn rolling_sends_the_cookie_on_every_response() {
    let t = TestApp::new(options().rolling(true).cookie(max_age(60_000)), routes());
    let first = t.get("/set", None).await;
    t.clock.advance(Duration::from_secs(5));
    let second = t.get("/", Some(&first.cookie())).await;
    assert!(second.set_cookie.unwrap().contains("Expires=Tue, 01 Jan 2030 00:01:05 GMT"));
}

#[tokio::test]
async fn rolling_does_not_send_cookies_for_uninitialized_sessions() {
    let t = TestApp::new(options().rolling(true).save_uninitialized(false), routes());
    assert_eq!(t.get("/", None).await.set_cookie, None);
}

#[tokio::test]
async fn modified_sessions_with_an_expiry_resend_the_cookie() {
    let t = TestApp::new(options().cookie(max_age(60_000)), routes());
    let first = t.get("/count", None).await;
    t.clock.advance(Duration::from_secs(5));
    assert!(t.get("/count", Some(&first.cookie())).await.set_cookie.unwrap().contains("00:01:05"));
    assert_eq!(t.get("/", Some(&first.cookie())).await.set_cookie, None, "unmodified: no cookie");
}

#[tokio::test]
async fn resave_true_saves_unmodified_sessions_and_false_only_touches() {
    for (resave, expected) in [(true, vec!["get", "save_if"]), (false, vec!["refresh"])] {
        // With resave the untouched request loads and writes back its session; without, a refresh is all
        // express's get + touch amounts to.
        let (t, calls) = TestApp::counting(options().resave(resave).save_uninitialized(true), routes());
        let first = t.get("/count", None).await;
        assert_eq!(calls.take(), ["create"]);
        t.get("/", Some(&first.cookie())).await;
        assert_eq!(calls.take(), expected, "resave={resave}");
        t.get("/count", Some(&first.cookie())).await;
        assert_eq!(calls.take(), ["get", "save_if"], "modified sessions are saved either way");
    }
}

#[tokio::test]
async fn untouched_requests_skip_the_store_read_when_it_cannot_matter() {
    let (t, calls) = TestApp::counting(options(), routes());
    t.get("/", None).await;
    assert!(calls.take().is_empty(), "a cookieless request that never uses its session costs no store call");
    let first = t.get("/set", None).await;
    calls.take();
    t.get("/", Some(&first.cookie())).await;
    assert_eq!(calls.take(), ["refresh"], "only the expiry is moved, as express's touch would");
    let tampered = format!("{}x", first.cookie());
    t.get("/count", Some(&tampered)).await;
    assert_eq!(calls.take(), ["create"], "a bad signature is never looked up");
}

#[tokio::test]
async fn an_untouched_request_whose_session_is_gone_starts_a_new_one() {
    // saveUninitialized: express would load nothing, generate a session, save it and send its cookie.
    let (t, calls) = TestApp::counting(options().save_uninitialized(true), routes());
    let first = t.get("/set", None).await;
    express_session::Store::destroy(&t.store, &express_session::SessionId::new(first.cookie_id()).unwrap())
        .await
        .unwrap();
    calls.take();
    let r = t.get("/", Some(&first.cookie())).await;
    assert_eq!(calls.take(), ["refresh", "create"]);
    assert_ne!(r.cookie_id(), first.cookie_id());
    assert_eq!(t.len().await, 1);
}

#[tokio::test]
async fn unset_destroy_destroys_and_keep_keeps() {
    async fn drop_session(session: Session) -> Result<&'static str, SessionError> {
        session.unset().await?;
        Ok("ok")
    }
    for (unset, remaining) in [(Unset::Keep, 1), (Unset::Destroy, 0)] {
        let t = TestApp::new(options().unset(unset), routes().route("/unset", get(drop_session)));
        let first = t.get("/set", None).await;
        let r = t.get("/unset", Some(&first.cookie())).await;
        // A destroyed session's cookie is cleared; a kept one is left alone.
        assert_eq!(r.set_cookie.is_some(), unset == Unset::Destroy, "{unset:?}");
        assert_eq!(t.len().await, remaining, "{unset:?}");
    }
}

#[tokio::test]
async fn cookie_path_is_a_raw_prefix_gate() {
    let routes = Router::new().fallback(get(|session: Option<Session>| async move {
        match session {
            Some(s) => {
                s.insert("x", 1).await.unwrap();
                "session"
            }
            None => "none",
        }
    }));
    let t = TestApp::new(options().cookie(CookieOptions::new().path("/foo/bar")), routes);
    assert_eq!(t.get("/", None).await.body, "none");
    assert_eq!(t.get("/foo/barbaz", None).await.body, "session");
    let r = t.get("/foo/bar/baz", None).await;
    assert!(r.set_cookie.unwrap().contains("; Path=/foo/bar;"));
    assert_eq!(t.get("/FOO/bar", None).await.body, "none");
}

#[tokio::test]
async fn secure_cookies_are_not_sent_over_http_but_the_session_is_saved() {
    let t = TestApp::new(options().cookie(CookieOptions::new().secure(Secure::Always)), routes());
    let r = t.get("/set", None).await;
    assert_eq!(r.set_cookie, None);
    assert_eq!(t.len().await, 1);
}

#[tokio::test]
async fn proxy_true_trusts_x_forwarded_proto() {
    let t = TestApp::new(options().proxy(Some(true)).cookie(CookieOptions::new().secure(Secure::Always)), routes());
    for (proto, sent) in [("https", true), ("HTTPS, http", true), ("http", false), ("", false)] {
        let request = Request::builder().uri("/set").header("x-forwarded-proto", proto).body(Body::empty()).unwrap();
        assert_eq!(t.request(request).await.set_cookie.is_some(), sent, "{proto:?}");
    }
}

#[tokio::test]
async fn proxy_false_ignores_x_forwarded_proto_and_the_server() {
    let t = TestApp::new(options().proxy(Some(false)).cookie(CookieOptions::new().secure(Secure::Always)), routes());
    let mut request = Request::builder().uri("/set").header("x-forwarded-proto", "https").body(Body::empty()).unwrap();
    request.extensions_mut().insert(express_session::layer::IsSecure(true));
    assert_eq!(t.request(request).await.set_cookie, None);
}

#[tokio::test]
async fn proxy_unset_follows_the_servers_is_secure() {
    let t = TestApp::new(options().cookie(CookieOptions::new().secure(Secure::Auto)), routes());
    let request = Request::builder().uri("/set").header("x-forwarded-proto", "https").body(Body::empty()).unwrap();
    assert!(!t.request(request).await.set_cookie.unwrap().contains("Secure"));
    let mut request = Request::builder().uri("/set").body(Body::empty()).unwrap();
    request.extensions_mut().insert(express_session::layer::IsSecure(true));
    assert!(t.request(request).await.set_cookie.unwrap().contains("; Secure"));
}

#[tokio::test]
async fn same_site_auto_follows_the_connection() {
    let t = TestApp::new(options().proxy(Some(true)).cookie(CookieOptions::new().same_site_auto()), routes());
    let plain = t.get("/set", None).await.set_cookie.unwrap();
    assert!(plain.ends_with("SameSite=Lax"), "{plain}");
    let request = Request::builder().uri("/set").header("x-forwarded-proto", "https").body(Body::empty()).unwrap();
    assert!(t.request(request).await.set_cookie.unwrap().ends_with("SameSite=None"));
}

#[tokio::test]
async fn genid_gets_the_request() {
    let t = TestApp::new(options().genid(|req| format!("id-for{}", req.uri.path())), routes());
    let r = t.get("/set", None).await;
    assert_eq!(r.cookie_id(), "id-for/set");
}

#[tokio::test]
async fn secrets_rotate_first_signs_all_verify() {
    let old = TestApp::new(options(), routes());
    let first = old.get("/count", None).await;
    let rotated = SessionOptions::new().secrets(["new secret", "keyboard cat"]).allow_short_secret(true).rolling(true);
    let layer = SessionManagerLayer::new(rotated.store(old.store.clone()).clock(old.clock.clone())).unwrap();
    let app = TestApp { app: routes().layer(layer), store: old.store.clone(), clock: old.clock.clone() };
    let second = app.get("/count", Some(&first.cookie())).await;
    assert_eq!(second.body, "2", "a cookie signed with the old secret is accepted");
    assert_ne!(second.cookie(), first.cookie(), "and re-sent signed with the new one");
    assert_eq!(second.cookie_id(), first.cookie_id());
}

#[test]
fn configuration_mistakes_fail_at_build_time_with_a_fix() {
    let err = SessionManagerLayer::new(SessionOptions::new().secret("keyboard cat")).unwrap_err();
    assert_eq!(err, ConfigError::ShortSecret);
    assert!(err.to_string().contains("32 bytes"), "{err}");
    let err = SessionManagerLayer::new(SessionOptions::new()).unwrap_err();
    assert_eq!(err, ConfigError::MissingSecret);
    let err = SessionManagerLayer::new(options().cookie(CookieOptions::new().same_site(SameSite::None))).unwrap_err();
    assert_eq!(err, ConfigError::SameSiteNoneWithoutSecure);
    assert!(err.to_string().contains("Secure"), "{err}");
    let err = SessionManagerLayer::new(SessionOptions::new().secrets(Vec::<&str>::new())).unwrap_err();
    assert_eq!(err, ConfigError::MissingSecret);
}

// ----- the session API -----

#[tokio::test]
async fn regenerate_replaces_the_id_and_destroys_the_old_session() {
    async fn login(session: Session) -> Result<&'static str, SessionError> {
        session.regenerate().await?;
        session.insert("user", "alice").await?;
        Ok("ok")
    }
    let t = TestApp::new(options(), routes().route("/login", get(login)));
    let first = t.get("/set", None).await;
    let second = t.get("/login", Some(&first.cookie())).await;
    assert_ne!(second.cookie_id(), first.cookie_id());
    assert_eq!(t.len().await, 1, "the old session is gone");
}

#[tokio::test]
async fn destroy_removes_the_session_without_a_cookie() {
    async fn logout(session: Session) -> Result<String, SessionError> {
        session.destroy().await?;
        Ok(match session.get::<String>("user").await {
            Err(SessionError::NoSession) => "gone".into(),
            other => format!("{other:?}"),
        })
    }
    let t = TestApp::new(options().cookie(max_age(60_000)), routes().route("/logout", get(logout)));
    let first = t.get("/set", None).await;
    let r = t.get("/logout", Some(&first.cookie())).await;
    assert_eq!(r.body, "gone");
    assert_eq!(r.set_cookie.as_deref(), Some("connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"));
    assert_eq!(t.len().await, 0);
    // express sends no cookie at all; one setting restores that.
    let t = TestApp::new(options().clear_cookie_on_destroy(false), routes().route("/logout", get(logout)));
    let first = t.get("/set", None).await;
    assert_eq!(t.get("/logout", Some(&first.cookie())).await.set_cookie, None);
}

#[tokio::test]
async fn reload_reads_the_store_again_and_reports_a_missing_session() {
    async fn reload(session: Session) -> Result<String, SessionError> {
        session.insert("user", "changed").await?;
        match session.reload().await {
            Ok(()) => Ok(session.get::<String>("user").await?.unwrap_or_default()),
            Err(e) => Ok(e.to_string()),
        }
    }
    let t = TestApp::new(options(), routes().route("/reload", get(reload)));
    let first = t.get("/set", None).await;
    assert_eq!(t.get("/reload", Some(&first.cookie())).await.body, "bob");
    assert_eq!(t.get("/reload", None).await.body, "failed to load session");
}

#[tokio::test]
async fn save_writes_now() {
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let t = TestApp::new(options(), Router::new());
    let store = t.store.clone();
    let app = TestApp {
        app: Router::new()
            .route(
                "/",
                get(move |session: Session| {
                    let (store, tx) = (store.clone(), tx.clone());
                    async move {
                        session.insert("a", 1).await.unwrap();
                        session.save().await.unwrap();
                        tx.send(express_session::Store::len(&store).await.unwrap()).unwrap();
                        "ok"
                    }
                }),
            )
            .layer(SessionManagerLayer::new(options().store(t.store.clone()).clock(t.clock.clone())).unwrap()),
        store: t.store.clone(),
        clock: t.clock.clone(),
    };
    app.get("/", None).await;
    assert_eq!(rx.recv().unwrap(), 1, "the session was stored before the handler returned");
}

#[tokio::test]
async fn cookie_max_age_changes_expires_without_modifying_the_session() {
    async fn short(session: Session) -> Result<&'static str, SessionError> {
        session.set_max_age(Some(Duration::from_secs(2))).await?;
        Ok("ok")
    }
    let t = TestApp::new(options().cookie(max_age(60_000)), routes().route("/short", get(short)));
    let first = t.get("/set", None).await;
    let r = t.get("/short", Some(&first.cookie())).await;
    assert_eq!(r.set_cookie, None, "changing only the cookie is not a modification");
    t.clock.advance(Duration::from_millis(2_500));
    assert_eq!(t.get("/count", Some(&first.cookie())).await.body, "1", "the new max age was stored by touch");
}

#[tokio::test]
async fn reserved_keys_are_refused() {
    async fn reserved(session: Session) -> String {
        format!("{:?}", session.insert("cookie", 1).await.err())
    }
    let t = TestApp::new(options(), routes().route("/reserved", get(reserved)));
    assert!(t.get("/reserved", None).await.body.contains("ReservedKey"));
}

#[tokio::test]
async fn untouched_requests_with_a_cookie_do_not_read_the_store_when_it_cannot_matter() {
    // resave false, saveUninitialized false, rolling false: only the expiry moves (one refresh), no Set-Cookie.
    let t = TestApp::new(options().cookie(max_age(60_000)), routes());
    let first = t.get("/set", None).await;
    t.clock.advance(Duration::from_secs(30));
    let r = t.get("/", Some(&first.cookie())).await;
    assert_eq!(r.set_cookie, None);
    t.clock.advance(Duration::from_secs(45));
    let later = t.get("/count", Some(&first.cookie())).await;
    assert_eq!(later.cookie_id(), first.cookie_id(), "the refresh kept the session alive");
}

#[tokio::test]
async fn cycle_id_keeps_the_data_under_a_new_id() {
    async fn cycle(session: Session) -> Result<&'static str, SessionError> {
        session.cycle_id().await?;
        Ok("ok")
    }
    let t = TestApp::new(options(), routes().route("/cycle", get(cycle)));
    let first = t.get("/count", None).await;
    let cycled = t.get("/cycle", Some(&first.cookie())).await;
    assert_ne!(cycled.cookie_id(), first.cookie_id());
    assert_eq!(t.get("/count", Some(&cycled.cookie())).await.body, "2", "the data moved to the new id");
    assert_eq!(t.get("/count", Some(&first.cookie())).await.body, "1", "the old id is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_handle_shared_by_many_tasks_loses_nothing() {
    async fn fan_out(session: Session) -> Result<&'static str, SessionError> {
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let session = session.clone();
                tokio::spawn(async move {
                    session.insert(&format!("k{i}"), i).await?;
                    session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task")?;
        }
        Ok("ok")
    }
    async fn check(session: Session) -> Result<String, SessionError> {
        Ok(format!("{} {}", session.keys().await?.len(), session.get::<u64>("n").await?.unwrap_or(0)))
    }
    let t = TestApp::new(options(), routes().route("/fan", get(fan_out)).route("/check", get(check)));
    let first = t.get("/fan", None).await;
    assert_eq!(t.get("/check", Some(&first.cookie())).await.body, "51 50");
}
