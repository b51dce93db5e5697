//! Instants in milliseconds since the Unix epoch, the clock, and the two date formats express-session writes.
//!
//! JavaScript's `Date` is a millisecond count, and express-session's arithmetic (`expires = now + maxAge`) is
//! done in milliseconds, so [`Timestamp`] is one too. The stored record uses `Date#toJSON()`
//! (`2030-01-01T00:01:00.123Z`) and the cookie uses `Date#toUTCString()` (`Tue, 01 Jan 2030 00:01:00 GMT`,
//! milliseconds truncated).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// The latest instant JavaScript can represent, 8.64e15 ms after the epoch, clamped further to the end of year
/// 9999 so that both date formats stay four-digit.
const MAX_MILLIS: i64 = 253_402_300_799_999;
const MIN_MILLIS: i64 = -62_135_596_800_000;

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
///
/// ```
/// use express_session::Timestamp;
/// let t = Timestamp::from_millis(1_893_456_060_123);
/// assert_eq!(t.to_json(), "2030-01-01T00:01:00.123Z");
/// assert_eq!(t.to_http_date(), "Tue, 01 Jan 2030 00:01:00 GMT");
/// assert_eq!(Timestamp::parse_json("2030-01-01T00:01:00.123Z"), Some(t));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the epoch (clamped to years 1 to 9999).
    pub const fn from_millis(millis: i64) -> Self {
        Self(if millis > MAX_MILLIS {
            MAX_MILLIS
        } else if millis < MIN_MILLIS {
            MIN_MILLIS
        } else {
            millis
        })
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `millis` milliseconds (saturating).
    #[must_use]
    pub const fn add_millis(self, millis: i64) -> Self {
        Self::from_millis(self.0.saturating_add(millis))
    }

    /// The current system time.
    pub fn now() -> Self {
        let millis = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Self::from_millis(millis)
    }

    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).expect("clamped to years 1..=9999")
    }

    /// `Date#toJSON()`: ISO 8601 in UTC with exactly three fractional digits.
    pub fn to_json(self) -> String {
        let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        self.to_datetime().format(format).expect("every field is representable")
    }

    /// `Date#toUTCString()`: the IMF-fixdate form used in `Expires`, milliseconds truncated.
    pub fn to_http_date(self) -> String {
        let format =
            format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
        self.to_datetime().format(format).expect("every field is representable")
    }

    /// Parses a date as stores hand it back: RFC 3339 / ISO 8601 with an offset (what `Date#toJSON()` writes).
    pub fn parse_json(text: &str) -> Option<Self> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        let millis = parsed.unix_timestamp_nanos().div_euclid(1_000_000);
        i64::try_from(millis).ok().map(Self::from_millis)
    }

    /// Milliseconds from `earlier` to `self` (negative when `self` is earlier).
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Converts a duration to whole milliseconds, saturating.
pub(crate) fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Where the session layer and the stores read the time.
///
/// The default is the system clock. Tests and simulations can freeze or move time with [`Clock::manual`]; every
/// decision that depends on the time (cookie expiry, store expiry, `touch`) reads this clock and nothing else.
///
/// ```
/// use express_session::{Clock, Timestamp};
/// use std::time::Duration;
///
/// let clock = Clock::manual(Timestamp::from_millis(1_000));
/// clock.advance(Duration::from_millis(500));
/// assert_eq!(clock.now(), Timestamp::from_millis(1_500));
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start` until [`advance`](Self::advance) or [`set`](Self::set) moves it.
    /// Clones share the same time.
    pub fn manual(start: Timestamp) -> Self {
        Self { manual: Some(Arc::new(start.as_millis().into())) }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            None => Timestamp::now(),
            Some(t) => Timestamp::from_millis(t.load(std::sync::atomic::Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            t.fetch_add(duration_millis(by), std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Sets a manual clock to `to`; no effect on the system clock.
    pub fn set(&self, to: Timestamp) {
        if let Some(t) = &self.manual {
            t.store(to.as_millis(), std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::System"),
            Some(_) => write!(f, "Clock::Manual({})", self.now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_javascript() {
        let t = Timestamp::from_millis(1_700_000_001_623);
        assert_eq!(t.to_json(), "2023-11-14T22:13:21.623Z");
        assert_eq!(t.to_http_date(), "Tue, 14 Nov 2023 22:13:21 GMT");
        assert_eq!(Timestamp::from_millis(0).to_http_date(), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(Timestamp::from_millis(-1).to_json(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_offsets_and_rejects_garbage() {
        assert_eq!(
            Timestamp::parse_json("2030-01-01T01:00:00.000+01:00"),
            Some(Timestamp::from_millis(1_893_456_000_000))
        );
        assert_eq!(Timestamp::parse_json("not a date"), None);
        assert_eq!(Timestamp::parse_json(""), None);
    }

    #[test]
    fn clamps_out_of_range_instants() {
        assert_eq!(Timestamp::from_millis(i64::MAX).to_json(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_millis(i64::MIN).to_json(), "0001-01-01T00:00:00.000Z");
    }
}
