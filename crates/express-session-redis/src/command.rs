//! How the store's commands are built: a session's key as an argument, `EVALSHA`, and the versions.

use express_session::Timestamp;
use express_session::store::Version;
use redis::{Cmd, RedisWrite, Script, ToRedisArgs};

/// A version is the record's stored text, after its `cookie.expires` (8 bytes, big-endian milliseconds,
/// `i64::MIN` for none) so that `save_if` can tell an expired record without parsing it again.
pub(crate) fn version(expires: Option<Timestamp>, json: &[u8]) -> Version {
    // (A `Vec` then a copy into the version's `Arc<[u8]>` is cheaper than collecting the bytes into the `Arc`
    // directly, which copies them one by one.)
    let mut bytes = Vec::with_capacity(8 + json.len());
    bytes.extend_from_slice(&expires.map_or(i64::MIN, Timestamp::as_millis).to_be_bytes());
    bytes.extend_from_slice(json);
    Version::from_bytes(bytes)
}

/// A session's key as one command argument, written straight into the command (no `String` per call).
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) id: &'a str,
}

impl ToRedisArgs for Key<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // Writing to a command's buffer cannot fail.
        let _ = arg.write_all(self.prefix.as_bytes());
        let _ = arg.write_all(self.id.as_bytes());
    }
}

/// `EVALSHA script 1 key`, for arguments to be added: the command is built directly (a `ScriptInvocation` would
/// copy every argument into a `Vec` of its own first).
pub(crate) fn evalsha(script: &Script, key: Key<'_>, args: usize, len: usize) -> Cmd {
    let mut command = Cmd::with_capacity(4 + args, 64 + key.prefix.len() + key.id.len() + len);
    command.arg("EVALSHA").arg(script.get_hash()).arg(1).arg(key);
    command
}

/// `EVALSHA script 2 key token_key` (a guarded write on a cluster, see `guard.rs`), for arguments to be added.
pub(crate) fn evalsha_guarded(script: &Script, key: Key<'_>, token_key: &[u8], args: usize, len: usize) -> Cmd {
    let mut command = Cmd::with_capacity(5 + args, 64 + key.prefix.len() + key.id.len() + token_key.len() + len);
    command.arg("EVALSHA").arg(script.get_hash()).arg(2).arg(key).arg(token_key);
    command
}

/// `EVALSHA script 2 key other_key` (an owner index script: the session's key and the owner's set), for arguments
/// to be added.
pub(crate) fn evalsha_2(script: &Script, key: Key<'_>, other_key: &[u8], args: usize, len: usize) -> Cmd {
    evalsha_guarded(script, key, other_key, args, len)
}

/// The `cookie.expires` and text of a version made by [`version`].
pub(crate) fn split_version(version: &Version) -> Option<(Option<i64>, &[u8])> {
    let bytes = version.as_bytes()?;
    let (head, json) = bytes.split_first_chunk::<8>()?;
    let expires = i64::from_be_bytes(*head);
    Some(((expires != i64::MIN).then_some(expires), json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_carry_the_text_and_the_expiry() {
        let v = version(Some(Timestamp::from_millis(1_234)), b"{}");
        assert_eq!(split_version(&v), Some((Some(1_234), &b"{}"[..])));
        let v = version(None, b"{\"a\":1}");
        assert_eq!(split_version(&v), Some((None, &b"{\"a\":1}"[..])));
        assert_eq!(split_version(&Version::from_u64(7)), None);
        assert_eq!(split_version(&Version::from_bytes(vec![1, 2])), None);
    }
}
