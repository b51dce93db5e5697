//! The shared store test suite: every store runs these cases against its real backend.
//!
//! Each case is a `pub async fn` taking a fresh store, isolated from other cases (its own key prefix, table or
//! instance), so that `len` and `clear` see only the case's own records. The [`store_suite!`](crate::store_suite)
//! macro stamps one `#[tokio::test]` per case into a test file:
//!
//! ```text
//! // tests/store_suite.rs of a store crate
//! express_session::store_suite!(|| async { Some(my_store::MyStore::connect(url()).await.unwrap()) });
//! ```
//!
//! The factory returns `None` to skip (a server that is not there); it should then say so loudly, and fail
//! instead when `REQUIRE_SERVICES=1`.

mod flash_cases;
mod http_cases;
mod outage;
mod owner_cases;
mod store_cases;

use std::sync::Arc;

pub use self::flash_cases::*;
pub use self::http_cases::*;
pub use self::outage::*;
pub use self::owner_cases::*;
pub use self::store_cases::*;
use crate::cookie::SessionCookie;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{Store, Versioned};

/// What a store's test factory does when its server cannot be reached: with `REQUIRE_SERVICES=1` it panics
/// (CI must not skip), otherwise it prints a loud notice on stderr and returns `None` so the case is skipped.
///
/// ```
/// # use express_session::testing::unreachable;
/// // In a store test's factory, after the connection failed:
/// if std::env::var("REQUIRE_SERVICES").as_deref() != Ok("1") {
///     let store: Option<()> = unreachable("Redis at redis://127.0.0.1:1", "connection refused");
///     assert!(store.is_none());
/// }
/// ```
///
/// # Panics
///
/// When `REQUIRE_SERVICES=1`.
pub fn unreachable<T>(service: &str, error: impl std::fmt::Display) -> Option<T> {
    if std::env::var("REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{service} is required (REQUIRE_SERVICES=1) but unreachable: {error}");
    }
    eprintln!("\n*** SKIPPED: {service} is unreachable ({error}); set REQUIRE_SERVICES=1 to make this a failure ***\n");
    None
}

/// `store` behind a [`SealedStore`](crate::store::SealedStore) with a fixed test key: the shared suite run over it
/// shows that sealing keeps every store's contract.
///
/// ```
/// # use express_session::testing::sealed;
/// let store = sealed(express_session::MemoryStore::new());
/// # let _ = store;
/// ```
#[cfg(feature = "sealed")]
#[cfg_attr(docsrs, doc(cfg(feature = "sealed")))]
pub fn sealed<S: Store>(store: S) -> crate::store::SealedStore<S> {
    let key = crate::store::SealingKey::from_bytes(b"the shared store suite test key!").expect("32 bytes");
    crate::store::SealedStore::new(store, [key]).expect("one key")
}

/// A record with `cookie.maxAge` `max_age_ms` from the store's clock (or a browser-session cookie) and `data`.
pub fn record<S: Store>(store: &S, max_age_ms: Option<i64>, data: serde_json::Value) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age_millis(max_age_ms, store.now());
    let data = match data {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    Record::from_parts(cookie, data)
}

async fn must_get<S: Store>(store: &S, id: &SessionId) -> Versioned {
    store.get(id).await.expect("get").expect("the record should be there")
}

/// Stamps one `#[tokio::test]` per case of [`testing`](crate::testing) into the calling file.
///
/// The argument is a closure returning a future of `Option<store>`: `None` skips the case (say why on stderr).
/// The stores it makes must keep an owner index (built with an owner key, see [`Store::owner_key`]) for the
/// owner cases; `store_suite!(no_owner_index: || ...)` runs every other case, for a store that keeps none.
#[macro_export]
macro_rules! store_suite {
    (no_owner_index: $make:expr) => {
        $crate::store_suite!(@cases $make;
            get_missing_is_none,
            create_then_get_round_trips,
            create_refuses_an_existing_id,
            set_upserts,
            save_if_detects_conflicts,
            save_if_never_resurrects,
            touch_extends_only_existing_records,
            expired_records_are_not_returned,
            records_expiring_now_are_absent,
            refresh_extends_by_the_records_own_lifetime,
            refresh_after_skips_records_refreshed_within_the_interval,
            destroy_is_idempotent,
            browser_session_records_are_kept,
            all_len_clear_agree,
            concurrent_compare_and_set_loses_nothing,
            concurrent_creates_have_one_winner,
            save_if_of_an_expired_record_retires_it,
            http_parallel_writes_keep_every_key,
            http_parallel_updates_are_atomic,
            http_destroyed_sessions_stay_destroyed,
            http_explicit_save_after_touches_keeps_the_session,
            http_cycle_id_after_a_logout_brings_nothing_back,
            http_cycle_id_keeps_a_concurrent_write,
            http_cycle_id_keeps_a_write_made_before_the_move_is_written,
            http_a_dropped_request_after_cycle_id_loses_nothing,
            http_two_cycle_ids_leave_one_session,
            http_absolute_timeout_ends_sessions_written_without_a_stamp,
            http_a_stamp_write_that_finds_the_session_destroyed_starts_a_stored_session,
            http_a_stamp_write_that_loses_a_race_keeps_the_other_write_and_stamp,
            http_a_rolling_request_sends_no_cookie_for_a_session_destroyed_meanwhile,
            http_flash_messages_survive_concurrent_requests,
            http_flash_messages_node_stored_without_a_rust_form_do_not_block_the_session
        );
    };
    ($make:expr) => {
        $crate::store_suite!(no_owner_index: $make);
        $crate::store_suite!(@cases $make;
            owner_index_lists_and_ends_by_handle,
            owner_index_follows_the_current_record,
            owner_index_ended_sessions_stay_ended,
            owner_index_forgets_expired_sessions,
            owner_index_ends_a_thousand_sessions,
            owner_index_reindex_finds_owned_sessions,
            http_owner_log_out_everywhere_during_requests,
            http_owner_a_relogin_racing_log_out_everywhere_is_refused
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let make = $make;
                if let Some(store) = make().await {
                    $crate::testing::$case(store).await;
                }
            }
        )*
    };
}

/// The session layer over `store`, as a tower service whose handler runs `handler` on the request's session.
/// Used by the HTTP-level concurrency cases; two layers built on one store act as two server instances.
mod harness {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use http::{Request, Response};
    use tower_layer::Layer as _;
    use tower_service::Service;

    use crate::engine::{Session, SessionError};
    use crate::layer::{SessionManager, SessionManagerLayer};
    use crate::options::SessionOptions;
    use crate::store::Store;

    pub(super) type Handler =
        Arc<dyn Fn(Session, String) -> Pin<Box<dyn Future<Output = Result<(), SessionError>> + Send>> + Send + Sync>;

    #[derive(Clone)]
    pub(super) struct App {
        pub(super) handler: Handler,
    }

    impl Service<Request<String>> for App {
        type Response = Response<String>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Self::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<String>) -> Self::Future {
            let handler = Arc::clone(&self.handler);
            Box::pin(async move {
                let session = request.extensions().get::<Session>().cloned().expect("the layer inserts the session");
                let path = request.uri().path().to_owned();
                let mut response = Response::new(String::new());
                if let Err(error) = handler(session, path).await {
                    *response.status_mut() = error.status();
                }
                Ok(response)
            })
        }
    }

    /// The secret of the layers [`instance`] builds.
    pub(super) const SECRET: &str = "a test secret that is long enough for the checks";

    /// A service: the session layer over `store` (shared) in front of `handler`.
    pub(super) fn instance<S, F, Fut>(store: &Arc<S>, handler: F) -> SessionManager<App>
    where
        S: Store,
        F: Fn(Session, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SessionError>> + Send + 'static,
    {
        instance_with(store, |options| options, handler)
    }

    /// [`instance`] with more options.
    pub(super) fn instance_with<S, F, Fut>(
        store: &Arc<S>,
        options: impl FnOnce(SessionOptions) -> SessionOptions,
        handler: F,
    ) -> SessionManager<App>
    where
        S: Store,
        F: Fn(Session, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SessionError>> + Send + 'static,
    {
        let options = options(SessionOptions::new().secret(SECRET).shared_store(Arc::clone(store)));
        let layer = SessionManagerLayer::new(options).expect("valid options");
        let handler: Handler = Arc::new(move |s, p| Box::pin(handler(s, p)));
        layer.layer(App { handler })
    }

    /// Sends a GET of each of `paths` with `cookie`, all in parallel, alternating between the instances `a` and
    /// `b`; every reply must be 200.
    pub(super) async fn all_ok_in_parallel(
        a: &SessionManager<App>,
        b: &SessionManager<App>,
        cookie: &str,
        paths: Vec<String>,
    ) {
        let tasks: Vec<_> = paths
            .into_iter()
            .enumerate()
            .map(|(i, path)| {
                let service = if i % 2 == 0 { a.clone() } else { b.clone() };
                let cookie = cookie.to_owned();
                tokio::spawn(async move { send(service, &path, Some(&cookie)).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("task").0, 200);
        }
    }

    /// Sends a GET with `cookie` and returns the status and the `name=value` of any `Set-Cookie`.
    pub(super) async fn send<Svc>(mut service: Svc, path: &str, cookie: Option<&str>) -> (u16, Option<String>)
    where
        Svc: Service<Request<String>, Response = Response<String>, Error = std::convert::Infallible>,
    {
        let mut request = Request::builder().uri(path);
        if let Some(cookie) = cookie {
            request = request.header(http::header::COOKIE, cookie);
        }
        let response = service.call(request.body(String::new()).expect("valid request")).await.expect("infallible");
        let cookie = response
            .headers()
            .get(http::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned());
        (response.status().as_u16(), cookie)
    }
}

/// The session id inside a `name=value` session cookie.
fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let decoded = crate::wire::decode_uri_component(value.as_bytes()).expect("an encoded cookie");
    let signed = decoded.strip_prefix("s:").expect("a signed cookie");
    SessionId::new(signed.rsplit_once('.').expect("a signature").0).expect("an id")
}

async fn logged_in<S: Store>(store: &Arc<S>) -> String {
    let login = harness::instance(store, |s, _| async move { s.insert("user", "alice").await });
    let (status, cookie) = harness::send(login, "/login", None).await;
    assert_eq!(status, 200);
    cookie.expect("a session cookie")
}

/// The session cookie (`name=value`) for `id`, signed with the test secret.
fn cookie_for(id: &SessionId) -> String {
    let signed = crate::signature::sign(id.as_str(), harness::SECRET.as_bytes());
    format!("connect.sid={}", crate::wire::encode_uri_component(&format!("s:{signed}")))
}
