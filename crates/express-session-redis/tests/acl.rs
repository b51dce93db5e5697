//! ACL users (Redis 6 and later) against a `redis-server` of the test's own whose `default` user is off: the shared
//! store suite passes as a user with only the commands and keys of the crate documentation's ACL, whether the
//! credentials come in the URL or through the builder; a wrong password and a command or key the ACL denies are
//! `StoreError`s (the layer answers 500), never a panic, and no error shows the password. Skipped, loudly, without
//! `redis-server` (a failure under `REQUIRE_SERVICES=1`).

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::secured::Server;
use express_session::store::{Store, StoreError};
use express_session::{Session, SessionError, SessionId, SessionManagerLayer, SessionOptions};
use express_session_redis::{RedisStore, RedisStoreBuilder};
use http::{Request, StatusCode};
use tower::ServiceExt;

/// The ACL rules the crate documentation gives for a user of the store with the default prefixes (`sess:`, and
/// `owner:sess:` for the owner index): the keys, then the commands.
const STORE_ACL: &str = "~sess:* ~owner:sess:* -@all +get +set +del +expire +pexpire +pttl +persist +mget +scan \
                         +sscan +sadd +srem +sismember +evalsha +script|load";

const PASSWORD: &str = "sessions-pw-0c5e1d";
const ADMIN_PASSWORD: &str = "admin-pw-7f2a9b";

/// One server for the test binary: `default` off, `admin` with every right (for the readiness probe), `sessions`
/// with [`STORE_ACL`], `nokeys` with the same commands on other keys only, and `noscan` with the same keys and
/// every command but `SCAN`.
fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            if !common::secured::tools_available(false) {
                return None;
            }
            let sessions = format!("sessions on >{PASSWORD} {STORE_ACL}");
            let nokeys = format!("nokeys on >{PASSWORD} {}", STORE_ACL.replace("~sess:* ~owner:sess:*", "~other:*"));
            let admin = format!("admin on >{ADMIN_PASSWORD} ~* &* +@all");
            // One argument a word: redis-server quotes each, so "default off" would be one user name.
            let mut args = vec!["--user", "default", "off"];
            let noscan = format!("noscan on >{PASSWORD} {}", STORE_ACL.replace(" +scan ", " "));
            let select = format!("select on >{PASSWORD} {STORE_ACL} +select");
            for user in [&admin, &sessions, &nokeys, &noscan, &select] {
                args.push("--user");
                args.extend(user.split_whitespace());
            }
            Some(Server::plain(&args, &["--user", "admin", "--pass", ADMIN_PASSWORD]))
        })
        .as_ref()
}

/// A prefix under `sess:` that no other case uses.
fn prefix() -> String {
    format!("sess:{}:", SessionId::generate().as_str())
}

fn builder() -> RedisStoreBuilder {
    common::builder(&prefix()).owner_key("user")
}

/// The suite's store, as `sessions`, the credentials in the URL.
async fn url_store() -> Option<RedisStore> {
    let server = server()?;
    let url = format!("redis://sessions:{PASSWORD}@127.0.0.1:{}", server.port);
    Some(builder().connect(&url).await.unwrap_or_else(|e| panic!("{}", common::error_chain(&e))))
}

/// The suite's store, as `sessions`, the credentials given to the builder.
async fn builder_store() -> Option<RedisStore> {
    let server = server()?;
    let url = format!("redis://127.0.0.1:{}", server.port);
    let store = builder().username("sessions").password(PASSWORD).connect(&url).await;
    Some(store.unwrap_or_else(|e| panic!("{}", common::error_chain(&e))))
}

mod url_credentials {
    express_session::store_suite!(|| async { super::url_store().await });
}

mod builder_credentials {
    express_session::store_suite!(|| async { super::builder_store().await });
}

#[test]
fn the_documented_acl_is_the_tested_one() {
    let readme = include_str!("../README.md");
    assert!(readme.contains(STORE_ACL), "README.md must give the ACL this test passes with: {STORE_ACL}");
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_that_does_not_show_the_password() {
    let Some(server) = server() else { return };
    let limit = Duration::from_millis(1_500);
    let urls = [
        format!("redis://sessions:wrong-pw-4d1e@127.0.0.1:{}", server.port),
        format!("redis://127.0.0.1:{}", server.port),
    ];
    for (i, url) in urls.iter().enumerate() {
        let builder = common::builder("sess:wrong:").timeout(limit);
        let builder = if i == 1 { builder.username("sessions").password("wrong-pw-4d1e") } else { builder };
        let start = Instant::now();
        let error = builder.connect(url).await.expect_err("a wrong password is refused");
        assert!(start.elapsed() < limit + Duration::from_secs(1), "{:?}", start.elapsed());
        let text = format!("{} {error:?}", common::error_chain(&error));
        assert!(text.to_lowercase().contains("authentication failed"), "{text}");
        assert!(!text.contains("wrong-pw-4d1e"), "the password is shown: {text}");
        assert!(matches!(error, StoreError::Backend { .. }), "{text}");
    }
    // A lazy store: each call fails the same way.
    let url = format!("redis://sessions:wrong-pw-4d1e@127.0.0.1:{}", server.port);
    let store = common::builder("sess:wrong:").timeout(limit).connect_lazy(&url).unwrap();
    let error = store.get(&SessionId::generate()).await.unwrap_err();
    let text = format!("{} {error:?} {store:?}", common::error_chain(&error));
    assert!(text.to_lowercase().contains("authentication failed") && !text.contains("wrong-pw-4d1e"), "{text}");
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "alice").await?;
    Ok("logged in")
}

#[tokio::test]
async fn a_denied_key_is_an_error_and_the_layer_answers_500() {
    let Some(server) = server() else { return };
    let url = format!("redis://nokeys:{PASSWORD}@127.0.0.1:{}", server.port);
    let store = builder().connect(&url).await.unwrap();
    let error = store.get(&SessionId::generate()).await.unwrap_err();
    let text = common::error_chain(&error);
    assert!(text.to_lowercase().contains("noperm"), "{text}");
    assert!(matches!(error, StoreError::Backend { .. }), "{text}");

    let layer = SessionManagerLayer::new(
        SessionOptions::new().secret("a secret of at least thirty-two bytes, for the test").store(store),
    )
    .unwrap();
    let app = Router::new().route("/login", get(login)).layer(layer);
    let response = app.oneshot(Request::builder().uri("/login").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_command_the_acl_denies_is_an_error_not_a_panic() {
    let Some(server) = server() else { return };
    let url = format!("redis://noscan:{PASSWORD}@127.0.0.1:{}", server.port);
    let store = builder().connect(&url).await.unwrap();
    assert!(store.get(&SessionId::generate()).await.unwrap().is_none());
    let error = store.len().await.unwrap_err();
    let text = common::error_chain(&error);
    assert!(text.to_lowercase().contains("noperm"), "{text}");
    assert!(matches!(error, StoreError::Backend { .. }), "{text}");
}

#[tokio::test]
async fn a_database_other_than_0_needs_select_as_the_readme_says() {
    let Some(server) = server() else { return };
    let readme = include_str!("../README.md");
    assert!(readme.contains("+select"), "README.md must say that a URL's database needs +select");
    // The documented ACL alone: the connection's SELECT is denied, a clear error when the store is built.
    let url = format!("redis://sessions:{PASSWORD}@127.0.0.1:{}/1", server.port);
    let error = builder().connect(&url).await.expect_err("SELECT is denied");
    let text = common::error_chain(&error);
    assert!(text.contains("'select'") && matches!(error, StoreError::Backend { .. }), "{text}");
    // With +select, the store works in database 1.
    let url = format!("redis://select:{PASSWORD}@127.0.0.1:{}/1", server.port);
    let store = builder().connect(&url).await.unwrap_or_else(|e| panic!("{}", common::error_chain(&e)));
    let id = SessionId::generate();
    assert!(store.get(&id).await.unwrap().is_none());
    assert_eq!(store.len().await.unwrap(), 0);
}

#[test]
fn a_server_whose_port_was_taken_meanwhile_comes_up_on_another() {
    // `free_port` only finds a port free at the time: another process may take it before redis-server binds it.
    // The server must then come up on another port, fast, and the probe must not take a stranger for it.
    if !common::secured::tools_available(false) {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let start = Instant::now();
    let server = Server::plain_trying(port, &[], &[]);
    assert_ne!(server.port, port);
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}
