//! The cookie-signature format that express-session uses for its cookie value.
//!
//! A signed value is `value + "." + base64(HMAC-SHA256(secret, value))`, the base64 in the standard alphabet with
//! the trailing `=` removed (43 characters). express-session prefixes it with `s:` and percent-encodes the whole
//! string; that framing lives in the [`cookie`](crate::cookie) module, this one only signs and verifies.
//!
//! [`sign`] and [`unsign`] are the one-shot forms, byte-compatible with the npm package `cookie-signature`
//! (1.0.7, the copy express-session loads, and 1.2.2). The session layer uses a [`Signer`] built once from the
//! secret list, so the HMAC key schedule is computed at start-up rather than per request.
//!
//! ```
//! use express_session::wire::{sign, unsign};
//!
//! let signed = sign("foo", b"keyboard cat");
//! assert_eq!(signed, "foo.76RrO0t1oL7AidII1OjH3iZCM6d0WH2GTCWnWuRqVdQ");
//! assert_eq!(unsign(&signed, b"keyboard cat"), Some("foo"));
//! assert_eq!(unsign(&signed, b"another secret"), None);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of an unpadded standard-base64 HMAC-SHA256 tag.
const TAG_LEN: usize = 43;

/// Signs `value` with `secret`: `value + "." + base64(HMAC-SHA256)` without padding, as `cookie-signature` does.
///
/// ```
/// # use express_session::wire::sign;
/// assert_eq!(
///     sign("apple", b"keyboard cat"),
///     "apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU"
/// );
/// ```
pub fn sign(value: &str, secret: &[u8]) -> String {
    Signer::new([secret]).sign(value)
}

/// Verifies a value produced by [`sign`] and returns the part before the last `.`, or `None` when the signature
/// does not verify.
///
/// The comparison is constant-time. Like `cookie-signature`, the input is split at its **last** dot (ids may
/// contain dots), and a tag with `=` padding, in the base64url alphabet or with trailing characters fails.
///
/// ```
/// # use express_session::wire::unsign;
/// let input = "abc.def.R3mKOD9L1tL5Ys2h++sc4X1DmM5o++2PdB6wVkiY9VI";
/// assert_eq!(unsign(input, b"keyboard cat"), Some("abc.def"));
/// assert_eq!(unsign("abc.def", b"keyboard cat"), None);
/// ```
pub fn unsign<'a>(input: &'a str, secret: &[u8]) -> Option<&'a str> {
    Signer::new([secret]).unsign(input)
}

/// Signs with the first of a list of secrets and verifies with any of them (express-session's `secret` array).
///
/// The HMAC key of each secret is prepared once, when the `Signer` is built; signing and verifying then clone
/// the prepared state instead of hashing the key again.
///
/// ```
/// use express_session::wire::Signer;
///
/// let signer = Signer::new([&b"new secret"[..], &b"keyboard cat"[..]]);
/// let old = express_session::wire::sign("foo", b"keyboard cat");
/// assert_eq!(signer.unsign(&old), Some("foo"));
/// assert!(signer.sign("foo").starts_with("foo.Nc+4D/Jd"));
/// ```
#[derive(Clone)]
pub struct Signer {
    keys: Vec<HmacSha256>,
}

impl Signer {
    /// Prepares a signer from secrets in priority order: the first signs, every one verifies.
    ///
    /// An empty list gives a signer that verifies nothing and signs with an empty key; the session layer refuses
    /// an empty list when it is built, so this never happens there.
    pub fn new<I, K>(secrets: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let keys = secrets
            .into_iter()
            .map(|secret| HmacSha256::new_from_slice(secret.as_ref()).expect("HMAC accepts keys of any length"))
            .collect();
        Self { keys }
    }

    fn mac(&self, index: usize, value: &str) -> HmacSha256 {
        let mut mac = match self.keys.get(index) {
            Some(key) => key.clone(),
            None => HmacSha256::new_from_slice(b"").expect("HMAC accepts keys of any length"),
        };
        mac.update(value.as_bytes());
        mac
    }

    /// Signs `value` with the first secret.
    pub fn sign(&self, value: &str) -> String {
        let tag = self.mac(0, value).finalize().into_bytes();
        let mut out = String::with_capacity(value.len() + 1 + TAG_LEN);
        out.push_str(value);
        out.push('.');
        STANDARD_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Verifies `input` against every secret in order and returns the signed value on the first match.
    pub fn unsign<'a>(&self, input: &'a str) -> Option<&'a str> {
        let dot = input.rfind('.')?;
        let (value, tag) = (&input[..dot], &input[dot + 1..]);
        if tag.len() != TAG_LEN {
            return None;
        }
        // The decoder rejects padding, the URL-safe alphabet and non-canonical trailing bits, so only the exact
        // string `cookie-signature` would produce can decode.
        let mut raw = [0u8; 33];
        let n = STANDARD_NO_PAD.decode_slice(tag, &mut raw).ok()?;
        if n != 32 {
            return None;
        }
        (0..self.keys.len()).any(|i| self.mac(i, value).verify_slice(&raw[..32]).is_ok()).then_some(value)
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("secrets", &format_args!("[{} redacted]", self.keys.len())).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Vec<Value> {
        let text = std::fs::read_to_string(crate::test_support::vector_path("cookie-signature.json"))
            .expect("vectors/cookie-signature.json");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn sign_vectors_match_node() {
        let mut count = 0;
        for case in vectors().iter().filter(|c| c["kind"] == "sign") {
            let secret = case["secret"].as_str().unwrap();
            let value = case["value"].as_str().unwrap();
            assert_eq!(sign(value, secret.as_bytes()), case["signed"].as_str().unwrap(), "{}", case["note"]);
            count += 1;
        }
        assert!(count >= 30, "only {count} sign vectors");
    }

    #[test]
    fn unsign_vectors_match_node() {
        let mut count = 0;
        for case in vectors().iter().filter(|c| c["kind"] == "unsign") {
            let secret = case["secret"].as_str().unwrap();
            let input = case["input"].as_str().unwrap();
            let expected = case["result"].as_str();
            assert_eq!(unsign(input, secret.as_bytes()), expected, "{}", case["note"]);
            count += 1;
        }
        assert!(count >= 30, "only {count} unsign vectors");
    }

    #[test]
    fn rotation_signs_with_first_and_verifies_with_all() {
        let signer = Signer::new(["new secret", "keyboard cat"]);
        assert_eq!(signer.sign("foo"), "foo.Nc+4D/JdI47kydTFks2IWoyl6axL5mIljaJyRa2W5o0");
        assert_eq!(signer.unsign(&sign("foo", b"keyboard cat")), Some("foo"));
        assert_eq!(signer.unsign(&sign("foo", b"removed secret")), None);
    }

    #[test]
    fn debug_hides_secrets() {
        let text = format!("{:?}", Signer::new(["keyboard cat"]));
        assert!(!text.contains("keyboard"), "{text}");
    }
}
