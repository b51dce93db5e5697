#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod builder;
mod command;
mod connection;
mod expiry;
mod guard;
mod owners;
mod scan;
mod sentinel;
mod store;
mod tls;

pub use builder::RedisStoreBuilder;
pub use connection::RedisConnection;
pub use sentinel::{SentinelConfig, SentinelConnection};
pub use store::RedisStore;

/// The `redis` crate this store is built on, for building a [`RedisConnection`] yourself.
pub use redis;
