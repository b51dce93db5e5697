//! Values kept as their JSON text (placeholders in [`Record::data`](super::Record::data) for what `serde_json`
//! cannot hold) and the depth of nested values.

use std::sync::OnceLock;

use serde::Serialize;
use serde::ser::Serializer;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The key of the one-entry object that stands in [`Record::data`] for a value kept as JSON text: random per
/// process, so that no stored object can be mistaken for one.
pub(super) fn raw_marker() -> &'static str {
    static MARKER: OnceLock<String> = OnceLock::new();
    MARKER.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            use std::hash::BuildHasher as _;
            let state = std::collections::hash_map::RandomState::new();
            bytes[..8].copy_from_slice(&state.hash_one(1u8).to_le_bytes());
            bytes[8..].copy_from_slice(&state.hash_one(2u8).to_le_bytes());
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("\u{0}express-session: stored JSON text {hex}")
    })
}

/// The stand-in for a top-level key that has no Rust form (a lone surrogate), carrying the key's JSON text.
pub(super) fn key_stand_in(text: &str) -> String {
    format!("{} key {text}", raw_marker())
}

/// The JSON text of the key `key` stands in for, when it is a [`key_stand_in`].
pub(crate) fn key_text(key: &str) -> Option<&str> {
    if !key.starts_with('\0') {
        return None;
    }
    key.strip_prefix(raw_marker())?.strip_prefix(" key ")
}

/// The stand-in for a value kept as its JSON text.
pub(super) fn raw_placeholder(text: &str) -> Value {
    let mut map = Map::new();
    map.insert(raw_marker().to_owned(), Value::String(text.to_owned()));
    Value::Object(map)
}

/// The JSON text `value` stands in for, when it is the stand-in of a value kept as text.
pub(crate) fn raw_text(value: &Value) -> Option<&str> {
    let Value::Object(map) = value else { return None };
    if map.len() != 1 {
        return None;
    }
    match map.get(raw_marker()) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// How deeply [`Session::get`](crate::Session::get) and the other reads of a session value accept nesting
/// (arrays and objects inside each other; the value `[[1]]` is nested 2 deep), and how deep a value a handler
/// may store (a deeper one is refused with [`SessionError::TooDeep`](crate::SessionError::TooDeep)).
///
/// Node's `JSON.parse` has no such limit, so a record the Node app wrote may hold deeper values: the record
/// is still read, such a value is written back byte for byte, and only reading that key fails. Values nested
/// up to this depth are parsed without overflowing the stack whatever the thread's stack size (the parser
/// grows the stack on the heap when it runs low). What a handler then does with such a value (copy, compare,
/// serialize, deserialize into its own type) recurses once per level: measured in a debug build, a value of
/// this depth needs at most about 1 MiB of stack for that (`serde_json::from_value`; clone and serialize about
/// 640 KiB), which leaves room on a tokio worker's 2 MiB stack; in a release build, at most about 384 KiB
/// (clone 128 KiB, serialize 48 KiB).
///
/// ```
/// assert!(express_session::record::MAX_VALUE_DEPTH >= 512);
/// ```
pub const MAX_VALUE_DEPTH: usize = 512;

/// How deeply `value` nests arrays and objects (`0` for a scalar), counted without recursion.
pub(crate) fn value_depth(value: &Value) -> usize {
    fn is_container(value: &&Value) -> bool {
        matches!(value, Value::Array(_) | Value::Object(_))
    }
    /// The depth of a value nested at most `budget` levels deep (recursing at most that far), else `None`.
    fn shallow(value: &Value, budget: usize) -> Option<usize> {
        let children: &mut dyn Iterator<Item = &Value> = match value {
            Value::Array(items) => &mut items.iter(),
            Value::Object(map) => &mut map.values(),
            _ => return Some(0),
        };
        let budget = budget.checked_sub(1)?;
        let mut deepest = 0;
        for child in children {
            deepest = deepest.max(shallow(child, budget)?);
        }
        Some(deepest + 1)
    }
    // The usual value is a few levels deep: measured by a short recursion, with no allocation.
    if let Some(depth) = shallow(value, 16) {
        return depth;
    }
    let mut deepest = 0;
    // Containers still to look into, with their depth: one allocation, as wide as the value.
    let mut pending: Vec<(&Value, usize)> = Vec::new();
    if is_container(&value) {
        pending.push((value, 1));
    }
    while let Some((value, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match value {
            Value::Array(items) => pending.extend(items.iter().filter(is_container).map(|c| (c, depth + 1))),
            Value::Object(map) => pending.extend(map.values().filter(is_container).map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// How deeply a JSON text nests arrays and objects, counted without parsing (brackets inside strings skipped).
pub(crate) fn text_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for byte in text.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses a value kept as JSON text (see [`Record::raw_json`]) as a `T`: without serde_json's recursion limit up
/// to [`MAX_VALUE_DEPTH`] (growing the stack when it runs low), an error beyond.
///
/// # Errors
///
/// The text nests deeper than [`MAX_VALUE_DEPTH`], or does not parse as a `T` (a string with a lone surrogate
/// cannot become a Rust `String`).
pub(crate) fn parse_raw<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    use serde::de::Error as _;
    let depth = text_depth(text);
    if depth > MAX_VALUE_DEPTH {
        return Err(serde_json::Error::custom(format!(
            "the stored value is nested {depth} levels deep, deeper than the {MAX_VALUE_DEPTH} this crate reads"
        )));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = T::deserialize(serde_stacker::Deserializer::new(&mut de)).and_then(|value| {
        de.end()?;
        Ok(value)
    });
    value.map_err(|error| match error.classify() {
        // A string that is not valid Unicode (JavaScript allows lone surrogates; Rust strings do not).
        serde_json::error::Category::Syntax => {
            serde_json::Error::custom(format!("the stored JSON value has no Rust form: {error}"))
        }
        _ => error,
    })
}

/// Writes a value kept as JSON text verbatim (or `null` if the text is not one JSON value, which only a
/// hand-made stand-in can be).
pub(super) struct RawText<'a>(pub(super) &'a str);

impl Serialize for RawText<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match RawValue::from_string(self.0.to_owned()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_unit(),
        }
    }
}
