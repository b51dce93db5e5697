//! [`Backend`] (how `sqlx` errors become [`StoreError`]s) and [`StoreCore`] (timeout, table creation, pruning).

use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use express_session::StoreError;
use sqlx::error::DatabaseError;
use tokio::sync::{OnceCell, watch};

/// One SQL store's identity in errors and logs, and its rule for which server errors mean that the database cannot
/// be used right now.
///
/// [`classify`](Self::classify) makes connection, pool, TLS and I/O failures, and the server errors
/// `unavailable` accepts, [`StoreError::Unavailable`] (the session layer answers 503); everything else is
/// [`StoreError::Backend`] (500).
///
/// ```
/// use express_session_sql::Backend;
///
/// const BACKEND: Backend = Backend {
///     name: "postgres",
///     label: "PostgreSQL",
///     unavailable: |db| db.code().is_some_and(|code| code.starts_with("08")),
/// };
/// assert!(BACKEND.classify(sqlx::Error::PoolTimedOut).is_unavailable());
/// assert!(!BACKEND.classify(sqlx::Error::RowNotFound).is_unavailable());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    /// The store's name in [`StoreError`]s (`"postgres"`).
    pub name: &'static str,
    /// The database's name in messages (`"PostgreSQL"`).
    pub label: &'static str,
    /// Whether an error the server sent means that it cannot be used right now (rather than that the statement
    /// is wrong).
    pub unavailable: fn(&dyn DatabaseError) -> bool,
}

/// A store call that did not finish within the configured timeout.
#[derive(Debug, thiserror::Error)]
#[error("the {label} session store did not answer within {timeout:?}")]
struct TimedOut {
    label: &'static str,
    timeout: Duration,
}

/// A configuration mistake found when the store is built.
#[derive(Debug, thiserror::Error)]
#[error("invalid {label} session store configuration: {what} must be non-empty text")]
struct InvalidConfig {
    label: &'static str,
    what: &'static str,
}

impl Backend {
    /// Classifies a `sqlx` error: unavailable (503) or failed (500).
    ///
    /// ```
    /// # let backend = express_session_sql::Backend { name: "sqlite", label: "SQLite", unavailable: |_| false };
    /// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    /// assert!(backend.classify(sqlx::Error::Io(io)).is_unavailable());
    /// ```
    pub fn classify(&self, error: sqlx::Error) -> StoreError {
        let unavailable = match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => (self.unavailable)(db.as_ref()),
            _ => false,
        };
        if unavailable { StoreError::unavailable(self.name, error) } else { StoreError::backend(self.name, error) }
    }

    /// Parses a connection URL into the driver's options; a bad URL is a [`StoreError::Backend`].
    ///
    /// ```
    /// # let backend = express_session_sql::Backend { name: "example", label: "Example", unavailable: |_| false };
    /// let port: Result<u16, _> = backend.parse_url("not a port");
    /// assert!(port.is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when `url` does not parse.
    pub fn parse_url<O>(&self, url: &str) -> Result<O, StoreError>
    where
        O: FromStr,
        O::Err: std::error::Error + Send + Sync + 'static,
    {
        url.parse().map_err(|e| StoreError::backend(self.name, e))
    }

    /// Checks the table, schema or column names a store was given: each must be non-empty and without NUL.
    ///
    /// ```
    /// # let backend = express_session_sql::Backend { name: "example", label: "Example", unavailable: |_| false };
    /// assert!(backend.check_names(["session"], "table names").is_ok());
    /// assert!(backend.check_names(["session", ""], "table names").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] saying that `what` ("table and schema names", "the table name", ...) must be
    /// non-empty text.
    pub fn check_names<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        what: &'static str,
    ) -> Result<(), StoreError> {
        if names.into_iter().any(|name| name.is_empty() || name.contains('\0')) {
            return Err(StoreError::backend(self.name, InvalidConfig { label: self.label, what }));
        }
        Ok(())
    }
}

/// The part of a SQL store that its clones share: every call under the timeout, the table created once on first
/// use (when asked to), and the background pruning task.
///
/// A store keeps one in its shared inner state, runs every statement through [`run`](Self::run), and gives
/// [`start_pruning`](Self::start_pruning) a weak handle to that state, so that the task ends with the last clone.
///
/// ```
/// use std::sync::Arc;
/// use express_session_sql::{Backend, SqlOptions, StoreCore};
///
/// const BACKEND: Backend = Backend { name: "example", label: "Example", unavailable: |_| false };
///
/// struct Inner {
///     core: StoreCore,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let inner = Arc::new(Inner { core: StoreCore::new(BACKEND, &SqlOptions::default()) });
/// inner.core.start_pruning(Arc::downgrade(&inner), |inner: Arc<Inner>| async move {
///     inner.core.prune(|_batch| async { Ok(0) }).await
/// });
/// assert!(inner.core.is_pruning());
/// inner.core.stop_pruning();
/// assert!(!inner.core.is_pruning());
/// # }
/// ```
#[derive(Debug)]
pub struct StoreCore {
    backend: Backend,
    timeout: Duration,
    prune_interval: Option<Duration>,
    prune_batch_size: u32,
    /// Set when the table is to be created on first use.
    ensure_table: Option<OnceCell<()>>,
    /// Dropping or sending to it stops the pruning task.
    pruner: Mutex<Option<watch::Sender<bool>>>,
}

impl StoreCore {
    /// The shared part of a store of `backend` with `options` (the pruning task is not started yet).
    ///
    /// ```
    /// # use express_session_sql::{Backend, SqlOptions, StoreCore};
    /// # let backend = Backend { name: "example", label: "Example", unavailable: |_| false };
    /// let core = StoreCore::new(backend, &SqlOptions::default());
    /// assert!(!core.is_pruning());
    /// ```
    pub fn new(backend: Backend, options: &crate::SqlOptions) -> Self {
        Self {
            backend,
            timeout: options.timeout(),
            prune_interval: options.prune_interval,
            prune_batch_size: options.prune_batch_size,
            ensure_table: options.create_table_if_missing.then(OnceCell::new),
            pruner: Mutex::new(None),
        }
    }

    /// Runs one store call under the timeout: a call that takes longer is [`StoreError::Unavailable`], a failed
    /// one is [classified](Backend::classify).
    ///
    /// ```
    /// # use express_session_sql::{Backend, SqlOptions, StoreCore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let backend = Backend { name: "example", label: "Example", unavailable: |_| false };
    /// let core = StoreCore::new(backend, SqlOptions::default().set_timeout(std::time::Duration::from_millis(10)));
    /// let slow = core.run(async {
    ///     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///     Ok::<_, sqlx::Error>(())
    /// });
    /// assert!(slow.await.unwrap_err().is_unavailable());
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As described.
    pub async fn run<T>(&self, call: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|e| self.backend.classify(e)),
            Err(_) => Err(StoreError::unavailable(
                self.backend.name,
                TimedOut { label: self.backend.label, timeout: self.timeout },
            )),
        }
    }

    /// As [`run`](Self::run), for a call of the owner index: when it fails because the table has no owner column
    /// (`missing_column` tells that from the server's error), the error says to call `reindex` (naming `table` and
    /// the owner `key`) rather than only what the server said.
    ///
    /// ```
    /// # use express_session_sql::{Backend, SqlOptions, StoreCore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let backend = Backend { name: "example", label: "Example", unavailable: |_| false };
    /// let core = StoreCore::new(backend, &SqlOptions::default());
    /// let n = core.run_owner(async { Ok::<_, sqlx::Error>(3) }, |_| false, "session", "user").await;
    /// assert_eq!(n.unwrap(), 3);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run), or the missing column's [`StoreError::Backend`].
    pub async fn run_owner<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
        missing_column: fn(&dyn DatabaseError) -> bool,
        table: &str,
        key: &str,
    ) -> Result<T, StoreError> {
        let backend = self.backend;
        self.run(async move {
            match call.await {
                Ok(value) => Ok(Ok(value)),
                Err(error) => crate::owners::owner_call_error(&backend, error, missing_column, table, key).map(Err),
            }
        })
        .await?
    }

    /// Checks that `pool` can hand out a connection within the timeout, then creates the table when asked to
    /// (what a store's `connect` does before it returns).
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run) and `migrate`.
    pub async fn connect<DB, F>(&self, pool: &sqlx::Pool<DB>, migrate: impl FnOnce() -> F) -> Result<(), StoreError>
    where
        DB: sqlx::Database,
        F: Future<Output = Result<(), StoreError>>,
    {
        self.run(async { pool.acquire().await.map(drop) }).await?;
        self.ensure_table(migrate).await
    }

    /// Whether the table is created on first use.
    pub fn creates_table(&self) -> bool {
        self.ensure_table.is_some()
    }

    /// Runs `migrate` once, on the first call, when the table is to be created on first use; a failed `migrate`
    /// is tried again by the next call.
    ///
    /// # Errors
    ///
    /// The error of `migrate`.
    pub async fn ensure_table<F>(&self, migrate: impl FnOnce() -> F) -> Result<(), StoreError>
    where
        F: Future<Output = Result<(), StoreError>>,
    {
        match &self.ensure_table {
            None => Ok(()),
            Some(once) => once.get_or_try_init(migrate).await.map(|_| ()),
        }
    }

    /// Deletes expired rows in batches until a batch deletes fewer rows than the batch size, and returns how many
    /// were deleted. `delete_batch` runs one statement that deletes at most the given number of expired rows.
    ///
    /// ```
    /// # use express_session_sql::{Backend, SqlOptions, StoreCore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let backend = Backend { name: "example", label: "Example", unavailable: |_| false };
    /// let core = StoreCore::new(backend, SqlOptions::default().set_prune_batch_size(10));
    /// let mut left = 25_u64;
    /// let deleted = core.prune(|batch| {
    ///     let n = left.min(batch.unsigned_abs());
    ///     left -= n;
    ///     async move { Ok(n) }
    /// });
    /// assert_eq!(deleted.await.unwrap(), 25);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The first error of `delete_batch`; rows deleted by earlier batches stay deleted.
    pub async fn prune<F>(&self, mut delete_batch: impl FnMut(i64) -> F) -> Result<u64, StoreError>
    where
        F: Future<Output = Result<u64, StoreError>>,
    {
        let batch = i64::from(self.prune_batch_size);
        let mut total = 0;
        loop {
            let deleted = delete_batch(batch).await?;
            total += deleted;
            if deleted < batch.unsigned_abs() {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Starts the background pruning task when the options ask for one: every prune interval it upgrades
    /// `state` and runs `prune` on it, and it ends when `state` is gone or on [`stop_pruning`](Self::stop_pruning).
    /// Without a Tokio runtime it is not started, and a warning is logged.
    pub fn start_pruning<T, F, Fut>(&self, state: Weak<T>, prune: F)
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<u64, StoreError>> + Send,
    {
        let Some(every) = self.prune_interval else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let label = self.backend.label;
            tracing::warn!("no Tokio runtime when the {label} session store was built; expired rows are not pruned");
            return;
        };
        let (stop, mut stopped) = watch::channel(false);
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    // A stop, or the store dropped (the sender lives in it).
                    _ = stopped.changed() => return,
                }
                let Some(state) = state.upgrade() else { return };
                match prune(state).await {
                    Ok(deleted) => tracing::debug!(deleted, "pruned expired sessions"),
                    Err(error) => tracing::warn!(%error, "pruning expired sessions failed; will try again"),
                }
            }
        });
        *self.pruner.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop);
    }

    /// Stops the background pruning task, if any (it finishes the batch it is deleting).
    pub fn stop_pruning(&self) {
        if let Some(stop) = self.pruner.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(true);
        }
    }

    /// Whether the background pruning task is running.
    pub fn is_pruning(&self) -> bool {
        self.pruner.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKEND: Backend = Backend { name: "test", label: "Test", unavailable: |_| false };

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        assert!(BACKEND.classify(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(BACKEND.classify(sqlx::Error::PoolClosed).is_unavailable());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(BACKEND.classify(sqlx::Error::Io(io)).is_unavailable());
        assert!(!BACKEND.classify(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!BACKEND.classify(sqlx::Error::ColumnNotFound("sess".into())).is_unavailable());
    }

    #[test]
    fn invalid_names_are_backend_errors() {
        let error = BACKEND.check_names(["ok", "a\0b"], "the table name").unwrap_err();
        assert!(!error.is_unavailable());
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("invalid Test session store configuration: the table name must be non-empty text")
        );
    }

    #[tokio::test]
    async fn the_pruning_task_ends_with_its_state() {
        struct Inner {
            core: StoreCore,
        }
        let mut options = crate::SqlOptions::default();
        options.set_prune_interval(Some(Duration::from_millis(10)));
        let inner = Arc::new(Inner { core: StoreCore::new(BACKEND, &options) });
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        inner.core.start_pruning(Arc::downgrade(&inner), move |inner: Arc<Inner>| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move { inner.core.prune(|_| async { Ok(0) }).await }
        });
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(runs.load(std::sync::atomic::Ordering::Relaxed) > 0);
        let weak = Arc::downgrade(&inner);
        drop(inner);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(weak.upgrade().is_none(), "the task holds no strong reference");
    }
}
