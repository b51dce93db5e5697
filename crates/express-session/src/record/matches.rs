//! Whether a stored value's JSON text holds a given [`Value`], judged while the text is read: no tree is built,
//! so telling a changed value from its stored original allocates nothing.

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::parse::prints_apart;
use super::raw::raw_text;

/// Whether `text` (one JSON value, as a record stores it) holds the same JSON as `value`, as the engine's
/// change detection judges two values (see [`same_json`]): `Some(verdict)` when the text
/// alone decides, `None` when only parsing it can tell. `None` for a text that the record would keep as text (a
/// string with a lone surrogate, nesting deeper than serde_json's limit, a number JavaScript prints otherwise),
/// for an object with a repeated or misplaced key (`JSON.parse` keeps the last value of a repeated key), and for
/// a `value` that stands in for such a text.
pub(crate) fn text_matches(text: &str, value: &Value) -> Option<bool> {
    if raw_text(value).is_some() {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let same = Expect(value).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(same)
}

/// Whether two values serialize to the same JSON, which is how express decides "modified" (it hashes
/// `JSON.stringify` of the session). Unlike `==` on `serde_json::Map`, key order counts, as it does in the text;
/// unlike `==` on `Number`, numbers are JavaScript's one kind of number (`1`, `1.0` and `-0.0`... all doubles, so
/// `1` and `1.0` are the same, as are `0` and `-0`, both written `0`).
pub(crate) fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y.as_f64()),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b)),
        _ => a == b,
    }
}

/// Whether `JSON.stringify` writes `n` and the double `other` alike: whether they are the same double (`0` and
/// `-0` are, as they should: both are written `0`).
fn same_number(n: &Number, other: Option<f64>) -> bool {
    n.as_f64().is_some_and(|n| Some(n) == other)
}

/// Reads one value and says whether it is the one expected. An error means "cannot tell".
struct Expect<'v>(&'v Value);

impl<'de> DeserializeSeed<'de> for Expect<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Expect<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
        Ok(matches!(self.0, Value::Bool(b) if *b == v))
    }

    // As JavaScript reads numbers: as doubles (see `same_json`).
    #[allow(clippy::cast_precision_loss)] // JavaScript's loss, which is the point
    fn visit_i64<E>(self, v: i64) -> Result<bool, E> {
        Ok(matches!(self.0, Value::Number(n) if same_number(n, Some(v as f64))))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E>(self, v: u64) -> Result<bool, E> {
        Ok(matches!(self.0, Value::Number(n) if same_number(n, Some(v as f64))))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<bool, E> {
        let Some(number) = Number::from_f64(v) else { return Ok(matches!(self.0, Value::Null)) };
        let number = Value::Number(number);
        // The whole value is then kept as its text: only the parse can say.
        if prints_apart(&number) {
            return Err(E::custom("kept as text"));
        }
        Ok(matches!(self.0, Value::Number(n) if same_number(n, Some(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(matches!(self.0, Value::String(s) if s == v))
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(matches!(self.0, Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let items = match self.0 {
            Value::Array(items) => Some(items.as_slice()),
            _ => None,
        };
        let mut same = items.is_some();
        let mut expected = items.unwrap_or_default().iter();
        loop {
            match expected.next() {
                Some(item) => match seq.next_element_seed(Expect(item))? {
                    Some(item_same) => same &= item_same,
                    // The text has fewer items (and is read to its end).
                    None => return Ok(false),
                },
                // More items than expected: read to the end (the text must be read whole).
                None => match seq.next_element::<IgnoredAny>()? {
                    Some(_) => same = false,
                    None => return Ok(same),
                },
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let entries = match self.0 {
            Value::Object(entries) => Some(entries),
            _ => None,
        };
        let mut same = entries.is_some();
        let mut expected = entries.into_iter().flatten();
        loop {
            let entry = expected.next();
            let Some(key_same) = map.next_key_seed(KeyIs(entry.map(|(key, _)| key.as_str())))? else {
                // The text has fewer keys: it holds fewer, whatever it repeats.
                return Ok(same && entry.is_none());
            };
            match entry {
                Some((_, value)) if key_same => same &= map.next_value_seed(Expect(value))?,
                // Another key, or one more: a repeated key may still make the objects the same.
                _ => return Err(A::Error::custom("keys differ")),
            }
        }
    }
}

/// Reads a key and says whether it is the expected one (`None`: none expected).
struct KeyIs<'k>(Option<&'k str>);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.0 == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fields::parse_stored;

    /// The verdict, when there is one, is the one a parse and a comparison give.
    #[test]
    fn the_verdict_is_the_parsed_comparison() {
        let texts = [
            r#"{"/foo":1}"#,
            r#"{"/foo":2}"#,
            r#"{"/foo":1,"/bar":1}"#,
            r#"{"/bar":1,"/foo":1}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":2}"#,
            r#"{}"#,
            r#"[]"#,
            r#"[1,2]"#,
            r#"[1,2,3]"#,
            r#"[1.0,2]"#,
            r#""x""#,
            r#""\u00e9""#,
            r#""é""#,
            r#""\ud800""#,
            r#"0.000001"#,
            r#"1e-7"#,
            r#"1"#,
            r#"-0"#,
            r#"-0.0"#,
            r#"0.0"#,
            r#"null"#,
            r#"true"#,
            r#"false"#,
            r#"{"n":{"m":[1,{"k":"v"}]}}"#,
            r#"{"n":{"m":[1,{"k":"w"}]}}"#,
            r#"{"n":{"m":[1,{"k":"v","k":"w"}]}}"#,
        ];
        let mut decided = 0;
        for text in texts {
            for other in texts {
                let value = parse_stored(other);
                let parsed = same_json(&parse_stored(text), &value);
                if let Some(verdict) = text_matches(text, &value) {
                    assert_eq!(verdict, parsed, "{text} against {other}");
                    decided += 1;
                }
            }
        }
        assert!(decided > texts.len() * texts.len() / 2, "most pairs are decided from the text: {decided}");
        // JavaScript's one kind of number: `JSON.stringify` writes these alike.
        for (text, value) in
            [("1", serde_json::json!(1.0)), ("-0", serde_json::json!(0)), ("[1,2.0]", serde_json::json!([1.0, 2]))]
        {
            assert_eq!(text_matches(text, &value), Some(true), "{text}");
            assert!(same_json(&parse_stored(text), &value), "{text}");
        }
        assert_eq!(text_matches("1", &serde_json::json!(1.5)), Some(false));
        assert_eq!(text_matches("9007199254740993", &serde_json::json!(9_007_199_254_740_992_u64)), Some(true));
    }
}
