//! Writing `Set-Cookie` as cookie 0.7.2's `serialize` does for express-session.

use super::header::{encode_uri_component, is_valid_domain, is_valid_name, is_valid_path};
use super::priority::Priority;
use super::same_site::SameSite;
use super::session_cookie::SessionCookie;
use crate::time::Timestamp;

/// Writes the `Set-Cookie` header value for a cookie called `name` holding `value` (percent-encoded as
/// `encodeURIComponent` does) with the attributes of a session's cookie, exactly as express-session writes it.
/// The session layer signs the id first (`s:` + [`sign`](crate::wire::sign)); this function does not.
///
/// ```
/// use express_session::{SessionCookie, wire::set_cookie_header};
/// let header = set_cookie_header("connect.sid", "s:foo.bar", &SessionCookie::default()).unwrap();
/// assert_eq!(header, "connect.sid=s%3Afoo.bar; Path=/; HttpOnly");
/// ```
///
/// # Errors
///
/// [`SerializeError`] for an invalid name, domain or path, or a header over 4096 bytes.
pub fn set_cookie_header(name: &str, value: &str, cookie: &SessionCookie) -> Result<String, SerializeError> {
    SetCookie {
        name,
        value,
        domain: cookie.domain(),
        path: cookie.path(),
        expires: cookie.expires(),
        http_only: cookie.http_only(),
        secure: cookie.secure(),
        partitioned: cookie.partitioned(),
        priority: cookie.priority(),
        same_site: cookie.same_site(),
    }
    .serialize()
}

/// The attributes of one `Set-Cookie` header, in the order express-session writes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetCookie<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    pub(crate) domain: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
    pub(crate) expires: Option<Timestamp>,
    pub(crate) http_only: bool,
    pub(crate) secure: bool,
    pub(crate) partitioned: bool,
    pub(crate) priority: Option<Priority>,
    pub(crate) same_site: Option<SameSite>,
}

/// Why a `Set-Cookie` header could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerializeError {
    /// The cookie name is not an RFC 7230 token.
    #[error("cookie name is invalid")]
    Name,
    /// The `Domain` attribute is not a valid domain.
    #[error("option domain is invalid")]
    Domain,
    /// The `Path` attribute contains characters a cookie path cannot hold.
    #[error("option path is invalid")]
    Path,
    /// The header would exceed the 4096 bytes browsers accept for name and value, or an attribute value the
    /// 1024 bytes they accept.
    #[error("cookie is larger than 4096 bytes, or an attribute larger than 1024 bytes")]
    TooLarge,
}

impl SetCookie<'_> {
    /// Writes the header value: `name=encodeURIComponent(value)` and the attributes in express's order.
    pub(crate) fn serialize(&self) -> Result<String, SerializeError> {
        if !is_valid_name(self.name) {
            return Err(SerializeError::Name);
        }
        let value = encode_uri_component(self.value);
        if self.name.len() + value.len() > 4096 {
            return Err(SerializeError::TooLarge);
        }
        let mut out = String::with_capacity(self.name.len() + value.len() + 96);
        out.push_str(self.name);
        out.push('=');
        out.push_str(&value);
        // cookie 0.7 writes a domain or path only when it is truthy: an empty one is left out.
        let domain = self.domain.filter(|d| !d.is_empty());
        let path = self.path.filter(|p| !p.is_empty());
        if domain.is_some_and(|d| d.len() > 1024) || path.is_some_and(|p| p.len() > 1024) {
            return Err(SerializeError::TooLarge);
        }
        if let Some(domain) = domain {
            if !is_valid_domain(domain) {
                return Err(SerializeError::Domain);
            }
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(path) = path {
            if !is_valid_path(path) {
                return Err(SerializeError::Path);
            }
            out.push_str("; Path=");
            out.push_str(path);
        }
        if let Some(expires) = self.expires {
            out.push_str("; Expires=");
            out.push_str(&expires.to_http_date());
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        if let Some(priority) = self.priority {
            out.push_str("; Priority=");
            out.push_str(priority.as_attribute());
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site.as_attribute());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_express_order() {
        let cookie = SetCookie {
            name: "sid",
            value: "s:foo.76RrO0t1oL7AidII1OjH3iZCM6d0WH2GTCWnWuRqVdQ",
            domain: Some(".example.com"),
            path: Some("/app"),
            expires: Some(Timestamp::from_millis(1_700_000_001_623)),
            http_only: false,
            secure: true,
            partitioned: true,
            priority: Some(Priority::High),
            same_site: Some(SameSite::None),
        };
        assert_eq!(
            cookie.serialize().unwrap(),
            "sid=s%3Afoo.76RrO0t1oL7AidII1OjH3iZCM6d0WH2GTCWnWuRqVdQ; Domain=.example.com; Path=/app; \
             Expires=Tue, 14 Nov 2023 22:13:21 GMT; Secure; Partitioned; Priority=High; SameSite=None"
        );
    }

    /// cookie 0.7's `if (opt.domain)` / `if (opt.path)`: an empty domain or path is left out, not refused.
    #[test]
    fn empty_domain_and_path_are_left_out() {
        let cookie = SetCookie { name: "a", value: "v", domain: Some(""), path: Some(""), ..Default::default() };
        assert_eq!(cookie.serialize().unwrap(), "a=v");
        let cookie = SetCookie { name: "a", value: "v", domain: Some(""), path: Some("/x"), ..Default::default() };
        assert_eq!(cookie.serialize().unwrap(), "a=v; Path=/x");
    }

    #[test]
    fn refuses_bad_names_paths_and_sizes() {
        let base = SetCookie { name: "a b", value: "v", ..Default::default() };
        assert_eq!(base.serialize(), Err(SerializeError::Name));
        let path = SetCookie { name: "a", value: "v", path: Some("/x;y"), ..Default::default() };
        assert_eq!(path.serialize(), Err(SerializeError::Path));
        let big = "v".repeat(5000);
        let large = SetCookie { name: "a", value: &big, ..Default::default() };
        assert_eq!(large.serialize(), Err(SerializeError::TooLarge));
    }
}
