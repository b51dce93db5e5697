#![doc = include_str!("../README.md")]
// The suite's page: in these docs when they are built with it, else on docs.rs (where every feature is on).
#![cfg_attr(feature = "test-suite", doc = "\n\n[`testing`]: crate::testing")]
#![cfg_attr(
    not(feature = "test-suite"),
    doc = "\n\n[`testing`]: https://docs.rs/express-session/latest/express_session/testing/index.html"
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cookie;
pub mod engine;
mod error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod extract;
pub mod flash;
pub mod id;
pub mod layer;
pub mod lifecycle;
pub mod options;
pub mod record;
mod signature;
pub mod store;
#[cfg(feature = "test-suite")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-suite")))]
pub mod testing;
mod time;
pub mod wire;

#[cfg(test)]
pub(crate) mod test_support;

#[doc(inline)]
pub use cookie::{Priority, SameSite, SessionCookie};
#[doc(inline)]
pub use engine::session::Session;
#[doc(inline)]
pub use error::SessionError;
#[cfg(feature = "axum")]
#[doc(inline)]
pub use extract::SessionRejection;
#[doc(inline)]
pub use id::SessionId;
#[doc(inline)]
pub use layer::{SessionManager, SessionManagerLayer, TlsConnection};
#[doc(inline)]
pub use options::{ConfigError, CookieOptions, Secret, Secure, SessionOptions, Unset};
#[doc(inline)]
pub use record::Record;
#[doc(inline)]
pub use store::{MemoryStore, Store, StoreError};
#[doc(inline)]
pub use time::{Clock, Timestamp};
