#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod connection;
mod expiry;
mod store;

pub use connection::RedisConnection;
pub use store::{RedisStore, RedisStoreBuilder};

/// The `redis` crate this store is built on, for building a [`RedisConnection`] yourself.
pub use redis;
