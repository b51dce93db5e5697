//! The cookie options (express's `cookie` object), `Secure`, and how they are checked.

use std::time::Duration;

use crate::cookie::{Priority, SameSite, Spelled, is_valid_domain, is_valid_path};
use crate::time::{Timestamp, duration_millis};

use super::error::ConfigError;

/// express's `cookie.secure`: `true`, `false` or `'auto'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Secure {
    /// Always `Secure`; no cookie is sent over plain HTTP (the session is still saved, as in express).
    Always,
    /// Never `Secure` (stored as `"secure":false`).
    Never,
    /// `Secure` when the request that creates the session is secure (TLS, or a trusted `X-Forwarded-Proto`).
    Auto,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SameSiteSetting {
    Fixed(Spelled<SameSite>),
    /// 1.19's `'auto'`: `none` on secure requests, `lax` otherwise (stored lower-case).
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lifetime {
    MaxAge(i64),
    Expires(Timestamp),
}

/// The cookie options (express's `cookie` object). They apply to sessions when they are created; a stored session
/// keeps the attributes it was created with.
///
/// ```
/// use express_session::{CookieOptions, SameSite, Secure};
/// use std::time::Duration;
///
/// let cookie = CookieOptions::new()
///     .max_age(Duration::from_secs(3600))
///     .same_site(SameSite::Lax)
///     .secure(Secure::Auto);
/// # let _ = cookie;
/// ```
#[derive(Debug, Clone)]
pub struct CookieOptions {
    pub(crate) domain: Option<String>,
    pub(crate) lifetime: Option<Lifetime>,
    pub(crate) http_only: bool,
    pub(crate) partitioned: Option<bool>,
    pub(crate) path: String,
    pub(crate) priority: Option<Spelled<Priority>>,
    pub(crate) same_site: Option<SameSiteSetting>,
    pub(crate) secure: Option<Secure>,
    pub(crate) allow_insecure_attributes: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            domain: None,
            lifetime: None,
            http_only: true,
            partitioned: None,
            path: "/".into(),
            priority: None,
            same_site: None,
            secure: None,
            allow_insecure_attributes: false,
        }
    }
}

impl CookieOptions {
    /// express's defaults: path `/`, HttpOnly, a browser-session cookie, no other attribute.
    pub fn new() -> Self {
        Self::default()
    }

    /// `cookie.domain`. An empty domain is express's `domain: ''`: the cookie has no `Domain` attribute.
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// `cookie.expires`: a fixed date. As in express, a new session turns it into a lifetime (the time left at
    /// creation), which later touches re-apply. The later of `expires` and [`max_age`](Self::max_age) wins.
    #[must_use]
    pub fn expires(mut self, expires: Timestamp) -> Self {
        self.lifetime = Some(Lifetime::Expires(expires));
        self
    }

    /// `cookie.maxAge`: the session and its cookie expire this long after the last time they were saved or
    /// touched. Not set (the default) gives a browser-session cookie.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.lifetime = Some(Lifetime::MaxAge(duration_millis(max_age)));
        self
    }

    /// `cookie.httpOnly` (default `true`).
    #[must_use]
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// `cookie.partitioned` (CHIPS); requires `Secure`.
    #[must_use]
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = Some(partitioned);
        self
    }

    /// `cookie.path` (default `/`). As in express, requests whose path does not start with it get no session. An
    /// empty path is express's `path: ''`: every request gets a session and the cookie has no `Path` attribute
    /// (the browser then uses the request's directory).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// `cookie.priority`.
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(Spelled::lower(priority));
        self
    }

    /// `cookie.sameSite`. `SameSite::None` requires `Secure`.
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(SameSiteSetting::Fixed(Spelled::lower(same_site)));
        self
    }

    /// `cookie.sameSite: 'auto'` (express-session 1.19): `None` on secure requests, `Lax` otherwise.
    #[must_use]
    pub fn same_site_auto(mut self) -> Self {
        self.same_site = Some(SameSiteSetting::Auto);
        self
    }

    /// `cookie.secure`.
    #[must_use]
    pub fn secure(mut self, secure: Secure) -> Self {
        self.secure = Some(secure);
        self
    }

    /// Accept `SameSite=None` or `Partitioned` without `Secure`, as express does. Browsers reject such cookies,
    /// so the layer refuses them unless this is set.
    #[must_use]
    pub fn allow_insecure_attributes(mut self, allow: bool) -> Self {
        self.allow_insecure_attributes = allow;
        self
    }

    pub(crate) fn validate(&self, name: &str) -> Result<(), ConfigError> {
        // An empty domain or path is express's "not set" (cookie 0.7 leaves a falsy one out of `Set-Cookie`).
        if let Some(domain) = &self.domain
            && !domain.is_empty()
            && !is_valid_domain(domain)
        {
            return Err(ConfigError::InvalidDomain { domain: domain.clone() });
        }
        if !self.path.is_empty() && (!is_valid_path(&self.path) || !self.path.starts_with('/')) {
            return Err(ConfigError::InvalidPath { path: self.path.clone() });
        }
        let secure_possible = matches!(self.secure, Some(Secure::Always | Secure::Auto));
        let same_site_none =
            matches!(&self.same_site, Some(SameSiteSetting::Fixed(Spelled { value: Some(SameSite::None), .. })));
        if !self.allow_insecure_attributes {
            if same_site_none && !secure_possible {
                return Err(ConfigError::SameSiteNoneWithoutSecure);
            }
            if self.partitioned == Some(true) && !secure_possible {
                return Err(ConfigError::PartitionedWithoutSecure);
            }
        }
        if name.starts_with("__Secure-") && self.secure != Some(Secure::Always) {
            return Err(ConfigError::SecurePrefix { name: name.to_owned() });
        }
        if name.starts_with("__Host-")
            && (self.secure != Some(Secure::Always)
                || self.path != "/"
                || self.domain.as_ref().is_some_and(|d| !d.is_empty()))
        {
            return Err(ConfigError::HostPrefix { name: name.to_owned() });
        }
        Ok(())
    }
}
