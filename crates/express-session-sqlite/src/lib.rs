//! An embedded, persistent [`Store`](express_session::Store) for [`express_session`]: sessions in one SQLite
//! database file (or in memory), no server to run. The table has the shape of connect-pg-simple's.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use express_session::{Session, SessionError, SessionManagerLayer, SessionOptions};
//! use express_session_sqlite::SqliteStore;
//!
//! async fn handler(session: Session) -> Result<String, SessionError> {
//!     let views = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
//!     Ok(format!("you viewed this page {views} times"))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open("sessions.db").await?;
//! let secret = std::env::var("SESSION_SECRET")?;
//! let sessions = SessionManagerLayer::new(SessionOptions::new().secret(secret).store(store))?;
//! let app: Router = Router::new().route("/", get(handler)).layer(sessions);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # The table
//!
//! Created with its index when the store is opened, if missing ([`SqliteStore::migrate`]):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "session" (
//!   "sid" TEXT NOT NULL,
//!   "sess" TEXT NOT NULL,
//!   "expire" INTEGER NOT NULL,
//!   CONSTRAINT "session_pkey" PRIMARY KEY ("sid")
//! );
//! CREATE INDEX IF NOT EXISTS "IDX_session_expire" ON "session" ("expire");
//! ```
//!
//! `sess` is express-session's JSON text (`JSON.stringify(req.session)`); `expire` is in **milliseconds** since
//! the epoch: no Node store shares this table, so the store keeps the session layer's exact rule instead of
//! connect-pg-simple's rounding. The name is configurable ([`SqliteStoreBuilder::table_name`]).
//!
//! # Time
//!
//! One clock, the store's ([`SqliteStoreBuilder::clock`], the system clock by default; it is the process's, as the
//! database is in the process): `expire` is the record's `cookie.expires`, or now + ttl for a browser-session
//! cookie (one day by default, [`SqliteStoreBuilder::ttl`]), and a row is live while `expire > now`, exactly as
//! in [`MemoryStore`](express_session::MemoryStore). Expired rows are never returned, never saved over and never
//! touched; `create` reuses their ids. Pruning ([`SqliteStoreBuilder::prune_interval`], [`SqliteStore::prune`])
//! deletes exactly the rows that are no longer live, in batches.
//!
//! # Conditional writes
//!
//! - `create` is a plain `INSERT`; a unique violation means the id exists (an expired row with that id is deleted
//!   and the insert tried once more).
//! - `save_if` updates the row only if its `sess` text is still the text that was read (the version) and it is
//!   live, in one transaction that also tells conflict from gone exactly; it never inserts.
//! - `touch` updates only `expire`, only of a live row.
//!
//! # Files and concurrency
//!
//! A file is opened in WAL mode (readers never wait for the writer) with `synchronous = NORMAL`, and created if
//! missing. Writers take turns; one that waits longer than [`SqliteStoreBuilder::timeout`] (default 5 s) fails
//! with [`StoreError::Unavailable`](express_session::StoreError::Unavailable) (503), as do I/O errors and a full
//! disk. Several processes can share one file on a local disk (not on a network file system).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod sql;
mod store;

pub use store::{SqliteStore, SqliteStoreBuilder};
