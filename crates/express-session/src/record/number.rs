//! Numbers as JavaScript writes them: express stores `JSON.stringify(req.session)`, and JavaScript writes a
//! number in its own notation (`2` for 2.0, `0` for -0, `0.000001` for 1e-6, `123456789012345680000` for
//! 1.2345678901234568e20), where serde_json writes `2.0`, `-0.0`, `1e-6` and `1.2345678901234568e20`.

use std::io::{self, Write};

use serde_json::ser::{CompactFormatter, Formatter};

/// serde_json's compact output, with every float written as JavaScript's `Number.prototype.toString` writes it
/// (ECMA-262 `Number::toString`, which `JSON.stringify` uses): the same shortest digits, placed positionally
/// from 1e-7 (exclusive) up to 1e21 (exclusive), with an exponent (`1e-7`, `1.5e+300`) outside; an integer beyond
/// 2^53 as the double JavaScript parses it into.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JsFormatter;

impl Formatter for JsFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        write_js_number(writer, value)
    }

    // An integer beyond 2^53 as the double JavaScript holds it in (`12345678901234567890` is written
    // `12345678901234567000`), so that a value a handler sets is stored as the text a later save of the untouched
    // value writes (see `canonical`), not rewritten then.
    #[allow(clippy::cast_precision_loss)] // the loss is JavaScript's, which is the point
    fn write_u64<W: ?Sized + Write>(&mut self, writer: &mut W, value: u64) -> io::Result<()> {
        if value > EXACT { write_js_number(writer, value as f64) } else { write!(writer, "{value}") }
    }

    #[allow(clippy::cast_precision_loss)]
    fn write_i64<W: ?Sized + Write>(&mut self, writer: &mut W, value: i64) -> io::Result<()> {
        if value.unsigned_abs() > EXACT { write_js_number(writer, value as f64) } else { write!(writer, "{value}") }
    }
}

/// The largest integer every smaller one of which a double holds exactly.
const EXACT: u64 = 1 << 53;

/// Writes `value` as JavaScript's `JSON.stringify` does (`null` for a value that is not finite, which a
/// `serde_json::Value` cannot hold anyway).
pub(crate) fn write_js_number<W: ?Sized + Write>(out: &mut W, value: f64) -> io::Result<()> {
    if !value.is_finite() {
        return out.write_all(b"null");
    }
    if value == 0.0 {
        // -0 too: `JSON.stringify(-0)` is `0`.
        return out.write_all(b"0");
    }
    // serde_json's (ryu's) shortest digits, which are JavaScript's: "1.2345678901234568e20", "2.0", "1e-7".
    let mut buf = [0u8; 40];
    let len = {
        let mut cursor = io::Cursor::new(&mut buf[..]);
        CompactFormatter.write_f64(&mut cursor, value.abs())?;
        usize::try_from(cursor.position()).unwrap_or(0)
    };
    let text = &buf[..len];
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&text[..at], parse_exponent(&text[at + 1..])),
        None => (text, 0),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    let mut digits = [0u8; 40];
    let mut k = 0;
    for &d in int.iter().chain(frac) {
        if k < digits.len() {
            digits[k] = d;
            k += 1;
        }
    }
    let leading = digits[..k].iter().take_while(|&&d| d == b'0').count();
    let trailing = digits[leading..k].iter().rev().take_while(|&&d| d == b'0').count();
    let digits = &digits[leading..k - trailing];
    if digits.is_empty() {
        return out.write_all(b"0");
    }
    // value = 0.digits × 10^n
    let n = i64::try_from(int.len()).unwrap_or(0) + exponent - i64::try_from(leading).unwrap_or(0);
    let k = i64::try_from(digits.len()).unwrap_or(0);
    if value < 0.0 {
        out.write_all(b"-")?;
    }
    if k <= n && n <= 21 {
        out.write_all(digits)?;
        zeros(out, n - k)
    } else if 0 < n && n <= 21 {
        let at = usize::try_from(n).unwrap_or(0);
        out.write_all(&digits[..at])?;
        out.write_all(b".")?;
        out.write_all(&digits[at..])
    } else if -6 < n && n <= 0 {
        out.write_all(b"0.")?;
        zeros(out, -n)?;
        out.write_all(digits)
    } else {
        out.write_all(&digits[..1])?;
        if digits.len() > 1 {
            out.write_all(b".")?;
            out.write_all(&digits[1..])?;
        }
        let e = n - 1;
        write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.unsigned_abs())
    }
}

fn zeros<W: ?Sized + Write>(out: &mut W, count: i64) -> io::Result<()> {
    for _ in 0..count {
        out.write_all(b"0")?;
    }
    Ok(())
}

/// The exponent after serde_json's `e`: an optional sign and decimal digits.
fn parse_exponent(text: &[u8]) -> i64 {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude =
        digits.iter().fold(0i64, |acc, &d| acc.saturating_mul(10).saturating_add(i64::from(d.wrapping_sub(b'0'))));
    if negative { -magnitude } else { magnitude }
}
