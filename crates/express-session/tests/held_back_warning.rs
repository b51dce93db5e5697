//! The warning for a `Secure` cookie held back on a plain-HTTP request (issue 13), counted with a thread-local
//! tracing subscriber. It is the only test of this binary: tracing caches each call site's interest, and a test
//! running at the same time on another thread with no subscriber can make the warning's call site look
//! uninteresting to this one's (one run in eight or so when these checks lived next to other tests).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{CookieOptions, Secure, Session, SessionError, TlsConnection};
use http::Request;

async fn set_user(session: Session) -> Result<&'static str, SessionError> {
    session.insert("user", "bob").await?;
    Ok("ok")
}

fn routes() -> Router {
    Router::new().route("/set", get(set_user))
}

/// A tracing subscriber that counts the warnings whose message contains a text.
struct CountWarnings {
    needle: &'static str,
    count: Arc<AtomicUsize>,
}

impl tracing::Subscriber for CountWarnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut message = Message(String::new());
            event.record(&mut message);
            if message.0.contains(self.needle) {
                self.count.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A `Secure` cookie held back on a plain-HTTP request is logged at warn, with the fix, once per layer; the
/// warning names the fix (`proxy(Some(true))` behind a proxy that says `https`).
#[tokio::test]
async fn a_held_back_secure_cookie_is_logged_once_per_layer_with_the_fix() {
    {
        let count = Arc::new(AtomicUsize::new(0));
        let _guard = tracing::subscriber::set_default(CountWarnings {
            needle: "Secure session cookie was not sent",
            count: Arc::clone(&count),
        });
        let secure = || options().cookie(CookieOptions::new().secure(Secure::Always));
        let first = TestApp::new(secure(), routes());
        for _ in 0..3 {
            assert_eq!(first.get("/set", None).await.set_cookie, None);
        }
        assert_eq!(count.load(Ordering::SeqCst), 1, "one warning for three requests on one layer");
        let second = TestApp::new(secure(), routes());
        second.get("/set", None).await;
        assert_eq!(count.load(Ordering::SeqCst), 2, "a second layer warns once too");
        let mut tls = Request::builder().uri("/set").body(Body::empty()).unwrap();
        tls.extensions_mut().insert(TlsConnection);
        let third = TestApp::new(secure(), routes());
        assert!(third.request(tls).await.set_cookie.is_some());
        assert_eq!(count.load(Ordering::SeqCst), 2, "no warning when the cookie is sent");
    }
    {
        let count = Arc::new(AtomicUsize::new(0));
        let _guard =
            tracing::subscriber::set_default(CountWarnings { needle: "proxy(Some(true))", count: Arc::clone(&count) });
        let t = TestApp::new(options().cookie(CookieOptions::new().secure(Secure::Always)), routes());
        t.get("/set", None).await;
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let behind_proxy =
            TestApp::new(options().proxy(Some(true)).cookie(CookieOptions::new().secure(Secure::Always)), routes());
        let request = Request::builder().uri("/set").header("x-forwarded-proto", "https").body(Body::empty()).unwrap();
        assert!(behind_proxy.request(request).await.set_cookie.unwrap().contains("; Secure"));
    }
}
