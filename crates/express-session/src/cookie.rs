//! Reading the `Cookie` request header and writing `Set-Cookie`, byte for byte as express-session does.
//!
//! Reading follows the npm package `cookie` 0.7.2 that express-session uses: several `Cookie` header lines are
//! joined with `"; "` (as Node does), pairs are split on `;`, names and values are trimmed of spaces and tabs,
//! one pair of surrounding double quotes is removed, the **first** occurrence of a name wins even when its value
//! is garbage, names are compared raw (never decoded, case-sensitive), and a value is percent-decoded only when
//! it contains `%` and decodes cleanly.
//!
//! Writing follows the same package's `serialize`: the value is encoded as JavaScript's `encodeURIComponent`
//! encodes it and the attributes come in a fixed order:
//! `Domain`, `Path`, `Expires`, `HttpOnly`, `Secure`, `Partitioned`, `Priority`, `SameSite`. No `Max-Age`. As
//! there, an attribute with a falsy value (an empty domain or path, a `sameSite` or `priority` of `""` or `0`)
//! is left out.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::config::{Priority, SameSite};
use crate::time::Timestamp;

/// The characters JavaScript's `encodeURIComponent` leaves alone: letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The longest cookie value that is read at all, in bytes: browsers store at most 4096 bytes per cookie.
pub const MAX_COOKIE_VALUE: usize = 4096;

/// Percent-encodes `value` exactly as JavaScript's `encodeURIComponent` does.
///
/// ```
/// use express_session::cookie::encode_uri_component;
/// assert_eq!(encode_uri_component("s:a+b/c"), "s%3Aa%2Bb%2Fc");
/// assert_eq!(encode_uri_component("t\u{e4}st (ok)!"), "t%C3%A4st%20(ok)!");
/// ```
pub fn encode_uri_component(value: &str) -> Cow<'_, str> {
    utf8_percent_encode(value, URI_COMPONENT).into()
}

/// Decodes `%XX` escapes as JavaScript's `decodeURIComponent` does, or returns `None` where it would throw
/// (a `%` not followed by two hex digits, or escapes that do not form UTF-8).
///
/// ```
/// use express_session::cookie::decode_uri_component;
/// assert_eq!(decode_uri_component(b"s%3Afoo").as_deref(), Some("s:foo"));
/// assert_eq!(decode_uri_component(b"100%"), None);
/// assert_eq!(decode_uri_component(b"%C3"), None);
/// ```
pub fn decode_uri_component(value: &[u8]) -> Option<Cow<'_, str>> {
    if !value.contains(&b'%') {
        return std::str::from_utf8(value).ok().map(Cow::Borrowed);
    }
    let mut out = vec![0; value.len()];
    let len = percent_decode_into(value, &mut out)?;
    out.truncate(len);
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Percent-decodes `value` into `out` (at least as long as `value`) and returns the decoded length; `None` for a
/// `%` not followed by two hex digits.
fn percent_decode_into(value: &[u8], out: &mut [u8]) -> Option<usize> {
    let (mut i, mut n) = (0, 0);
    while i < value.len() {
        let byte = if value[i] == b'%' {
            let byte = hex(*value.get(i + 1)?)? << 4 | hex(*value.get(i + 2)?)?;
            i += 3;
            byte
        } else {
            i += 1;
            value[i - 1]
        };
        *out.get_mut(n)? = byte;
        n += 1;
    }
    Some(n)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Finds the raw value of the first cookie called `name` in one joined `Cookie` header, as `cookie.parse` 0.7.2
/// splits it (quotes removed, not yet percent-decoded). Returns its byte range.
fn find_in(header: &[u8], name: &[u8]) -> Option<std::ops::Range<usize>> {
    let len = header.len();
    if len < 2 {
        return None;
    }
    let mut index = 0;
    while index < len {
        let eq = index + header[index..].iter().position(|&b| b == b'=')?;
        let end = match header[index..].iter().position(|&b| b == b';') {
            None => len,
            Some(semi) if index + semi < eq => {
                // A segment without `=`: resume after the last `;` before this `=`, as cookie 0.7.2 does.
                index = header[..eq].iter().rposition(|&b| b == b';').map_or(0, |i| i + 1);
                continue;
            }
            Some(semi) => index + semi,
        };
        if trim_range(header, index, eq).map(|r| &header[r]) == Some(name)
            || (name.is_empty() && trim_range(header, index, eq).is_none())
        {
            let Some(mut value) = trim_range(header, eq + 1, end) else { return Some(eq + 1..eq + 1) };
            if header[value.start] == b'"' && header[value.end - 1] == b'"' {
                value = if value.len() >= 2 { value.start + 1..value.end - 1 } else { value.start..value.start };
            }
            return Some(value);
        }
        index = end + 1;
    }
    None
}

/// The range of `header[start..end]` without leading and trailing spaces and tabs, or `None` when blank.
fn trim_range(header: &[u8], start: usize, end: usize) -> Option<std::ops::Range<usize>> {
    let first = start + header[start..end].iter().position(|&b| !is_blank(b))?;
    let last = start + header[start..end].iter().rposition(|&b| !is_blank(b))?;
    Some(first..last + 1)
}

/// The value of the cookie called `name` across all `Cookie` header lines of a request, decoded as
/// express-session decodes it. `None` when the cookie is absent; a value that fails to percent-decode is kept
/// raw (as `cookie` 0.7.2 does), and a value that is not UTF-8 is treated as absent.
///
/// ```
/// use express_session::cookie::cookie_value;
/// let headers: [&[u8]; 2] = [b"a=1; connect.sid=\"s%3Afoo.bar\"", b"connect.sid=other"];
/// assert_eq!(cookie_value(headers, "connect.sid").as_deref(), Some("s:foo.bar"));
/// ```
pub fn cookie_value<'a, I>(headers: I, name: &str) -> Option<String>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    with_raw_value(headers, name, |raw| match decode_uri_component(raw) {
        Some(decoded) => Some(decoded.into_owned()),
        None => std::str::from_utf8(raw).ok().map(str::to_owned),
    })?
}

/// The value `cookie_value` decodes, with `s:` removed: the signed part of an express-session cookie. Decoded
/// on the stack when it is short (as express's own cookies are), so a returning client costs no allocation here.
pub(crate) fn signed_session_value<'a, I, R>(headers: I, name: &str, f: impl FnOnce(&str) -> Option<R>) -> Option<R>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    with_raw_value(headers, name, |raw| {
        // A usual value (`s%3A<id>.<mac>`, the MAC's `+` and `/` escaped too) is decoded on the stack.
        let mut buffer = [0u8; 160];
        if let Some(out) = buffer.get_mut(..raw.len()) {
            let decoded = match percent_decode_into(raw, out) {
                Some(len) if std::str::from_utf8(&out[..len]).is_ok() => &out[..len],
                // cookie 0.7.2 keeps a value that does not decode (to UTF-8) as it is.
                _ => raw,
            };
            return f(std::str::from_utf8(decoded).ok()?.strip_prefix("s:")?);
        }
        match decode_uri_component(raw) {
            Some(decoded) => f(decoded.strip_prefix("s:")?),
            None => f(std::str::from_utf8(raw).ok()?.strip_prefix("s:")?),
        }
    })?
}

/// Calls `f` with the raw (not yet decoded) value of the first cookie called `name` across all `Cookie` header
/// lines, unless it is absent or longer than [`MAX_COOKIE_VALUE`].
fn with_raw_value<'a, I, R>(headers: I, name: &str, f: impl FnOnce(&[u8]) -> R) -> Option<R>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut lines = headers.into_iter();
    let first = lines.next()?;
    let joined: Cow<'a, [u8]> = match lines.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let mut all = Vec::with_capacity(first.len() + second.len() + 2);
            all.extend_from_slice(first);
            for line in std::iter::once(second).chain(lines) {
                all.extend_from_slice(b"; ");
                all.extend_from_slice(line);
            }
            Cow::Owned(all)
        }
    };
    let range = find_in(&joined, name.as_bytes())?;
    // Nothing longer than a browser would ever send is decoded (or looked up).
    if range.len() > MAX_COOKIE_VALUE {
        return None;
    }
    Some(f(&joined[range]))
}

/// Returns `true` when `name` is a valid cookie name (an RFC 7230 token), the rule `cookie.serialize` enforces.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Returns `true` when `domain` is accepted by `cookie.serialize` 0.7.2: dot-separated labels of letters, digits
/// and inner hyphens (at most 63 characters each), optionally one leading dot.
pub(crate) fn is_valid_domain(domain: &str) -> bool {
    let labels = domain.strip_prefix('.').unwrap_or(domain);
    !labels.is_empty()
        && labels.split('.').all(|label| {
            let bytes = label.as_bytes();
            (1..=63).contains(&bytes.len())
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}

/// Returns `true` when `path` is accepted by `cookie.serialize` 0.7.2: printable ASCII (0x20-0x7E) except `;`
/// and `<`.
pub(crate) fn is_valid_path(path: &str) -> bool {
    path.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b';' && b != b'<')
}

/// Writes the `Set-Cookie` header value for a cookie called `name` holding `value` (percent-encoded as
/// `encodeURIComponent` does) with the attributes of a session's cookie, exactly as express-session writes it.
/// The session layer signs the id first (`s:` + [`sign`](crate::signature::sign)); this function does not.
///
/// ```
/// use express_session::{SessionCookie, cookie::set_cookie_header};
/// let header = set_cookie_header("connect.sid", "s:foo.bar", &SessionCookie::default()).unwrap();
/// assert_eq!(header, "connect.sid=s%3Afoo.bar; Path=/; HttpOnly");
/// ```
///
/// # Errors
///
/// [`SerializeError`] for an invalid name, domain or path, or a header over 4096 bytes.
pub fn set_cookie_header(name: &str, value: &str, cookie: &crate::SessionCookie) -> Result<String, SerializeError> {
    SetCookie {
        name,
        value,
        domain: cookie.domain(),
        path: cookie.path(),
        expires: cookie.expires(),
        http_only: cookie.http_only(),
        secure: cookie.secure(),
        partitioned: cookie.partitioned(),
        priority: cookie.priority(),
        same_site: cookie.same_site(),
    }
    .serialize()
}

/// The attributes of one `Set-Cookie` header, in the order express-session writes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetCookie<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    pub(crate) domain: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
    pub(crate) expires: Option<Timestamp>,
    pub(crate) http_only: bool,
    pub(crate) secure: bool,
    pub(crate) partitioned: bool,
    pub(crate) priority: Option<Priority>,
    pub(crate) same_site: Option<SameSite>,
}

/// Why a `Set-Cookie` header could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerializeError {
    /// The cookie name is not an RFC 7230 token.
    #[error("cookie name is invalid")]
    Name,
    /// The `Domain` attribute is not a valid domain.
    #[error("option domain is invalid")]
    Domain,
    /// The `Path` attribute contains characters a cookie path cannot hold.
    #[error("option path is invalid")]
    Path,
    /// The header would exceed the 4096 bytes browsers accept for name and value, or an attribute value the
    /// 1024 bytes they accept.
    #[error("cookie is larger than 4096 bytes, or an attribute larger than 1024 bytes")]
    TooLarge,
}

impl SetCookie<'_> {
    /// Writes the header value: `name=encodeURIComponent(value)` and the attributes in express's order.
    pub(crate) fn serialize(&self) -> Result<String, SerializeError> {
        if !is_valid_name(self.name) {
            return Err(SerializeError::Name);
        }
        let value = encode_uri_component(self.value);
        if self.name.len() + value.len() > 4096 {
            return Err(SerializeError::TooLarge);
        }
        let mut out = String::with_capacity(self.name.len() + value.len() + 96);
        out.push_str(self.name);
        out.push('=');
        out.push_str(&value);
        // cookie 0.7 writes a domain or path only when it is truthy: an empty one is left out.
        let domain = self.domain.filter(|d| !d.is_empty());
        let path = self.path.filter(|p| !p.is_empty());
        if domain.is_some_and(|d| d.len() > 1024) || path.is_some_and(|p| p.len() > 1024) {
            return Err(SerializeError::TooLarge);
        }
        if let Some(domain) = domain {
            if !is_valid_domain(domain) {
                return Err(SerializeError::Domain);
            }
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(path) = path {
            if !is_valid_path(path) {
                return Err(SerializeError::Path);
            }
            out.push_str("; Path=");
            out.push_str(path);
        }
        if let Some(expires) = self.expires {
            out.push_str("; Expires=");
            out.push_str(&expires.to_http_date());
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        if let Some(priority) = self.priority {
            out.push_str("; Priority=");
            out.push_str(priority.as_attribute());
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site.as_attribute());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(header: &str, name: &str) -> Option<String> {
        cookie_value([header.as_bytes()], name)
    }

    #[test]
    fn the_stack_decoding_path_reads_what_full_decoding_reads() {
        // Every value built from these pieces: the fast path (`s%3A` then no escape) and the decoding path must
        // agree with `cookie_value` followed by stripping `s:`.
        // (Three long pieces make a value longer than the stack buffer, which takes the allocating path.)
        let long = "%2B".repeat(20) + &"L".repeat(10);
        let pieces = ["s%3A", "s:", "%3A", "%2E", "%", "%zz", "abc", ".", "\"", "%C3%A9", "%FF", " ", "s", &long];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let header = format!("x=1; connect.sid={a}{b}{c}; y=2");
                    let expected = cookie_value([header.as_bytes()], "connect.sid")
                        .and_then(|v| v.strip_prefix("s:").map(str::to_owned));
                    let got = signed_session_value([header.as_bytes()], "connect.sid", |v| Some(v.to_owned()));
                    assert_eq!(got, expected, "{header:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, pieces.len().pow(3));
    }

    #[test]
    fn first_occurrence_wins_even_when_garbage() {
        assert_eq!(lookup("a=1; a=2", "a").as_deref(), Some("1"));
        assert_eq!(lookup("a=; a=2", "a").as_deref(), Some(""));
    }

    #[test]
    fn segments_without_equals_are_skipped() {
        assert_eq!(lookup("flag; a=1", "a").as_deref(), Some("1"));
        assert_eq!(lookup(";;a=1;;", "a").as_deref(), Some("1"));
        assert_eq!(lookup("=orphan; a=1", "a").as_deref(), Some("1"));
        assert_eq!(lookup("x", "x"), None);
        assert_eq!(lookup("", "a"), None);
    }

    #[test]
    fn trims_blanks_and_one_pair_of_quotes() {
        assert_eq!(lookup(" a \t= \"v\" ", "a").as_deref(), Some("v"));
        assert_eq!(lookup("a=\"v", "a").as_deref(), Some("\"v"));
        assert_eq!(lookup("a='v'", "a").as_deref(), Some("'v'"));
        assert_eq!(lookup("a=\"", "a").as_deref(), Some(""));
    }

    #[test]
    fn names_are_raw_and_case_sensitive() {
        assert_eq!(lookup("A=1", "a"), None);
        assert_eq!(lookup("a%2Eb=1", "a.b"), None);
    }

    #[test]
    fn values_decode_only_when_clean() {
        assert_eq!(lookup("a=%3A", "a").as_deref(), Some(":"));
        assert_eq!(lookup("a=100%", "a").as_deref(), Some("100%"));
        assert_eq!(lookup("a=%ZZ", "a").as_deref(), Some("%ZZ"));
        assert_eq!(cookie_value([&b"a=\xff"[..]], "a"), None);
    }

    #[test]
    fn several_header_lines_are_joined() {
        let lines: [&[u8]; 2] = [b"a=garbage", b"a=second"];
        assert_eq!(cookie_value(lines, "a").as_deref(), Some("garbage"));
        let lines: [&[u8]; 2] = [b"x=1", b"a=second"];
        assert_eq!(cookie_value(lines, "a").as_deref(), Some("second"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for input in ["=", ";", "==", ";=;", "\"", "a=\"\"", "=;=", " ; = ; "] {
            let _ = lookup(input, "a");
            let _ = lookup(input, "");
        }
    }

    #[test]
    fn validates_domains_like_cookie_0_7() {
        assert!(is_valid_domain("example.com"));
        assert!(is_valid_domain(".example.com"));
        assert!(is_valid_domain("localhost"));
        assert!(!is_valid_domain("..example.com"));
        assert!(!is_valid_domain("-a.com"));
        assert!(!is_valid_domain("a b.com"));
        assert!(!is_valid_domain(""));
        assert!(!is_valid_domain("example.com;x"));
    }

    #[test]
    fn serializes_in_express_order() {
        let cookie = SetCookie {
            name: "sid",
            value: "s:foo.76RrO0t1oL7AidII1OjH3iZCM6d0WH2GTCWnWuRqVdQ",
            domain: Some(".example.com"),
            path: Some("/app"),
            expires: Some(Timestamp::from_millis(1_700_000_001_623)),
            http_only: false,
            secure: true,
            partitioned: true,
            priority: Some(Priority::High),
            same_site: Some(SameSite::None),
        };
        assert_eq!(
            cookie.serialize().unwrap(),
            "sid=s%3Afoo.76RrO0t1oL7AidII1OjH3iZCM6d0WH2GTCWnWuRqVdQ; Domain=.example.com; Path=/app; \
             Expires=Tue, 14 Nov 2023 22:13:21 GMT; Secure; Partitioned; Priority=High; SameSite=None"
        );
    }

    /// cookie 0.7's `if (opt.domain)` / `if (opt.path)`: an empty domain or path is left out, not refused.
    #[test]
    fn empty_domain_and_path_are_left_out() {
        let cookie = SetCookie { name: "a", value: "v", domain: Some(""), path: Some(""), ..Default::default() };
        assert_eq!(cookie.serialize().unwrap(), "a=v");
        let cookie = SetCookie { name: "a", value: "v", domain: Some(""), path: Some("/x"), ..Default::default() };
        assert_eq!(cookie.serialize().unwrap(), "a=v; Path=/x");
    }

    #[test]
    fn refuses_bad_names_paths_and_sizes() {
        let base = SetCookie { name: "a b", value: "v", ..Default::default() };
        assert_eq!(base.serialize(), Err(SerializeError::Name));
        let path = SetCookie { name: "a", value: "v", path: Some("/x;y"), ..Default::default() };
        assert_eq!(path.serialize(), Err(SerializeError::Path));
        let big = "v".repeat(5000);
        let large = SetCookie { name: "a", value: &big, ..Default::default() };
        assert_eq!(large.serialize(), Err(SerializeError::TooLarge));
    }
}
