//! The engine's private helpers. The adapter API is tested from outside the crate, in `tests/adapter.rs`.

use super::*;

fn t(proto: Option<&'static str>, server: bool) -> Transport<'static> {
    Transport { tls: false, server_says_secure: server, forwarded_proto: proto.map(str::as_bytes) }
}

#[test]
fn proxy_true_trusts_the_first_forwarded_proto() {
    assert!(is_secure(Some(true), t(Some("https"), false)));
    assert!(is_secure(Some(true), t(Some(" HTTPS "), false)));
    assert!(is_secure(Some(true), t(Some("https,http"), false)));
    assert!(!is_secure(Some(true), t(Some("http,https"), false)));
    assert!(!is_secure(Some(true), t(None, true)));
}

#[test]
fn proxy_false_trusts_only_tls() {
    assert!(!is_secure(Some(false), t(Some("https"), true)));
    assert!(is_secure(Some(false), Transport { tls: true, ..t(None, false) }));
}

#[test]
fn proxy_unset_follows_the_server() {
    assert!(!is_secure(None, t(Some("https"), false)));
    assert!(is_secure(None, t(None, true)));
}
