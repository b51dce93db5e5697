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

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::config::{Priority, SameSite};
use crate::time::{Timestamp, duration_millis};

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

/// How an attribute that express stores "as given" was spelled, so a record written by Node reads back the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// Written by Rust code: the lower-case name (`"lax"`, `"high"`).
    Lower,
    /// The JSON boolean `true` (`sameSite: true` means Strict) or `false` (attribute off).
    Bool(bool),
    /// Any other string, kept verbatim (`"Lax"`, `"HIGH"`, or `""`, which cookie 0.7 treats as unset).
    Text(Arc<str>),
    /// A number, kept verbatim: only a zero is accepted (a falsy value, which cookie 0.7 treats as unset).
    Number(serde_json::Number),
}

/// A `sameSite` or `priority` value with its spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spelled<T> {
    pub(crate) value: Option<T>,
    pub(crate) spelling: Spelling,
}

impl<T: Copy> Spelled<T> {
    pub(crate) fn lower(value: T) -> Self {
        Self { value: Some(value), spelling: Spelling::Lower }
    }
}

trait Named: Copy {
    fn lower_name(self) -> &'static str;
}

impl Named for SameSite {
    fn lower_name(self) -> &'static str {
        match self {
            SameSite::Strict => "strict",
            SameSite::Lax => "lax",
            SameSite::None => "none",
        }
    }
}

impl Named for Priority {
    fn lower_name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

impl<T: Named> Serialize for Spelled<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (&self.spelling, self.value) {
            (Spelling::Bool(b), _) => s.serialize_bool(*b),
            (Spelling::Text(t), _) => s.serialize_str(t),
            (Spelling::Number(n), _) => n.serialize(s),
            (Spelling::Lower, Some(v)) => s.serialize_str(v.lower_name()),
            (Spelling::Lower, None) => s.serialize_bool(false),
        }
    }
}

/// A falsy `sameSite` or `priority` other than `null` and `false` (`""`, `0`): cookie 0.7's `serialize` leaves
/// the attribute out (`if (opt.sameSite)`), so it is unset, and kept as spelled so that the record reads back the
/// same.
fn falsy_spelling<T>(value: &Value) -> Option<Spelled<T>> {
    match value {
        Value::String(s) if s.is_empty() => Some(Spelled { value: None, spelling: Spelling::Text("".into()) }),
        Value::Number(n) if n.as_f64() == Some(0.0) => {
            Some(Spelled { value: None, spelling: Spelling::Number(n.clone()) })
        }
        _ => None,
    }
}

/// Parses express's `sameSite` value: `true` (Strict), `false` (off), or a case-insensitive name; a falsy `""`
/// or `0` is unset, as cookie 0.7 treats it.
pub(crate) fn same_site_from_json(value: &Value) -> Result<Option<Spelled<SameSite>>, ()> {
    if let Some(unset) = falsy_spelling(value) {
        return Ok(Some(unset));
    }
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Bool(true) => Spelled { value: Some(SameSite::Strict), spelling: Spelling::Bool(true) },
        Value::Bool(false) => Spelled { value: None, spelling: Spelling::Bool(false) },
        Value::String(s) => {
            Spelled { value: Some(s.parse().map_err(|_| ())?), spelling: Spelling::Text(s.as_str().into()) }
        }
        _ => return Err(()),
    }))
}

/// Parses express's `priority` value: a case-insensitive `low`, `medium` or `high`; a falsy `""` or `0` is
/// unset, as cookie 0.7 treats it.
pub(crate) fn priority_from_json(value: &Value) -> Result<Option<Spelled<Priority>>, ()> {
    if let Some(unset) = falsy_spelling(value) {
        return Ok(Some(unset));
    }
    Ok(Some(match value {
        Value::Null | Value::Bool(false) => return Ok(None),
        Value::String(s) => {
            Spelled { value: Some(s.parse().map_err(|_| ())?), spelling: Spelling::Text(s.as_str().into()) }
        }
        _ => return Err(()),
    }))
}

/// JavaScript truthiness, for the boolean attributes express stores as given.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The session's cookie as express-session stores it (`req.session.cookie`): the lifetime and every attribute.
///
/// A session keeps the attributes it was created with; changing the layer's options later does not change
/// sessions already stored, exactly as in express.
///
/// ```
/// use express_session::{SessionCookie, Timestamp};
/// use std::time::Duration;
///
/// let now = Timestamp::from_millis(1_893_456_000_123);
/// let mut cookie = SessionCookie::default();
/// assert_eq!(cookie.expires(), None); // a browser-session cookie
/// cookie.set_max_age(Some(Duration::from_secs(60)), now);
/// assert_eq!(cookie.original_max_age(), Some(60_000));
/// assert_eq!(cookie.expires().unwrap().to_json(), "2030-01-01T00:01:00.123Z");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    pub(crate) original_max_age: Option<i64>,
    pub(crate) partitioned: Option<bool>,
    pub(crate) priority: Option<Spelled<Priority>>,
    pub(crate) expires: Option<Timestamp>,
    pub(crate) secure: Option<bool>,
    pub(crate) http_only: Option<bool>,
    pub(crate) domain: Option<Arc<str>>,
    pub(crate) path: Option<Arc<str>>,
    pub(crate) same_site: Option<Spelled<SameSite>>,
}

impl Default for SessionCookie {
    /// express's `new Cookie()`: path `/`, HttpOnly, no expiry.
    fn default() -> Self {
        Self {
            original_max_age: None,
            partitioned: None,
            priority: None,
            expires: None,
            secure: None,
            http_only: Some(true),
            domain: None,
            path: Some("/".into()),
            same_site: None,
        }
    }
}

impl SessionCookie {
    /// The lifetime the cookie was given, in milliseconds (express's `originalMaxAge`); `None` for a
    /// browser-session cookie.
    pub fn original_max_age(&self) -> Option<i64> {
        self.original_max_age
    }

    /// When the cookie and the stored session expire; `None` for a browser-session cookie.
    pub fn expires(&self) -> Option<Timestamp> {
        self.expires
    }

    /// Milliseconds left until [`expires`](Self::expires) at `now` (negative once past), as express's
    /// `cookie.maxAge` getter.
    pub fn max_age(&self, now: Timestamp) -> Option<i64> {
        self.expires.map(|e| e.millis_since(now))
    }

    /// express's `cookie.maxAge = ms`: expiry `now + max_age` and that value as the new original max age;
    /// `None` makes it a browser-session cookie.
    pub fn set_max_age(&mut self, max_age: Option<Duration>, now: Timestamp) {
        self.set_max_age_millis(max_age.map(duration_millis), now);
    }

    pub(crate) fn set_max_age_millis(&mut self, max_age: Option<i64>, now: Timestamp) {
        self.expires = max_age.map(|ms| now.add_millis(ms));
        self.original_max_age = max_age;
    }

    /// express's `cookie.expires = date`: a fixed expiry, and the time left until it as the original max age
    /// (so later touches keep that lifetime, as in express).
    pub fn set_expires(&mut self, expires: Option<Timestamp>, now: Timestamp) {
        self.expires = expires;
        self.original_max_age = expires.map(|e| e.millis_since(now));
    }

    /// express's `session.touch()` / `resetMaxAge()`: expiry becomes `now + original max age`.
    pub fn touch(&mut self, now: Timestamp) {
        self.expires = self.original_max_age.map(|ms| now.add_millis(ms));
    }

    /// Whether the cookie is sent only over HTTPS.
    pub fn secure(&self) -> bool {
        self.secure.unwrap_or(false)
    }

    /// Sets the `Secure` attribute.
    pub fn set_secure(&mut self, secure: bool) {
        self.secure = Some(secure);
    }

    /// Whether the cookie is hidden from JavaScript (default `true`).
    pub fn http_only(&self) -> bool {
        self.http_only.unwrap_or(false)
    }

    /// Sets the `HttpOnly` attribute.
    pub fn set_http_only(&mut self, http_only: bool) {
        self.http_only = Some(http_only);
    }

    /// The `Domain` attribute.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Sets the `Domain` attribute. An invalid domain makes the `Set-Cookie` fail at the end of the request
    /// (logged, no cookie sent), as in express.
    pub fn set_domain(&mut self, domain: Option<String>) {
        self.domain = domain.map(Arc::from);
    }

    /// The `Path` attribute.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Sets the `Path` attribute.
    pub fn set_path(&mut self, path: Option<String>) {
        self.path = path.map(Arc::from);
    }

    /// The `SameSite` attribute, if any.
    pub fn same_site(&self) -> Option<SameSite> {
        self.same_site.as_ref().and_then(|s| s.value)
    }

    /// Sets the `SameSite` attribute.
    pub fn set_same_site(&mut self, same_site: Option<SameSite>) {
        self.same_site = same_site.map(Spelled::lower);
    }

    /// Whether the cookie is `Partitioned` (CHIPS).
    pub fn partitioned(&self) -> bool {
        self.partitioned.unwrap_or(false)
    }

    /// Sets the `Partitioned` attribute.
    pub fn set_partitioned(&mut self, partitioned: bool) {
        self.partitioned = Some(partitioned);
    }

    /// The `Priority` attribute, if any.
    pub fn priority(&self) -> Option<Priority> {
        self.priority.as_ref().and_then(|p| p.value)
    }

    /// Sets the `Priority` attribute.
    pub fn set_priority(&mut self, priority: Option<Priority>) {
        self.priority = priority.map(Spelled::lower);
    }

    /// Assigns one field the way JavaScript code assigns `req.session.cookie[field] = value` in express: `maxAge`
    /// (milliseconds or `null`), `expires` (an ISO string or `null`), `originalMaxAge`, `domain`, `path`,
    /// `httpOnly`, `secure`, `partitioned`, `sameSite` and `priority` (kept as spelled). For ports of code
    /// that sets cookie fields dynamically, and for the conformance harness.
    ///
    /// ```
    /// use express_session::{SessionCookie, Timestamp};
    /// let mut cookie = SessionCookie::default();
    /// let now = Timestamp::from_millis(0);
    /// cookie.set_express_field("maxAge", &serde_json::json!(5000), now).unwrap();
    /// cookie.set_express_field("sameSite", &serde_json::json!("Lax"), now).unwrap();
    /// assert_eq!(cookie.expires(), Some(Timestamp::from_millis(5000)));
    /// assert!(cookie.set_express_field("nonsense", &serde_json::json!(1), now).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecordError::Cookie`] for an unknown field or a value express would fail to write.
    pub fn set_express_field(&mut self, field: &str, value: &Value, now: Timestamp) -> Result<(), RecordError> {
        let millis = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
        match (field, value) {
            ("maxAge", Value::Number(_)) => self.set_max_age_millis(millis(value), now),
            // A falsy value (`""` too) is no expiry, as in express.
            ("maxAge", v) if !truthy(v) => self.set_max_age_millis(None, now),
            ("expires", Value::String(s)) if !s.is_empty() => {
                let at = Timestamp::parse_json(s).ok_or(RecordError::Cookie("option expires is invalid"))?;
                self.set_expires(Some(at), now);
            }
            // express then reads the number back as `maxAge` for `originalMaxAge`, and the end of the request's
            // touch makes it a max age (`expires = 0` ends the cookie at once).
            ("expires", Value::Number(_)) => self.set_max_age_millis(millis(value), now),
            ("expires", v) if !truthy(v) => self.set_expires(None, now),
            ("originalMaxAge", Value::Number(_)) => self.original_max_age = millis(value),
            ("originalMaxAge", Value::Null) => self.original_max_age = None,
            ("domain", Value::String(s)) => self.domain = Some(s.as_str().into()),
            ("domain", v) if !truthy(v) => self.domain = None,
            ("path", Value::String(s)) => self.path = Some(s.as_str().into()),
            // Stored as the empty path, as a stored `null` is read: no `Path`, now and after the record is read back.
            ("path", v) if !truthy(v) => self.path = Some("".into()),
            ("httpOnly", v) => self.http_only = Some(truthy(v)),
            ("secure", v) => self.secure = Some(truthy(v)),
            ("partitioned", v) => self.partitioned = Some(truthy(v)),
            ("sameSite", v) => {
                self.same_site =
                    same_site_from_json(v).map_err(|()| RecordError::Cookie("option sameSite is invalid"))?
            }
            ("priority", v) => {
                self.priority = priority_from_json(v).map_err(|()| RecordError::Cookie("option priority is invalid"))?
            }
            _ => return Err(RecordError::Cookie("unknown cookie field or value")),
        }
        Ok(())
    }

    /// Reads the cookie object of a stored record, as express's `createSession` does: defaults first (path `/`,
    /// HttpOnly), then every stored field. Fails on a shape express would also fail on.
    pub fn from_json(value: &Value) -> Result<Self, RecordError> {
        let obj = value.as_object().ok_or(RecordError::Cookie("not an object"))?;
        let mut cookie = Self::default();
        for (key, value) in obj {
            cookie.read_stored_field(key, value)?;
        }
        Ok(cookie)
    }

    /// One field of a stored cookie object, read as express's `createSession` reads it.
    fn read_stored_field(&mut self, key: &str, value: &Value) -> Result<(), RecordError> {
        match key {
            "originalMaxAge" => {
                self.original_max_age = match value {
                    Value::Number(n) => Some(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0)),
                    _ => None,
                }
            }
            "expires" => {
                self.expires = match value {
                    // `""` (express stores it for `maxAge: ""`) is falsy: no expiry, as in express.
                    Value::String(s) if !s.is_empty() => {
                        Some(Timestamp::parse_json(s).ok_or(RecordError::Cookie("expires is not a date"))?)
                    }
                    Value::Number(n) => n.as_i64().map(Timestamp::from_millis),
                    _ => None,
                }
            }
            "partitioned" => self.partitioned = Some(truthy(value)),
            "secure" => self.secure = Some(truthy(value)),
            "httpOnly" => self.http_only = Some(truthy(value)),
            "domain" => self.domain = value.as_str().map(Arc::from),
            // A `null` path replaces the default `/` in express too, and cookie 0.7 then writes no `Path`: it is
            // read as the empty path, which behaves the same on both sides (and reads back the same after a round
            // trip, where a missing path would read back as `/`).
            "path" => match value {
                Value::String(path) => self.path = Some(path.as_str().into()),
                // `false` and `0` (express stores them as given) are falsy too.
                v if !truthy(v) => self.path = Some("".into()),
                _ => {}
            },
            "sameSite" => {
                self.same_site = same_site_from_json(value).map_err(|()| RecordError::Cookie("sameSite is invalid"))?
            }
            "priority" => {
                self.priority = priority_from_json(value).map_err(|()| RecordError::Cookie("priority is invalid"))?
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads a stored record straight from its text: the `cookie` object field by field and the user's keys as
/// values, without building a JSON tree for the whole record first (the hot path of every store read).
///
/// `tolerant` is the second try, for a record the first one could not read: each user value is taken as its JSON
/// text first, and one that `serde_json` cannot turn into a [`Value`] (a string holding a lone UTF-16
/// surrogate, nesting deeper than its recursion limit) is kept as that text (see [`Record::raw_json`]).
struct RecordSeed {
    tolerant: bool,
}

/// The `cookie` object of a stored record, read field by field. A cookie express would fail on is reported as
/// the inner `Err` (the rest of the record is still read, so that the error says what is wrong).
struct CookieSeed;

impl<'de> serde::de::DeserializeSeed<'de> for CookieSeed {
    type Value = Result<SessionCookie, RecordError>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A cookie that is not an object: refused without quoting it (serde's own message would).
fn cookie_not_an_object<E>() -> Result<Result<SessionCookie, RecordError>, E> {
    Ok(Err(RecordError::Cookie("not an object")))
}

impl<'de> serde::de::Visitor<'de> for CookieSeed {
    type Value = Result<SessionCookie, RecordError>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a cookie object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut cookie = Ok(SessionCookie::default());
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value: Value = map.next_value()?;
            if let Ok(c) = &mut cookie
                && let Err(error) = c.read_stored_field(&key, &value)
            {
                cookie = Err(error);
            }
        }
        Ok(cookie)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        cookie_not_an_object()
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        cookie_not_an_object()
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        cookie_not_an_object()
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        cookie_not_an_object()
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        cookie_not_an_object()
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        cookie_not_an_object()
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        cookie_not_an_object()
    }
}

/// What [`RecordSeed`] reads: the cookie (if the record has one) and the user's data.
type Parsed = (Option<Result<SessionCookie, RecordError>>, Map<String, Value>);

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
fn parse_record_text(text: &str) -> Result<Parsed, RecordError> {
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
fn prints_apart(value: &Value) -> bool {
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

/// The key of the one-entry object that stands in [`Record::data`] for a value kept as JSON text: random per
/// process, so that no stored object can be mistaken for one.
fn raw_marker() -> &'static str {
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
fn key_stand_in(text: &str) -> String {
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
fn raw_placeholder(text: &str) -> Value {
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
struct RawText<'a>(&'a str);

impl Serialize for RawText<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match RawValue::from_string(self.0.to_owned()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_unit(),
        }
    }
}

impl Serialize for SessionCookie {
    /// express's `cookie.toJSON()`: `originalMaxAge, partitioned, priority, expires, secure, httpOnly, domain,
    /// path, sameSite`, absent fields left out.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("originalMaxAge", &self.original_max_age)?;
        if let Some(p) = self.partitioned {
            map.serialize_entry("partitioned", &p)?;
        }
        if let Some(p) = &self.priority {
            map.serialize_entry("priority", p)?;
        }
        map.serialize_entry("expires", &self.expires.map(Timestamp::to_json))?;
        if let Some(v) = self.secure {
            map.serialize_entry("secure", &v)?;
        }
        if let Some(v) = self.http_only {
            map.serialize_entry("httpOnly", &v)?;
        }
        if let Some(v) = &self.domain {
            map.serialize_entry("domain", &**v)?;
        }
        if let Some(v) = &self.path {
            map.serialize_entry("path", &**v)?;
        }
        if let Some(v) = &self.same_site {
            map.serialize_entry("sameSite", v)?;
        }
        map.end()
    }
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
    data: Map<String, Value>,
    loaded_len: Option<LoadedLen>,
    /// The stored text had the creation stamp ([`CREATED_AT_KEY`]).
    loaded_stamped: bool,
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.cookie == other.cookie && self.data == other.data
    }
}

impl Record {
    /// A record with the given cookie and no data.
    pub fn new(cookie: SessionCookie) -> Self {
        Self { cookie, data: Map::new(), loaded_len: None, loaded_stamped: false }
    }

    /// A record from a cookie and data; reserved keys in `data` are dropped (see [`RESERVED_KEYS`]).
    pub fn from_parts(cookie: SessionCookie, mut data: Map<String, Value>) -> Self {
        data.retain(|k, _| !is_reserved_key(k));
        Self { cookie, data, loaded_len: None, loaded_stamped: false }
    }

    /// A record from a cookie and the JSON text of its data (an object without the `cookie` key), as MemoryStore
    /// keeps them; values kept as text read back as they were written.
    pub(crate) fn from_data_json(cookie: SessionCookie, text: &str) -> Result<Self, RecordError> {
        if text.is_empty() {
            // MemoryStore keeps an empty object as no text at all.
            return Ok(Self {
                cookie,
                data: Map::new(),
                loaded_len: Some(LoadedLen::Data("{}".len())),
                loaded_stamped: false,
            });
        }
        let (_, mut data) = parse_record_text(text)?;
        data.retain(|k, _| !is_reserved_key(k));
        // A value kept as text is in MemoryStore's text as its stand-in, `{"<marker>":"<the text, escaped>"}`,
        // and a key without a Rust form as its stand-in key: count them as the record's JSON holds them, or each
        // request could grow the record by that difference past `max_record_size`.
        let json_len = |s: &str| {
            let mut counter = Counter(0);
            serde_json::to_writer(&mut counter, s).map_or(s.len(), |()| counter.0)
        };
        let stand_ins: usize = data
            .values()
            .filter_map(raw_text)
            .map(|raw| "{:}".len() + json_len(raw_marker()) + json_len(raw) - raw.len())
            .sum::<usize>()
            + data.keys().filter_map(|key| Some(json_len(key) - key_text(key)?.len())).sum::<usize>();
        let loaded_stamped = data.contains_key(CREATED_AT_KEY);
        Ok(Self {
            cookie,
            data,
            loaded_len: Some(LoadedLen::Data(text.len().saturating_sub(stand_ins))),
            loaded_stamped,
        })
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
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// The user's data, mutably.
    pub fn data_mut(&mut self) -> &mut Map<String, Value> {
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

    /// How long the stored text this record was read from was (an estimate within a few bytes for MemoryStore),
    /// `None` for a record not read from a store.
    pub(crate) fn loaded_len(&self) -> Option<usize> {
        match self.loaded_len? {
            LoadedLen::Whole(len) => Some(len),
            LoadedLen::Data(len) => {
                let mut counter = Counter(0);
                serde_json::to_writer(&mut counter, &self.cookie).ok()?;
                Some(len + counter.0 + "{\"cookie\":,".len())
            }
        }
    }

    /// When the record expires (its cookie's expiry); `None` for a browser-session cookie.
    pub fn expires(&self) -> Option<Timestamp> {
        self.cookie.expires
    }

    /// The JSON text express-session would store: `JSON.stringify(req.session)`.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string(self).expect("a record always serializes");
        // Keys without a Rust form are written as their stand-ins, then replaced by their text (serde_json
        // writes every key as an escaped string). A stand-in's text holds this process's random marker, so the
        // first occurrence is the key (nothing else written before it can hold the marker).
        for (stand_in, text) in self.key_stand_ins() {
            let written = serde_json::to_string(stand_in).expect("a string always serializes");
            json = json.replacen(&written, text, 1);
        }
        json
    }

    /// The keys without a Rust form, with their JSON text.
    fn key_stand_ins(&self) -> impl Iterator<Item = (&str, &str)> {
        self.data.keys().filter_map(|key| Some((key.as_str(), key_text(key)?)))
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
        let (cookie, data) = parse_record_text(text)?;
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
        Ok(Self { cookie, data, loaded_len: None, loaded_stamped: false })
    }

    /// An upper bound of [`json_len`](Self::json_len), computed without serializing: every character of a
    /// string counted as its longest escape (`\u00XX`), every number as 24 characters.
    pub(crate) fn json_len_bound(&self) -> usize {
        fn bound(value: &Value) -> usize {
            match value {
                Value::Null | Value::Bool(_) => 5,
                Value::Number(_) => 24,
                Value::String(s) => s.len() * 6 + 2,
                Value::Array(items) => 2 + items.iter().map(|v| bound(v) + 1).sum::<usize>(),
                Value::Object(map) => 2 + map.iter().map(|(k, v)| k.len() * 6 + 4 + bound(v)).sum::<usize>(),
            }
        }
        let cookie = 256
            + self.cookie.domain.as_ref().map_or(0, |d| d.len() * 6)
            + self.cookie.path.as_ref().map_or(0, |p| p.len() * 6);
        cookie + 2 + self.data.iter().map(|(k, v)| k.len() * 6 + 4 + bound(v)).sum::<usize>()
    }

    /// The length of [`to_json`](Self::to_json), in bytes, without building the string.
    pub fn json_len(&self) -> usize {
        let mut counter = Counter(0);
        serde_json::to_writer(&mut counter, self).expect("a record always serializes");
        let stand_ins: usize = self
            .key_stand_ins()
            .map(|(stand_in, text)| {
                let mut written = Counter(0);
                serde_json::to_writer(&mut written, stand_in).map_or(0, |()| written.0 - text.len())
            })
            .sum();
        counter.0 - stand_ins
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
        for (k, v) in &self.data {
            match raw_text(v) {
                Some(text) => map.serialize_entry(k, &RawText(text))?,
                None => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let json = format!(
            r#"{{"cookie":{{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}},"a":{js},"b":0.5}}"#
        );
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
        let text =
            r#"{"cookie":{"originalMaxAge":60},"views":99999999999999999999999999999999999999999999999999999992}"#;
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
            let data = serde_json::to_string(record.data()).unwrap();
            let again = Record::from_data_json(record.cookie().clone(), &data).unwrap();
            assert_eq!(again.to_json(), json, "{name}: through MemoryStore's data text");
            let loaded = again.loaded_len().unwrap();
            assert!(loaded.abs_diff(json.len()) <= 1, "{name}: loaded at {loaded}, the JSON is {}", json.len());
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
        let data = serde_json::to_string(record.data()).unwrap();
        let again = Record::from_data_json(record.cookie().clone(), &data).unwrap();
        assert_eq!(again.to_json(), json, "through MemoryStore's data text");
        assert!(again.loaded_len().unwrap().abs_diff(json.len()) <= 1);
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
}
