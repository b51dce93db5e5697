//! Reading the `Cookie` request header and writing `Set-Cookie`, byte for byte as express-session does.
//!
//! Reading follows the npm package `cookie` 0.7.2 that express-session uses: several `Cookie` header lines are
//! joined with `"; "` (as Node does), pairs are split on `;`, names and values are trimmed of spaces and tabs,
//! one pair of surrounding double quotes is removed, the **first** occurrence of a name wins even when its value
//! is garbage, names are compared raw (never decoded, case-sensitive), and a value is percent-decoded only when
//! it contains `%` and decodes cleanly.
//!
//! Writing follows the same package's `serialize`: the value is encoded as JavaScript's `encodeURIComponent`
//! encodes it and the attributes come in a fixed order:
//! `Domain`, `Path`, `Expires`, `HttpOnly`, `Secure`, `Partitioned`, `Priority`, `SameSite`. No `Max-Age`. As
//! there, an attribute with a falsy value (an empty domain or path, a `sameSite` or `priority` of `""` or `0`)
//! is left out.
//!
//! The cookie attributes ([`SameSite`], [`Priority`]) and the session's cookie as it is stored
//! ([`SessionCookie`]) live here too. The header helpers themselves are not needed to use sessions; tests and
//! tools reach them through [`wire`](crate::wire).

pub(crate) mod header;
mod priority;
mod same_site;
mod session_cookie;
pub(crate) mod set_cookie;

use std::fmt;

pub use header::MAX_COOKIE_VALUE;
pub(crate) use header::{
    decode_uri_component, encode_uri_component, is_valid_domain, is_valid_name, is_valid_path, signed_session_value,
};
#[doc(inline)]
pub use priority::Priority;
#[doc(inline)]
pub use same_site::SameSite;
pub(crate) use session_cookie::{CookieSeed, Spelled, Spelling, priority_from_json, same_site_from_json, truthy};
#[doc(inline)]
pub use session_cookie::{InvalidCookie, SessionCookie};
pub use set_cookie::SerializeError;
pub(crate) use set_cookie::set_cookie_header;

/// A `sameSite` or `priority` name that is not one express accepts (from [`str::parse`] on [`SameSite`] or
/// [`Priority`]).
///
/// ```
/// use express_session::{Priority, SameSite};
/// assert_eq!("LAX".parse::<SameSite>(), Ok(SameSite::Lax));
/// let err = "sideways".parse::<SameSite>().unwrap_err();
/// assert!(err.to_string().starts_with("cookie sameSite \"sideways\" is invalid"));
/// assert!("urgent".parse::<Priority>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseAttributeError {
    attribute: Attribute,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attribute {
    SameSite,
    Priority,
}

impl ParseAttributeError {
    pub(crate) fn same_site(value: &str) -> Self {
        Self { attribute: Attribute::SameSite, value: value.to_owned() }
    }

    pub(crate) fn priority(value: &str) -> Self {
        Self { attribute: Attribute::Priority, value: value.to_owned() }
    }
}

impl fmt::Display for ParseAttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = &self.value;
        match self.attribute {
            Attribute::SameSite => write!(
                f,
                "cookie sameSite {value:?} is invalid: use true, false, \"lax\", \"strict\", \"none\" or \"auto\""
            ),
            Attribute::Priority => {
                write!(f, "cookie priority {value:?} is invalid: use \"low\", \"medium\" or \"high\"")
            }
        }
    }
}

impl std::error::Error for ParseAttributeError {}
