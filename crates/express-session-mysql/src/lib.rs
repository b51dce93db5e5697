#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod error;
mod sql;
mod store;

pub use builder::MySqlStoreBuilder;
pub use store::MySqlStore;

/// The [`sqlx`](https://docs.rs/sqlx) this store is built on (with its `mysql` driver), for the connection
/// options and pools [`MySqlStoreBuilder::connect_with`] and [`MySqlStoreBuilder::build`] take: with
/// `express_session_mysql::sqlx` they are always of the version the store uses.
pub use sqlx;
