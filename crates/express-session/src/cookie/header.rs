//! The `Cookie` request header: reading a cookie's value as express-session's `cookie` 0.7.2 does, the URI
//! component codec, and the validity rules `cookie.serialize` applies to names, domains and paths.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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
/// use express_session::wire::encode_uri_component;
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
/// use express_session::wire::decode_uri_component;
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
/// use express_session::wire::cookie_value;
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
}
