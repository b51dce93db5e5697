//! The interop case for values only JavaScript holds (issue 13, defects 6 and 9), driven through the session
//! layer: see [`values_rust_cannot_hold_survive_a_rust_write`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use express_session::store::Store;
use express_session::{CookieOptions, Session, SessionId, SessionManagerLayer, SessionOptions};
use http::{Request, Response};
use serde_json::json;
use tower_layer::Layer as _;
use tower_service::Service;

use super::NodeStore;

const SECRET: &str = "a secret the Node app and the Rust app share, long enough";

/// The handler behind the layer: `/whoami` answers `user` (`Some("alice")`), `/set-n` sets `n` to `"2"`.
#[derive(Clone)]
struct Handler;

impl Service<Request<()>> for Handler {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let session = request.extensions().get::<Session>().cloned().expect("the layer adds the session");
        let path = request.uri().path().to_owned();
        Box::pin(async move {
            let body = match path.as_str() {
                "/whoami" => format!("{:?}", session.get::<String>("user").await),
                "/set-n" => format!("{:?}", session.insert("n", "2").await),
                _ => "not found".into(),
            };
            Ok(Response::new(body))
        })
    }
}

/// Issue 13, defects 6 and 9: the real Node store writes, through express-session's `Cookie`, a session holding
/// what JavaScript allows and serde_json cannot hold (a string with a lone surrogate, a value nested 600 deep, a
/// number serde_json would write otherwise: `0.000001`)
/// with a `sameSite` of `""`. The Rust layer (with `saveUninitialized`, where refusing the record would log the
/// user out on both sides) reads the session: the user stays logged in and gets no new cookie. It changes
/// another key, and Node reads back every untouched value byte for byte. `stored_text` reads the row's text
/// straight from the database.
///
/// # Panics
///
/// When any of that does not hold.
pub async fn values_rust_cannot_hold_survive_a_rust_write<S, T, TF>(store: S, node: &NodeStore, stored_text: T)
where
    S: Store + Clone,
    T: Fn(SessionId) -> TF,
    TF: Future<Output = String>,
{
    let options = SessionOptions::new()
        .secret(SECRET)
        .resave(false)
        .save_uninitialized(true)
        .cookie(CookieOptions::new().max_age(Duration::from_secs(600)))
        .store(store);
    let layer = SessionManagerLayer::new(options).expect("valid options");
    let request = |path: &str, cookie: &str| {
        let mut service = layer.layer(Handler);
        let request = Request::builder().uri(path).header(http::header::COOKIE, cookie).body(()).expect("request");
        async move {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await.expect("ready");
            let response = service.call(request).await.expect("infallible");
            let status = response.status().as_u16();
            let set_cookie = response.headers().get(http::header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
            (status, set_cookie, response.into_body())
        }
    };

    // Node (express-session's Cookie, the store's set) stores alice's session.
    let id = SessionId::generate();
    let deep = format!("{}1{}", "[".repeat(600), "]".repeat(600));
    // `"😀".slice(0, 1)`: half an emoji.
    let data = format!(r#"{{"user":"alice","half":"\ud83d","deep":{deep},"tiny":0.000001,"n":"1"}}"#);
    let set = node
        .call(
            json!({"op": "set", "sid": id.as_str(), "max_age": 600_000, "cookie": {"sameSite": ""}, "data_json": data}),
        )
        .await;
    let node_text = set["json"].as_str().expect("the text Node wrote").to_owned();
    let node_data = format!(r#","user":"alice","half":"\ud83d","deep":{deep},"tiny":0.000001,"n":"1"}}"#);
    assert!(node_text.ends_with(&node_data), "{node_text:.300}");
    assert!(node_text.contains(r#","sameSite":""}"#), "{node_text:.300}");
    assert_eq!(stored_text(id.clone()).await, node_text, "the column keeps Node's text");

    // The Rust layer reads it as alice's session: no new session, no cookie.
    let signed = express_session::wire::sign(id.as_str(), SECRET.as_bytes());
    let cookie = format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")));
    let (status, set_cookie, body) = request("/whoami", &cookie).await;
    assert_eq!((status, set_cookie, body.as_str()), (200, None, r#"Ok(Some("alice"))"#));

    // Rust changes another key: the same cookie, and every other value written back as Node wrote it.
    let (status, set_cookie, body) = request("/set-n", &cookie).await;
    assert_eq!((status, body.as_str()), (200, "Ok(())"));
    let set_cookie = set_cookie.expect("a cookie with the new expiry");
    assert!(set_cookie.starts_with(&format!("{cookie}; Path=/; Expires=")), "same id, same signature: {set_cookie}");
    let rust_data = node_data.replace(r#""n":"1""#, r#""n":"2""#);
    let rust_text = stored_text(id.clone()).await;
    assert!(rust_text.ends_with(&rust_data), "{rust_text:.300}");
    assert!(rust_text.contains(r#","sameSite":""}"#), "{rust_text:.300}");

    // Node reads the result back: the same values, byte for byte.
    let back = node.call(json!({"op": "get_json", "sid": id.as_str()})).await;
    let back = back["json"].as_str().expect("Node read the session");
    assert!(back.ends_with(&rust_data), "{back:.300}");
}
