//! The start of a request, over plain inputs: express-session's entry gates and cookie reading. Adapters (the
//! tower layer, later actix) call this and [`Session::finish`](crate::Session) and nothing else.

pub(crate) mod config;
pub(crate) mod guard;
pub(crate) mod session;

use std::sync::Arc;

use self::config::Config;
use crate::cookie::signed_session_value;
use crate::engine::session::Session;
use crate::id::SessionId;
use crate::options::{RequestHead, StoreNotReady};

/// What the layer does with a request.
#[derive(Debug)]
pub(crate) enum Begin {
    /// No session for this request (the path is outside the cookie path, or the store is not ready and the
    /// options say to pass through): call the handler as is.
    Skip,
    /// The store is not ready and the options say to fail: answer 503.
    NotReady,
    /// A session handle for the handler.
    Session(Session),
}

/// How secure the request is, as far as the server established it. Nothing the client chose counts: not the
/// request URI's scheme (`GET https://example.com/ HTTP/1.1` can be sent over plain TCP, and HTTP/2's
/// `:scheme` is the client's too), and `X-Forwarded-Proto` only when the proxy is trusted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Transport<'a> {
    /// The connection itself is TLS, as the server's TLS acceptor says (express: `req.connection.encrypted`).
    pub(crate) tls: bool,
    /// The server says the request is secure (express: `req.secure`, from its `trust proxy` setting).
    pub(crate) server_says_secure: bool,
    /// The raw `X-Forwarded-Proto` header.
    pub(crate) forwarded_proto: Option<&'a [u8]>,
}

/// express-session's `issecure(req, trustProxy)`.
pub(crate) fn is_secure(proxy: Option<bool>, transport: Transport<'_>) -> bool {
    if transport.tls {
        return true;
    }
    match proxy {
        Some(false) => false,
        None => transport.server_says_secure,
        Some(true) => transport.forwarded_proto.is_some_and(|value| {
            let first = value.split(|&b| b == b',').next().unwrap_or_default();
            first.trim_ascii().eq_ignore_ascii_case(b"https")
        }),
    }
}

/// The verified session id in a request's `Cookie` headers, or `None` for a missing, unsigned, tampered or
/// malformed cookie (express then starts a new session without asking the store).
pub(crate) fn cookie_session_id<'a>(config: &Config, headers: impl IntoIterator<Item = &'a [u8]>) -> Option<SessionId> {
    signed_session_value(headers, &config.name, |signed| {
        let id = config.signer.unsign(signed)?;
        if !config.hardening.accept_any_id && !SessionId::is_default_format(id) {
            tracing::info!("a validly signed cookie carries an id in a foreign format; ignored");
            return None;
        }
        SessionId::new(id)
    })
}

/// express-session's entry gates, in its order: store readiness, then the cookie path (a raw prefix of the
/// request path, as express checks it), then the cookie.
pub(crate) fn begin<'a>(
    config: &Arc<Config>,
    path: &str,
    cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    transport: Transport<'_>,
    head: impl FnOnce() -> RequestHead,
) -> Begin {
    if !config.store.is_ready() {
        return match config.store_not_ready {
            StoreNotReady::Fail => Begin::NotReady,
            StoreNotReady::PassThrough => Begin::Skip,
        };
    }
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with(config.cookie.path.as_str()) {
        return Begin::Skip;
    }
    let cookie_id = cookie_session_id(config, cookie_headers);
    let secure = is_secure(config.proxy, transport);
    let head = config.genid.is_some().then(head);
    Begin::Session(Session::begin(Arc::clone(config), cookie_id, secure, head))
}

#[cfg(test)]
mod tests {
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
}
