//! The session layer against outputs of the real Node packages (`tests/vectors/`, copied from the project's
//! shared vectors): the same options and requests must give byte-identical `Set-Cookie` headers and stored JSON.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use express_session::store::Store;
use express_session::{Clock, MemoryStore, Record, Session, SessionId, SessionManagerLayer, SessionOptions, Timestamp};
use http::header::{COOKIE, SET_COOKIE};
use serde_json::Value;
use tower::ServiceExt;

fn load(file: &str) -> Value {
    let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A layer configured from a vector's options JSON, with express's implicit defaults, a frozen clock and a
/// `genid` that hands out the vector's ids in order.
fn layer(options: &Value, clock: &Clock, store: &MemoryStore, ids: &[&str]) -> SessionManagerLayer {
    let ids = Arc::new(Mutex::new(ids.iter().map(|s| s.to_string()).collect::<VecDeque<_>>()));
    let mut options = options.clone();
    // `key` is express's deprecated alias of `name`.
    if let Some(key) = options.get("key").cloned()
        && options.get("name").is_none()
    {
        options["name"] = key;
    }
    let options = SessionOptions::new()
        .allow_short_secret(true)
        .clear_cookie_on_destroy(false)
        .resave(true)
        .save_uninitialized(true)
        .cookie(express_session::CookieOptions::new().allow_insecure_attributes(true))
        .merge_express_json(&options)
        .unwrap()
        .clock(clock.clone())
        .store(store.clone())
        .genid(move |_| ids.lock().unwrap().pop_front().expect("more ids than the vector has"));
    SessionManagerLayer::new(options).unwrap()
}

fn query_action(request: &Request) -> Option<String> {
    request.uri().query().and_then(|q| q.strip_prefix("action=")).map(str::to_owned)
}

/// The vector generator's route: `modify` sets `user`, `own-cookie` sets a cookie of its own, and the
/// second-request app counts `views` when `?action=modify`.
fn app(action: String, clock: Clock, layer: SessionManagerLayer) -> Router {
    Router::new()
        .fallback(any(move |session: Session, request: Request| {
            let (action, clock) = (action.clone(), clock.clone());
            async move {
                let mut response = "ok".into_response();
                match query_action(&request).as_deref().unwrap_or(action.as_str()) {
                    "modify" if request.uri().query().is_some() => {
                        session.update("views", |v: Option<u64>| v.unwrap_or(0) + 1).await.unwrap();
                    }
                    "modify" => session.insert("user", "alice").await.unwrap(),
                    "own-cookie" => {
                        response.headers_mut().append(SET_COOKIE, "other=value%201; Path=/".parse().unwrap());
                    }
                    "advance clock 2500 ms" => clock.advance(Duration::from_millis(2500)),
                    _ => {}
                }
                response
            }
        }))
        .layer(layer)
}

async fn send(app: &Router, method: &str, path: &str, headers: &Value) -> Response {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(map) = headers.as_object() {
        for (name, value) in map {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
    }
    app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
}

fn set_cookies(response: &Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

fn skip(case: &Value) -> Option<&'static str> {
    let name = case["name"].as_str().unwrap_or_default();
    if name.starts_with("no secret option") {
        Some("cookie-parser's req.secret fallback is Node-only")
    } else if name.starts_with("cookie options as a function") {
        Some("express 1.19's cookie-as-a-function option is not ported")
    } else {
        None
    }
}

#[tokio::test]
async fn set_cookie_vectors_match_node() {
    let mut checked = 0;
    for case in load("set-cookie.json").as_array().unwrap() {
        if let Some(reason) = skip(case) {
            eprintln!("skipped {:?}: {reason}", case["name"]);
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap();
        let id = case["session_id"].as_str().unwrap();
        // Cases where the clock moves inside the handler start at the session's creation time.
        let now = case.get("now_ms_session_created").unwrap_or(&case["now_ms"]).as_i64().unwrap();
        let clock = Clock::manual(Timestamp::from_millis(now));
        let store = MemoryStore::builder().clock(clock.clone()).default_ttl(None).build();
        let app = app(
            case["route_action"].as_str().unwrap().to_owned(),
            clock.clone(),
            layer(&case["options"], &clock, &store, &[id]),
        );
        if kind == "second-request" {
            let first = &case["first_request"];
            clock.set(Timestamp::from_millis(first["now_ms"].as_i64().unwrap()));
            let response = send(&app, "GET", first["path"].as_str().unwrap(), &Value::Null).await;
            // In the rotation case Node made the first request under the old secret alone: its cookie is not
            // ours, only the session it stored is shared.
            let secret = &case["options"]["secret"];
            let first_secret = secret.as_str().or_else(|| secret[0].as_str()).unwrap();
            let ours = express_session::wire::sign(id, first_secret.as_bytes());
            let ours = express_session::wire::encode_uri_component(&format!("s:{ours}")).into_owned();
            if first["set_cookie"].as_str().is_some_and(|c| c.contains(&ours)) {
                let got = set_cookies(&response);
                assert_eq!(got.first().map(String::as_str), first["set_cookie"].as_str(), "{name}: first request");
            }
            clock.set(Timestamp::from_millis(now));
        }
        let request = &case["request"];
        let response =
            send(&app, request["method"].as_str().unwrap(), request["path"].as_str().unwrap(), &request["headers"])
                .await;
        let all = set_cookies(&response);
        let expected_all: Vec<String> =
            case["set_cookie_all"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        assert_eq!(all, expected_all, "{name}");
        let session_id = SessionId::new(id).unwrap();
        assert_eq!(store.raw_json(&session_id).as_deref(), case["memory_store_json"].as_str(), "{name}: stored JSON");
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} set-cookie vectors checked");
}

#[tokio::test]
async fn request_cookie_vectors_match_node() {
    let cases = load("request-cookies.json");
    let cases = cases.as_array().unwrap();
    let mut checked = 0;
    for case in cases {
        if case["cookie_parser_secret"].is_string() {
            continue; // cookie-parser back-compat paths are Node-only.
        }
        let note = case["note"].as_str().unwrap();
        let clock = Clock::manual(Timestamp::from_millis(1_893_456_000_123));
        let store = MemoryStore::builder().clock(clock.clone()).build();
        // The generator's store held every id that some case loaded, plus one expired session.
        for other in cases.iter().filter(|c| c["loaded_from_store"] == true) {
            let id = SessionId::new(other["expected_session_id_or_null"].as_str().unwrap()).unwrap();
            let record =
                Record::from_json(r#"{"cookie":{"originalMaxAge":null,"expires":null,"path":"/"},"marker":1}"#)
                    .unwrap();
            store.set(&id, &record).await.unwrap();
        }
        let mut options = serde_json::json!({"secret": case["secrets"], "resave": false, "saveUninitialized": true});
        options["name"] = case["cookie_name"].clone();
        let app = Router::new()
            .fallback(any(|session: Session| async move {
                let marker: Option<u64> = session.get("marker").await.unwrap();
                let id = session.id().await.unwrap().unwrap();
                format!("{}\n{}", id.as_str(), marker.is_some())
            }))
            .layer(layer(&options, &clock, &store, &["GENERATED-NEW-SESSION-ID"]));
        let mut request = Request::builder().uri("/");
        match &case["cookie_header"] {
            Value::String(s) => request = request.header(COOKIE, s.as_str()),
            Value::Array(lines) => {
                for line in lines {
                    request = request.header(COOKIE, line.as_str().unwrap());
                }
            }
            _ => {}
        }
        let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let (id, loaded) = body.rsplit_once('\n').unwrap();
        let expected_loaded = case["loaded_from_store"].as_bool().unwrap();
        assert_eq!(loaded == "true", expected_loaded, "{note}: loaded from store");
        if expected_loaded {
            assert_eq!(Some(id), case["expected_session_id_or_null"].as_str(), "{note}");
        } else {
            assert_eq!(id, "GENERATED-NEW-SESSION-ID", "{note}: a new session must be generated");
        }
        checked += 1;
    }
    assert!(checked >= 55, "only {checked} request-cookie vectors checked");
}

#[tokio::test]
async fn stored_session_vectors_match_node() {
    let vectors = load("stored-session.json");
    for example in vectors["examples"].as_array().unwrap() {
        let title = example["title"].as_str().unwrap_or_default();
        let ids: Vec<&str> =
            example["session_ids_from_genid"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let options = if example["cookie_config"] == "maxAge 60000" {
            serde_json::json!({"secret": "keyboard cat", "resave": false, "saveUninitialized": true, "cookie": {"maxAge": 60000}})
        } else {
            serde_json::json!({"secret": "keyboard cat", "resave": false, "saveUninitialized": true})
        };
        let clock = Clock::manual(Timestamp::from_millis(0));
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let layer = layer(&options, &clock, &store, &ids);
        let app = if example["example"] == "views" {
            Router::new().fallback(any(|session: Session| async move {
                let n = session.update("views", |v: Option<u64>| v.unwrap_or(0) + 1).await.unwrap();
                format!("views: {n}")
            }))
        } else {
            Router::new()
                .route(
                    "/",
                    any(|session: Session| async move {
                        match session.get::<String>("user").await.unwrap() {
                            Some(user) => format!("hello, {user}!").into_response(),
                            None => "<form>".into_response(),
                        }
                    }),
                )
                .route(
                    "/login",
                    any(|session: Session| async move {
                        session.regenerate().await.unwrap();
                        session.insert("user", "alice").await.unwrap();
                        session.save().await.unwrap();
                        (http::StatusCode::FOUND, [(http::header::LOCATION, "/")]).into_response()
                    }),
                )
        }
        .layer(layer);
        let final_id = SessionId::new(example["final_session_id"].as_str().unwrap()).unwrap();
        let mut compared = None;
        for step in example["steps"].as_array().unwrap() {
            clock.set(Timestamp::from_millis(step["now_ms"].as_i64().unwrap()));
            let req = &step["request"];
            let mut headers = serde_json::Map::new();
            if let Some(cookie) = req["cookie"].as_str() {
                headers.insert("cookie".into(), cookie.into());
            }
            let response =
                send(&app, req["method"].as_str().unwrap(), req["path"].as_str().unwrap(), &Value::Object(headers))
                    .await;
            assert_eq!(
                response.status().as_u16() as u64,
                step["status"].as_u64().unwrap(),
                "{title}: {}",
                step["label"]
            );
            assert_eq!(
                set_cookies(&response).first().map(String::as_str),
                step["set_cookie"].as_str(),
                "{title}: {}",
                step["label"]
            );
            // The vector's stored JSON is taken right after the last save (a later touch moves `expires`).
            if step["label"] == example["compared_after"] {
                compared = store.raw_json(&final_id);
            }
        }
        assert_eq!(compared.as_deref(), example["memory_store_json"].as_str(), "{title}");
    }
}

#[tokio::test]
async fn memory_store_expiry_rules_match_node() {
    let vectors = load("stored-session.json");
    let mut checked = 0;
    for rule in vectors["expiry_rules"].as_array().unwrap() {
        let Some(expected) = rule["memory_store"]["found_by_get_at_same_instant"].as_bool() else { continue };
        let clock = Clock::manual(Timestamp::from_millis(rule["now_ms"].as_i64().unwrap()));
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let mut record = Record::from_value(rule["session"].clone()).unwrap();
        let expires = rule["cookie_expires_offset_ms"].as_i64().map(|ms| clock.now().add_millis(ms));
        record.cookie_mut().set_expires(expires, clock.now());
        let id = SessionId::generate();
        store.set(&id, &record).await.unwrap();
        assert_eq!(store.get(&id).await.unwrap().is_some(), expected, "{}", rule["case"]);
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} expiry rules checked");
}
