#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cookie;
mod engine;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod extract;
pub mod id;
mod layer;
pub mod lifecycle;
pub mod options;
pub mod record;
mod session;
mod signature;
pub mod store;
mod time;
pub mod wire;

#[cfg(test)]
pub(crate) mod test_support;

#[doc(inline)]
pub use cookie::{Priority, SameSite, SessionCookie};
#[cfg(feature = "axum")]
pub use extract::SessionRejection;
#[doc(inline)]
pub use id::SessionId;
pub use layer::{IsSecure, ResponseFuture, SessionManager, SessionManagerLayer, TlsConnection};
#[doc(inline)]
pub use options::{ConfigError, CookieOptions, Secret, Secure, SessionOptions, Unset};
#[doc(inline)]
pub use record::Record;
pub use session::{Session, SessionError};
pub use store::{MemoryStore, Store, StoreError};
#[doc(inline)]
pub use time::{Clock, Timestamp};
