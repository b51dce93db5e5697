//! connect-redis's expiry arithmetic, and when a stored record counts as live.

use express_session::{Record, Timestamp};

/// What connect-redis's `set` does with a record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyTtl {
    /// `SET key json EX` this many seconds (always positive).
    Seconds(i64),
    /// A plain `SET key json` (`disableTTL`).
    Never,
    /// The record has already expired (a TTL of zero or less): `DEL key` instead of a write, `disableTTL` or not.
    Expired,
}

/// connect-redis's `set` decision: the TTL of [`ttl_seconds`]; not positive → delete; else `disableTTL` → no TTL.
pub(crate) fn key_ttl(record: &Record, now: Timestamp, default_secs: i64, disable_ttl: bool) -> KeyTtl {
    match ttl_seconds(record, now, default_secs) {
        ttl if ttl <= 0 => KeyTtl::Expired,
        _ if disable_ttl => KeyTtl::Never,
        ttl => KeyTtl::Seconds(ttl),
    }
}

/// connect-redis's `_getTTL`: `ceil((cookie.expires - now) / 1000)` when the cookie has an expiry, else the
/// store's `ttl` option.
pub(crate) fn ttl_seconds(record: &Record, now: Timestamp, default_secs: i64) -> i64 {
    match record.expires() {
        Some(expires) => ceil_seconds(expires.millis_since(now)),
        None => default_secs,
    }
}

/// `Math.ceil(ms / 1000)`.
pub(crate) fn ceil_seconds(ms: i64) -> i64 {
    let seconds = ms.div_euclid(1000);
    if ms.rem_euclid(1000) > 0 { seconds + 1 } else { seconds }
}

/// How far past `cookie.expires` the key of a record written with `EX ceil(...)` can live: under a second. A key
/// whose expiry is a second or more past the record's `cookie.expires` was touched since it was written (a touch
/// moves only the key's TTL and leaves the stored text as it was, as connect-redis's does).
pub(crate) const ROUNDING_SLACK_MS: i64 = 1000;

/// Whether a stored record is live at `now`: its `cookie.expires` is in the future, or its key (which has
/// `pttl_ms` left, `None` for no TTL) was touched past that expiry. The same rule is in the Lua scripts.
pub(crate) fn is_live(expires: Option<Timestamp>, now: Timestamp, pttl_ms: Option<i64>) -> bool {
    match expires {
        None => true,
        Some(expires) if expires > now => true,
        Some(expires) => pttl_ms.is_some_and(|pttl| {
            now.as_millis().saturating_add(pttl) >= expires.as_millis().saturating_add(ROUNDING_SLACK_MS)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use express_session::SessionCookie;

    fn expiring_in(offset_ms: Option<i64>, now: Timestamp) -> Record {
        let mut cookie = SessionCookie::default();
        cookie.set_expires(offset_ms.map(|ms| now.add_millis(ms)), now);
        Record::new(cookie)
    }

    #[test]
    fn ttl_rounds_up_to_the_second_like_connect_redis() {
        let now = Timestamp::from_millis(1_893_456_000_123);
        for (offset, ttl) in [(60_000, 60), (59_999, 60), (60_001, 61), (1_500, 2), (1, 1), (0, 0), (-5_000, -5)] {
            assert_eq!(ttl_seconds(&expiring_in(Some(offset), now), now, 86_400), ttl, "offset {offset}");
        }
        assert_eq!(ttl_seconds(&expiring_in(None, now), now, 3_600), 3_600);
        assert_eq!(ceil_seconds(-1), 0);
        assert_eq!(key_ttl(&expiring_in(Some(1_500), now), now, 86_400, false), KeyTtl::Seconds(2));
        assert_eq!(key_ttl(&expiring_in(Some(1_500), now), now, 86_400, true), KeyTtl::Never);
        assert_eq!(key_ttl(&expiring_in(None, now), now, 86_400, true), KeyTtl::Never);
        // connect-redis deletes an expired session's key even with disableTTL.
        assert_eq!(key_ttl(&expiring_in(Some(0), now), now, 86_400, false), KeyTtl::Expired);
        assert_eq!(key_ttl(&expiring_in(Some(-5_000), now), now, 86_400, true), KeyTtl::Expired);
        assert_eq!(ceil_seconds(-1_001), -1);
    }

    #[test]
    fn liveness_trusts_the_key_only_when_it_was_touched_past_the_text() {
        let now = Timestamp::from_millis(10_000);
        assert!(is_live(None, now, None));
        assert!(is_live(Some(Timestamp::from_millis(10_001)), now, Some(1)));
        // Expired by its text, key still there within the rounding of its original TTL: expired.
        assert!(!is_live(Some(Timestamp::from_millis(9_500)), now, Some(400)));
        assert!(!is_live(Some(Timestamp::from_millis(10_000)), now, Some(999)));
        // Touched: the key lives a second or more past the text's expiry.
        assert!(is_live(Some(Timestamp::from_millis(9_500)), now, Some(500)));
        assert!(is_live(Some(Timestamp::from_millis(10_000)), now, Some(60_000)));
        // No TTL (disableTTL): the text decides.
        assert!(!is_live(Some(Timestamp::from_millis(10_000)), now, None));
    }
}
