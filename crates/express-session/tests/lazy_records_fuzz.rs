//! Records read split by key, checked against the whole-record parse on generated records: the data read
//! (`data()`, `raw_json`) is what `JSON.parse` gives (last duplicate wins, in the first's place; reserved keys
//! dropped), `to_json` is valid JSON holding the same values for JavaScript (what express writes), reading it again changes nothing, the size bound
//! bounds the size, and hostile text (truncated, mutated) never panics.

use express_session::record::is_reserved_key;
use express_session::{MemoryStore, Record, SessionId, Store};
use serde::Deserialize as _;
use serde_json::{Map, Value};

const COOKIE: &str = r#"{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;

/// A small deterministic generator (xorshift64*), so that a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    r#""a""#,
    r#""b""#,
    r#""\u0061""#,
    r#""id""#,
    r#""cookie""#,
    r#""é""#,
    r#""\u00e9""#,
    r#""a\"b""#,
    r#""\n""#,
    r#""__sessionCreatedAt""#,
    r#""save""#,
    r#""""#,
    r#""\/""#,
    r#""x y""#,
];

const SCALARS: &[&str] = &[
    "1",
    "-0",
    "1.0",
    "1e2",
    "0.0000001",
    "0.000001",
    "1e21",
    "123456789012345680000",
    "12345678901234567890123",
    "1e400",
    "-1e-400",
    "true",
    "false",
    "null",
    r#""s""#,
    r#""\u00e9""#,
    r#""\ud83d""#,
    r#""\ud83d\ude00""#,
    r#""\/""#,
    r#""""#,
    "1.5",
    "9007199254740993",
    "-9223372036854775809",
];

fn value(rng: &mut Rng, depth: usize) -> String {
    let ws = |rng: &mut Rng| if rng.below(4) == 0 { " \n\t" } else { "" };
    match rng.below(if depth > 3 { 1 } else { 4 }) {
        0 => rng.pick(SCALARS).to_owned(),
        1 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| format!("{}{}", ws(rng), value(rng, depth + 1))).collect();
            format!("[{}]", items.join(","))
        }
        2 => {
            let n = rng.below(4);
            let items: Vec<String> =
                (0..n).map(|_| format!("{}:{}{}", rng.pick(KEYS), ws(rng), value(rng, depth + 1))).collect();
            format!("{{{}}}", items.join(","))
        }
        _ => format!("{}{}{}", "[".repeat(130), rng.pick(SCALARS), "]".repeat(130)),
    }
}

fn record(rng: &mut Rng) -> String {
    let n = rng.below(8);
    let mut entries: Vec<String> = (0..n).map(|_| format!("{}: {}", rng.pick(KEYS), value(rng, 0))).collect();
    entries.insert(rng.below(entries.len() + 1), format!(r#""cookie":{COOKIE}"#));
    format!(" {{{}}}\n", entries.join(" , "))
}

/// `JSON.parse` of a record's data, where serde_json can parse the whole text.
fn expected(text: &str) -> Option<Map<String, Value>> {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else { return None };
    map.shift_remove("cookie");
    map.retain(|key, _| !is_reserved_key(key));
    Some(map)
}

/// Whether two values are the same for JavaScript, where every number is a double.
fn js_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| js_eq(a, b)),
        (Value::Object(a), Value::Object(b)) => js_eq_map(a, b),
        (a, b) => a == b,
    }
}

fn js_eq_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && js_eq(va, vb))
}

fn parse_deep(text: &str) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    serde::Deserialize::deserialize(&mut de).ok()
}

async fn check(store: &MemoryStore, seed: u64, text: &str) {
    let record = match Record::from_json(text) {
        Ok(record) => record,
        Err(_) => {
            let cookie = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("cookie").cloned());
            let valid = serde_json::from_str::<Value>(COOKIE).ok();
            assert!(cookie.is_none() || cookie != valid, "seed {seed}: {text} is a record serde_json reads, refused");
            return;
        }
    };
    let json = record.to_json();
    let mut de = serde_json::Deserializer::from_str(&json);
    de.disable_recursion_limit();
    let valid = serde::de::IgnoredAny::deserialize(&mut de).and_then(|_| de.end());
    assert!(valid.is_ok(), "seed {seed}: {text} written as invalid {json}");
    assert_eq!(record.json_len(), json.len(), "seed {seed}: {text}");
    let again = Record::from_json(&json).unwrap_or_else(|e| panic!("seed {seed}: {json} unreadable: {e}"));
    assert_eq!(again.to_json(), json, "seed {seed}: {text}");
    // Through MemoryStore's data-only text.
    let id = SessionId::generate();
    store.set(&id, &record).await.unwrap();
    let stored = store.get(&id).await.unwrap().expect("stored").record;
    assert_eq!(stored.to_json(), json, "seed {seed}: {text} through MemoryStore");
    assert_eq!(stored.data(), again.data(), "seed {seed}: {text} through MemoryStore");
    store.destroy(&id).await.unwrap();
    // Every value parsed (`data_mut`): the same values for JavaScript (a parsed integer beyond 2^53 is written
    // exactly, where the split record writes what `JSON.stringify` writes for the text).
    let mut parsed = record.clone();
    parsed.data_mut();
    if let (Some(a), Some(b)) = (parse_deep(&parsed.to_json()), parse_deep(&json)) {
        assert!(js_eq(&a, &b), "seed {seed}: {text} parsed: {a} against {b}");
    }
    let data_keys: Vec<&String> = record.data().keys().collect();
    if let Some(expected) = expected(text) {
        let written = parse_deep(&json).unwrap_or_else(|| panic!("seed {seed}: {text} written as {json}"));
        let Value::Object(written) = written else { panic!("seed {seed}: not an object") };
        let keys: Vec<&String> = written.keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("cookie"), "seed {seed}");
        assert_eq!(&keys[1..], &data_keys[..], "seed {seed}: {text} → {json}");
        let want: Vec<&String> = expected.keys().collect();
        assert_eq!(data_keys, want, "seed {seed}: key order of {text}");
        for (key, want) in &expected {
            match record.raw_json(key) {
                Some(raw) => assert_eq!(parse_deep(raw).as_ref(), Some(want), "seed {seed}: {key} of {text}"),
                None => assert_eq!(record.data().get(key), Some(want), "seed {seed}: {key} of {text}"),
            }
            // Written as express writes it (`JSON.stringify`), which holds the same values for JavaScript: every
            // number a double (9007199254740993 is 9007199254740992, -0 is 0).
            let got = written.get(key).unwrap_or_else(|| panic!("seed {seed}: {key} not written by {text}"));
            assert!(js_eq(got, want), "seed {seed}: {key} written by {text} as {json}");
        }
    }
}

#[tokio::test]
async fn split_records_read_and_write_as_the_whole_parse() {
    let store = MemoryStore::new();
    for seed in 1..5_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let text = record(&mut rng);
        check(&store, seed, &text).await;
    }
}

#[tokio::test]
async fn hostile_text_never_panics() {
    let store = MemoryStore::new();
    let mut pieces: Vec<&str> = vec![
        "\u{feff}",
        "\"",
        "\\",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "é",
        "\u{2028}",
        "\0",
        "1e99999999999999999999",
        "-",
    ];
    pieces.extend(SCALARS);
    for seed in 1..5_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut text = record(&mut rng);
        for _ in 0..=rng.below(3) {
            let at = rng.below(text.len() + 1);
            let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            match rng.below(3) {
                0 => text.truncate(at),
                1 => text.insert_str(at, rng.pick(&pieces)),
                _ => {
                    let end = (at + rng.below(8)).min(text.len());
                    let end = (end..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
                    text.replace_range(at..end, "");
                }
            }
        }
        check(&store, seed, &text).await;
    }
}
