//! Session ids: generation from the OS random source, validation, and a `Debug` that never shows the id.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The longest id accepted from a cookie or a custom `genid`, in bytes.
///
/// Default ids are 32 characters; custom generators may use longer ones, but nothing near the 4096 bytes a cookie
/// can hold is a legitimate id.
pub const MAX_ID_LEN: usize = 1024;

/// A session id: what the cookie carries (signed) and what the store is keyed by.
///
/// The default generator gives express-session's format: 24 bytes from the operating system's CSPRNG, encoded
/// as unpadded base64url (32 characters, 192 bits). A custom `genid` may return any non-empty string of at most
/// [`MAX_ID_LEN`] bytes, as express allows; such ids are percent-encoded in the cookie.
///
/// `Debug` is redacted so that ids do not end up in logs; [`SessionId::as_str`] gives the id itself, and
/// [`SessionId::log_hash`] a short fingerprint that is safe to log.
///
/// ```
/// use express_session::SessionId;
///
/// let id = SessionId::generate();
/// assert_eq!(id.as_str().len(), 32);
/// assert_eq!(format!("{id:?}"), format!("SessionId({})", id.log_hash()));
/// assert!(SessionId::new("").is_none());
/// ```
#[derive(Clone)]
pub struct SessionId(Repr);

/// Ids of up to 32 bytes (every default id) are kept inline: reading one from a cookie or making one allocates
/// nothing.
#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

const INLINE: usize = 32;

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SessionId {}

impl std::hash::Hash for SessionId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl SessionId {
    /// A fresh random id in express-session's default format (uid-safe with 24 bytes).
    ///
    /// The bytes come from the operating system's random source (`getrandom`), read in batches of 64 ids per
    /// thread. Do not `fork` a process after it has made ids without `exec`: the child would hand out the rest
    /// of the parent's batch again (async runtimes do not survive a fork either).
    ///
    /// # Panics
    ///
    /// Panics if the operating system cannot provide random bytes, which on supported platforms means the
    /// process cannot run securely at all.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        random_bytes(&mut bytes);
        Self::from_random_bytes(&bytes)
    }

    /// Encodes random bytes as express-session's default `genid` (uid-safe) does.
    pub(crate) fn from_random_bytes(bytes: &[u8]) -> Self {
        let mut text = [0u8; INLINE];
        match URL_SAFE_NO_PAD.encode_slice(bytes, &mut text) {
            Ok(len) => Self::inline(&text[..len]),
            Err(_) => Self(Repr::Shared(URL_SAFE_NO_PAD.encode(bytes).into())),
        }
    }

    /// Wraps an id, or `None` if it is empty or longer than [`MAX_ID_LEN`] bytes.
    ///
    /// ```
    /// use express_session::SessionId;
    /// assert_eq!(SessionId::new("abc").unwrap().as_str(), "abc");
    /// assert_eq!(SessionId::new(String::from("abc")), SessionId::new("abc"));
    /// assert!(SessionId::new("x".repeat(2000)).is_none());
    /// ```
    pub fn new(id: impl AsRef<str>) -> Option<Self> {
        let id = id.as_ref();
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return None;
        }
        Some(if id.len() <= INLINE { Self::inline(id.as_bytes()) } else { Self(Repr::Shared(id.into())) })
    }

    /// An inline id; `text` is UTF-8 of at most [`INLINE`] bytes.
    fn inline(text: &[u8]) -> Self {
        let mut bytes = [0u8; INLINE];
        bytes[..text.len()].copy_from_slice(text);
        Self(Repr::Inline { len: text.len() as u8, bytes })
    }

    /// Whether `id` has the default generator's format: 32 characters of base64url.
    pub fn is_default_format(id: &str) -> bool {
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// The id as it is stored and signed.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ever filled from a `&str` cut at its end, so always UTF-8.
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Repr::Shared(text) => text,
        }
    }

    /// A short, non-reversible fingerprint of the id (first 8 hex digits of its SHA-256), for logs.
    pub fn log_hash(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.as_str().as_bytes());
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Fills `out` with bytes from the operating system's random source, read 64 ids' worth at a time: one system call
/// per id cost more than the rest of a new session together (1.5 µs on this project's VM). Every byte is handed
/// out once and wiped from the buffer as it is.
fn random_bytes(out: &mut [u8; 24]) {
    const BATCH: usize = 24 * 64;
    struct Pool {
        bytes: [u8; BATCH],
        next: usize,
    }
    thread_local! {
        static POOL: std::cell::RefCell<Pool> = const { std::cell::RefCell::new(Pool { bytes: [0; BATCH], next: BATCH }) };
    }
    POOL.with_borrow_mut(|pool| {
        if pool.next == BATCH {
            getrandom::fill(&mut pool.bytes).expect("the operating system's random source failed");
            pool.next = 0;
        }
        let taken = &mut pool.bytes[pool.next..pool.next + out.len()];
        out.copy_from_slice(taken);
        taken.fill(0);
        pool.next += out.len();
    });
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.log_hash())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn encodes_random_bytes_like_uid_safe() {
        let text = std::fs::read_to_string(crate::test_support::vector_path("uid-safe.json")).unwrap();
        let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let hex = case["random_bytes_hex"].as_str().unwrap();
            let bytes: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            assert_eq!(SessionId::from_random_bytes(&bytes).as_str(), case["id"].as_str().unwrap());
        }
    }

    #[test]
    fn generated_ids_are_32_url_safe_chars_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.as_str().len(), 32);
            assert!(id.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        }
    }

    #[test]
    fn batched_random_bytes_never_repeat_across_batches_and_threads() {
        let per_thread = 24 * 64 * 3 / 24 + 7; // more than three batches each
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || (0..per_thread).map(|_| SessionId::generate()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for handle in handles {
            for id in handle.join().unwrap() {
                assert!(all.insert(id), "an id came out twice");
            }
        }
        assert_eq!(all.len(), 4 * per_thread);
    }

    #[test]
    fn short_and_long_ids_behave_as_their_text() {
        let ids: Vec<SessionId> = ["b", "a", "é-32-bytes-exactly-0123456789ab", &"z".repeat(33), &"a".repeat(500)]
            .iter()
            .map(|t| SessionId::new(t).unwrap())
            .collect();
        for id in &ids {
            assert_eq!(SessionId::new(id.as_str()).as_ref(), Some(id));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        let mut texts: Vec<&str> = ids.iter().map(SessionId::as_str).collect();
        texts.sort();
        assert_eq!(sorted.iter().map(SessionId::as_str).collect::<Vec<_>>(), texts);
        let set: std::collections::HashSet<SessionId> = ids.iter().cloned().collect();
        assert!(set.contains(&SessionId::new("z".repeat(33)).unwrap()));
        assert!(set.contains(&SessionId::new("b").unwrap()));
    }

    #[test]
    fn rejects_empty_and_oversized_ids() {
        assert!(SessionId::new("").is_none());
        assert!(SessionId::new("x".repeat(MAX_ID_LEN + 1)).is_none());
        assert!(SessionId::new("x".repeat(MAX_ID_LEN)).is_some());
    }

    #[test]
    fn debug_never_shows_the_id() {
        let id = SessionId::new("secret-session-id").unwrap();
        assert!(!format!("{id:?}").contains("secret"));
    }
}
