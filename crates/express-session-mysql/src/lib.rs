//! A MySQL / MariaDB [`Store`](express_session::Store) for [`express_session`], on express-mysql-session's table:
//! a Rust app and a Node app using [express-mysql-session] 3 share sessions through one table, each reading what
//! the other wrote.
//!
//! [express-mysql-session]: https://www.npmjs.com/package/express-mysql-session
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use express_session::{Session, SessionError, SessionManagerLayer, SessionOptions};
//! use express_session_mysql::MySqlStore;
//!
//! async fn handler(session: Session) -> Result<String, SessionError> {
//!     let views = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
//!     Ok(format!("you viewed this page {views} times"))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MySqlStore::connect("mysql://root@127.0.0.1:3306/app").await?;
//! store.migrate().await?; // express-mysql-session's schema.sql, if the table is missing
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
//! Exactly express-mysql-session's (`schema.sql`, which [`MySqlStore::migrate`] runs):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS `sessions` (
//!   `session_id` varchar(128) COLLATE utf8mb4_bin NOT NULL,
//!   `expires` int(11) unsigned NOT NULL,
//!   `data` mediumtext COLLATE utf8mb4_bin,
//!   PRIMARY KEY (`session_id`)
//! ) ENGINE=InnoDB
//! ```
//!
//! `data` is express-session's JSON text (`JSON.stringify(req.session)`). The table and column names are
//! configurable ([`MySqlStoreBuilder::table_name`], [`MySqlStoreBuilder::column_names`]). Nothing runs DDL unless
//! you call [`MySqlStore::migrate`] or opt in with [`MySqlStoreBuilder::create_table_if_missing`]. The table has
//! no index on `expires` (express-mysql-session ships none); on a large table, adding one speeds up pruning and
//! changes nothing for either side.
//!
//! # Time
//!
//! All rules are express-mysql-session's, so the Node and Rust sides agree on which rows are live:
//!
//! - A write stores `expires = Math.round(cookie.expires / 1000 s)`: whole seconds since the epoch, rounded to the
//!   **nearest** second. A record without `cookie.expires` (a browser-session cookie) gets `round(now + ttl)`,
//!   `ttl` one day by default ([`MySqlStoreBuilder::ttl`]).
//! - A row is live while `expires >= round(now)`. `now` is the **database's** clock (the statement's start time,
//!   read independently of the connection's `time_zone`), the one clock every read, write and prune of this store
//!   uses; express-mysql-session reads the Node process's clock, so keep both machines' clocks synchronised. A
//!   record is therefore found until up to half a second after its `cookie.expires` (and may be gone up to half a
//!   second before it), exactly as with express-mysql-session. Expired rows are never returned, never saved over
//!   (`save_if` reports them gone) and never touched; `create` reuses their ids.
//! - Pruning deletes exactly the rows that are no longer live (`expires < round(now)`).
//!
//! # Conditional writes
//!
//! The session layer never loses a concurrent write and never brings back a destroyed session; the store gives it
//! the three conditional writes:
//!
//! - `create` is a plain `INSERT`; a duplicate key means the id exists. An expired row with that id is deleted and
//!   the insert tried once more.
//! - `save_if` is one `UPDATE ... WHERE session_id = ? AND data = ? AND <live>` (the data compared as bytes): it
//!   writes only if the row's text is still the text that was read (the version is the stored JSON text: Node
//!   writers bump no counter) and the row is live, and it never inserts, so a destroyed session is never
//!   recreated. The matched-row count says saved; otherwise a second read says conflict (the row is live, so it
//!   changed) or gone (missing or expired). The store's connections use `READ COMMITTED`, so an update whose
//!   expected text is stale skips the row without waiting for its lock.
//! - `touch` updates only `expires`, only of a live row, as express-mysql-session's touch does (the stored
//!   `cookie.expires` text is left as it was).
//!
//! `set` is express-mysql-session's upsert (`ON DUPLICATE KEY UPDATE`), for tools; `all`, `len` and `clear` work
//! on live rows as express-mysql-session's do.
//!
//! # Failures
//!
//! Every call is bounded by [`MySqlStoreBuilder::timeout`] (default 5 s, waiting for a pooled connection
//! included). A server that is down, a connection that was killed, or a call that takes too long fails with
//! [`StoreError::Unavailable`](express_session::StoreError::Unavailable), which the session layer answers with a
//! 503; anything else is [`StoreError::Backend`](express_session::StoreError::Backend) (500). Each statement is
//! atomic, so a failure writes nothing half-way, and the pool reconnects by itself once the server is back.
//!
//! # Differences from express-mysql-session
//!
//! | express-mysql-session | here |
//! |---|---|
//! | `set` always upserts, so a slow request can recreate a destroyed session | the layer uses `create` / `save_if`; `set` remains for tools |
//! | `touch` updates `expires` even of an expired row | only a live row is touched |
//! | the Node process's clock decides expiry | the database's clock |
//! | `createDatabaseTable` defaults to `true` | explicit: [`MySqlStore::migrate`] or [`MySqlStoreBuilder::create_table_if_missing`] |
//! | a session that does not parse fails `get` | it is treated as absent |
//! | `DELETE ... WHERE expires < now` in one statement | batches of [`MySqlStoreBuilder::prune_batch_size`] rows |
//! | an `expires` beyond 2106 fails the write | it is clamped to the column's range |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls` | no | TLS connections (`ssl-mode=required` and up), with rustls |

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod sql;
mod store;

pub use store::{MySqlStore, MySqlStoreBuilder};
