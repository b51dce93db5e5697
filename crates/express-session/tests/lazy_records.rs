//! Records read by key (issue 17): a request parses only the values it reads, and a value it does not change is
//! written back as the bytes it was stored as (when they are what `JSON.stringify` writes, as for every value Node
//! wrote; else as express would write them again), in its place, whatever the other keys did. MemoryStore and the
//! HTTP layer, with a manual clock.

mod common;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{Record, Session, SessionError, SessionId, Store};
use serde_json::{Value, json};

type Params = Query<std::collections::HashMap<String, String>>;

/// The cookie that names `id`, signed with the test secret as express-session signs it.
fn cookie_for(id: &str) -> String {
    let signed = express_session::wire::sign(id, b"keyboard cat");
    format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")))
}

/// Stores `json` under a fresh id, as another writer of the store would.
async fn written_by_another(t: &TestApp, json: &str) -> (SessionId, String) {
    let id = SessionId::generate();
    t.store.set(&id, &Record::from_json(json).expect("a readable record")).await.unwrap();
    let cookie = cookie_for(id.as_str());
    (id, cookie)
}

/// `/views` counts views as the README's example does; `/get?key=k` reads a value; `/set?key=k&value=json`
/// sets one; `/remove?key=k` removes one; `/clear` clears.
fn routes() -> Router {
    async fn views(session: Session) -> Result<String, SessionError> {
        let views = session
            .update("views", |views: Option<std::collections::BTreeMap<String, u64>>| {
                let mut views = views.unwrap_or_default();
                *views.entry("/foo".into()).or_insert(0) += 1;
                views
            })
            .await?;
        Ok(views["/foo"].to_string())
    }
    async fn read(session: Session, Query(q): Params) -> Result<String, SessionError> {
        Ok(json!(session.get_value(&q["key"]).await?).to_string())
    }
    async fn set(session: Session, Query(q): Params) -> Result<&'static str, SessionError> {
        session.insert_value(&q["key"], serde_json::from_str(&q["value"]).unwrap()).await?;
        Ok("ok")
    }
    async fn remove(session: Session, Query(q): Params) -> Result<&'static str, SessionError> {
        session.remove::<Value>(&q["key"]).await?;
        Ok("ok")
    }
    async fn clear(session: Session) -> Result<&'static str, SessionError> {
        session.clear().await?;
        Ok("ok")
    }
    Router::new()
        .route("/views", get(views))
        .route("/get", get(read))
        .route("/set", get(set))
        .route("/remove", get(remove))
        .route("/clear", get(clear))
}

const COOKIE: &str = r#"{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;

/// Values as Node's `JSON.stringify` writes them (escapes, control characters, numbers in both notations): kept as
/// their bytes while untouched.
const NODE: &str = r#""blob":"café \"q\" \\ \u0001","n":1e+21,"f":0.000001,"list":[1.5,{"k":"A"}]"#;

/// Values `JSON.stringify` would write otherwise (escapes it does not use, numbers in another form), which only
/// another writer stores, and what express writes for them when it saves the session (see `record/canonical.rs`).
const ODD: &str = r#""blob":"caf\u00e9 \/ \"q\" é","n":1e2,"f":1.0,"list":[1.50,{"k":"\u0041"}]"#;
const ODD_AS_EXPRESS: &str = r#""blob":"café / \"q\" é","n":100,"f":1,"list":[1.5,{"k":"A"}]"#;

#[tokio::test]
async fn untouched_values_keep_their_bytes_and_places_when_another_key_changes() {
    let t = TestApp::new(options(), routes());
    let node = format!(r#"{{"cookie":{COOKIE},{NODE},"views":{{"/foo":1}},"last":true}}"#);
    let (id, cookie) = written_by_another(&t, &node).await;
    assert_eq!(t.store.raw_json(&id).as_deref(), Some(node.as_str()), "stored as written");

    let counted = t.get("/views", Some(&cookie)).await;
    assert_eq!((counted.status.as_u16(), counted.body.as_str()), (200, "2"));
    let expected = node.replace(r#""views":{"/foo":1}"#, r#""views":{"/foo":2}"#);
    assert_eq!(t.store.raw_json(&id), Some(expected.clone()), "only views changed, in its place");

    // Reading a value does not change its bytes either; its value is what the text says.
    let read = t.get("/get?key=blob", Some(&cookie)).await;
    assert_eq!(read.body, json!("café \"q\" \\ \u{1}").to_string());
    let read = t.get("/get?key=list", Some(&cookie)).await;
    assert_eq!(read.body, r#"[1.5,{"k":"A"}]"#);
    assert_eq!(t.store.raw_json(&id), Some(expected.clone()), "a read-only request writes nothing");
    t.get("/views", Some(&cookie)).await;
    let expected = expected.replace(r#""views":{"/foo":2}"#, r#""views":{"/foo":3}"#);
    assert_eq!(t.store.raw_json(&id), Some(expected.clone()));

    // A new key goes last, a removed key is cut, a changed key is written as JSON.stringify writes it.
    t.get("/set?key=new&value=%22%C3%A9%22", Some(&cookie)).await;
    t.get("/remove?key=n", Some(&cookie)).await;
    t.get("/set?key=f&value=2", Some(&cookie)).await;
    let expected = format!(
        "{},\"new\":\"é\"}}",
        expected.replace(r#","n":1e+21"#, "").replace(r#""f":0.000001"#, r#""f":2"#).trim_end_matches('}')
    );
    assert_eq!(t.store.raw_json(&id), Some(expected));

    // Clearing keeps nothing but the cookie.
    t.get("/clear", Some(&cookie)).await;
    assert_eq!(t.store.raw_json(&id), Some(format!(r#"{{"cookie":{COOKIE}}}"#)));
}

/// Another writer's values in a form `JSON.stringify` never writes are stored as express stores them after a
/// save, whatever the request changed (here: nothing but the views), and read as `JSON.parse` reads them.
#[tokio::test]
async fn another_writers_odd_values_are_saved_as_express_saves_them() {
    let t = TestApp::new(options(), routes());
    let odd = format!(r#"{{"cookie":{COOKIE},{ODD},"views":{{"/foo":1}}}}"#);
    let (id, cookie) = written_by_another(&t, &odd).await;
    let read = t.get("/get?key=blob", Some(&cookie)).await;
    assert_eq!(read.body, json!("café / \"q\" é").to_string());
    t.get("/views", Some(&cookie)).await;
    assert_eq!(t.store.raw_json(&id), Some(format!(r#"{{"cookie":{COOKIE},{ODD_AS_EXPRESS},"views":{{"/foo":2}}}}"#)));
}

/// What Node's `JSON.parse` makes of a record the lazy reader reads too: the last of repeated keys in the place of
/// the first, reserved keys dropped, escaped keys unescaped; a save writes the data as express would.
#[tokio::test]
async fn repeated_reserved_and_escaped_keys_read_as_node_reads_them() {
    let t = TestApp::new(options(), routes());
    let node = format!(
        r#"{{"cookie":{COOKIE},"a":1,"save":"x","k\"ey":2,"\u0062":3,"a":{{"deep":[4]}},"__proto__":{{}},"views":{{}}}}"#
    );
    let (id, cookie) = written_by_another(&t, &node).await;
    let read = t.get("/get?key=a", Some(&cookie)).await;
    assert_eq!(read.body, r#"{"deep":[4]}"#, "the last value of a repeated key");
    let read = t.get("/get?key=k%22ey", Some(&cookie)).await;
    assert_eq!(read.body, "2");
    let read = t.get("/get?key=b", Some(&cookie)).await;
    assert_eq!(read.body, "3");
    let read = t.get("/get?key=save", Some(&cookie)).await;
    assert_eq!(read.body, "null", "reserved keys are dropped as express drops them");
    t.get("/views", Some(&cookie)).await;
    assert_eq!(
        t.store.raw_json(&id),
        Some(format!(r#"{{"cookie":{COOKIE},"a":{{"deep":[4]}},"k\"ey":2,"b":3,"views":{{"/foo":1}}}}"#))
    );
}

/// Records the lazy reader leaves to the whole-record parse (a key without a Rust form, more keys than it indexes)
/// and values it keeps as text (a lone surrogate, nesting beyond serde_json's limit) still round-trip.
#[tokio::test]
async fn records_read_whole_or_kept_as_text_still_round_trip() {
    let t = TestApp::new(options(), routes());
    let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
    let many: String = (0..100).map(|i| format!(r#","k{i}":{i}"#)).collect();
    for data in [
        format!(r#""half":"\ud83d","deep":{deep},"views":{{"/foo":1}}"#),
        r#""\udc00":1,"views":{"/foo":1}"#.to_owned(),
        format!(r#""views":{{"/foo":1}}{many}"#),
    ] {
        let node = format!(r#"{{"cookie":{COOKIE},{data}}}"#);
        let (id, cookie) = written_by_another(&t, &node).await;
        let counted = t.get("/views", Some(&cookie)).await;
        assert_eq!(counted.body, "2", "{}", &data[..20]);
        let expected = node.replace(r#""views":{"/foo":1}"#, r#""views":{"/foo":2}"#);
        assert_eq!(t.store.raw_json(&id), Some(expected), "{}", &data[..20]);
    }
}

/// The public `Record` API reads a lazily split record as it reads a parsed one.
#[test]
fn the_record_api_sees_lazy_records_as_parsed_ones() {
    let json = format!(r#"{{"cookie":{COOKIE},{ODD},"x":{{"y":[true,null]}}}}"#);
    let mut record = Record::from_json(&json).unwrap();
    let as_express = format!(r#"{{"cookie":{COOKIE},{ODD_AS_EXPRESS},"x":{{"y":[true,null]}}}}"#);
    assert_eq!(record.to_json(), as_express, "untouched: JSON.stringify(JSON.parse(text))");
    let node = format!(r#"{{"cookie":{COOKIE},{NODE}}}"#);
    assert_eq!(Record::from_json(&node).unwrap().to_json(), node, "untouched Node text: the same bytes");
    assert_eq!(record.data()["blob"], "café / \"q\" é");
    assert_eq!(record.data()["n"], json!(100.0));
    assert_eq!(record.data().keys().collect::<Vec<_>>(), ["blob", "n", "f", "list", "x"]);
    assert_eq!(record.json_len(), as_express.len());
    // Read again, the written text holds the values JavaScript holds (`1e2` is now the integer 100) and is
    // written as it is.
    let copy = Record::from_json(&record.to_json()).unwrap();
    assert_eq!(copy.to_json(), record.to_json());
    assert_eq!(copy.data()["n"], json!(100));
    // Through data_mut() every value is parsed and written as JSON.stringify writes it.
    record.data_mut().insert("z".into(), json!(1));
    assert_eq!(
        record.to_json(),
        format!(
            r#"{{"cookie":{COOKIE},"blob":"café / \"q\" é","n":100,"f":1,"list":[1.5,{{"k":"A"}}],"x":{{"y":[true,null]}},"z":1}}"#
        )
    );
}
