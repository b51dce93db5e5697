#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod core;
mod options;
mod owners;
mod rows;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use crate::core::{Backend, StoreCore};
pub use crate::options::SqlOptions;
pub use crate::owners::{
    OwnerStatements, check_column_key, check_key, end_in_batches, fetch_limit, owned_row, owner_page,
};
pub use crate::rows::{
    Statements, insert_or_reclaim, inserted, parse_record, quote_ident, refreshed_within, version_of, versioned,
};

/// The [`sqlx`](https://docs.rs/sqlx) (without a driver) these helpers are generic over: its `Error` is what
/// [`Backend::classify`] reads and what [`StoreCore::run`] takes.
pub use sqlx;
