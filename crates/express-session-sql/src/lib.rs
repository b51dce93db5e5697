//! The shared plumbing of the SQL stores of [`express_session`]: `express-session-postgres`,
//! `express-session-mysql` and `express-session-sqlite`. Each rule they have in common is defined here once:
//!
//! - [`SqlOptions`]: the builder options every SQL store has (lifetime, timeout, pool size, table creation,
//!   pruning), their defaults and their limits.
//! - [`Backend`]: which `sqlx` errors mean "unavailable" (the session layer answers 503) and which "failed" (500).
//! - [`StoreCore`]: the part of a store its clones share: every call under the timeout, the table created once on
//!   first use, and the background task that deletes expired rows in batches.
//! - [`Statements`] and the row helpers ([`versioned`], [`parse_record`], [`inserted`], [`insert_or_reclaim`]):
//!   the statements a store sends and how rows become records.
//! - [`testing`] (feature `testing`, for dev-dependencies): helpers and cases the store crates' tests share.
//!
//! It is generic over the database (`sqlx` without a driver), so it pulls in no driver of its own. Applications
//! use a store crate; this crate is for store crates.
//!
//! ```
//! use std::time::Duration;
//! use express_session_sql::{Backend, SqlOptions, StoreCore};
//!
//! const BACKEND: Backend = Backend { name: "example", label: "Example", unavailable: |_| false };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut options = SqlOptions::default();
//! options.set_timeout(Duration::from_secs(2)).set_prune_interval(None);
//! let core = StoreCore::new(BACKEND, &options);
//! let answer = core.run(async { Ok::<_, sqlx::Error>(42) }).await.unwrap();
//! assert_eq!(answer, 42);
//! # }
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod core;
mod options;
mod rows;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use crate::core::{Backend, StoreCore};
pub use crate::options::SqlOptions;
pub use crate::rows::{Statements, insert_or_reclaim, inserted, parse_record, quote_ident, version_of, versioned};
