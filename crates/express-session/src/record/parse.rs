//! Reading a stored record's text: the cookie object field by field and the user's keys as values, without
//! building a JSON tree for the whole record first; a second, tolerant pass for values `serde_json` cannot hold.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::raw::{key_stand_in, raw_placeholder};
use super::{RecordError, is_reserved_key};
use crate::cookie::{CookieSeed, InvalidCookie, SessionCookie};

/// Reads a stored record straight from its text: the `cookie` object field by field and the user's keys as
/// values, without building a JSON tree for the whole record first (the hot path of every store read).
///
/// `tolerant` is the second try, for a record the first one could not read: each user value is taken as its JSON
/// text first, and one that `serde_json` cannot turn into a [`Value`] (a string holding a lone UTF-16
/// surrogate, nesting deeper than its recursion limit) is kept as that text (see [`Record::raw_json`]).
struct RecordSeed {
    tolerant: bool,
}
/// What [`RecordSeed`] reads: the cookie (if the record has one) and the user's data.
pub(super) type Parsed = (Option<Result<SessionCookie, InvalidCookie>>, Map<String, Value>);

impl<'de> serde::de::Visitor<'de> for RecordSeed {
    type Value = Parsed;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a session record object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut cookie = None;
        let mut data = Map::new();
        loop {
            let key: std::borrow::Cow<'de, str> = if self.tolerant {
                // A key is read as its text first too: JavaScript allows a lone surrogate in a key as well.
                let Some(raw) = map.next_key::<&'de RawValue>()? else { break };
                match serde_json::from_str::<String>(raw.get()) {
                    Ok(key) => key.into(),
                    Err(_) => key_stand_in(raw.get()).into(),
                }
            } else {
                let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? else { break };
                key
            };
            if key == "cookie" {
                cookie = Some(map.next_value_seed(CookieSeed)?);
            } else if is_reserved_key(&key) {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else if self.tolerant {
                // serde_json skips a raw value's strings without checking their escapes pair up, and its nesting
                // without recursion, so any JSON value gets this far.
                let raw: &'de RawValue = map.next_value()?;
                let value = match serde_json::from_str::<Value>(raw.get()) {
                    Ok(value) if !prints_apart(&value) => value,
                    _ => raw_placeholder(raw.get()),
                };
                data.insert(key.into_owned(), value);
            } else {
                data.insert(key.into_owned(), map.next_value()?);
            }
        }
        Ok((cookie, data))
    }
}

/// Parses a record's (or, for MemoryStore, its data's) text with [`RecordSeed`]: first as plain values, then,
/// if that fails, tolerantly.
pub(super) fn parse_record_text(text: &str) -> Result<Parsed, RecordError> {
    fn parse(text: &str, tolerant: bool) -> Result<Parsed, serde_json::Error> {
        use serde::Deserializer as _;
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = de.deserialize_map(RecordSeed { tolerant })?;
        de.end()?;
        Ok(parsed)
    }
    match parse(text, false) {
        // A number serde_json would write otherwise than JavaScript wrote it: keep that value's text.
        Ok((_, data)) if data.values().any(prints_apart) => parse(text, true).map_err(RecordError::from_json_error),
        Ok(parsed) => Ok(parsed),
        // The usual reasons are a value `Value` cannot hold; anything else fails again.
        Err(first) if first.is_syntax() => parse(text, true).map_err(RecordError::from_json_error),
        Err(first) => Err(RecordError::from_json_error(first)),
    }
}

/// Whether `value` holds a number that serde_json writes otherwise than JavaScript's `JSON.stringify` (which
/// is what wrote it, when it comes from the Node app): JavaScript writes every number from 1e-6 up to 1e21 in
/// positional notation (`0.000001`, `123456789012345680000`), serde_json some of them with an exponent
/// (`1e-6`, `1.2345678901234568e+20`). Such a value is kept as its text, so that it is written back as it was.
pub(super) fn prints_apart(value: &Value) -> bool {
    match value {
        Value::Number(n) if n.is_f64() => {
            let magnitude = n.as_f64().unwrap_or(0.0).abs();
            // serde_json writes this range positionally too; outside it, check what it writes.
            !(1e-5..1e16).contains(&magnitude) && (1e-6..1e21).contains(&magnitude) && n.to_string().contains('e')
        }
        Value::Array(items) => items.iter().any(prints_apart),
        Value::Object(map) => map.values().any(prints_apart),
        _ => false,
    }
}
