//! The express-session login example on the Redis and PostgreSQL stores: `redis-login.rs` and `postgres-login.rs`
//! next to this directory, run with `cargo run --example redis-login` and `cargo run --example postgres-login`;
//! and the devices example (`devices.rs`, `cargo run --example devices`: MemoryStore, or Redis with `REDIS_URL`).
//!
//! The library itself is empty: `cargo test -p express-session-store-examples --doc` compiles the Rust code of the
//! repository's README here, the one package that has every crate it names.

/// The repository's README, whose Rust code blocks are doctests of this package.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;
