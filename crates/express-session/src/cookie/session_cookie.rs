//! The session's cookie as express-session stores it (`req.session.cookie`), and its express JSON: the cookie
//! object of a stored record read field by field, `sameSite` and `priority` kept as spelled, JavaScript
//! truthiness for the attributes express stores as given, and `cookie.toJSON()`'s field order.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use super::priority::Priority;
use super::same_site::SameSite;
use crate::time::{Timestamp, duration_millis};

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
    /// [`InvalidCookie`] for an unknown field or a value express would fail to write.
    pub fn set_express_field(&mut self, field: &str, value: &Value, now: Timestamp) -> Result<(), InvalidCookie> {
        let millis = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
        match (field, value) {
            ("maxAge", Value::Number(_)) => self.set_max_age_millis(millis(value), now),
            // A falsy value (`""` too) is no expiry, as in express.
            ("maxAge", v) if !truthy(v) => self.set_max_age_millis(None, now),
            ("expires", Value::String(s)) if !s.is_empty() => {
                let at = Timestamp::parse_json(s).ok_or(InvalidCookie("option expires is invalid"))?;
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
                self.same_site = same_site_from_json(v).map_err(|()| InvalidCookie("option sameSite is invalid"))?
            }
            ("priority", v) => {
                self.priority = priority_from_json(v).map_err(|()| InvalidCookie("option priority is invalid"))?
            }
            _ => return Err(InvalidCookie("unknown cookie field or value")),
        }
        Ok(())
    }

    /// Reads the cookie object of a stored record, as express's `createSession` does: defaults first (path `/`,
    /// HttpOnly), then every stored field. Fails on a shape express would also fail on.
    pub fn from_json(value: &Value) -> Result<Self, InvalidCookie> {
        let obj = value.as_object().ok_or(InvalidCookie("not an object"))?;
        let mut cookie = Self::default();
        for (key, value) in obj {
            cookie.read_stored_field(key, value)?;
        }
        Ok(cookie)
    }

    /// One field of a stored cookie object, read as express's `createSession` reads it.
    fn read_stored_field(&mut self, key: &str, value: &Value) -> Result<(), InvalidCookie> {
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
                        Some(Timestamp::parse_json(s).ok_or(InvalidCookie("expires is not a date"))?)
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
                self.same_site = same_site_from_json(value).map_err(|()| InvalidCookie("sameSite is invalid"))?
            }
            "priority" => {
                self.priority = priority_from_json(value).map_err(|()| InvalidCookie("priority is invalid"))?
            }
            _ => {}
        }
        Ok(())
    }
}

/// A stored or assigned cookie field express would fail on: what is wrong, never the value. A stored record
/// with such a cookie fails to read with [`RecordError::Cookie`](crate::record::RecordError::Cookie).
///
/// ```
/// use express_session::{SessionCookie, Timestamp};
/// let mut cookie = SessionCookie::default();
/// let err = cookie.set_express_field("sameSite", &serde_json::json!("sideways"), Timestamp::from_millis(0));
/// assert_eq!(err.unwrap_err().reason(), "option sameSite is invalid");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session record's cookie is invalid: {0}")]
pub struct InvalidCookie(pub(crate) &'static str);

impl InvalidCookie {
    /// What is wrong (`"sameSite is invalid"`, `"not an object"`, ...).
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

/// The `cookie` object of a stored record, read field by field. A cookie express would fail on is reported as
/// the inner `Err` (the rest of the record is still read, so that the error says what is wrong).
pub(crate) struct CookieSeed;

impl<'de> serde::de::DeserializeSeed<'de> for CookieSeed {
    type Value = Result<SessionCookie, InvalidCookie>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A cookie that is not an object: refused without quoting it (serde's own message would).
fn cookie_not_an_object<E>() -> Result<Result<SessionCookie, InvalidCookie>, E> {
    Ok(Err(InvalidCookie("not an object")))
}

impl<'de> serde::de::Visitor<'de> for CookieSeed {
    type Value = Result<SessionCookie, InvalidCookie>;

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
