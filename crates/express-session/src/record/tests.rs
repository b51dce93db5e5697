use super::parse::prints_apart;
use super::raw::{parse_raw, text_depth, value_depth};
use super::*;
use crate::cookie::{Priority, SameSite};
use std::time::Duration;

#[test]
fn round_trips_every_cookie_field_in_express_order() {
    let json = r#"{"cookie":{"originalMaxAge":1500,"partitioned":true,"priority":"High","expires":"2023-11-14T22:13:21.623Z","secure":true,"httpOnly":false,"domain":".example.com","path":"/app","sameSite":"none"}}"#;
    let record = Record::from_json(json).unwrap();
    assert_eq!(record.to_json(), json);
    assert_eq!(record.cookie().priority(), Some(Priority::High));
    assert_eq!(record.cookie().same_site(), Some(SameSite::None));
}

#[test]
fn keeps_boolean_same_site_and_key_order() {
    let json = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/","sameSite":true},"b":1,"a":{"z":1,"y":2}}"#;
    let record = Record::from_json(json).unwrap();
    assert_eq!(record.cookie().same_site(), Some(SameSite::Strict));
    assert_eq!(record.to_json(), json);
}

#[test]
fn drops_reserved_keys_like_express() {
    let json = r#"{"cookie":{"path":"/"},"save":1,"id":"x","__proto__":{},"ok":true}"#;
    let record = Record::from_json(json).unwrap();
    assert_eq!(record.data().keys().collect::<Vec<_>>(), ["ok"]);
}

#[test]
fn rejects_records_express_cannot_inflate() {
    assert!(matches!(Record::from_json("[]"), Err(RecordError::NotAnObject)));
    assert!(matches!(Record::from_json("{"), Err(RecordError::Syntax(_))));
    assert!(matches!(Record::from_json(r#"{"a":1}"#), Err(RecordError::MissingCookie)));
    assert!(Record::from_json(r#"{"cookie":{"expires":"soon"}}"#).is_err());
    assert!(Record::from_json(r#"{"cookie":{"sameSite":"sideways"}}"#).is_err());
}

/// What `JSON.stringify` wrote (checked with Node 20), and serde_json would write otherwise, is written back
/// as it was; what both write alike stays a plain value.
#[test]
fn numbers_are_written_back_as_javascript_wrote_them() {
    let js = "[1e+21,1e-7,1.5e-7,0.000001,0.00001,0.0000015,123456789012345680000,18446744073709552000,0.1,123.456,\
              -0.000001,5e-324,1.7976931348623157e+308,9007199254740992]";
    let json =
        format!(r#"{{"cookie":{{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}},"a":{js},"b":0.5}}"#);
    let record = Record::from_json(&json).unwrap();
    assert_eq!(record.to_json(), json);
    assert_eq!(record.raw_json("a"), Some(js), "0.000001 would be written 1e-6");
    assert_eq!(record.raw_json("b"), None);
    for plain in ["1e+21", "1e-7", "0.00001", "0.1", "123.456", "5e-324", "9007199254740992"] {
        let value: Value = serde_json::from_str(plain).unwrap();
        assert!(!prints_apart(&value), "{plain}");
        assert_eq!(value.to_string(), plain);
    }
    for apart in ["0.000001", "0.0000015", "123456789012345680000", "18446744073709552000", "-0.000001"] {
        assert!(prints_apart(&serde_json::from_str(apart).unwrap()), "{apart}");
    }
}

#[test]
fn huge_numbers_read_back_the_same() {
    let text = r#"{"cookie":{"originalMaxAge":60},"views":99999999999999999999999999999999999999999999999999999992}"#;
    let record = Record::from_json(text).unwrap();
    let json = record.to_json();
    assert_eq!(Record::from_json(&json).unwrap().to_json(), json);
}

#[test]
fn the_length_bound_is_an_upper_bound() {
    for json in [
        r#"{"cookie":{"originalMaxAge":1500,"partitioned":true,"priority":"High","expires":"2023-11-14T22:13:21.623Z","secure":true,"httpOnly":false,"domain":".example.com","path":"/app","sameSite":"none"},"a":"\u0001\"x","n":-1.5e300,"l":[null,true,{}]}"#,
        r#"{"cookie":{}}"#,
    ] {
        let record = Record::from_json(json).unwrap();
        assert!(record.json_len_bound() >= record.json_len(), "{json}");
        assert_eq!(record.json_len(), record.to_json().len());
    }
}

#[test]
fn null_fields_read_back_the_same() {
    // Found by the `record` fuzz target.
    let record = Record::from_json(r#"{"cookie":{"path":null,"domain":null,"httpOnly":null}}"#).unwrap();
    assert_eq!(Record::from_json(&record.to_json()).unwrap(), record);
}

/// `depth` arrays around `1`: `[[...[1]...]]`.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn values_serde_json_cannot_hold_are_kept_as_text_in_place() {
    let cookie = r#"{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;
    for (name, value) in [
        ("lone surrogate", r#""\ud83d""#.to_owned()),
        ("lone trailing surrogate in an object", r#"{"a":["x\udc00y"]}"#.to_owned()),
        ("127 deep", nested(127)),
        ("600 deep", nested(600)),
        ("100000 deep", nested(100_000)),
    ] {
        let json = format!(r#"{{"cookie":{cookie},"before":1,"odd":{value},"after":{{"k":"v"}}}}"#);
        let record = Record::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
        // A value of 127 levels fits a `Value` on its own (the record around it made the 128th).
        let kept = (name != "127 deep").then_some(value.as_str());
        assert_eq!(record.raw_json("odd"), kept, "{name}");
        assert_eq!(record.data().keys().collect::<Vec<_>>(), ["before", "odd", "after"], "{name}");
        assert_eq!(record.data()["after"]["k"], "v", "{name}: the other values are plain");
        assert_eq!(record.to_json(), json, "{name}: written back byte for byte");
        assert_eq!(record.json_len(), json.len(), "{name}");
        assert!(record.json_len_bound() >= json.len(), "{name}");
        // MemoryStore's split form keeps it too.
        let data = record.data_json();
        let again = Record::from_data_json(record.cookie().clone(), &data).unwrap();
        assert_eq!(again.to_json(), json, "{name}: through MemoryStore's data text");
        let loaded = again.loaded_len().unwrap();
        assert_eq!(loaded, json.len(), "{name}: loaded at {loaded}, the JSON is {}", json.len());
    }
}

#[test]
fn keys_without_a_rust_form_are_kept_as_text_in_place() {
    let json = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"a":1,"\ud83d":"\ud83d","x\udc00":{"k":[1]},"b":2}"#;
    let record = Record::from_json(json).unwrap();
    assert_eq!(record.to_json(), json);
    assert_eq!(record.json_len(), json.len());
    assert!(record.json_len_bound() >= json.len());
    let texts: Vec<_> = record.data().keys().filter_map(|k| key_text(k)).collect();
    assert_eq!(texts, [r#""\ud83d""#, r#""x\udc00""#]);
    let data = record.data_json();
    let again = Record::from_data_json(record.cookie().clone(), &data).unwrap();
    assert_eq!(again.to_json(), json, "through MemoryStore's data text");
    assert_eq!(again.loaded_len(), Some(json.len()));
}

#[test]
fn a_stored_object_shaped_like_the_stand_in_stays_a_plain_value() {
    let json = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"x":{"\u0000express-session: stored JSON text 00":"1,\"admin\":true"}}"#;
    let record = Record::from_json(json).unwrap();
    assert_eq!(record.raw_json("x"), None);
    assert_eq!(record.to_json(), json);
}

#[test]
fn deep_values_are_read_up_to_the_documented_depth_on_a_small_stack() {
    // A tokio worker's stack is 2 MiB; run where that is all there is.
    let ok = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let limit = parse_raw::<Value>(&nested(MAX_VALUE_DEPTH)).unwrap();
            assert_eq!(value_depth(&limit), MAX_VALUE_DEPTH);
            let beyond = parse_raw::<Value>(&nested(MAX_VALUE_DEPTH + 1)).unwrap_err().to_string();
            assert!(beyond.contains("nested 513 levels deep"), "{beyond}");
            assert!(parse_raw::<Value>(&nested(1_000_000)).is_err(), "far deeper input fails cleanly");
            // What a session does with a value of the limit's depth: copy, compare, measure, write, drop.
            let copy = limit.clone();
            assert_eq!(copy, limit);
            assert_eq!(serde_json::from_value::<Value>(limit.clone()).unwrap(), limit, "a handler's own type");
            let mut record = Record::new(SessionCookie::default());
            record.data_mut().insert("deep".into(), copy);
            assert!(record.json_len_bound() >= record.json_len());
            let json = record.to_json();
            let back = Record::from_json(&json).unwrap();
            assert_eq!(back.raw_json("deep"), Some(nested(MAX_VALUE_DEPTH).as_str()));
            drop(record);
            true
        })
        .unwrap()
        .join();
    assert!(ok.unwrap());
}

#[test]
fn text_depth_skips_brackets_in_strings() {
    assert_eq!(text_depth(r#"["[[[\"[", {"a": [1]}]"#), 3);
    assert_eq!(text_depth("1"), 0);
    assert_eq!(value_depth(&serde_json::json!([1, {"a": [[]]}])), 4);
}

#[test]
fn falsy_same_site_and_priority_are_unset_and_read_back_the_same() {
    for json in [
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/","sameSite":""}}"#,
        r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/","sameSite":0}}"#,
        r#"{"cookie":{"originalMaxAge":null,"priority":"","expires":null,"httpOnly":true,"path":"/"}}"#,
        r#"{"cookie":{"originalMaxAge":null,"priority":0,"expires":null,"httpOnly":true,"path":"/"}}"#,
    ] {
        let record = Record::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(record.cookie().same_site(), None);
        assert_eq!(record.cookie().priority(), None);
        assert_eq!(record.to_json(), json);
    }
    // A truthy value cookie 0.7 cannot write still fails, as it does in express.
    assert!(Record::from_json(r#"{"cookie":{"sameSite":1}}"#).is_err());
    assert!(Record::from_json(r#"{"cookie":{"priority":true}}"#).is_err());
}

#[test]
fn errors_say_what_is_wrong_without_quoting_the_record() {
    for (text, expected) in [
        (r#""secret-token""#, "not a JSON object"),
        (r#"{"cookie":"secret-token"}"#, "cookie is invalid: not an object"),
        (r#"{"cookie":{"sameSite":"secret-token"}}"#, "cookie is invalid: sameSite is invalid"),
        (r#"{"cookie":{},"user":"secret-token"#, "not valid JSON: EOF while parsing a string at line 1"),
        (r#"{"cookie":{},"user":secret-token}"#, "not valid JSON: expected value at line 1 column 21"),
        (r#"{"user":"secret-token"}"#, "has no cookie object"),
    ] {
        let message = Record::from_json(text).unwrap_err().to_string();
        assert!(message.contains(expected), "{text}: {message}");
        assert!(!message.contains("secret"), "{text}: {message}");
    }
}

/// What express-session's `new Cookie(stored)` and cookie 0.7's `serialize` do with a null path (checked
/// with the real packages): no `Path`.
#[test]
fn a_null_path_is_left_out_as_cookie_0_7_leaves_it_out() {
    let record = Record::from_json(r#"{"cookie":{"path":null,"expires":null,"domain":null}}"#).unwrap();
    assert_eq!(
        crate::cookie::set_cookie_header("a", "b", record.cookie()).unwrap(),
        "a=b; HttpOnly",
        "node -e \"cookie.serialize('a', 'b', new Cookie({{path: null, expires: null, domain: null}}).data)\""
    );
    assert_eq!(Record::from_json(&record.to_json()).unwrap(), record);
}

/// `req.session.cookie[field] = value` in a handler, on a session with `maxAge: 60000`: the `Set-Cookie`
/// express-session 1.19 sends at the end of the request (checked with the real package).
#[test]
fn falsy_fields_a_handler_sets_go_as_in_express() {
    let now = Timestamp::from_millis(1_893_456_000_123);
    let expires_in = |ms: i64| format!("; Expires={}", now.add_millis(ms).to_http_date());
    for (field, value, expected) in [
        ("maxAge", serde_json::json!(""), "; Path=/; HttpOnly".to_owned()),
        ("expires", serde_json::json!(""), "; Path=/; HttpOnly".to_owned()),
        ("expires", serde_json::json!(0), format!("; Path=/{}; HttpOnly", expires_in(0))),
        ("expires", serde_json::json!(5000), format!("; Path=/{}; HttpOnly", expires_in(5000))),
        ("path", serde_json::json!(false), format!("{}; HttpOnly", expires_in(60_000))),
        ("path", serde_json::json!(null), format!("{}; HttpOnly", expires_in(60_000))),
        ("domain", serde_json::json!(0), format!("; Path=/{}; HttpOnly", expires_in(60_000))),
        ("httpOnly", serde_json::json!(""), format!("; Path=/{}", expires_in(60_000))),
        ("secure", serde_json::json!(0), format!("; Path=/{}; HttpOnly", expires_in(60_000))),
    ] {
        let mut cookie = SessionCookie::default();
        cookie.set_max_age(Some(Duration::from_secs(60)), now);
        cookie.set_express_field(field, &value, now).unwrap_or_else(|e| panic!("{field} = {value}: {e}"));
        // The end of the request touches the cookie, then writes it; the next request reads it back.
        cookie.touch(now);
        let header = crate::cookie::set_cookie_header("a", "b", &cookie).unwrap();
        assert_eq!(&header["a=b".len()..], expected, "{field} = {value}");
        let mut record = Record::new(cookie);
        record.cookie_mut().touch(now);
        let back = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(crate::cookie::set_cookie_header("a", "b", back.cookie()).unwrap(), header, "{field} = {value}");
    }
}

#[test]
fn missing_cookie_fields_take_express_defaults() {
    let record = Record::from_json(r#"{"cookie":{}}"#).unwrap();
    assert_eq!(record.cookie().path(), Some("/"));
    assert!(record.cookie().http_only());
    assert_eq!(record.cookie().expires(), None);
}

/// A number a handler stores is written as `JSON.stringify` writes it (what express stores), not in Rust's
/// notation: `2.0` as `2`, `-0.0` as `0`, `1e-6` positionally, 1.2345678901234568e20 in full (checked with Node 20).
#[test]
fn numbers_a_handler_stores_are_written_as_javascript_writes_them() {
    let cookie = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;
    let cases = [
        (2.0, "2"),
        (-0.0, "0"),
        (0.0, "0"),
        (1e-6, "0.000001"),
        (-1.5e-6, "-0.0000015"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.1, "0.1"),
        (123.456, "123.456"),
        (1e16, "10000000000000000"),
        (1.2345678901234568e20, "123456789012345680000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (9007199254740993.0, "9007199254740992"),
    ];
    for (number, js) in cases {
        let mut record = Record::new(SessionCookie::default());
        record.data_mut().insert("n".into(), serde_json::json!(number));
        record.data_mut().insert("a".into(), serde_json::json!([number, {"x": number}]));
        assert_eq!(record.to_json(), format!(r#"{cookie},"n":{js},"a":[{js},{{"x":{js}}}]}}"#), "{number:?}");
        assert_eq!(record.data_json(), format!(r#"{{"n":{js},"a":[{js},{{"x":{js}}}]}}"#), "{number:?}");
        // A lazily read record with the value changed to this number.
        let mut lazy = Record::from_json(&format!(r#"{cookie},"n":1,"k":"v"}}"#)).unwrap();
        lazy.fields_mut().insert("n", serde_json::json!(number));
        assert_eq!(lazy.to_json(), format!(r#"{cookie},"n":{js},"k":"v"}}"#), "{number:?}");
    }
}

/// A value another writer stored in a form `JSON.stringify` never writes (escapes it does not use, whitespace,
/// numbers in other notations, a key repeated inside a value) is written as express writes it when the session
/// is saved: express parses the whole record and writes it again, so its bytes are `JSON.stringify`'s. The
/// expected texts are what express-session 1.19 stored (conformance/scenarios/14-records.json).
#[test]
fn stored_values_json_stringify_never_writes_are_saved_as_express_saves_them() {
    let cookie = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;
    let cases = [
        (
            r#""e":"\u00e9","E":"\u00E9","sl":"a\/b","ls":"\u2028","n":1.0,"exp":1e3,"Exp":1E+3,"neg":-0,"big":12345678901234567890,"frac":0.50,"o": { "b" : [1.50, "\/", {"k" : 1e0}] , "a":null},"k":"v""#,
            "\"e\":\"é\",\"E\":\"é\",\"sl\":\"a/b\",\"ls\":\"\u{2028}\",\"n\":1,\"exp\":1000,\"Exp\":1000,\"neg\":0,\"big\":12345678901234567000,\"frac\":0.5,\"o\":{\"b\":[1.5,\"/\",{\"k\":1}],\"a\":null},\"k\":\"v\"",
        ),
        (
            r#""half":"\ud83d","low":"x\udc00y","pair":"\ud83d\ude00","HALF":"\uD83D","ctl":"\u001F\u0008\/","k":1"#,
            r#""half":"\ud83d","low":"x\udc00y","pair":"😀","HALF":"\ud83d","ctl":"\u001f\b/","k":1"#,
        ),
        (r#""a":1,"b":2,"a":3,"c":{"d":1,"d":2}"#, r#""a":3,"b":2,"c":{"d":2}"#),
        (
            r#""deep":[[[ 1 ]]],"huge":1e400,"t":[true,false,null]"#,
            r#""deep":[[[1]]],"huge":null,"t":[true,false,null]"#,
        ),
    ];
    for (stored, express) in cases {
        let text = format!("{cookie},{stored}}}");
        let mut record = Record::from_json(&text).unwrap();
        // Written without a change (a save under `resave`): `JSON.stringify(JSON.parse(text))`, as express.
        assert_eq!(record.to_json(), text.replace(stored, express), "{stored}");
        record.fields_mut().insert("x", serde_json::json!(1));
        assert_eq!(record.to_json(), format!("{cookie},{express},\"x\":1}}"), "{stored}");
    }
    // What Node writes is written back as it is: lone surrogates, raw U+2028, numbers in either notation.
    let node = "\"s\":\"\\ud83d x\u{2028}\\u0001\\\"\\\\\\n\",\"n\":[123456789012345680000,1e+21,1e-7,0.000001,-5],\"o\":{\"é\":{}}";
    let text = format!("{cookie},{node}}}");
    let mut record = Record::from_json(&text).unwrap();
    record.fields_mut().insert("x", serde_json::json!(1));
    assert_eq!(record.to_json(), format!("{cookie},{node},\"x\":1}}"));
}

/// MemoryStore's own text is split without serde_json exactly as serde_json splits it: the same keys, in the same
/// order, each with the same stored text; and the text MemoryStore writes is the text a whole-record write gives.
#[test]
fn memory_store_text_splits_as_serde_json_splits_it() {
    let texts = [
        r#"{"views":{"/foo":1}}"#,
        r#"{"a":"x\"y","b":"\\","c":"\\\"","d":"é😀","e":[1,{"f":"]}"}],"g":null,"h":true,"i":-1.5e-7}"#,
        r#"{"a":1,"a":2,"b":3}"#,
        r#"{"save":1,"k":"v"}"#,
        r#"{"half":"\ud83d","deep":[[[[[[]]]]]]}"#,
        r#"{"blob":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\"}"#,
        r#"{}"#,
    ];
    let shared = |text: &str| {
        let source = std::sync::Arc::from(text);
        let own = Fields::read_own(&source).expect("MemoryStore's own text is split");
        let (_, serde) = Fields::read_shared(&source).expect("serde_json splits it");
        (own, serde)
    };
    for text in texts {
        let (own, serde) = shared(text);
        assert_eq!(own.keys().collect::<Vec<_>>(), serde.keys().collect::<Vec<_>>(), "{text}");
        for key in serde.keys() {
            assert_eq!(own.stored_str(key), serde.stored_str(key), "{text}: {key}");
        }
        let record = Record::from_data_json(SessionCookie::default(), text).unwrap();
        assert_eq!(record.data_json(), serde.to_object(), "{text}");
    }
    // Anything else is left to serde_json: a key with an escape, a `cookie` key, spaces, not an object.
    for text in [r#"{"a\"b":1}"#, r#"{"cookie":{}}"#, r#"{ "a":1}"#, r#"[1]"#, r#"{"a":1"#, r#"{"a":}"#, ""] {
        assert!(Fields::read_own(&std::sync::Arc::from(text)).is_none(), "{text}");
    }
}

/// An integer beyond 2^53 that a handler sets is written as JavaScript writes the double it parses into (Node 20:
/// `JSON.stringify({a:12345678901234567890,b:-9007199254740993,c:9007199254740993,d:18446744073709551615})`), as
/// the same value read back and written again untouched is: the stored bytes do not change on a later save that
/// does not touch the value.
#[test]
fn integers_beyond_2_pow_53_are_written_as_javascript_writes_them() {
    let json = r#"{"cookie":{"path":"/"}}"#;
    let mut record = Record::from_json(json).unwrap();
    let data = record.data_mut();
    data.insert("a".into(), serde_json::json!(12_345_678_901_234_567_890_u64));
    data.insert("b".into(), serde_json::json!(-9_007_199_254_740_993_i64));
    data.insert("c".into(), serde_json::json!([9_007_199_254_740_993_u64, 9_007_199_254_740_992_u64]));
    data.insert("d".into(), serde_json::json!({"e": u64::MAX}));
    let data = r#"{"a":12345678901234567000,"b":-9007199254740992,"c":[9007199254740992,9007199254740992],"d":{"e":18446744073709552000}}"#;
    assert_eq!(record.data_json(), data);
    let written = record.to_json();
    assert!(written.ends_with(&data[1..]), "{written}");
    assert_eq!(Record::from_json(&written).unwrap().to_json(), written);
}

/// The bound the size check trusts covers every number as JavaScript writes it, the longest of which is
/// positional: `JSON.stringify(-0.0000012345678901234567)` is 25 characters (Node 20).
#[test]
fn the_length_bound_covers_javascripts_longest_numbers() {
    let mut record = Record::new(SessionCookie::default());
    let numbers: Vec<Value> = (0..1000).map(|_| serde_json::json!(-1.234_567_890_123_456_7e-6)).collect();
    record.data_mut().insert("n".into(), Value::Array(numbers));
    assert!(record.to_json().contains("-0.0000012345678901234567,"));
    assert!(record.json_len_bound() >= record.json_len(), "{} < {}", record.json_len_bound(), record.json_len());
}
