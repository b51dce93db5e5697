#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod error;
mod sql;
mod store;

pub use builder::SqliteStoreBuilder;
pub use store::SqliteStore;

/// The [`sqlx`](https://docs.rs/sqlx) this store is built on (with its `sqlite` driver), for the pools
/// [`SqliteStoreBuilder::build`] takes: with `express_session_sqlite::sqlx` they are always of the version the
/// store uses.
pub use sqlx;
