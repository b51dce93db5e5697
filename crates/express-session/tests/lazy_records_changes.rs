//! express's change detection on records read split by key, against a model: a request's sets, removals,
//! updates and clears on a record Node wrote leave the store as `JSON.stringify` of the resulting object would
//! (a set keeps an existing key's place, a new key goes last), and a request whose data ends as it was loaded
//! (changed and changed back included) writes nothing.

mod common;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{TestApp, options};
use express_session::{Record, Session, SessionError, SessionId, Store};
use serde_json::{Map, Value, json};

const COOKIE: &str = r#"{"originalMaxAge":3600000,"expires":"2030-01-01T01:00:00.000Z","httpOnly":true,"path":"/"}"#;

/// `ops` is a comma-separated list: `s<key><value index>` sets, `r<key>` removes, `u<key>` adds 1 to a number
/// (or sets 0), `c` clears (`n` does nothing).
fn routes() -> Router {
    async fn ops(session: Session, Path(ops): Path<String>) -> Result<&'static str, SessionError> {
        for op in ops.split(',').filter(|op| !op.is_empty()) {
            let key = &op[1..2.min(op.len())];
            match &op[..1] {
                "s" => session.insert_value(key, values()[op[2..].parse::<usize>().unwrap()].clone()).await?,
                "r" => {
                    session.remove::<Value>(key).await?;
                }
                "u" => {
                    session
                        .update(key, |n: Option<Value>| json!(n.and_then(|n| n.as_u64()).map_or(0, |n| n + 1)))
                        .await?;
                }
                "c" => session.clear().await?,
                _ => {}
            }
        }
        Ok("ok")
    }
    Router::new().route("/ops/{ops}", get(ops))
}

fn values() -> Vec<Value> {
    vec![json!(0), json!(1), json!("é"), json!({"x": [1, 2]}), json!(null), json!([]), json!(1.5)]
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn apply(model: &mut Map<String, Value>, op: &str) {
    let key = op.get(1..2).unwrap_or("");
    match &op[..1] {
        "s" => {
            let value = values()[op[2..].parse::<usize>().unwrap()].clone();
            model.insert(key.to_owned(), value);
        }
        "r" => {
            model.shift_remove(key);
        }
        "u" => {
            let n = model.get(key).and_then(Value::as_u64).map_or(0, |n| n + 1);
            model.insert(key.to_owned(), json!(n));
        }
        _ => model.clear(),
    }
}

#[tokio::test]
async fn requests_on_split_records_save_what_express_saves() {
    let t = TestApp::new(options().resave(false), routes());
    let keys = ["a", "b", "c", "d"];
    for seed in 1..400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut start = Map::new();
        for _ in 0..rng.below(5) {
            start.insert(keys[rng.below(4)].to_owned(), values()[rng.below(7)].clone());
        }
        let ops: Vec<String> = (0..rng.below(5))
            .map(|_| match rng.below(8) {
                0..=3 => format!("s{}{}", keys[rng.below(4)], rng.below(7)),
                4 | 5 => format!("r{}", keys[rng.below(4)]),
                6 => format!("u{}", keys[rng.below(4)]),
                _ => "c".to_owned(),
            })
            .collect();
        let mut model = start.clone();
        for op in &ops {
            apply(&mut model, op);
        }
        let data = |map: &Map<String, Value>| {
            let text = serde_json::to_string(map).unwrap();
            if map.is_empty() { String::new() } else { format!(",{}", &text[1..text.len() - 1]) }
        };
        let json = format!(r#"{{"cookie":{COOKIE}{}}}"#, data(&start));
        let id = SessionId::generate();
        t.store.set(&id, &Record::from_json(&json).unwrap()).await.unwrap();
        let signed = express_session::wire::sign(id.as_str(), b"keyboard cat");
        let cookie = format!("connect.sid={}", express_session::wire::encode_uri_component(&format!("s:{signed}")));
        let reply = t.get(&format!("/ops/n,{}", ops.join(",")), Some(&cookie)).await;
        assert_eq!(reply.status.as_u16(), 200, "seed {seed}");
        let expected = format!(r#"{{"cookie":{COOKIE}{}}}"#, data(&model));
        let stored = t.store.raw_json(&id);
        // MemoryStore's touch (an unmodified session) writes the cookie too, as express's does: the data counts.
        let stored = stored.expect("stored");
        let data = |text: &str| text[text.find(r#""path":"/"}"#).unwrap() + 11..].to_owned();
        assert_eq!(data(&stored), data(&expected), "seed {seed}: {json} {ops:?}");
        t.clock.advance(std::time::Duration::from_secs(1));
    }
}
