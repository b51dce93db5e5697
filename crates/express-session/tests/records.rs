//! Records the Node app writes, read and written back through the HTTP layer (issue 13, defects 6, 8, 9, 10):
//! values serde_json cannot hold, falsy cookie attributes, empty domain and path, deep values, and sessions
//! above `max_record_size`. MemoryStore with a manual clock, as in `http.rs`.

mod common;

use std::error::Error as _;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{CookieOptions, Record, SessionError, SessionId, Store, Timestamp};
use express_session::{Session, record::MAX_VALUE_DEPTH};
use serde_json::{Value, json};

/// `depth` arrays around `1`, as `JSON.stringify` writes them.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// A JSON value nested `depth` deep.
fn nested_value(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| Value::Array(vec![inner]))
}

/// The cookie that names `id`, signed with the test secret as express-session signs it.
fn cookie_for(id: &str) -> String {
    let signed = express_session::wire::sign(id, b"keyboard cat");
    format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")))
}

/// Stores `json` under a fresh id as the Node app's store would (the text as `JSON.stringify` wrote it).
async fn node_writes(t: &TestApp, json: &str) -> (SessionId, String) {
    let id = SessionId::generate();
    let record = Record::from_json(json).expect("every record Node can read is read");
    t.store.set(&id, &record).await.unwrap();
    let cookie = cookie_for(id.as_str());
    (id, cookie)
}

async fn stored(t: &TestApp, id: &SessionId) -> String {
    t.store.get(id).await.unwrap().expect("the session is still stored").record.to_json()
}

/// The error and its causes, as a log line would show them.
fn chain(error: &SessionError) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// `/get?key=k` answers the value as JSON, or `error: <chain>`; `/set?key=k&depth=d` stores a value `d` deep;
/// `/count` bumps `n`; `/user` answers `user`.
fn routes() -> Router {
    async fn read(session: Session, Query(q): Query<std::collections::HashMap<String, String>>) -> String {
        match session.get_value(&q["key"]).await {
            Ok(value) => json!(value).to_string(),
            Err(error) => format!("error: {}", chain(&error)),
        }
    }
    async fn read_u64(session: Session, Query(q): Query<std::collections::HashMap<String, String>>) -> String {
        match session.get::<u64>(&q["key"]).await {
            Ok(value) => json!(value).to_string(),
            Err(error) => format!("error: {}", chain(&error)),
        }
    }
    async fn set(session: Session, Query(q): Query<std::collections::HashMap<String, String>>) -> String {
        let depth = q["depth"].parse().unwrap();
        match session.insert_value(&q["key"], nested_value(depth)).await {
            Ok(()) => "ok".into(),
            Err(error) => format!("error: {}", chain(&error)),
        }
    }
    async fn remove(
        session: Session,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Result<&'static str, SessionError> {
        // The key is removed even when its old value cannot be read (the error says so).
        match session.remove::<Value>(&q["key"]).await {
            Ok(_) | Err(SessionError::Deserialize(_)) => Ok("ok"),
            Err(error) => Err(error),
        }
    }
    async fn count(session: Session) -> Result<String, SessionError> {
        Ok(session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?.to_string())
    }
    async fn grow(session: Session) -> Result<&'static str, SessionError> {
        session.insert("more", "x".repeat(100)).await?;
        Ok("ok")
    }
    async fn user(session: Session) -> Result<String, SessionError> {
        let user: Option<String> = session.get("user").await?;
        let keys = session.keys().await?;
        let data = session.data().await?;
        Ok(json!({"user": user, "keys": keys, "data_keys": data.keys().collect::<Vec<_>>()}).to_string())
    }
    async fn empty_domain(session: Session) -> Result<&'static str, SessionError> {
        let now = Timestamp::from_millis(1_893_456_000_123);
        let mut failed = None;
        session
            .modify_cookie(|cookie, _| {
                for (field, value) in [("domain", json!("")), ("path", json!("")), ("sameSite", json!(""))] {
                    if let Err(e) = cookie.set_express_field(field, &value, now) {
                        failed = Some(e);
                    }
                }
            })
            .await?;
        assert!(failed.is_none(), "{failed:?}");
        session.insert("touched", true).await?;
        Ok("ok")
    }
    Router::new()
        .route("/get", get(read))
        .route("/get_u64", get(read_u64))
        .route("/set", get(set))
        .route("/remove", get(remove))
        .route("/count", get(count))
        .route("/grow", get(grow))
        .route("/user", get(user))
        .route("/empty-domain", get(empty_domain))
}

const NODE_COOKIE: &str = r#"{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/","sameSite":""}"#;

/// Defect 9: a record with a lone surrogate, a `sameSite` of `""` and values deeper than serde_json's limit is
/// the user's session: they stay logged in, get no new cookie, and what the request did not touch is written
/// back byte for byte, in its place.
#[tokio::test]
async fn a_record_node_can_read_is_read_and_its_untouched_values_written_back_unchanged() {
    let t = TestApp::new(options().save_uninitialized(true), routes());
    let (half, deep, abyss) = (r#""\ud83d""#, nested(MAX_VALUE_DEPTH), nested(100_000));
    let node = format!(
        r#"{{"cookie":{NODE_COOKIE},"user":"alice","half":{half},"deep":{deep},"n":1,"abyss":{abyss},"tiny":0.000001,"last":{{"k":"v"}}}}"#
    );
    let (id, cookie) = node_writes(&t, &node).await;

    let user = t.get("/user", Some(&cookie)).await;
    assert_eq!(user.status, 200, "{}", user.body);
    assert_eq!(user.set_cookie, None, "still logged in: no new session, no cookie");
    let body: Value = serde_json::from_str(&user.body).unwrap();
    assert_eq!(body["user"], "alice");
    assert_eq!(body["keys"], json!(["user", "half", "deep", "n", "abyss", "tiny", "last"]));
    assert_eq!(
        body["data_keys"],
        json!(["user", "deep", "n", "tiny", "last"]),
        "data() leaves out what has no Rust form"
    );

    let counted = t.get("/count", Some(&cookie)).await;
    assert_eq!((counted.status.as_u16(), counted.body.as_str()), (200, "2"));
    assert_eq!(counted.set_cookie, None);
    assert_eq!(
        stored(&t, &id).await,
        node.replace(r#""n":1"#, r#""n":2"#),
        "only n changed; every other value is the same bytes in the same place"
    );
    assert_eq!(t.store.raw_json(&id), Some(node.replace(r#""n":1"#, r#""n":2"#)), "MemoryStore::raw_json too");

    // Reading a value without a Rust form fails that read only, and says why without quoting it.
    let half_read = t.get("/get?key=half", Some(&cookie)).await;
    assert!(half_read.body.starts_with("error: session value could not be deserialized"), "{}", half_read.body);
    assert!(half_read.body.contains("the stored JSON value has no Rust form: "), "{}", half_read.body);
    let abyss_read = t.get("/get?key=abyss", Some(&cookie)).await;
    assert!(abyss_read.body.contains("nested 100000 levels deep"), "{}", abyss_read.body.get(..200).unwrap());
    // A value deeper than serde_json's limit but within MAX_VALUE_DEPTH is read.
    let deep_read = t.get("/get?key=deep", Some(&cookie)).await;
    assert_eq!(deep_read.body, deep);

    // Removing or replacing such a value works as for any other.
    assert_eq!(t.get("/remove?key=abyss", Some(&cookie)).await.body, "ok");
    assert_eq!(t.get("/set?key=half&depth=0", Some(&cookie)).await.body, "ok");
    let expected = format!(
        r#"{{"cookie":{NODE_COOKIE},"user":"alice","half":1,"deep":{deep},"n":2,"tiny":0.000001,"last":{{"k":"v"}}}}"#
    );
    assert_eq!(stored(&t, &id).await, expected);
}

/// Defect 8: a value that could not be read back is refused at insert; one of the documented depth is stored
/// and read back by the next request.
#[tokio::test]
async fn values_are_stored_up_to_the_documented_depth_and_refused_beyond() {
    let t = TestApp::new(options(), routes());
    let first = t.get(&format!("/set?key=deep&depth={MAX_VALUE_DEPTH}"), None).await;
    assert_eq!(first.body, "ok");
    let cookie = first.cookie();
    assert_eq!(t.get("/get?key=deep", Some(&cookie)).await.body, nested(MAX_VALUE_DEPTH));

    let refused = t.get(&format!("/set?key=deeper&depth={}", MAX_VALUE_DEPTH + 1), Some(&cookie)).await;
    assert_eq!(
        refused.body,
        format!(
            "error: session value is nested {} levels deep; at most {MAX_VALUE_DEPTH} can be read back",
            MAX_VALUE_DEPTH + 1
        )
    );
    // The defect's own case: 127 levels (128 with the record around it) reads back.
    assert_eq!(t.get("/set?key=d127&depth=127", Some(&cookie)).await.body, "ok");
    assert_eq!(t.get("/get?key=d127", Some(&cookie)).await.body, nested(127));
    assert_eq!(t.get("/get?key=deeper", Some(&cookie)).await.body, "null", "nothing was stored");
}

/// Defect 6: an empty domain or path (Node's record, or `set_express_field`) is left out of `Set-Cookie`, as
/// cookie 0.7 leaves a falsy one out; falsy `sameSite` and `priority` too. The expected headers are what
/// express-session 1.19's `Cookie` and cookie 0.7.2's `serialize` give for the same cookie.
#[tokio::test]
async fn an_empty_domain_or_path_is_left_out_of_set_cookie() {
    let t = TestApp::new(options(), routes());
    // `new Cookie({domain: "", path: "", sameSite: "", priority: 0, maxAge: 60000})` as express stores it.
    let node = r#"{"cookie":{"originalMaxAge":60000,"priority":0,"expires":"2030-01-01T00:01:00.123Z","httpOnly":true,"domain":"","path":"","sameSite":""},"n":1}"#;
    let (id, cookie) = node_writes(&t, node).await;
    let reply = t.get("/count", Some(&cookie)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.set_cookie.as_deref(),
        Some(format!("{cookie}; Expires=Tue, 01 Jan 2030 00:01:00 GMT; HttpOnly").as_str()),
    );
    assert_eq!(
        stored(&t, &id).await,
        r#"{"cookie":{"originalMaxAge":60000,"priority":0,"expires":"2030-01-01T00:01:00.123Z","httpOnly":true,"domain":"","path":"","sameSite":""},"n":2}"#
    );

    // A handler's `cookie.domain = ''` (through set_express_field) on a session with a domain.
    let t = TestApp::new(options().cookie(CookieOptions::new().domain("example.com")), routes());
    let first = t.get("/count", None).await;
    assert!(first.set_cookie.as_deref().unwrap().contains("; Domain=example.com; Path=/"));
    let reply = t.get("/empty-domain", Some(&first.cookie())).await;
    assert_eq!(reply.status, 200);
    // A browser-session cookie is sent again only when the id changes; check what is stored.
    let record = t.store.get(&SessionId::new(first.cookie_id()).unwrap()).await.unwrap().unwrap().record;
    assert_eq!(record.cookie().domain(), Some(""));
    assert_eq!(
        express_session::wire::set_cookie_header("connect.sid", "s:abc.def", record.cookie()).unwrap(),
        "connect.sid=s%3Aabc.def; HttpOnly",
        "cookie.serialize('connect.sid', 's:abc.def', {{domain: '', path: '', httpOnly: true, sameSite: ''}})"
    );
}

/// Defect 6: `{"cookie": {"domain": "", "path": ""}}` is a valid express configuration: every request gets a
/// session, and the cookie has neither attribute.
#[tokio::test]
async fn the_express_options_domain_and_path_may_be_empty() {
    let cookie = CookieOptions::from_express_json(&json!({"domain": "", "path": "", "sameSite": "", "priority": 0}))
        .expect("express accepts these");
    let t = TestApp::new(options().cookie(cookie), routes());
    let reply = t.get("/nested/deeper/count", None).await;
    assert_eq!(reply.status, 404, "the empty path gates nothing (express: `cookieOptions.path || '/'`)");
    let reply = t.get("/count", None).await;
    let set_cookie = reply.set_cookie.as_deref().unwrap();
    assert_eq!(set_cookie, format!("{}; HttpOnly", reply.cookie()));
    let id = SessionId::new(reply.cookie_id()).unwrap();
    assert_eq!(
        stored(&t, &id).await,
        r#"{"cookie":{"originalMaxAge":null,"priority":0,"expires":null,"httpOnly":true,"domain":"","path":"","sameSite":""},"n":1}"#,
        "the record express-session writes for the same options"
    );
    assert_eq!(t.get("/count", Some(&reply.cookie())).await.body, "2");
}

/// The layer's warning for an unreadable record, and a handler's type error, never quote the stored value.
#[tokio::test]
async fn errors_about_stored_values_do_not_quote_them() {
    let t = TestApp::new(options(), routes());
    let node = format!(r#"{{"cookie":{NODE_COOKIE},"token":"secret-token-123"}}"#);
    let (_, cookie) = node_writes(&t, &node).await;
    let reply = t.get("/get_u64?key=token", Some(&cookie)).await;
    assert!(reply.body.starts_with("error: session value could not be deserialized"), "{}", reply.body);
    assert!(reply.body.contains("expected u64"), "it says what was expected: {}", reply.body);
    assert!(!reply.body.contains("secret"), "{}", reply.body);
}

/// Defect 10: a session above `max_record_size` that the Node app wrote stays writable: a request that does not
/// make it larger is saved; one that grows it is refused (and changes nothing); a new session is held to the
/// limit as before.
#[tokio::test]
async fn a_session_above_the_size_limit_stays_writable_unless_the_request_grows_it() {
    let limit = 4096;
    let t = TestApp::new(options().max_record_size(Some(limit)), routes());
    let big = "x".repeat(2 * limit);
    let node = format!(r#"{{"cookie":{NODE_COOKIE},"big":"{big}","n":1}}"#);
    let (id, cookie) = node_writes(&t, &node).await;

    let same_size = t.get("/count", Some(&cookie)).await;
    assert_eq!((same_size.status.as_u16(), same_size.body.as_str()), (200, "2"));
    assert_eq!(stored(&t, &id).await, node.replace(r#""n":1"#, r#""n":2"#));

    let grown = t.get("/grow", Some(&cookie)).await;
    assert_eq!(grown.status, 500);
    assert_eq!(stored(&t, &id).await, node.replace(r#""n":1"#, r#""n":2"#), "the growth was not stored");

    assert_eq!(t.get("/remove?key=big", Some(&cookie)).await.status, 200);
    assert_eq!(stored(&t, &id).await, format!(r#"{{"cookie":{NODE_COOKIE},"n":2}}"#));

    // A new session may not exceed the limit at all.
    let fresh = TestApp::new(options().max_record_size(Some(100)), routes());
    assert_eq!(fresh.get("/grow", None).await.status, 500);
    assert_eq!(fresh.len().await, 0);
}

/// Defect 6, the other falsy path: a Node record whose cookie has `path: null` (express's `new Cookie(stored)`
/// keeps it, and cookie 0.7 then writes no `Path`) gets a cookie without a path, not `Path=/`.
#[tokio::test]
async fn a_null_path_is_left_out_too() {
    let t = TestApp::new(options().rolling(true), routes());
    let node = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":null},"n":1}"#;
    let (_, cookie) = node_writes(&t, node).await;
    let reply = t.get("/count", Some(&cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "2"));
    assert_eq!(reply.set_cookie, Some(format!("{cookie}; HttpOnly")), "`cookie.serialize` of the same cookie");
}

/// Defect 10 with an absolute timeout: the creation stamp the layer adds to a Node session (which has none) is
/// not growth the request caused, so a session above the limit keeps working and gets its stamp stored.
#[tokio::test]
async fn the_creation_stamp_does_not_count_as_growth() {
    let limit = 4096;
    let options = options().max_record_size(Some(limit)).absolute_timeout(std::time::Duration::from_secs(3600));
    let t = TestApp::new(options, routes());
    let big = "x".repeat(2 * limit);
    let node = format!(r#"{{"cookie":{NODE_COOKIE},"big":"{big}","n":1}}"#);
    let (id, cookie) = node_writes(&t, &node).await;
    let reply = t.get("/count", Some(&cookie)).await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "2"));
    let text = stored(&t, &id).await;
    assert!(text.contains(r#""n":2"#), "{text:.200}");
    assert!(text.contains(r#""__sessionCreatedAt":"#), "the stamp is stored");
    assert_eq!(t.get("/grow", Some(&cookie)).await.status, 500, "growth beyond the stamp is still refused");
}

/// Falsy and truthy non-boolean cookie options, as express-session 1.19 (with cookie 0.7) treats them: every
/// attribute goes by JavaScript truthiness. The expected attributes are what the real express-session sent for
/// `session({cookie: {[field]: value}})` on `GET /count` (node script in the review of the records branch).
#[tokio::test]
async fn cookie_options_go_by_javascript_truthiness_as_in_express() {
    let now = "Tue, 01 Jan 2030 00:00:00 GMT"; // the manual clock of `TestApp`
    for (field, value, attributes) in [
        ("secure", json!(0), "; Path=/; HttpOnly".to_owned()),
        ("secure", json!(""), "; Path=/; HttpOnly".to_owned()),
        ("httpOnly", json!(""), "; Path=/".to_owned()),
        ("httpOnly", json!(0), "; Path=/".to_owned()),
        ("partitioned", json!(1), "; Path=/; HttpOnly; Partitioned".to_owned()),
        ("path", json!(null), "; HttpOnly".to_owned()),
        ("path", json!(false), "; HttpOnly".to_owned()),
        ("maxAge", json!(""), "; Path=/; HttpOnly".to_owned()),
        ("expires", json!(0), format!("; Path=/; Expires={now}; HttpOnly")),
        ("expires", json!(null), "; Path=/; HttpOnly".to_owned()),
        ("domain", json!(0), "; Path=/; HttpOnly".to_owned()),
    ] {
        let options = json!({ field: value });
        let cookie = CookieOptions::from_express_json(&options)
            .unwrap_or_else(|e| panic!("{options}: express accepts it, here: {e}"))
            .allow_insecure_attributes(true);
        let t = TestApp::new(self::options().cookie(cookie), routes());
        let reply = t.get("/count", None).await;
        assert_eq!(reply.status, 200, "{options}");
        let set_cookie = reply.set_cookie.clone().unwrap_or_else(|| panic!("{options}: no Set-Cookie"));
        assert_eq!(&set_cookie[reply.cookie().len()..], attributes, "{options}");
    }
}

/// Records express-session writes for such options read back as express reads them: `expires: ""` (from
/// `maxAge: ""`) is no expiry, and `path: false` or `0` is no `Path`, as `null` is. Refusing the record logged the
/// user out. What the real express-session 1.19 sends for the same stored record with `rolling: true`.
#[tokio::test]
async fn stored_falsy_cookie_fields_read_as_express_reads_them() {
    for (cookie_json, attributes) in [
        (r#"{"originalMaxAge":"","expires":"","httpOnly":true,"path":false}"#, "; HttpOnly"),
        (
            r#"{"originalMaxAge":null,"expires":null,"httpOnly":"","path":0,"secure":0,"partitioned":1}"#,
            "; Partitioned",
        ),
    ] {
        let t = TestApp::new(options().rolling(true), routes());
        let (_, cookie) = node_writes(&t, &format!(r#"{{"cookie":{cookie_json},"n":1}}"#)).await;
        let reply = t.get("/count", Some(&cookie)).await;
        assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "2"), "{cookie_json}: the session is kept");
        assert_eq!(reply.set_cookie, Some(format!("{cookie}{attributes}")), "{cookie_json}");
    }
}

/// A JSON object nested `depth` deep: `{"a":{"a":...1...}}` (objects cost more stack per level than arrays).
fn nested_object(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// Values of the documented depth, made of objects, go through every session operation on the test thread's
/// 2 MiB stack (a tokio worker's size) in a debug build: insert, the end-of-request save, the next request's
/// read, update (which reads and writes it), data(), remove, and the drop of each copy.
#[tokio::test]
async fn object_values_of_the_documented_depth_pass_every_operation() {
    async fn deep(session: Session, Query(q): Query<std::collections::HashMap<String, String>>) -> String {
        let result = async {
            match q["op"].as_str() {
                "insert" => session.insert_value("deep", nested_object(MAX_VALUE_DEPTH)).await?,
                "update" => {
                    session.update("deep", |v: Option<Value>| v.unwrap_or(Value::Null)).await?;
                    session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
                }
                "get" => assert_eq!(session.get_value("deep").await?, Some(nested_object(MAX_VALUE_DEPTH))),
                "data" => assert_eq!(session.data().await?.len(), 2),
                _ => assert!(session.remove::<Value>("deep").await?.is_some()),
            }
            Ok::<_, SessionError>("ok".to_owned())
        }
        .await;
        result.unwrap_or_else(|e| format!("error: {e}"))
    }
    let t = TestApp::new(options(), Router::new().route("/deep", get(deep)));
    let first = t.get("/deep?op=insert", None).await;
    assert_eq!(first.body, "ok");
    let cookie = first.cookie();
    for op in ["get", "update", "get", "data", "remove"] {
        assert_eq!(t.get(&format!("/deep?op={op}"), Some(&cookie)).await.body, "ok", "{op}");
    }
}

/// express hashes `JSON.stringify(req.session)` to decide "modified": a handler that writes back the value it read
/// changes nothing, so nothing is saved and Node's text stays as it was. Values kept as text (a number Node writes
/// positionally, a value deeper than serde_json's limit) are compared by what they hold, too.
#[tokio::test]
async fn writing_back_a_value_kept_as_text_is_no_change() {
    async fn same(session: Session, Query(q): Query<std::collections::HashMap<String, String>>) -> String {
        let key = &q["key"];
        let value = session.get_value(key).await.unwrap().unwrap();
        session.insert_value(key, value).await.unwrap();
        session.update(key, |v: Option<Value>| v.unwrap()).await.unwrap();
        "ok".into()
    }
    let t = TestApp::new(options().resave(false), Router::new().route("/same", get(same)));
    let deep = nested(200);
    let node = format!(r#"{{"cookie":{NODE_COOKIE},"tiny":0.000001,"deep":{deep},"n":1}}"#);
    let (id, cookie) = node_writes(&t, &node).await;
    let before = t.store.get(&id).await.unwrap().unwrap().version;
    for key in ["tiny", "deep"] {
        assert_eq!(t.get(&format!("/same?key={key}"), Some(&cookie)).await.body, "ok");
        assert_eq!(stored(&t, &id).await, node, "{key}: written back as it was");
        assert_eq!(t.store.get(&id).await.unwrap().unwrap().version, before, "{key}: not modified, so not saved");
    }
}

/// The stand-in of a value kept as text can reach a handler through the store's API (`Record::data()`): inserted
/// under a key it is that text, but only what insert accepts of any value gets through (no value deeper than
/// MAX_VALUE_DEPTH, nothing that is not one JSON value), so it cannot smuggle into the record what could not be
/// read back.
#[tokio::test]
async fn a_stand_in_from_the_store_is_held_to_the_rules_of_any_value() {
    let store_app = TestApp::new(options(), routes());
    let node = format!(r#"{{"cookie":{NODE_COOKIE},"half":"\ud83d","abyss":{}}}"#, nested(100_000));
    let (id, _) = node_writes(&store_app, &node).await;
    let data = store_app.store.get(&id).await.unwrap().unwrap().record.data().clone();
    let marker = data["half"].as_object().unwrap().keys().next().unwrap().clone();
    let forged = |text: &str| json!({ marker.clone(): text });
    for (name, value, expected) in [
        ("the 100000-deep value", data["abyss"].clone(), "error: session value is nested 100000 levels deep"),
        ("text that is not one JSON value", forged(r#"1,"admin":true"#), "error: "),
        ("the lone surrogate", data["half"].clone(), "ok"),
        ("an object", forged(r#"{"admin":true}"#), "ok"),
    ] {
        let copy = move |session: Session| async move {
            match session.insert_value("copy", value).await {
                Ok(()) => "ok".to_owned(),
                Err(error) => format!("error: {error}"),
            }
        };
        // No size limit: depth alone must refuse it.
        let t = TestApp::new(options().max_record_size(None), Router::new().route("/copy", get(copy)));
        let reply = t.get("/copy", None).await;
        assert!(reply.body.starts_with(expected), "{name}: {}", reply.body);
        let stored_text = match reply.set_cookie {
            Some(_) => stored(&t, &SessionId::new(reply.cookie_id()).unwrap()).await,
            None => String::new(),
        };
        if expected == "ok" {
            assert!(!stored_text.contains(&marker), "{name}: the marker is never stored: {stored_text}");
        } else {
            assert_eq!(t.len().await, 0, "{name}: nothing stored: {stored_text:.100}");
        }
    }
}

/// MemoryStore keeps a value kept as text inside its data text as an escaped string: the size the record was
/// loaded at is still its JSON's size, so such a value gives no room to grow past `max_record_size` (it gave
/// a third of its size, again at every request).
#[tokio::test]
async fn values_kept_as_text_give_no_room_past_the_size_limit() {
    let limit = 4096;
    let t = TestApp::new(options().max_record_size(Some(limit)), routes());
    let halves = vec![r#""\ud83d""#; 300].join(",");
    let base = format!(r#"{{"cookie":{NODE_COOKIE},"halves":[{halves}],"pad":""}}"#);
    let node = base.replace(r#""pad":"""#, &format!(r#""pad":"{}""#, "p".repeat(limit - 50 - base.len())));
    assert_eq!(node.len(), limit - 50);
    let (id, cookie) = node_writes(&t, &node).await;
    let grown = t.get("/grow", Some(&cookie)).await;
    assert_eq!(grown.status, 500, "110 bytes more, above the limit and the loaded size");
    assert_eq!(stored(&t, &id).await, node);
    let same = t.get("/remove?key=pad", Some(&cookie)).await;
    assert_eq!(same.status, 200);
}

/// The room for the creation stamp is for a record loaded without one: a record that had its stamp gets none,
/// or every request could grow it by a few bytes past `max_record_size`.
#[tokio::test]
async fn a_record_with_its_stamp_gets_no_room_to_grow() {
    async fn add(session: Session, Query(q): Query<std::collections::HashMap<String, String>>) -> &'static str {
        match session.insert(&q["key"], "x".repeat(20)).await {
            Ok(()) => "ok",
            Err(_) => "error",
        }
    }
    let limit = 4096;
    let options = options().max_record_size(Some(limit)).absolute_timeout(std::time::Duration::from_secs(3600));
    let t = TestApp::new(options, Router::new().route("/add", get(add)));
    let node =
        format!(r#"{{"cookie":{NODE_COOKIE},"big":"{}","__sessionCreatedAt":1893456000123}}"#, "x".repeat(2 * limit));
    let (id, cookie) = node_writes(&t, &node).await;
    let reply = t.get("/add?key=a", Some(&cookie)).await;
    assert_eq!(reply.status, 500, "27 bytes of growth past the limit");
    assert_eq!(stored(&t, &id).await, node);
}

/// A top-level key with a lone UTF-16 surrogate (`req.session[input.slice(0, 10)]` cut an emoji in half) is
/// read as JavaScript reads it: the record is the user's session (refusing it logged the user out), the key is
/// written back byte for byte in its place, and, as it has no Rust form, it is not listed and cannot be written
/// from Rust (its stand-in is a reserved key).
#[tokio::test]
async fn a_key_without_a_rust_form_is_kept_in_place() {
    let t = TestApp::new(options().save_uninitialized(true), routes());
    let node = format!(r#"{{"cookie":{NODE_COOKIE},"user":"alice","\ud83d":{{"a":1}},"n":1}}"#);
    let (id, cookie) = node_writes(&t, &node).await;
    let user = t.get("/user", Some(&cookie)).await;
    assert_eq!((user.status.as_u16(), user.set_cookie.as_deref()), (200, None), "{}", user.body);
    let body: Value = serde_json::from_str(&user.body).unwrap();
    assert_eq!(body, json!({"user": "alice", "keys": ["user", "n"], "data_keys": ["user", "n"]}));
    assert_eq!(t.get("/count", Some(&cookie)).await.body, "2");
    assert_eq!(stored(&t, &id).await, node.replace(r#""n":1"#, r#""n":2"#));
    assert_eq!(t.store.raw_json(&id), Some(node.replace(r#""n":1"#, r#""n":2"#)));

    let stand_in = t.store.get(&id).await.unwrap().unwrap().record.data().keys().nth(1).unwrap().clone();
    let insert = move |session: Session| async move {
        match session.insert_value(&stand_in, json!(1)).await {
            Err(SessionError::ReservedKey(_)) => "reserved",
            _ => "accepted",
        }
    };
    let t = TestApp::new(options(), Router::new().route("/insert", get(insert)));
    assert_eq!(t.get("/insert", None).await.body, "reserved");
}

/// JavaScript has one number type: `JSON.stringify` writes 10 and 10.0 alike (`10`), so a handler that sets a
/// whole-valued `f64` (a struct's `total: f64`) over the integer Node stored changes nothing express can see: no
/// save, and Node's text stays as it was. A value that does change is still saved.
#[tokio::test]
async fn a_float_equal_to_the_stored_integer_is_no_change() {
    #[derive(serde::Serialize)]
    struct Cart {
        total: f64,
        items: Vec<f64>,
    }
    async fn put(session: Session, Query(q): Query<std::collections::HashMap<String, String>>) -> String {
        let total: f64 = q["total"].parse().unwrap();
        session.insert("cart", &Cart { total, items: vec![1.0, 2.5] }).await.unwrap();
        session.insert_value("n", json!(7.0)).await.unwrap();
        "ok".into()
    }
    let t = TestApp::new(options().resave(false), Router::new().route("/put", get(put)));
    let node = format!(r#"{{"cookie":{NODE_COOKIE},"cart":{{"total":10,"items":[1,2.5]}},"n":7}}"#);
    let (id, cookie) = node_writes(&t, &node).await;
    let before = t.store.get(&id).await.unwrap().unwrap().version;
    assert_eq!(t.get("/put?total=10", Some(&cookie)).await.body, "ok");
    assert_eq!(stored(&t, &id).await, node, "written back as it was");
    assert_eq!(t.store.get(&id).await.unwrap().unwrap().version, before, "not modified, so not saved");
    assert_eq!(t.get("/put?total=10.5", Some(&cookie)).await.body, "ok");
    assert_eq!(stored(&t, &id).await, node.replace(r#""total":10,"#, r#""total":10.5,"#), "modified, so saved");
}
