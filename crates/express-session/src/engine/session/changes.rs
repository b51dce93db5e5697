//! Change tracking, pure: the changes a handler made (to re-apply on a newer record after a lost race), and
//! express's `originalHash` / `savedHash` (whether the data was modified, or saved as it is).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::values::check_depth;
use crate::error::SessionError;
use crate::record::{CREATED_AT_KEY, Fields, StoredText, parse_stored, same_json, text_matches};

pub(super) type UpdateFn = Arc<dyn Fn(Option<&Value>) -> Result<Value, SessionError> + Send + Sync>;

/// A short list whose first item is kept inline: most requests change one key, and then keep their change and
/// its original without allocating a list.
pub(super) struct FirstInline<T> {
    first: Option<T>,
    more: Vec<T>,
}

impl<T> Default for FirstInline<T> {
    fn default() -> Self {
        Self { first: None, more: Vec::new() }
    }
}

impl<T> FirstInline<T> {
    pub(super) fn push(&mut self, item: T) {
        match self.first {
            None => self.first = Some(item),
            Some(_) => self.more.push(item),
        }
    }

    pub(super) fn clear(&mut self) {
        self.first = None;
        self.more.clear();
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.first.iter().chain(&self.more)
    }

    fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.first.take().into_iter().chain(self.more.drain(..))
    }
}

/// One change a handler made, kept so that it can be re-applied on the latest record when a save loses a race.
#[derive(Clone)]
pub(super) enum Change {
    Set(String, Value),
    Remove(String),
    Update(String, UpdateFn),
    Clear,
}

impl Change {
    /// The one key the change sets or updates; `None` for a change that can remove keys (and so move them).
    pub(super) fn key(&self) -> Option<&str> {
        match self {
            Change::Set(key, _) | Change::Update(key, _) => Some(key),
            Change::Remove(_) | Change::Clear => None,
        }
    }

    pub(super) fn apply(&self, data: &mut Fields) -> Result<(), SessionError> {
        match self {
            Change::Set(k, v) => put(data, k, v.clone()),
            Change::Remove(k) => {
                data.shift_remove(k);
            }
            Change::Update(k, f) => {
                let new = f(data.get(k))?;
                check_depth(&new)?;
                put(data, k, new);
            }
            // The creation stamp is the session's age, not its data: clearing keeps it, or clearing would
            // restart the absolute timeout.
            Change::Clear => data.retain_keys(|key| key == CREATED_AT_KEY),
        }
        Ok(())
    }
}

/// Sets `key` to `value`: replacing a key's value keeps its place (as assigning to a JS object's existing key
/// does).
pub(super) fn put(data: &mut Fields, key: &str, value: Value) {
    // A stored text the new value certainly differs from is replaced without being parsed.
    if data.stored_str(key).is_some_and(|text| text_matches(text, &value) == Some(false)) {
        data.insert(key, value);
        return;
    }
    match data.get(key) {
        // A value kept as its stored text that the new value equals (the handler wrote back what it read): the
        // text stays, so that the data is not modified (express hashes `JSON.stringify`, which gives the same
        // text) and Node's bytes are kept.
        Some(slot)
            if crate::record::raw_text(slot)
                .is_some_and(|text| crate::record::parse_raw(text).is_ok_and(|old| same_json(&old, &value))) => {}
        _ => data.insert(key, value),
    }
}

/// express's `savedHash`, lazily: `Original` means "the data as loaded or created".
#[derive(Clone, PartialEq)]
pub(super) enum SavedHash {
    Unset,
    Original,
    Value(Map<String, Value>),
}

/// [`same_json`] for the session data.
pub(super) fn same_data(x: &Map<String, Value>, y: &Fields) -> bool {
    x.len() == y.len() && x.iter().zip(y.iter()).all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
}

/// express's `originalHash` (the data as loaded, to tell whether the request modified it), kept as small as it
/// can be: while the request only sets or updates keys, the original values of those keys (assigning to a key
/// keeps its place and a new key goes last, so nothing else can differ); once a key is removed, the data is
/// cleared or reloaded, a copy of the whole original data.
pub(super) enum Original {
    Keys(FirstInline<(String, Was)>),
    Full(Map<String, Value>),
}

/// What a key held before the request changed it.
pub(super) enum Was {
    Absent,
    /// The value as read from the store: its text, shared with the record (not parsed, not copied).
    Stored(StoredText),
    Value(Value),
}

impl Was {
    fn of(data: &Fields, key: &str) -> Self {
        if let Some(text) = data.stored(key) {
            return Was::Stored(text);
        }
        data.get(key).map_or(Was::Absent, |value| Was::Value(value.clone()))
    }

    fn into_value(self) -> Option<Value> {
        match self {
            Was::Absent => None,
            Was::Stored(text) => Some(parse_stored(text.as_str())),
            Was::Value(value) => Some(value),
        }
    }

    /// Whether `key` holds the same JSON in `data`.
    fn same_as(&self, data: &Fields, key: &str) -> bool {
        match self {
            Was::Absent => !data.contains_key(key),
            Was::Value(was) => data.get(key).is_some_and(|now| same_json(was, now)),
            Was::Stored(was) => {
                // The same bytes are the same JSON.
                if data.stored_str(key) == Some(was.as_str()) {
                    return true;
                }
                data.get(key).is_some_and(|now| {
                    text_matches(was.as_str(), now).unwrap_or_else(|| same_json(&parse_stored(was.as_str()), now))
                })
            }
        }
    }
}

impl Original {
    /// Remembers what `key` (`None`: every key) holds in `data` before a change, unless already known.
    pub(super) fn note(&mut self, data: &Fields, key: Option<&str>) {
        match (&mut *self, key) {
            (Original::Full(_), _) => {}
            (Original::Keys(keys), Some(key)) => {
                if !keys.iter().any(|(k, _)| k == key) {
                    keys.push((key.to_owned(), Was::of(data, key)));
                }
            }
            (Original::Keys(keys), None) => {
                // Put the noted keys back: set keys in place, new keys (appended last) out.
                let mut full = data.to_map();
                for (key, was) in keys.drain() {
                    match was.into_value() {
                        Some(value) => {
                            if let Some(slot) = full.get_mut(&key) {
                                *slot = value;
                            }
                        }
                        None => {
                            full.shift_remove(&key);
                        }
                    }
                }
                *self = Original::Full(full);
            }
        }
    }

    /// Whether `data` has the same JSON text as the original.
    pub(super) fn same_as(&self, data: &Fields) -> bool {
        match self {
            Original::Full(original) => same_data(original, data),
            Original::Keys(keys) => keys.iter().all(|(key, was)| was.same_as(data, key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// `value` as a record read from a store holds it: split by key, parsed on demand.
    fn lazy(value: &Value) -> Fields {
        match Fields::read(&value.to_string()) {
            Some((None, fields @ Fields::Lazy(_))) => fields,
            _ => unreachable!("a small object is read lazily"),
        }
    }

    /// express compares `JSON.stringify` output: key order counts, at every depth; equal JSON is unmodified.
    #[test]
    fn modification_is_judged_on_the_json_text() {
        let a = map(json!({"x": 1, "y": {"p": [1, {"q": 2}], "r": "s"}}));
        for fields in [Fields::from, |map: Map<String, Value>| lazy(&Value::Object(map))] {
            assert!(same_data(&a, &fields(a.clone())));
            let order = fields(map(json!({"y": {"p": [1, {"q": 2}], "r": "s"}, "x": 1})));
            assert!(!same_data(&a, &order), "top-level order");
            assert!(!same_data(&a, &fields(map(json!({"x": 1, "y": {"r": "s", "p": [1, {"q": 2}]}})))), "nested order");
            let float = fields(map(json!({"x": 1.0, "y": {"p": [1, {"q": 2}], "r": "s"}})));
            assert!(same_data(&a, &float), "1 and 1.0 are one JavaScript number, written `1`");
            let half = fields(map(json!({"x": 1.5, "y": {"p": [1, {"q": 2}], "r": "s"}})));
            assert!(!same_data(&a, &half));
            assert!(!same_data(&a, &fields(map(json!({"x": 1})))));
        }
    }

    /// The per-key original gives the same verdict as a full copy, whatever the sequence of changes.
    #[test]
    fn the_per_key_original_judges_as_a_full_copy_does() {
        let start = map(json!({"a": 1, "b": {"c": [1, 2]}, "d": "x"}));
        let steps: Vec<Change> = vec![
            Change::Set("a".into(), json!(2)),
            Change::Set("a".into(), json!(1)),
            Change::Set("e".into(), json!(null)),
            Change::Remove("e".into()),
            Change::Set("b".into(), json!({"c": [1, 2]})),
            Change::Remove("a".into()),
            Change::Set("a".into(), json!(1)),
            Change::Clear,
            Change::Set("d".into(), json!("x")),
        ];
        // Every prefix of every rotation of the steps: the lazy original and a full copy agree at each point.
        let mut checked = 0;
        for (rotation, read) in (0..steps.len()).flat_map(|r| [(r, false), (r, true)]) {
            let order: Vec<&Change> = steps.iter().cycle().skip(rotation).take(steps.len()).collect();
            for len in 0..=order.len() {
                let mut data = if read { lazy(&Value::Object(start.clone())) } else { Fields::from(start.clone()) };
                let mut original = Original::Keys(FirstInline::default());
                for change in &order[..len] {
                    original.note(&data, change.key());
                    change.apply(&mut data).unwrap();
                }
                assert_eq!(
                    original.same_as(&data),
                    same_data(&start, &data),
                    "after {len} steps of rotation {rotation}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 2 * steps.len() * (steps.len() + 1));
        // Changing a value and changing it back is no modification; a new key, a removal or a reorder is one.
        let mut data = lazy(&Value::Object(start.clone()));
        let mut original = Original::Keys(FirstInline::default());
        original.note(&data, Some("a"));
        Change::Set("a".into(), json!(5)).apply(&mut data).unwrap();
        assert!(!original.same_as(&data));
        Change::Set("a".into(), json!(1)).apply(&mut data).unwrap();
        assert!(original.same_as(&data));
        original.note(&data, None);
        Change::Remove("a".into()).apply(&mut data).unwrap();
        Change::Set("a".into(), json!(1)).apply(&mut data).unwrap();
        assert!(!original.same_as(&data), "a moved to the end: the JSON text differs");
    }
}
