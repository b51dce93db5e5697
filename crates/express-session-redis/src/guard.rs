//! The guard against the cluster connection's resends (Redis Cluster only).
//!
//! redis-rs's cluster connection sends a command again when its connection broke (or its node timed out) before
//! the reply came: the first send may have been applied. For a conditional write that is not harmless: a
//! `save_if` whose first send replaced the record finds its own new text on the second send, and would answer
//! `Conflict`; the session layer would then re-read the record and apply the request's changes a second time (an
//! `update` would count twice). A `create` would answer `Exists` for the record it wrote itself.
//!
//! So on a cluster each `save_if` and `create` carries a write token, unique to the call: when the script
//! writes, it also records the token under a key of its own (the *token key*) that expires by itself, and before
//! anything else it looks for its token: found, the call was applied by an earlier send of the same call, and the
//! answer is what that send answered (`Saved`, `Created`), with nothing written again (another request may have
//! written the session back to the text the call read, or destroyed it, since: its write stands). One server needs
//! none of this: its `ConnectionManager` reports a broken connection and never resends.
//!
//! The token key must live in the session key's hash slot (a script may only touch keys of one slot), and must
//! never be seen by the `SCAN MATCH prefix*` of connect-redis or of this store:
//!
//! - Redis Cluster hashes only the part of a key between its first `{` and the next `}`, when that part is not
//!   empty (a *hash tag*), else the whole key. Call that part of the session's key `H`. When `H` contains no `}`
//!   (always, unless the prefix or the id holds a `}` outside a hash tag), the token key is `{H}:w:<token>`: its
//!   hash tag is `H`, so its slot is the session's. (`sess:abc` and `{sess:abc}:w:…` share a slot; so do
//!   `{app}:sess:abc` and `{app}:w:…`.) Otherwise `H` cannot be written as a hash tag, and the token key's tag is
//!   a short string chosen for having `H`'s slot (a table of one such string per slot, built on first use).
//! - A token key starts with `{`, which a key under the prefix does not, unless the prefix starts with `{`: then
//!   the token key starts with `~{` instead. With an empty prefix every key matches: the store's own scans skip
//!   token keys (they have a shape of their own), connect-redis's would see them.
//! - It expires after twice the store's time limit plus a second ([`token_ttl_ms`]). The cluster connection
//!   resends a command only while its caller still waits for the reply (a request whose caller has gone is
//!   dropped before it is sent again), and a store call waits at most its time limit: every send of a call whose
//!   answer can still reach the caller lands within that time of the first, with the rest as margin for the
//!   server's clock.
//! - One token key per write, not one per session: between a call's first send and its resend, another request
//!   may write the session (having read what the first send wrote); a single per-session token would then be that
//!   write's, and the resend would answer `Conflict` after all.
//! - A first send that lands after its resend (both were in flight) finds the token the resend recorded and
//!   writes nothing. One that lands even later, after the token expired, finds a text other than the one it read
//!   (the resend's) and writes nothing either (unless the session went back to that very text since, as a late
//!   write on one server could find it); its answer reaches no one.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use express_session::SessionId;

use crate::command::Key;

/// Redis Cluster's number of hash slots.
const SLOTS: usize = 16_384;

/// Between the token key's hash tag and the token.
const SEPARATOR: &[u8] = b":w:";

/// Length of the store's random part of a token.
const BASE_LEN: usize = 16;

/// The longest time limit a token key's lifetime follows (30 days; Redis refuses expiries past its clock's range).
const MAX_TIMEOUT_MS: u64 = 30 * 86_400_000;

/// How long a token key lives: twice the store's time limit, plus a second.
pub(crate) fn token_ttl_ms(timeout: Duration) -> u64 {
    let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).min(MAX_TIMEOUT_MS);
    timeout * 2 + 1_000
}

/// The write tokens of one store: a random part drawn once, then a counter.
pub(crate) struct WriteGuard {
    base: String,
    next: AtomicU64,
    /// The token keys' lifetime in milliseconds, as the scripts' argument.
    ttl_ms: String,
    /// Whether token keys start with `~` (the prefix starts with `{`).
    lead: bool,
}

impl WriteGuard {
    pub(crate) fn new(prefix: &str, timeout: Duration) -> Self {
        let random = SessionId::generate();
        let base = random.as_str().chars().take(BASE_LEN).collect();
        Self { base, next: AtomicU64::new(0), ttl_ms: token_ttl_ms(timeout).to_string(), lead: prefix.starts_with('{') }
    }

    /// The token keys' lifetime in milliseconds, as a script argument.
    pub(crate) fn ttl_ms(&self) -> &str {
        &self.ttl_ms
    }

    /// A fresh token key for one write of `key`: in its slot, unique to the call.
    pub(crate) fn token_key(&self, key: Key<'_>) -> Vec<u8> {
        let mut full = Vec::with_capacity(key.prefix.len() + key.id.len());
        full.extend_from_slice(key.prefix.as_bytes());
        full.extend_from_slice(key.id.as_bytes());
        let hashed = hash_part(&full);
        let tag = if hashed.contains(&b'}') { tag_for_slot(slot(hashed)) } else { hashed };
        let count = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let mut out = Vec::with_capacity(tag.len() + self.base.len() + count.len() + 8);
        if self.lead {
            out.push(b'~');
        }
        out.push(b'{');
        out.extend_from_slice(tag);
        out.push(b'}');
        out.extend_from_slice(SEPARATOR);
        out.extend_from_slice(self.base.as_bytes());
        out.push(b'.');
        out.extend_from_slice(count.as_bytes());
        out
    }
}

/// Whether `key` has a token key's shape (`{tag}:w:<16 characters>.<digits>`, maybe after a `~`).
pub(crate) fn is_token_key(key: &[u8]) -> bool {
    let key = key.strip_prefix(b"~").unwrap_or(key);
    let Some(rest) = key.strip_prefix(b"{") else { return false };
    let Some(close) = rest.iter().position(|&b| b == b'}') else { return false };
    let Some(token) = rest[close + 1..].strip_prefix(SEPARATOR) else { return false };
    let Some((base, count)) = token.split_at_checked(BASE_LEN) else { return false };
    let Some(count) = count.strip_prefix(b".") else { return false };
    close > 0
        && base.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !count.is_empty()
        && count.iter().all(u8::is_ascii_digit)
}

/// The part of `key` Redis Cluster hashes: the hash tag, else the whole key.
fn hash_part(key: &[u8]) -> &[u8] {
    let tag = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    tag.unwrap_or(key)
}

/// CRC16-XMODEM, Redis Cluster's key hash.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 { crc << 1 } else { (crc << 1) ^ 0x1021 };
        }
    }
    crc
}

/// The hash slot of a key's hashed part.
fn slot(hashed: &[u8]) -> usize {
    usize::from(crc16(hashed)) % SLOTS
}

/// A hash tag (1 to 3 letters or digits) whose slot is `slot`: the first of the shortest ones, in a table built
/// on first use (every slot has one of at most 3 characters).
fn tag_for_slot(slot_number: usize) -> &'static [u8] {
    static TABLE: OnceLock<Vec<[u8; 3]>> = OnceLock::new();
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let table = TABLE.get_or_init(|| {
        let mut table = vec![[0u8; 3]; SLOTS];
        let mut missing = SLOTS;
        'fill: for len in 1..=3 {
            let mut indexes = [0usize; 3];
            loop {
                let mut tag = [0u8; 3];
                for (i, index) in indexes[..len].iter().enumerate() {
                    tag[i] = ALPHABET[*index];
                }
                let entry = &mut table[slot(&tag[..len])];
                if entry[0] == 0 {
                    *entry = tag;
                    missing -= 1;
                    if missing == 0 {
                        break 'fill;
                    }
                }
                // The next string of this length.
                let mut i = 0;
                loop {
                    if i == len {
                        continue 'fill;
                    }
                    indexes[i] += 1;
                    if indexes[i] < ALPHABET.len() {
                        break;
                    }
                    indexes[i] = 0;
                    i += 1;
                }
            }
        }
        table
    });
    let tag = &table[slot_number % SLOTS];
    let len = tag.iter().position(|&b| b == 0).unwrap_or(tag.len());
    &tag[..len]
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::cluster_routing::Slot;

    fn key<'a>(prefix: &'a str, id: &'a str) -> Key<'a> {
        Key { prefix, id }
    }

    #[test]
    fn crc16_is_redis_clusters() {
        // The check value of CRC16-XMODEM, and Redis Cluster's documented example slot.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12_182);
    }

    #[test]
    fn every_slot_has_a_tag_of_its_own_slot() {
        for slot_number in 0..SLOTS {
            let tag = tag_for_slot(slot_number);
            assert!((1..=3).contains(&tag.len()));
            assert!(!tag.contains(&b'{') && !tag.contains(&b'}'));
            assert_eq!(slot(tag), slot_number);
        }
    }

    #[test]
    fn token_keys_share_the_session_keys_slot_and_never_its_prefix() {
        let ids = ["abc", "Xk3_-9QzP0aBcDeFgHiJkLmNoPqRsTuV", "a{b}c", "a}b", "{}x", "{", "}", "a{}b}c{d}"];
        let prefixes = ["sess:", "", "{app}:sess:", "{", "{{", "}", "sess}", "a}{b}:", "{}", "x{", "~{", "[a*]?"];
        for prefix in prefixes {
            let guard = WriteGuard::new(prefix, Duration::from_secs(3));
            for id in ids {
                let session_key = format!("{prefix}{id}");
                let token_key = guard.token_key(key(prefix, id));
                assert_eq!(
                    Slot::for_key(&token_key),
                    Slot::for_key(&session_key),
                    "{session_key} / {}",
                    String::from_utf8_lossy(&token_key)
                );
                assert!(prefix.is_empty() || !token_key.starts_with(prefix.as_bytes()), "{prefix}");
                assert!(is_token_key(&token_key), "{}", String::from_utf8_lossy(&token_key));
            }
        }
    }

    #[test]
    fn every_key_of_braces_up_to_five_characters_has_its_token_key_in_its_slot() {
        // Every string of up to 5 characters over braces, a letter, `~` and a 2-byte character, cut into every
        // (prefix, non-empty id): the token key shares the session key's slot and never starts with the prefix.
        const CHARS: [char; 5] = ['{', '}', 'a', '~', 'é'];
        let mut keys = vec![String::new()];
        let mut checked = 0;
        for _ in 0..5 {
            keys = keys.iter().flat_map(|key| CHARS.iter().map(move |c| format!("{key}{c}"))).collect();
            for full in &keys {
                for (cut, _) in full.char_indices() {
                    let (prefix, id) = full.split_at(cut);
                    let token_key = WriteGuard::new(prefix, Duration::from_secs(3)).token_key(key(prefix, id));
                    assert_eq!(Slot::for_key(&token_key), Slot::for_key(full.as_bytes()), "{prefix:?} {id:?}");
                    assert!(prefix.is_empty() || !token_key.starts_with(prefix.as_bytes()), "{prefix:?} {id:?}");
                    assert!(is_token_key(&token_key));
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, (1..=5).map(|n| n * 5usize.pow(u32::try_from(n).unwrap())).sum::<usize>());
    }

    #[test]
    fn the_common_token_key_names_the_session() {
        let guard = WriteGuard::new("sess:", Duration::from_secs(3));
        let first = String::from_utf8(guard.token_key(key("sess:", "abc"))).unwrap();
        let second = String::from_utf8(guard.token_key(key("sess:", "abc"))).unwrap();
        assert!(first.starts_with("{sess:abc}:w:"), "{first}");
        assert!(first.ends_with(".0") && second.ends_with(".1"), "{first} {second}");
        let tagged = WriteGuard::new("{app}:", Duration::from_secs(3));
        let first = String::from_utf8(tagged.token_key(key("{app}:", "abc"))).unwrap();
        assert!(first.starts_with("~{app}:w:"), "{first}");
    }

    #[test]
    fn session_keys_are_not_token_keys() {
        for key in
            ["sess:abc", "{sess:abc}", "{sess:abc}:w:", "{sess:abc}:w:0123456789abcdef.", "{}:w:0123456789abcdef.1"]
        {
            assert!(!is_token_key(key.as_bytes()), "{key}");
        }
        assert!(is_token_key(b"{sess:abc}:w:0123456789abcdef.12"));
    }

    #[test]
    fn token_keys_outlive_every_answer_the_caller_hears() {
        assert_eq!(token_ttl_ms(Duration::from_secs(3)), 7_000);
        assert_eq!(token_ttl_ms(Duration::MAX), 2 * MAX_TIMEOUT_MS + 1_000);
    }
}
