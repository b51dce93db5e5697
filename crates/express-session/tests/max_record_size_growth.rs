//! A session above `max_record_size` stays writable only while a request does not grow it: not even by one byte
//! per request, which would let a client grow it without bound. MemoryStore keeps the data apart from the cookie,
//! so the size of the record it was read from must be counted exactly.

mod common;

use axum::Router;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{Record, Session, SessionError, SessionId, Store};

const COOKIE: &str = r#"{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;

fn routes() -> Router {
    // Appends one character to `s`.
    async fn grow(session: Session) -> Result<&'static str, SessionError> {
        let s: String = session.get("s").await?.unwrap_or_default();
        session.insert("s", format!("{s}x")).await?;
        Ok("ok")
    }
    Router::new().route("/grow", get(grow))
}

#[tokio::test]
async fn a_session_above_the_cap_cannot_creep_up_a_byte_a_request() {
    for data in [r#""s":"""#.to_owned(), format!(r#""pad":"{}","s":"""#, "p".repeat(300))] {
        let t = TestApp::new(options().max_record_size(Some(100)), routes());
        let json = format!(r#"{{"cookie":{COOKIE},{data}}}"#);
        let id = SessionId::generate();
        t.store.set(&id, &Record::from_json(&json).unwrap()).await.unwrap();
        let signed = express_session::wire::sign(id.as_str(), b"keyboard cat");
        let cookie = format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")));
        let before = t.store.raw_json(&id).unwrap().len();
        let reply = t.get("/grow", Some(&cookie)).await;
        let after = t.store.raw_json(&id).unwrap().len();
        // Under the cap (the first case) the request may grow it; above it (the second) it may not.
        if before < 100 {
            assert_eq!((reply.status.as_u16(), after), (200, before + 1));
        } else {
            assert_eq!((reply.status.as_u16(), after), (500, before), "{}", reply.body);
        }
    }
}
