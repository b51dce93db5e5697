//! [`SqlOptions`]: the options every SQL store's builder has.

use std::time::Duration;

/// The options every SQL store's builder has, with their defaults and limits. A store's builder keeps one and
/// its methods of the same names set it.
///
/// | option | default | limit |
/// |---|---|---|
/// | [`ttl`](Self::set_ttl): lifetime of a record without `cookie.expires` | one day | |
/// | [`timeout`](Self::set_timeout): longest store call, waiting for a connection included | 5 s | |
/// | [`max_connections`](Self::set_max_connections) of the store's own pool | 10 | at least 1 |
/// | [`create_table_if_missing`](Self::set_create_table_if_missing) on first use | `false` | |
/// | [`prune_interval`](Self::set_prune_interval) of the background pruning task | 15 minutes | zero is `None` (off) |
/// | [`prune_batch_size`](Self::set_prune_batch_size): rows one pruning statement deletes at most | 1000 | at least 1 |
///
/// ```
/// use std::time::Duration;
/// let mut options = express_session_sql::SqlOptions::default();
/// options.set_max_connections(0).set_timeout(Duration::from_secs(2));
/// assert_eq!(options.max_connections(), 1);
/// assert_eq!(options.timeout(), Duration::from_secs(2));
/// assert_eq!(options.ttl_secs(), 86_400);
/// ```
#[derive(Debug, Clone)]
pub struct SqlOptions {
    ttl: Duration,
    timeout: Duration,
    max_connections: u32,
    pub(crate) create_table_if_missing: bool,
    pub(crate) prune_interval: Option<Duration>,
    pub(crate) prune_batch_size: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(86_400),
            timeout: Duration::from_secs(5),
            max_connections: 10,
            create_table_if_missing: false,
            prune_interval: Some(Duration::from_secs(15 * 60)),
            prune_batch_size: 1_000,
        }
    }
}

impl SqlOptions {
    /// Sets how long a record without `cookie.expires` lives after each write or touch.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let mut options = express_session_sql::SqlOptions::default();
    /// assert_eq!(options.set_ttl(Duration::from_secs(60)).ttl_secs(), 60);
    /// ```
    pub fn set_ttl(&mut self, ttl: Duration) -> &mut Self {
        self.ttl = ttl;
        self
    }

    /// Sets how long a store call may take before it fails with `StoreError::Unavailable`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let mut options = express_session_sql::SqlOptions::default();
    /// assert_eq!(options.set_timeout(Duration::from_secs(2)).timeout(), Duration::from_secs(2));
    /// ```
    pub fn set_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Sets the most connections the store's own pool opens (at least 1).
    ///
    /// ```
    /// let mut options = express_session_sql::SqlOptions::default();
    /// assert_eq!(options.set_max_connections(0).max_connections(), 1);
    /// ```
    pub fn set_max_connections(&mut self, max: u32) -> &mut Self {
        self.max_connections = max.max(1);
        self
    }

    /// Sets whether the table is created on first use if it is missing.
    ///
    /// ```
    /// let mut options = express_session_sql::SqlOptions::default();
    /// options.set_create_table_if_missing(true);
    /// ```
    pub fn set_create_table_if_missing(&mut self, create: bool) -> &mut Self {
        self.create_table_if_missing = create;
        self
    }

    /// Sets how often the background task deletes expired rows; `None` or zero turns it off.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let mut options = express_session_sql::SqlOptions::default();
    /// options.set_prune_interval(Some(Duration::ZERO)); // off
    /// ```
    pub fn set_prune_interval(&mut self, every: Option<Duration>) -> &mut Self {
        self.prune_interval = every.filter(|d| !d.is_zero());
        self
    }

    /// Sets how many expired rows one pruning statement deletes at most (at least 1), so that pruning never holds
    /// many row locks (or SQLite's write lock) for long.
    ///
    /// ```
    /// let mut options = express_session_sql::SqlOptions::default();
    /// options.set_prune_batch_size(0); // 1
    /// ```
    pub fn set_prune_batch_size(&mut self, rows: u32) -> &mut Self {
        self.prune_batch_size = rows.max(1);
        self
    }

    /// The lifetime of a record without `cookie.expires` in whole seconds, saturated to `i64`.
    ///
    /// ```
    /// assert_eq!(express_session_sql::SqlOptions::default().ttl_secs(), 86_400);
    /// ```
    pub fn ttl_secs(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)
    }

    /// The lifetime of a record without `cookie.expires` in milliseconds, saturated to `i64`.
    ///
    /// ```
    /// assert_eq!(express_session_sql::SqlOptions::default().ttl_millis(), 86_400_000);
    /// ```
    pub fn ttl_millis(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// The longest a store call may take (default 5 seconds).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The most connections of the store's own pool (default 10).
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }
}
