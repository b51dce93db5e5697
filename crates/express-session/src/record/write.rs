//! Where a record's text is written: a `String` built from valid pieces (serde_json's, checked piece by piece,
//! and stored text, already valid), or a count of its length, so that the text can be allocated at its exact
//! length first. Keys and values are written as `JSON.stringify` writes them (numbers in JavaScript's notation,
//! stored text as `JSON.stringify(JSON.parse(text))`).

use super::canonical::{is_canonical, write_canonical};
use super::number::JsFormatter;

/// Where the written text goes: the text, or a count of its length.
pub(super) trait Sink {
    /// Text that is JSON already, as it is.
    fn put(&mut self, text: &str);
    /// A key or a value, as `JSON.stringify` writes it.
    fn put_json<T: serde::Serialize + ?Sized>(&mut self, value: &T);
    /// A stored value's text (one valid JSON value), as express would write it again.
    fn put_stored(&mut self, text: &str);
}

impl Sink for String {
    fn put(&mut self, text: &str) {
        self.push_str(text);
    }

    fn put_json<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        write_json(self, value);
    }

    fn put_stored(&mut self, text: &str) {
        if is_canonical(text.as_bytes()) {
            self.push_str(text);
        } else {
            self.push_str(&rewritten(text));
        }
    }
}

/// Counts the length of the text (a count that misses only costs a reallocation).
pub(super) struct Count(pub(super) usize);

impl Sink for Count {
    fn put(&mut self, text: &str) {
        self.0 += text.len();
    }

    fn put_json<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        let mut serializer = serde_json::Serializer::with_formatter(&mut *self, JsFormatter);
        let _ = value.serialize(&mut serializer);
    }

    fn put_stored(&mut self, text: &str) {
        self.0 += if is_canonical(text.as_bytes()) { text.len() } else { rewritten(text).len() };
    }
}

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Another writer's text as `JSON.stringify(JSON.parse(text))` (only for text that is not that already: rare).
fn rewritten(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    write_canonical(&mut out, text);
    // The rewrite writes whole characters of valid text, and ASCII escapes.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes `value` as `JSON.stringify` does (serde_json's compact JSON, numbers in JavaScript's notation), onto
/// text built from valid pieces (so that the text need not be checked as UTF-8 once written: only serde_json's own
/// pieces are).
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(out: &mut String, value: &T) {
    let start = out.len();
    let mut serializer = serde_json::Serializer::with_formatter(StrWriter(out), JsFormatter);
    if value.serialize(&mut serializer).is_err() {
        // Not written in whole characters (serde_json always writes them), or not serializable (a `Value` or a
        // string always is): written at once, or as `null`.
        out.truncate(start);
        let mut bytes = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, JsFormatter);
        match value.serialize(&mut serializer).ok().and_then(|()| String::from_utf8(bytes).ok()) {
            Some(text) => out.push_str(&text),
            None => out.push_str("null"),
        }
    }
}

/// serde_json's output appended to a `String`, each piece checked as UTF-8 (the text around it is not read).
struct StrWriter<'a>(&'a mut String);

impl std::io::Write for StrWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(buf).map_err(|_| std::io::ErrorKind::InvalidData)?;
        self.0.push_str(text);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
