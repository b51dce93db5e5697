//! The stored record: express-session's JSON (`cookie` object first, then the user's keys in insertion order).
//!
//! ```
//! use express_session::Record;
//!
//! let json = r#"{"cookie":{"originalMaxAge":60000,"expires":"2030-01-01T00:01:01.123Z","httpOnly":true,"path":"/"},"user":"alice"}"#;
//! let record = Record::from_json(json).unwrap();
//! assert_eq!(record.data()["user"], "alice");
//! assert_eq!(record.cookie().original_max_age(), Some(60000));
//! assert_eq!(record.to_json(), json);
//! ```

mod canonical;
mod fields;
mod matches;
mod number;
mod parse;
mod raw;
#[cfg(test)]
mod tests;
mod write;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

pub(crate) use fields::{Fields, StoredText, parse_stored};
pub(crate) use matches::{same_json, text_matches};

use crate::cookie::{InvalidCookie, SessionCookie};
use crate::time::Timestamp;
use parse::parse_record_text;
pub use raw::MAX_VALUE_DEPTH;
use raw::RawText;
pub(crate) use raw::{key_text, parse_raw, raw_text, text_depth, value_depth};

/// Keys express-session never restores from a stored record because they name a property the `Session` object
/// already has (its methods, `id`, `req`, and `Object.prototype`'s members). A Rust handler cannot write them
/// either, so that records stay readable by Node.
pub const RESERVED_KEYS: &[&str] = &[
    "cookie",
    "id",
    "req",
    "save",
    "reload",
    "regenerate",
    "destroy",
    "touch",
    "resetMaxAge",
    "constructor",
    "toString",
    "toLocaleString",
    "valueOf",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "__proto__",
    "__defineGetter__",
    "__defineSetter__",
    "__lookupGetter__",
    "__lookupSetter__",
];

/// The data key that holds a session's creation time (milliseconds since the epoch) when an
/// [`absolute_timeout`](crate::SessionOptions::absolute_timeout) is set. Handlers cannot write it.
pub const CREATED_AT_KEY: &str = "__sessionCreatedAt";

/// Returns `true` if `key` is one of the [`RESERVED_KEYS`].
pub fn is_reserved_key(key: &str) -> bool {
    RESERVED_KEYS.contains(&key)
}

/// Why a stored record could not be read. The messages say what is wrong and where, never what the record holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The text is not JSON: the parser's description of the problem and its position (for example
    /// `EOF while parsing an object at line 1 column 20`), which never quotes the text.
    #[error("session record is not valid JSON: {0}")]
    Syntax(String),
    /// The text is JSON, but not an object.
    #[error("session record is not a JSON object")]
    NotAnObject,
    /// The record has no `cookie` object (express fails to inflate such a record too).
    #[error("session record has no cookie object")]
    MissingCookie,
    /// The `cookie` object has a field of the wrong shape.
    #[error("session record's cookie is invalid: {0}")]
    Cookie(&'static str),
}

impl RecordError {
    /// A parser error, without its message when that could quote the text (serde's "invalid type: string ...").
    fn from_json_error(error: serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Data => RecordError::NotAnObject,
            _ => RecordError::Syntax(error.to_string()),
        }
    }
}

impl From<InvalidCookie> for RecordError {
    fn from(error: InvalidCookie) -> Self {
        RecordError::Cookie(error.reason())
    }
}

/// How long the text a record was read from was, for [`max_record_size`](crate::SessionOptions::max_record_size)
/// (a record may be written back at the size it had).
#[derive(Debug, Clone, Copy)]
enum LoadedLen {
    /// The whole record's text.
    Whole(usize),
    /// Only the data's text (MemoryStore keeps the cookie apart): the cookie's length is added when needed.
    Data(usize),
}

/// One stored session: its cookie and the user's data, in express-session's JSON layout.
///
/// `data` keeps insertion order, because express's stored JSON does (and its change detection depends on it).
///
/// A value the Node app stored that `serde_json` cannot hold as a [`Value`] (a string with a lone UTF-16
/// surrogate, which JavaScript allows, or nesting deeper than serde_json's recursion limit) is kept as its JSON
/// text, in its place among the keys, and written back byte for byte: see [`raw_json`](Self::raw_json).
#[derive(Debug, Clone)]
pub struct Record {
    cookie: SessionCookie,
    data: Fields,
    loaded_len: Option<LoadedLen>,
    /// The stored text had the creation stamp ([`CREATED_AT_KEY`]).
    loaded_stamped: bool,
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.cookie == other.cookie && self.data() == other.data()
    }
}

impl Record {
    /// A record with the given cookie and no data.
    pub fn new(cookie: SessionCookie) -> Self {
        Self { cookie, data: Fields::default(), loaded_len: None, loaded_stamped: false }
    }

    /// A record from a cookie and data; reserved keys in `data` are dropped (see [`RESERVED_KEYS`]).
    pub fn from_parts(cookie: SessionCookie, mut data: Map<String, Value>) -> Self {
        data.retain(|k, _| !is_reserved_key(k));
        Self { cookie, data: Fields::Map(data), loaded_len: None, loaded_stamped: false }
    }

    /// A record from a cookie and the JSON text of its data (an object without the `cookie` key), as MemoryStore
    /// keeps them: split by key, each value parsed when first read (see [`Fields`]).
    pub(crate) fn from_data_json(cookie: SessionCookie, text: &str) -> Result<Self, RecordError> {
        if text.is_empty() {
            // MemoryStore keeps an empty object as no text at all.
            return Ok(Self {
                cookie,
                data: Fields::default(),
                loaded_len: Some(LoadedLen::Data("{}".len())),
                loaded_stamped: false,
            });
        }
        let text = std::sync::Arc::from(text);
        let text = &text;
        // MemoryStore's own text, split without serde_json's scan; anything it does not expect is read as any text.
        let data = match Fields::read_own(text).or_else(|| Fields::read_shared(text).map(|(_, data)| data)) {
            Some(data) => data,
            None => {
                let (_, mut data) = parse_record_text(text)?;
                data.retain(|k, _| !is_reserved_key(k));
                Fields::Map(data)
            }
        };
        let loaded_stamped = data.contains_key(CREATED_AT_KEY);
        Ok(Self { cookie, data, loaded_len: Some(LoadedLen::Data(text.len())), loaded_stamped })
    }

    /// The session's cookie.
    pub fn cookie(&self) -> &SessionCookie {
        &self.cookie
    }

    /// The session's cookie, mutably.
    pub fn cookie_mut(&mut self) -> &mut SessionCookie {
        &mut self.cookie
    }

    /// The user's data. A value kept as JSON text (see [`raw_json`](Self::raw_json)) appears as an opaque
    /// one-entry object that stands in for it: leave it in place, and the text is written back unchanged. The
    /// stand-in means something only in this process: a store persists a record with
    /// [`to_json`](Self::to_json) (or, like MemoryStore, within the process), never by serializing `data()`
    /// for another process to read. Likewise a top-level key that has no Rust form (a lone UTF-16 surrogate,
    /// which JavaScript allows in a key) appears as an opaque stand-in key, and is written back as it was stored.
    ///
    /// A record read from a store keeps its text and parses each value when it is first read; `data()` parses
    /// every value (once), and `data_mut()` keeps them parsed from then on.
    pub fn data(&self) -> &Map<String, Value> {
        self.data.view()
    }

    /// The user's data, mutably.
    pub fn data_mut(&mut self) -> &mut Map<String, Value> {
        self.data.map_mut()
    }

    /// The user's data, each value parsed only when read (see [`Fields`]).
    pub(crate) fn fields(&self) -> &Fields {
        &self.data
    }

    /// The user's data, to change without parsing the values not read.
    pub(crate) fn fields_mut(&mut self) -> &mut Fields {
        &mut self.data
    }

    /// The stored JSON text of `key`'s value when it is kept as text because `serde_json` cannot hold it as a
    /// [`Value`]; `None` for a usual value or a missing key.
    ///
    /// ```
    /// use express_session::Record;
    ///
    /// // A lone surrogate, as JavaScript's `"😀".slice(0, 1)` stores it.
    /// let json = r#"{"cookie":{"path":"/"},"half":"\ud83d","n":1}"#;
    /// let record = Record::from_json(json).unwrap();
    /// assert_eq!(record.raw_json("half"), Some(r#""\ud83d""#));
    /// assert_eq!(record.raw_json("n"), None);
    /// assert_eq!(record.to_json(), r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"half":"\ud83d","n":1}"#);
    /// ```
    pub fn raw_json(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(raw_text)
    }

    /// Whether the stored text this record was read from had the creation stamp ([`CREATED_AT_KEY`]).
    pub(crate) fn loaded_stamped(&self) -> bool {
        self.loaded_stamped
    }

    /// How long the stored text this record was read from was (for MemoryStore, which keeps the data apart:
    /// with the cookie as it is now), `None` for a record not read from a store. Exact, not an estimate: a
    /// session above `max_record_size` may be written only if it did not grow, and a count one byte high would
    /// let every request grow it by one byte.
    pub(crate) fn loaded_len(&self) -> Option<usize> {
        match self.loaded_len? {
            LoadedLen::Whole(len) => Some(len),
            LoadedLen::Data(len) => {
                let mut counter = Counter(0);
                serde_json::to_writer(&mut counter, &self.cookie).ok()?;
                // `{"cookie":` and the cookie, then the data's entries: its `{` becomes a `,` (no data: none),
                // its `}` closes the record.
                let entries = len.saturating_sub("{}".len());
                Some("{\"cookie\":}".len() + counter.0 + usize::from(entries > 0) + entries)
            }
        }
    }

    /// When the record expires (its cookie's expiry); `None` for a browser-session cookie.
    pub fn expires(&self) -> Option<Timestamp> {
        self.cookie.expires
    }

    /// The JSON text express-session would store: `JSON.stringify(req.session)`. A value read from a store and not
    /// changed is written as the text it was read from when that text is what `JSON.stringify` writes (every value
    /// Node or this crate wrote), else as `JSON.stringify` writes it (`"\u00e9"` as `"é"`, `1.0` as `1`).
    ///
    /// ```
    /// use express_session::Record;
    ///
    /// let cookie = r#"{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}"#;
    /// let node = format!(r#"{{"cookie":{cookie},"a":"é\u0001","n":1e+21}}"#);
    /// assert_eq!(Record::from_json(&node).unwrap().to_json(), node);
    /// let other = format!(r#"{{"cookie":{cookie},"a":"\u00e9", "n":1.0}}"#);
    /// assert_eq!(Record::from_json(&other).unwrap().to_json(), format!(r#"{{"cookie":{cookie},"a":"é","n":1}}"#));
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.data.text_len_hint() + 160);
        out.push_str("{\"cookie\":");
        write::write_json(&mut out, &self.cookie);
        self.data.write_entries(&mut out);
        out.push('}');
        out
    }

    /// The data's JSON text without the `cookie` key, as MemoryStore keeps it (`{}` for no data).
    pub(crate) fn data_json(&self) -> String {
        self.data.to_object()
    }

    /// Parses a stored record. Reserved keys are dropped as express drops them when it inflates a session.
    /// Every record express can read is read, including values `serde_json` cannot hold (see
    /// [`raw_json`](Self::raw_json)).
    ///
    /// # Errors
    ///
    /// [`RecordError`] when the text is not a JSON object or has no valid `cookie` object. The session layer
    /// treats such a record as absent (and logs it); it never fails the request.
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        let (cookie, data) = match Fields::read(text) {
            Some(read) => read,
            None => {
                let (cookie, data) = parse_record_text(text)?;
                (cookie, Fields::Map(data))
            }
        };
        let cookie = cookie.ok_or(RecordError::MissingCookie)??;
        let loaded_stamped = data.contains_key(CREATED_AT_KEY);
        Ok(Self { cookie, data, loaded_len: Some(LoadedLen::Whole(text.len())), loaded_stamped })
    }

    /// Like [`from_json`](Self::from_json), from an already parsed value.
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json).
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        let Value::Object(mut data) = value else { return Err(RecordError::NotAnObject) };
        let cookie = data.shift_remove("cookie").ok_or(RecordError::MissingCookie)?;
        let cookie = SessionCookie::from_json(&cookie)?;
        data.retain(|k, _| !is_reserved_key(k));
        Ok(Self { cookie, data: Fields::Map(data), loaded_len: None, loaded_stamped: false })
    }

    /// An upper bound of [`json_len`](Self::json_len), computed without serializing: every character of a
    /// string counted as its longest escape (`\u00XX`), every number as 25 characters (the longest JavaScript
    /// writes).
    pub(crate) fn json_len_bound(&self) -> usize {
        let cookie = 256
            + self.cookie.domain.as_ref().map_or(0, |d| d.len() * 6)
            + self.cookie.path.as_ref().map_or(0, |p| p.len() * 6);
        cookie + 2 + self.data.json_len_bound()
    }

    /// The length of [`to_json`](Self::to_json), in bytes (the text is built to count it).
    pub fn json_len(&self) -> usize {
        self.to_json().len()
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the record as [`to_json`](Record::to_json) does, except that a key without a Rust form (see
/// [`data`](Record::data)) is written as its process-local stand-in: persist a record with `to_json`.
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.data.len() + 1))?;
        map.serialize_entry("cookie", &self.cookie)?;
        for (k, v) in self.data.iter() {
            match raw_text(v) {
                Some(text) => map.serialize_entry(k, &RawText(text))?,
                None => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}
