//! The connection (one server, a cluster, or the master Sentinel names), the per-call time limit, and the
//! classification of failures.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use express_session::store::StoreError;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value};

use crate::sentinel::SentinelConnection;

/// The store's name in [`StoreError`]s.
pub(crate) const STORE: &str = "redis";

/// A connection to Redis that reconnects by itself: a [`ConnectionManager`] for one server, or a
/// [`ClusterConnection`] for a Redis Cluster. Both are cheap handles to one shared, multiplexed connection (per
/// node), so cloning is cheap.
///
/// Build one yourself to share it with the rest of your app, then hand it to
/// [`RedisStoreBuilder::build`](crate::RedisStoreBuilder::build):
///
/// ```no_run
/// use express_session_redis::{RedisConnection, RedisStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let manager = redis::aio::ConnectionManager::new(client).await?;
/// let store = RedisStore::builder().build(RedisConnection::from(manager))?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum RedisConnection {
    /// One server (or a proxy in front of several).
    Single(ConnectionManager),
    /// A Redis Cluster: commands go to the node that owns the key's slot.
    Cluster(ClusterConnection),
    /// The master that Redis Sentinel names, asked for again after a failover (see
    /// [`RedisStoreBuilder::connect_sentinel`](crate::RedisStoreBuilder::connect_sentinel)).
    Sentinel(SentinelConnection),
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "RedisConnection::Single",
            Self::Cluster(_) => "RedisConnection::Cluster",
            Self::Sentinel(_) => "RedisConnection::Sentinel",
        })
    }
}

impl From<ConnectionManager> for RedisConnection {
    fn from(connection: ConnectionManager) -> Self {
        Self::Single(connection)
    }
}

impl From<ClusterConnection> for RedisConnection {
    fn from(connection: ClusterConnection) -> Self {
        Self::Cluster(connection)
    }
}

impl From<SentinelConnection> for RedisConnection {
    fn from(connection: SentinelConnection) -> Self {
        Self::Sentinel(connection)
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}

impl RedisConnection {
    /// `command` on this connection; on a cluster, sent again while the cluster recovers
    /// ([`resend_while_recovering`], `TRYAGAIN` included), until the caller's time limit.
    pub(crate) async fn query<T: FromRedisValue>(&mut self, command: &Cmd) -> RedisResult<T> {
        match self {
            Self::Single(_) | Self::Sentinel(_) => command.query_async(self).await,
            Self::Cluster(cluster) => {
                resend_while_recovering(true, || {
                    let mut cluster = cluster.clone();
                    async move { command.query_async(&mut cluster).await }
                })
                .await
            }
        }
    }
}

/// No reply within the store's time limit.
#[derive(Debug)]
pub(crate) struct TimedOut(pub(crate) Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no reply from Redis within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Whether a failure means "Redis cannot be reached now" (503) rather than "Redis said no" (500): I/O errors
/// (refused, reset, closed, timed out), no connection to the node of a slot, the states a server or cluster
/// passes through while it recovers (loading, failover, cluster down, a write that reached a replica), no master
/// named by the sentinels (a failover in progress), and too few replicas for a write (`NOREPLICAS`: the server's
/// `min-replicas-to-write`, or [`SentinelConfig::wait_for_replicas`](crate::SentinelConfig::wait_for_replicas)).
pub(crate) fn is_unavailable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.code() == Some("NOREPLICAS")
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(
            error.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::MasterNameNotFoundBySentinel
                | ErrorKind::NoValidReplicasFoundBySentinel
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
        )
}

/// The first pause before a cluster call is sent again after the cluster answered that it is recovering; each
/// next pause doubles, up to [`MAX_RECOVERY_PAUSE`].
const FIRST_RECOVERY_PAUSE: Duration = Duration::from_millis(25);

/// The longest pause between two sends of a cluster call while the cluster recovers.
const MAX_RECOVERY_PAUSE: Duration = Duration::from_millis(400);

/// Whether a cluster's reply says "not now, the same command later": a failover or a node loading its data
/// (`CLUSTERDOWN`, `MASTERDOWN`, `LOADING`), a redirection the connection could not follow within its retries
/// (`MOVED`, `ASK`: the slot's node is down or being replaced, and another node answered for it), and, when
/// `try_again` is set, `TRYAGAIN` (a command on several keys of a slot whose keys are being moved). The command
/// did not run.
pub(crate) fn is_recovering(error: &RedisError, try_again: bool) -> bool {
    match error.kind() {
        ErrorKind::Server(
            ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::BusyLoading
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        ) => true,
        ErrorKind::Server(ServerErrorKind::TryAgain) => try_again,
        _ => false,
    }
}

/// Sends a cluster call (`send` makes one send), and again after a pause while the cluster answers that it is
/// recovering ([`is_recovering`]); the caller's time limit ends it. The cluster connection waits only a few
/// milliseconds between its own retries of these replies (see `RedisStoreBuilder::connect_cluster`), so that a
/// guarded write of a migrating slot hears its `TRYAGAIN` at once; this loop keeps the ride through a failover
/// that redis-rs's default waits (1.28 s and more) gave, with sends every 25 to 400 ms instead.
pub(crate) async fn resend_while_recovering<T, F>(try_again: bool, mut send: impl FnMut() -> F) -> RedisResult<T>
where
    F: Future<Output = RedisResult<T>>,
{
    let mut pause = FIRST_RECOVERY_PAUSE;
    loop {
        match send().await {
            Err(error) if is_recovering(&error, try_again) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RECOVERY_PAUSE);
            }
            result => return result,
        }
    }
}

/// A Redis failure as a [`StoreError`].
pub(crate) fn classify(error: RedisError) -> StoreError {
    if is_unavailable(&error) { StoreError::unavailable(STORE, error) } else { StoreError::backend(STORE, error) }
}

/// Runs `work` (one or a few round trips) within `limit`: a late reply is [`StoreError::Unavailable`], and the
/// dropped future takes its command out of the caller's hands, so callers never queue up behind a dead server.
pub(crate) async fn bounded<T>(limit: Duration, work: impl Future<Output = RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(classify(error)),
        Err(_) => Err(StoreError::unavailable(STORE, TimedOut(limit))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailable_and_the_rest_backend_errors() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(classify(refused).is_unavailable());
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(classify(reset).is_unavailable());
        let loading = RedisError::from((ErrorKind::Server(ServerErrorKind::BusyLoading), "loading"));
        assert!(classify(loading).is_unavailable());
        let wrong_type = RedisError::from((ErrorKind::Server(ServerErrorKind::ResponseError), "WRONGTYPE"));
        assert!(matches!(classify(wrong_type), StoreError::Backend { .. }));
        let not_a_number = RedisError::from((ErrorKind::UnexpectedReturnType, "not a number"));
        assert!(matches!(classify(not_a_number), StoreError::Backend { .. }));
        let read_only = RedisError::from((ErrorKind::Server(ServerErrorKind::ReadOnly), "a replica"));
        assert!(classify(read_only).is_unavailable());
        let no_master = RedisError::from((ErrorKind::MasterNameNotFoundBySentinel, "failing over"));
        assert!(classify(no_master).is_unavailable());
        let no_replicas = redis::make_extension_error("NOREPLICAS".into(), Some("not enough good replicas".into()));
        assert!(classify(no_replicas).is_unavailable());
    }

    #[test]
    fn a_recovering_cluster_is_asked_again_and_try_again_only_when_told() {
        let reply = |kind, text| RedisError::from((ErrorKind::Server(kind), text));
        for kind in [
            ServerErrorKind::ClusterDown,
            ServerErrorKind::MasterDown,
            ServerErrorKind::BusyLoading,
            ServerErrorKind::Moved,
            ServerErrorKind::Ask,
        ] {
            assert!(is_recovering(&reply(kind, "x"), false), "{kind:?}");
            assert!(is_recovering(&reply(kind, "x"), true), "{kind:?}");
        }
        let try_again = reply(ServerErrorKind::TryAgain, "x");
        assert!(is_recovering(&try_again, true) && !is_recovering(&try_again, false));
        for kind in [ServerErrorKind::ResponseError, ServerErrorKind::NoScript, ServerErrorKind::CrossSlot] {
            assert!(!is_recovering(&reply(kind, "x"), true), "{kind:?}");
        }
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(!is_recovering(&reset, true));
    }

    #[tokio::test]
    async fn recovering_replies_are_sent_again_with_growing_pauses() {
        let sends = std::cell::Cell::new(0u32);
        let start = tokio::time::Instant::now();
        let reply: RedisResult<u32> = resend_while_recovering(true, || {
            sends.set(sends.get() + 1);
            let n = sends.get();
            async move {
                if n < 4 {
                    Err(RedisError::from((ErrorKind::Server(ServerErrorKind::ClusterDown), "down")))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(reply.unwrap(), 4);
        // 25 + 50 + 100 ms.
        assert!(start.elapsed() >= Duration::from_millis(175), "{:?}", start.elapsed());
        let other: RedisResult<u32> = resend_while_recovering(false, || async {
            Err(RedisError::from((ErrorKind::Server(ServerErrorKind::TryAgain), "moving")))
        })
        .await;
        assert_eq!(other.unwrap_err().kind(), ErrorKind::Server(ServerErrorKind::TryAgain));
    }

    #[test]
    fn timeouts_are_unavailable() {
        let error = StoreError::unavailable(STORE, TimedOut(Duration::from_millis(250)));
        assert!(error.is_unavailable());
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("no reply from Redis within 250ms"));
    }
}
