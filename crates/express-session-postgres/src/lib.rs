#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod error;
mod sql;
mod store;

pub use builder::PostgresStoreBuilder;
pub use store::PostgresStore;

/// The [`sqlx`](https://docs.rs/sqlx) this store is built on (with its `postgres` driver), for the connection
/// options and pools [`PostgresStoreBuilder::connect_with`] and [`PostgresStoreBuilder::build`] take: with
/// `express_session_postgres::sqlx` they are always of the version the store uses.
pub use sqlx;
