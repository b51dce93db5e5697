#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod cookie;
pub mod engine;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod extract;
pub mod id;
mod layer;
pub mod lifecycle;
pub mod record;
mod session;
pub mod signature;
pub mod store;
mod time;

#[cfg(test)]
pub(crate) mod test_support;

pub use config::{
    CircuitBreaker, ConfigError, CookieOptions, OnStoreError, Priority, RequestHead, SameSite, Secret, Secure,
    SessionOptions, StoreNotReady, Unset,
};
#[cfg(feature = "axum")]
pub use extract::SessionRejection;
pub use id::SessionId;
pub use layer::{IsSecure, ResponseFuture, SessionManager, SessionManagerLayer, TlsConnection};
pub use record::{Record, RecordError, SessionCookie};
pub use session::{Session, SessionError};
pub use store::{MemoryStore, Store, StoreError};
pub use time::{Clock, Timestamp};
