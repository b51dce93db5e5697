//! The user's data of a record, split by top-level key: a record read from a store keeps its JSON text and an
//! index of its top-level keys and their values' spans. A value is parsed when it is first read, and a value
//! that was not changed is written back as the bytes it was read from (no unescaping, no escaping), so a request
//! pays for the keys it touches, not for the whole session.
//!
//! An untouched value is written back as its stored bytes when they are what `JSON.stringify` writes for it,
//! which is the case for every value Node or this crate wrote (Node's output is canonical: parsing it and writing
//! it again gives the same bytes); one scan of the text tells. Another writer's text (`"\u00e9"` for `"é"`,
//! `"\/"`, `1e2`, `1.0`, whitespace, a key repeated inside a value) is rewritten as express rewrites it, since
//! express parses and writes the whole session again on every save (see `canonical`).
//!
//! Duplicate keys are read as `JSON.parse` reads them (the last value, in the place of the first), reserved keys
//! are dropped, and the text is written back from the index, so neither survives a save.

use std::sync::{Arc, OnceLock};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::canonical::is_canonical;
use super::is_reserved_key;
use super::parse::prints_apart;
use super::raw::{key_text, raw_placeholder, raw_text};
use super::write::{Count, Sink};
use crate::cookie::{CookieSeed, InvalidCookie, SessionCookie};

/// The most top-level keys a record is split lazily for: a longer record is parsed whole (lookups in the index
/// are linear, so they stay cheap).
const MAX_LAZY_KEYS: usize = 64;

/// The user's data: parsed values ([`Fields::Map`], records made here or changed through
/// [`Record::data_mut`](super::Record::data_mut)), or the stored text split by key ([`Fields::Lazy`]).
#[derive(Debug, Clone)]
pub(crate) enum Fields {
    Map(Map<String, Value>),
    Lazy(Lazy),
}

/// A record's data as its stored text and an index of its top-level keys.
#[derive(Debug, Clone)]
pub(crate) struct Lazy {
    /// The text the spans point into.
    source: Arc<str>,
    slots: Vec<Slot>,
    /// The data as a map, made on demand for [`Record::data`](super::Record::data).
    view: OnceLock<Box<Map<String, Value>>>,
}

#[derive(Debug, Clone)]
struct Slot {
    key: Name,
    value: Held,
}

/// A key: its text in the source (written without escapes there), or its own copy.
#[derive(Debug, Clone)]
enum Name {
    Span(usize, usize),
    Owned(Box<str>),
}

/// A value: as stored (its text in the source, parsed when first read), or set since.
#[derive(Debug, Clone)]
enum Held {
    Stored { start: usize, end: usize, parsed: OnceLock<Value> },
    Set(Value),
}

impl Default for Fields {
    fn default() -> Self {
        Fields::Map(Map::new())
    }
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Self {
        Fields::Map(map)
    }
}

/// A stored value's text as the data holds it: parsed, or kept as text (its stand-in) where the whole-record
/// parse would keep it so (see [`Record::raw_json`](super::Record::raw_json)).
pub(crate) fn parse_stored(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value) if !prints_apart(&value) => value,
        _ => raw_placeholder(text),
    }
}

/// A stored value's text, shared with the record it was read from (no copy).
#[derive(Debug, Clone)]
pub(crate) struct StoredText {
    source: Arc<str>,
    start: usize,
    end: usize,
}

impl StoredText {
    pub(crate) fn as_str(&self) -> &str {
        &self.source[self.start..self.end]
    }
}

impl Lazy {
    fn name<'a>(&'a self, slot: &'a Slot) -> &'a str {
        match &slot.key {
            Name::Span(start, end) => &self.source[*start..*end],
            Name::Owned(name) => name,
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.slots.iter().position(|slot| self.name(slot) == key)
    }

    fn value<'a>(&'a self, slot: &'a Slot) -> &'a Value {
        match &slot.value {
            Held::Stored { start, end, parsed } => parsed.get_or_init(|| parse_stored(&self.source[*start..*end])),
            Held::Set(value) => value,
        }
    }

    /// The stored text of a value not changed since it was read.
    fn stored_text<'a>(&'a self, slot: &'a Slot) -> Option<&'a str> {
        match &slot.value {
            Held::Stored { start, end, .. } => Some(&self.source[*start..*end]),
            Held::Set(_) => None,
        }
    }
}

impl Fields {
    /// Reads a record's (or MemoryStore's data-only) text lazily: the `cookie` object parsed (when there is one),
    /// the other keys indexed. `None` when the text is not read lazily (not JSON, a key without a Rust form, too
    /// many keys): the caller parses it whole, which also says what is wrong.
    pub(crate) fn read(text: &str) -> Option<(Option<Result<SessionCookie, InvalidCookie>>, Fields)> {
        Self::read_shared(&Arc::from(text))
    }

    /// [`read`](Self::read), keeping a share of `source` (no copy of the text).
    pub(crate) fn read_shared(source: &Arc<str>) -> Option<(Option<Result<SessionCookie, InvalidCookie>>, Fields)> {
        let source = Arc::clone(source);
        let (cookie, slots) = {
            use serde::Deserializer as _;
            let mut de = serde_json::Deserializer::from_str(&source);
            let read = de.deserialize_map(Reader { source: &source }).ok()?;
            de.end().ok()?;
            read
        };
        if slots.is_empty() {
            return Some((cookie, Fields::Map(Map::new())));
        }
        Some((cookie, Fields::Lazy(Lazy { source, slots, view: OnceLock::new() })))
    }

    /// MemoryStore's own data text split by key without serde_json (see [`split_own`]), sharing `source`; `None`
    /// when the text is not as MemoryStore writes it (then [`read_shared`](Self::read_shared) reads it).
    pub(crate) fn read_own(source: &Arc<str>) -> Option<Fields> {
        let slots = split_own(source)?;
        if slots.is_empty() {
            return Some(Fields::Map(Map::new()));
        }
        Some(Fields::Lazy(Lazy { source: Arc::clone(source), slots, view: OnceLock::new() }))
    }

    /// The value under `key` (parsed now if it was not yet).
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Fields::Map(map) => map.get(key),
            Fields::Lazy(lazy) => lazy.position(key).map(|i| lazy.value(&lazy.slots[i])),
        }
    }

    /// The stored text of `key`'s value, if it was read from a store and not changed since (not parsed here).
    pub(crate) fn stored_str(&self, key: &str) -> Option<&str> {
        match self {
            Fields::Map(_) => None,
            Fields::Lazy(lazy) => lazy.position(key).and_then(|i| lazy.stored_text(&lazy.slots[i])),
        }
    }

    /// [`stored_str`](Self::stored_str), as a handle that outlives this data (the text is shared, not copied).
    pub(crate) fn stored(&self, key: &str) -> Option<StoredText> {
        let Fields::Lazy(lazy) = self else { return None };
        match &lazy.slots[lazy.position(key)?].value {
            Held::Stored { start, end, .. } => {
                Some(StoredText { source: Arc::clone(&lazy.source), start: *start, end: *end })
            }
            Held::Set(_) => None,
        }
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        match self {
            Fields::Map(map) => map.contains_key(key),
            Fields::Lazy(lazy) => lazy.position(key).is_some(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Fields::Map(map) => map.len(),
            Fields::Lazy(lazy) => lazy.slots.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys, in order, without parsing any value.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter_lazily().map(|(key, _)| key)
    }

    /// The keys and values in order (every value parsed).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.iter_lazily().map(|(key, value)| (key, value.get()))
    }

    fn iter_lazily(&self) -> impl Iterator<Item = (&str, Entry<'_>)> {
        let (map, lazy) = match self {
            Fields::Map(map) => (Some(map.iter()), None),
            Fields::Lazy(lazy) => (None, Some(lazy)),
        };
        let map = map.into_iter().flatten().map(|(key, value)| (key.as_str(), Entry::Value(value)));
        let lazy = lazy
            .into_iter()
            .flat_map(|lazy| lazy.slots.iter().map(move |slot| (lazy.name(slot), Entry::Slot(lazy, slot))));
        map.chain(lazy)
    }

    /// Sets `key` to `value`: in its place if it is there (as assigning to a JavaScript object's existing key
    /// keeps its place), else last.
    pub(crate) fn insert(&mut self, key: &str, value: Value) {
        match self {
            Fields::Map(map) => match map.get_mut(key) {
                Some(slot) => *slot = value,
                None => {
                    map.insert(key.to_owned(), value);
                }
            },
            Fields::Lazy(lazy) => {
                lazy.view = OnceLock::new();
                match lazy.position(key) {
                    Some(i) => lazy.slots[i].value = Held::Set(value),
                    None => lazy.slots.push(Slot { key: Name::Owned(key.into()), value: Held::Set(value) }),
                }
            }
        }
    }

    /// Removes `key`, keeping the others' order.
    pub(crate) fn shift_remove(&mut self, key: &str) {
        match self {
            Fields::Map(map) => {
                map.shift_remove(key);
            }
            Fields::Lazy(lazy) => {
                if let Some(i) = lazy.position(key) {
                    lazy.view = OnceLock::new();
                    lazy.slots.remove(i);
                }
            }
        }
    }

    /// Keeps only the keys `keep` accepts.
    pub(crate) fn retain_keys(&mut self, keep: impl Fn(&str) -> bool) {
        match self {
            Fields::Map(map) => map.retain(|key, _| keep(key)),
            Fields::Lazy(lazy) => {
                lazy.view = OnceLock::new();
                let Lazy { source, slots, .. } = lazy;
                slots.retain(|slot| match &slot.key {
                    Name::Span(start, end) => keep(&source[*start..*end]),
                    Name::Owned(name) => keep(name),
                });
            }
        }
    }

    /// A copy of the data as a map (every value parsed).
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        match self {
            Fields::Map(map) => map.clone(),
            Fields::Lazy(_) => self.iter().map(|(key, value)| (key.to_owned(), value.clone())).collect(),
        }
    }

    /// The data as a map, made once (see [`Record::data`](super::Record::data)).
    pub(crate) fn view(&self) -> &Map<String, Value> {
        match self {
            Fields::Map(map) => map,
            Fields::Lazy(lazy) => lazy.view.get_or_init(|| Box::new(self.to_map())),
        }
    }

    /// The data as a map to change: from now on every value is parsed.
    pub(crate) fn map_mut(&mut self) -> &mut Map<String, Value> {
        if let Fields::Lazy(lazy) = self {
            let map = match lazy.view.take() {
                Some(map) => *map,
                None => self.to_map(),
            };
            *self = Fields::Map(map);
        }
        match self {
            Fields::Map(map) => map,
            Fields::Lazy(_) => unreachable!("made a map above"),
        }
    }

    /// Writes `,"key":value` for every key: stored values as their stored text, values kept as text (see
    /// [`Record::raw_json`](super::Record::raw_json)) and keys without a Rust form as their text, the others as
    /// serde_json writes them (as `JSON.stringify` does).
    pub(crate) fn write_entries(&self, out: &mut String) {
        self.write_entries_after(out, true);
    }

    /// [`write_entries`](Self::write_entries), the first entry without its `,` unless `comma_first`.
    fn write_entries_after(&self, out: &mut impl Sink, comma_first: bool) {
        for (i, (key, entry)) in self.iter_lazily().enumerate() {
            if i > 0 || comma_first {
                out.put(",");
            }
            match key_text(key) {
                Some(text) => out.put(text),
                None => out.put_json(key),
            }
            out.put(":");
            match entry.stored_text() {
                Some(text) => out.put_stored(text),
                None => write_value(out, entry.get()),
            }
        }
    }

    /// The data's JSON object, as [`write_entries`](Self::write_entries) writes its entries, in a buffer of its
    /// exact length (counted first: stored values by their length, the others serialized into a counter), so
    /// that MemoryStore keeps it without reallocating.
    pub(crate) fn to_object(&self) -> String {
        let mut count = Count(2);
        self.write_entries_after(&mut count, false);
        let mut out = String::with_capacity(count.0);
        out.push('{');
        self.write_entries_after(&mut out, false);
        out.push('}');
        out
    }

    /// About how long the written entries are (exact for stored values), to size the buffer.
    pub(crate) fn text_len_hint(&self) -> usize {
        match self {
            Fields::Map(map) => map.len() * 16,
            Fields::Lazy(lazy) => lazy.source.len() + lazy.slots.len() * 8,
        }
    }

    /// An upper bound of the written entries' length: a stored value's text as it is, every character of a key
    /// or a string counted as its longest escape (`\u00XX`), every number as 25 characters (the longest JavaScript
    /// writes).
    pub(crate) fn json_len_bound(&self) -> usize {
        fn bound(value: &Value) -> usize {
            match value {
                Value::Null | Value::Bool(_) => 5,
                // JavaScript's longest: `-0.0000012345678901234567`.
                Value::Number(_) => 25,
                Value::String(s) => s.len() * 6 + 2,
                Value::Array(items) => 2 + items.iter().map(|v| bound(v) + 1).sum::<usize>(),
                Value::Object(map) => 2 + map.iter().map(|(k, v)| k.len() * 6 + 4 + bound(v)).sum::<usize>(),
            }
        }
        self.iter_lazily()
            .map(|(key, entry)| {
                let value = match entry.stored_text() {
                    // Rewritten, a number token grows at most 25 times (`1e300` in full); anything else shrinks.
                    Some(text) if is_canonical(text.as_bytes()) => text.len(),
                    Some(text) => text.len() * 25,
                    None => raw_text(entry.get()).map_or_else(|| bound(entry.get()), str::len),
                };
                key.len() * 6 + 4 + value
            })
            .sum()
    }
}

/// One value of [`Fields`], not parsed until asked.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Value(&'a Value),
    Slot(&'a Lazy, &'a Slot),
}

impl<'a> Entry<'a> {
    /// The stored text of a value not changed since it was read.
    fn stored_text(self) -> Option<&'a str> {
        match self {
            Entry::Value(_) => None,
            Entry::Slot(lazy, slot) => lazy.stored_text(slot),
        }
    }

    fn get(self) -> &'a Value {
        match self {
            Entry::Value(value) => value,
            Entry::Slot(lazy, slot) => lazy.value(slot),
        }
    }
}

/// Writes a value as the record holds it: a value kept as text as that text (or `null` if it is not one JSON
/// value, which only a hand-made stand-in can be), anything else as serde_json writes it.
fn write_value(out: &mut impl Sink, value: &Value) {
    match raw_text(value) {
        Some(text) if serde_json::from_str::<&RawValue>(text).is_ok() => out.put_stored(text),
        Some(_) => out.put("null"),
        None => out.put_json(value),
    }
}

/// Splits MemoryStore's own data text by key, trusting it: that text was written by [`Fields::to_object`] from
/// valid JSON pieces (compact, one value per key), so only where each value ends is looked for, a string's end
/// found by `memchr` instead of serde_json's byte-by-byte scan. `None` for anything else it meets (a key with an
/// escape, `cookie`, too many keys, anything unexpected): the caller then reads the text with serde_json.
fn split_own(text: &str) -> Option<Vec<Slot>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let mut slots: Vec<Slot> = Vec::new();
    if bytes.get(1) == Some(&b'}') {
        return (bytes.len() == 2).then_some(slots);
    }
    let mut at = 1;
    loop {
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(text, at)?;
        let (key_start, key) = (at + 1, text.get(at + 1..key_end)?);
        if key.contains('\\') || key == "cookie" {
            return None;
        }
        if bytes.get(key_end + 1) != Some(&b':') {
            return None;
        }
        let start = key_end + 2;
        let end = value_end(text, start)?;
        if !is_reserved_key(key) {
            let value = Held::Stored { start, end, parsed: OnceLock::new() };
            // As `JSON.parse`: the last value of a repeated key, in the place of the first.
            match slots.iter().position(|slot| matches!(slot.key, Name::Span(s, e) if &text[s..e] == key)) {
                Some(i) => slots[i].value = value,
                None if slots.len() >= MAX_LAZY_KEYS => return None,
                None => slots.push(Slot { key: Name::Span(key_start, key_end), value }),
            }
        }
        match bytes.get(end) {
            Some(b',') => at = end + 1,
            Some(b'}') if end + 1 == bytes.len() => return Some(slots),
            _ => return None,
        }
    }
}

/// Where the string that opens at `open` (a `"`) closes: the next `"` not escaped by a backslash.
fn string_end(text: &str, open: usize) -> Option<usize> {
    let mut from = open + 1;
    loop {
        let quote = from + text.get(from..)?.find('"')?;
        // The opening quote stops the count, so it never runs past the string.
        let backslashes = text.as_bytes()[..quote].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(quote);
        }
        from = quote + 1;
    }
}

/// Where the value that starts at `start` ends (exclusive), in trusted compact JSON.
fn value_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    match *bytes.get(start)? {
        b'"' => Some(string_end(text, start)? + 1),
        b'{' | b'[' => {
            let (mut depth, mut at) = (0usize, start);
            loop {
                match *bytes.get(at)? {
                    b'"' => {
                        at = string_end(text, at)? + 1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        // A number, `true`, `false` or `null`: up to the next `,` or `}`.
        _ => {
            let len = bytes[start..].iter().position(|&b| b == b',' || b == b'}')?;
            (len > 0).then_some(start + len)
        }
    }
}

/// Reads the top-level object: the cookie parsed, the other keys indexed by span.
struct Reader<'s> {
    source: &'s str,
}

type Read = (Option<Result<SessionCookie, InvalidCookie>>, Vec<Slot>);

impl Reader<'_> {
    /// Where `text` (borrowed from the source) starts and ends in it.
    fn span(&self, text: &str) -> Option<(usize, usize)> {
        let start = (text.as_ptr() as usize).checked_sub(self.source.as_ptr() as usize)?;
        let end = start.checked_add(text.len())?;
        (self.source.get(start..end) == Some(text)).then_some((start, end))
    }
}

impl<'de> Visitor<'de> for Reader<'de> {
    type Value = Read;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a session record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        use serde::de::Error as _;
        let mut cookie = None;
        let mut slots: Vec<Slot> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let key_str = key.as_str();
            if key_str == "cookie" {
                cookie = Some(map.next_value_seed(CookieSeed)?);
                continue;
            }
            if is_reserved_key(key_str) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let raw: &'de RawValue = map.next_value()?;
            let (start, end) = self.span(raw.get()).ok_or_else(|| A::Error::custom("value outside the text"))?;
            let value = Held::Stored { start, end, parsed: OnceLock::new() };
            // `JSON.parse` keeps the last value of a repeated key, in the place of the first.
            let source = self.source;
            let found = slots.iter().position(|slot| match &slot.key {
                Name::Owned(name) => **name == *key_str,
                Name::Span(s, e) => source[*s..*e] == *key_str,
            });
            match found {
                Some(i) => slots[i].value = value,
                None if slots.len() >= MAX_LAZY_KEYS => return Err(A::Error::custom("too many keys")),
                None => {
                    let name = match key {
                        Key::Borrowed(text) => {
                            let (s, e) = self.span(text).ok_or_else(|| A::Error::custom("key outside the text"))?;
                            Name::Span(s, e)
                        }
                        Key::Owned(text) => Name::Owned(text.into()),
                    };
                    slots.push(Slot { key: name, value });
                }
            }
        }
        Ok((cookie, slots))
    }
}

/// A key, borrowed from the text when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(text) => text,
            Key::Owned(text) => text,
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(text))
    }

    fn visit_str<E>(self, text: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Key<'de>, E> {
        Ok(Key::Owned(text))
    }
}
