//! `all`, `len` and `clear`: `SCAN MATCH prefix*` over the server or every primary of a cluster.

use std::collections::HashSet;

use express_session::store::StoreError;
use express_session::{Record, SessionId};
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, RedisResult, ServerErrorKind};

use crate::connection::{RedisConnection, bounded, resend_while_recovering};
use crate::guard::is_token_key;
use crate::store::RedisStore;

/// Where one `SCAN` cursor runs.
enum ScanTarget {
    /// The one server.
    Server,
    /// One primary of a cluster.
    Node { host: String, port: u16 },
}

/// One `SCAN` reply: the next cursor and a page of keys.
type ScanPage = (u64, Vec<Vec<u8>>);

/// The state of a scan over every primary: the cursors still to follow.
#[derive(Default)]
pub(crate) struct KeyScan {
    started: bool,
    pending: Vec<(ScanTarget, u64)>,
    /// The `MATCH` pattern, when not the store's prefix (the owner sets' prefix, for `clear`).
    pattern: Option<String>,
}

impl KeyScan {
    /// A scan of the keys that start with `prefix` (matched literally) rather than with the store's prefix.
    pub(crate) fn with_prefix(prefix: &str) -> Self {
        Self { pattern: Some(format!("{}*", crate::builder::escape_glob(prefix))), ..Self::default() }
    }
}

impl RedisStore {
    fn scan_command(&self, cursor: u64, pattern: Option<&str>) -> Cmd {
        let mut cmd = redis::cmd("SCAN");
        let pattern = pattern.unwrap_or(&self.inner.pattern);
        cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(self.inner.scan_count);
        cmd
    }

    /// The next batch of keys of a `SCAN MATCH prefix*` over the server or every primary of the cluster, or
    /// `None` when the scan is over. Keys may repeat (as `SCAN` may return a key twice). The cluster's token keys
    /// (see `guard.rs`), which only an empty prefix matches, are left out.
    pub(crate) async fn next_keys(
        &self,
        connection: &mut RedisConnection,
        scan: &mut KeyScan,
    ) -> RedisResult<Option<Vec<Vec<u8>>>> {
        let mut keys = self.next_page(connection, scan).await?;
        if let Some(keys) = &mut keys
            && self.inner.guard.is_some()
            && self.inner.prefix.is_empty()
        {
            keys.retain(|key| !is_token_key(key));
        }
        Ok(keys)
    }

    async fn next_page(
        &self,
        connection: &mut RedisConnection,
        scan: &mut KeyScan,
    ) -> RedisResult<Option<Vec<Vec<u8>>>> {
        if !scan.started {
            scan.started = true;
            match connection {
                RedisConnection::Single(_) | RedisConnection::Sentinel(_) => scan.pending.push((ScanTarget::Server, 0)),
                RedisConnection::Cluster(cluster) => {
                    // The first page of every primary, in one call; the reply maps each node's address to its page.
                    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                    let command = self.scan_command(0, scan.pattern.as_deref());
                    let reply = resend_while_recovering(true, || {
                        let (mut cluster, command, routing) = (cluster.clone(), command.clone(), routing.clone());
                        async move { cluster.route_command(command, routing).await }
                    });
                    let reply = reply.await?;
                    let pages: Vec<(String, ScanPage)> = redis::from_redis_value(reply)?;
                    let mut keys = Vec::new();
                    for (address, (cursor, page)) in pages {
                        keys.extend(page);
                        if cursor != 0 {
                            scan.pending.push((node(&address)?, cursor));
                        }
                    }
                    return Ok(Some(keys));
                }
            }
        }
        let Some((target, cursor)) = scan.pending.pop() else { return Ok(None) };
        let command = self.scan_command(cursor, scan.pattern.as_deref());
        let (next, keys): ScanPage = match (&target, &mut *connection) {
            (ScanTarget::Node { host, port }, RedisConnection::Cluster(cluster)) => {
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
                let reply = resend_while_recovering(true, || {
                    let (mut cluster, command, routing) = (cluster.clone(), command.clone(), routing.clone());
                    async move { cluster.route_command(command, routing).await }
                });
                redis::from_redis_value(reply.await?)?
            }
            _ => command.query_async(connection).await?,
        };
        if next != 0 {
            scan.pending.push((target, next));
        }
        Ok(Some(keys))
    }

    /// Every live record under the prefix, by `SCAN` then `MGET` per page (one call per page, each within the
    /// time limit).
    pub(crate) async fn scan_records(&self) -> Result<Vec<(SessionId, Record)>, StoreError> {
        let mut connection = self.connection();
        let limit = self.inner.timeout;
        let mut scan = KeyScan::default();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while let Some(keys) = bounded(limit, self.next_keys(&mut connection, &mut scan)).await? {
            let keys: Vec<Vec<u8>> = keys.into_iter().filter(|k| seen.insert(k.clone())).collect();
            if keys.is_empty() {
                continue;
            }
            let values = bounded(limit, read_page(&mut connection, &keys)).await?;
            for (key, json) in keys.into_iter().zip(values) {
                let (Some(json), Ok(key)) = (json, String::from_utf8(key)) else { continue };
                let Some(id) = key.strip_prefix(&self.inner.prefix).and_then(SessionId::new) else {
                    continue;
                };
                let key = self.key_arg(id.as_str());
                let live = bounded(limit, self.live_record(id.as_str(), key, json)).await?;
                if let Some(found) = live {
                    out.push((id, found.record));
                }
            }
        }
        Ok(out)
    }
}

/// `MGET` of a page of keys. On a cluster, when a slot of the page migrates and its keys are on two nodes (the
/// cluster answers `TRYAGAIN` to a command on several keys then), one `GET` per key instead, each served by the
/// node that holds its key.
pub(crate) async fn read_page(connection: &mut RedisConnection, keys: &[Vec<u8>]) -> RedisResult<Vec<Option<Vec<u8>>>> {
    let mut mget = redis::cmd("MGET");
    mget.arg(keys);
    let RedisConnection::Cluster(cluster) = connection else { return connection.query(&mget).await };
    let cluster = cluster.clone();
    let reply = resend_while_recovering(false, || {
        let mut cluster = cluster.clone();
        let mget = &mget;
        async move { mget.query_async(&mut cluster).await }
    });
    match reply.await {
        Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::TryAgain) => {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                values.push(connection.query(redis::cmd("GET").arg(key)).await?);
            }
            Ok(values)
        }
        result => result,
    }
}

/// A node address as the cluster connection reports it (`host:port`, `[v6]:port`).
fn node(address: &str) -> RedisResult<ScanTarget> {
    let parsed = address.rsplit_once(':').and_then(|(host, port)| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(ScanTarget::Node { host: host.to_owned(), port: port.parse().ok()? })
    });
    parsed.ok_or_else(|| (redis::ErrorKind::Client, "unexpected cluster node address").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_parse() {
        assert!(matches!(node("127.0.0.1:7000"), Ok(ScanTarget::Node { ref host, port: 7000 }) if host == "127.0.0.1"));
        assert!(matches!(node("[::1]:7001"), Ok(ScanTarget::Node { ref host, port: 7001 }) if host == "::1"));
        assert!(node("nonsense").is_err());
    }
}
