//! The options, with express-session's names in Rust spelling and its defaults, validated when the layer is built.
//!
//! | express-session            | Rust                                                   | default                     |
//! |----------------------------|--------------------------------------------------------|-----------------------------|
//! | `cookie.domain`            | [`CookieOptions::domain`]                              | none                        |
//! | `cookie.expires`           | [`CookieOptions::expires`]                             | none                        |
//! | `cookie.httpOnly`          | [`CookieOptions::http_only`]                           | `true`                      |
//! | `cookie.maxAge`            | [`CookieOptions::max_age`]                             | none (browser session)      |
//! | `cookie.partitioned`       | [`CookieOptions::partitioned`]                         | not set                     |
//! | `cookie.path`              | [`CookieOptions::path`]                                | `"/"`                       |
//! | `cookie.priority`          | [`CookieOptions::priority`]                            | not set                     |
//! | `cookie.sameSite`          | [`CookieOptions::same_site`], [`CookieOptions::same_site_auto`] | not set            |
//! | `cookie.secure`            | [`CookieOptions::secure`] (`Secure::Always/Never/Auto`) | not set                    |
//! | `genid`                    | [`SessionOptions::genid`]                              | 24 random bytes, base64url  |
//! | `name`                     | [`SessionOptions::name`]                               | `"connect.sid"`             |
//! | `proxy`                    | [`SessionOptions::proxy`]                              | unset: follow [`IsSecure`](crate::layer::IsSecure) |
//! | `resave`                   | [`SessionOptions::resave`]                             | **`false`** (express: `true`, deprecated) |
//! | `rolling`                  | [`SessionOptions::rolling`]                            | `false`                     |
//! | `saveUninitialized`        | [`SessionOptions::save_uninitialized`]                 | **`false`** (express: `true`, deprecated) |
//! | `secret`                   | [`SessionOptions::secret`], [`SessionOptions::secrets`] | required                   |
//! | `store`                    | [`SessionOptions::store`]                              | a new [`MemoryStore`](crate::MemoryStore) |
//! | `unset`                    | [`SessionOptions::unset`]                              | [`Unset::Keep`]             |
//!
//! Each option type has its own file; [`ConfigError`] says what is wrong when the layer refuses them.

mod circuit_breaker;
mod cookie_options;
mod error;
mod error_response;
mod express_json;
mod hardening;
mod on_store_error;
mod request_head;
mod secret;
mod session_options;
mod store_not_ready;
#[cfg(test)]
mod tests;
mod unset;

#[doc(inline)]
pub use circuit_breaker::CircuitBreaker;
#[doc(inline)]
pub use cookie_options::{CookieOptions, Secure};
pub(crate) use cookie_options::{Lifetime, SameSiteSetting};
#[doc(inline)]
pub use error::ConfigError;
#[doc(inline)]
pub use error_response::{DefaultResponseForError, ErrorResponse, ResponseForError};
pub(crate) use hardening::Hardening;
#[doc(inline)]
pub use on_store_error::OnStoreError;
pub(crate) use request_head::GenIdFn;
#[doc(inline)]
pub use request_head::RequestHead;
#[doc(inline)]
pub use secret::Secret;
#[doc(inline)]
pub use session_options::SessionOptions;
#[doc(inline)]
pub use store_not_ready::StoreNotReady;
#[doc(inline)]
pub use unset::Unset;
