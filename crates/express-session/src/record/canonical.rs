//! A stored value's JSON text as express would write it again: `JSON.stringify(JSON.parse(text))`.
//!
//! Node's `JSON.stringify` output is canonical (parsing it and writing it again gives the same bytes), so the
//! text of every value Node or this crate wrote is written back as it is, after one scan that finds no reason
//! to rewrite it. Another writer's text (`"\u00e9"` for `"é"`, `"\/"`, `1.0`, `1e3`, whitespace, a key repeated
//! inside a value) is rewritten as express rewrites it whenever it saves the session.

use serde_json::Value;

use super::number::{JsFormatter, write_js_number};

/// Writes `text` (one valid JSON value) as `JSON.stringify(JSON.parse(text))`.
pub(crate) fn write_canonical(out: &mut Vec<u8>, text: &str) {
    if is_canonical(text.as_bytes()) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    if write_parsed(out, text) {
        return;
    }
    // A number beyond a double's range (JavaScript's `Infinity`, written `null`), a string with a lone surrogate
    // (JavaScript allows it, Rust strings do not) or nesting deeper than serde_json parses: rewritten token by
    // token, then once more through a `Value` if that can hold it now and a key is still repeated. A key repeated
    // inside a value serde_json cannot hold stays repeated: the one difference left.
    let mut rewritten = Vec::with_capacity(text.len());
    rewrite(&mut rewritten, text.as_bytes());
    let parsed = !is_canonical(&rewritten) && std::str::from_utf8(&rewritten).is_ok_and(|text| write_parsed(out, text));
    if !parsed {
        out.extend_from_slice(&rewritten);
    }
}

/// Writes `text` through a `Value`, where serde_json can hold the value (a repeated key keeps its first place and
/// its last value, as in `JSON.parse`); `false` (nothing written) where it cannot.
fn write_parsed(out: &mut Vec<u8>, text: &str) -> bool {
    let Ok(value) = serde_json::from_str::<Value>(text) else { return false };
    let mark = out.len();
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, JsFormatter);
    if serde::Serialize::serialize(&value, &mut serializer).is_ok() {
        return true;
    }
    out.truncate(mark);
    false
}

/// Whether `text` is what `JSON.stringify` writes for the value it holds: no whitespace, only the escapes
/// JavaScript writes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, lower-case `\u00XX` for other control characters
/// and `\uXXXX` for a lone surrogate), numbers in JavaScript's notation, and no key twice in one object.
pub(crate) fn is_canonical(text: &[u8]) -> bool {
    // The keys of the objects open around `i` (their spans), and where each object's keys start in that list:
    // allocated only for a value that holds objects.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut objects: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => match string_end(text, i + 1) {
                Some(end) => {
                    if text.get(end) == Some(&b':') {
                        let first = objects.last().copied().unwrap_or(0);
                        let key = &text[i..end];
                        // A long object is rewritten rather than searched: the rewrite is linear.
                        if keys.len() - first >= MAX_SEARCHED_KEYS
                            || keys[first..].iter().any(|&(s, e)| &text[s..e] == key)
                        {
                            return false;
                        }
                        keys.push((i, end));
                    }
                    i = end;
                }
                None => return false,
            },
            b'-' | b'0'..=b'9' => {
                let end = number_end(text, i);
                if !number_is_canonical(&text[i..end]) {
                    return false;
                }
                i = end;
            }
            b' ' | b'\t' | b'\n' | b'\r' => return false,
            b'{' => {
                objects.push(keys.len());
                i += 1;
            }
            b'}' => {
                if let Some(first) = objects.pop() {
                    keys.truncate(first);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    true
}

/// How many keys of one object [`is_canonical`] compares a key with.
const MAX_SEARCHED_KEYS: usize = 64;

/// The index after the closing quote of the string whose content starts at `i`, `None` if it holds an escape
/// JavaScript does not write.
fn string_end(text: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += memchr::memchr2(b'"', b'\\', text.get(i..)?)?;
        if text[i] == b'"' {
            return Some(i + 1);
        }
        match text.get(i + 1)? {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
            b'u' => {
                let unit = hex4(text.get(i + 2..i + 6)?, true)?;
                let canonical = match unit {
                    0x08 | 0x09 | 0x0a | 0x0c | 0x0d => false,
                    0..0x20 => true,
                    // A high surrogate followed by a low one is a character, which JavaScript writes as itself.
                    0xd800..0xdc00 => low_surrogate_at(text, i + 6).is_none(),
                    0xdc00..0xe000 => true,
                    _ => false,
                };
                if !canonical {
                    return None;
                }
                i += 6;
            }
            _ => return None,
        }
    }
}

/// The value of four hex digits (lower-case only when `lower`).
fn hex4(digits: &[u8], lower: bool) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        let value = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' if !lower => d - b'A' + 10,
            _ => return None,
        };
        Some(acc * 16 + u32::from(value))
    })
}

/// The low surrogate escaped at `i` (`\uDC00` to `\uDFFF`, any case), if there is one.
fn low_surrogate_at(text: &[u8], i: usize) -> Option<u32> {
    if text.get(i..i + 2)? != b"\\u" {
        return None;
    }
    hex4(text.get(i + 2..i + 6)?, false).filter(|unit| (0xdc00..0xe000).contains(unit))
}

fn number_end(text: &[u8], start: usize) -> usize {
    let len = text[start..]
        .iter()
        .position(|&b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        .unwrap_or(text.len() - start);
    start + len
}

/// Whether a number token is written as JavaScript writes the number it holds.
fn number_is_canonical(token: &[u8]) -> bool {
    let digits = token.strip_prefix(b"-").unwrap_or(token);
    if digits.iter().all(u8::is_ascii_digit) {
        // An integer below 1e15 is exact in a double and written positionally; `-0` is written `0`.
        if digits.len() <= 15 {
            return token != b"-0";
        }
    }
    let mut written = Vec::with_capacity(32);
    write_js_number(&mut written, parse_number(token)).is_ok() && written == token
}

fn parse_number(token: &[u8]) -> f64 {
    std::str::from_utf8(token).ok().and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0)
}

/// Rewrites a JSON text token by token: whitespace dropped, strings and numbers as JavaScript writes them.
fn rewrite(out: &mut Vec<u8>, text: &[u8]) {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => i = rewrite_string(out, text, i + 1),
            b'-' | b'0'..=b'9' => {
                let end = number_end(text, i);
                // Writing into memory cannot fail.
                let _ = write_js_number(out, parse_number(&text[i..end]));
                i = end;
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
}

/// Rewrites the string whose content starts at `i`; returns the index after its closing quote.
fn rewrite_string(out: &mut Vec<u8>, text: &[u8], mut i: usize) -> usize {
    out.push(b'"');
    loop {
        let run = memchr::memchr2(b'"', b'\\', &text[i..]).unwrap_or(text.len() - i);
        out.extend_from_slice(&text[i..i + run]);
        i += run;
        match text.get(i) {
            Some(b'\\') => {}
            _ => {
                out.push(b'"');
                return i + 1;
            }
        }
        let (unit, next) = match text.get(i + 1) {
            Some(b'u') => match text.get(i + 2..i + 6).and_then(|d| hex4(d, false)) {
                Some(unit) => (unit, i + 6),
                None => (u32::from('\u{fffd}'), i + 2),
            },
            Some(b'b') => (0x08, i + 2),
            Some(b'f') => (0x0c, i + 2),
            Some(b'n') => (0x0a, i + 2),
            Some(b'r') => (0x0d, i + 2),
            Some(b't') => (0x09, i + 2),
            Some(&other) => (u32::from(other), i + 2),
            None => (u32::from('\u{fffd}'), i + 1),
        };
        i = next;
        if (0xd800..0xdc00).contains(&unit)
            && let Some(low) = low_surrogate_at(text, i)
        {
            let c = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            write_char(out, char::from_u32(c).unwrap_or('\u{fffd}'));
            i += 6;
            continue;
        }
        match char::from_u32(unit) {
            Some(c) => write_char(out, c),
            // A lone surrogate: JavaScript's well-formed `JSON.stringify` escapes it, in lower case.
            None => out.extend_from_slice(format!("\\u{unit:04x}").as_bytes()),
        }
    }
}

/// Writes one character of a string as `JSON.stringify` does.
fn write_char(out: &mut Vec<u8>, c: char) {
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        c if u32::from(c) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes()),
        c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
    }
}
