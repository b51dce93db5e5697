//! A PostgreSQL [`Store`](express_session::Store) for [`express_session`], on connect-pg-simple's table: a Rust
//! app and a Node app using [connect-pg-simple] 10 share sessions through one table, each reading what the other
//! wrote.
//!
//! [connect-pg-simple]: https://www.npmjs.com/package/connect-pg-simple
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use express_session::{Session, SessionError, SessionManagerLayer, SessionOptions};
//! use express_session_postgres::PostgresStore;
//!
//! async fn handler(session: Session) -> Result<String, SessionError> {
//!     let views = session.update("views", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
//!     Ok(format!("you viewed this page {views} times"))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1/app").await?;
//! store.migrate().await?; // connect-pg-simple's table.sql, if the table is missing
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
//! Exactly connect-pg-simple's (`table.sql`, which [`PostgresStore::migrate`] runs when the table is missing):
//!
//! ```sql
//! CREATE TABLE "session" (
//!   "sid" varchar NOT NULL COLLATE "default",
//!   "sess" json NOT NULL,
//!   "expire" timestamp(6) NOT NULL
//! )
//! WITH (OIDS=FALSE);
//! ALTER TABLE "session" ADD CONSTRAINT "session_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE;
//! CREATE INDEX "IDX_session_expire" ON "session" ("expire");
//! ```
//!
//! `sess` is express-session's JSON text (`JSON.stringify(req.session)`), stored verbatim by the `json` type.
//! The table and schema names are configurable ([`PostgresStoreBuilder::table_name`],
//! [`PostgresStoreBuilder::schema_name`]). Nothing runs DDL unless you call [`PostgresStore::migrate`] or opt in
//! with [`PostgresStoreBuilder::create_table_if_missing`].
//!
//! # Time
//!
//! All rules are connect-pg-simple's, so the Node and Rust sides agree on which rows are live:
//!
//! - A write stores `expire = to_timestamp(ceil(cookie.expires / 1000 s))`: the cookie's expiry **rounded up** to
//!   the whole second (`00:01:01.123Z` is stored as `00:01:02`). A record without `cookie.expires` (a browser-session
//!   cookie) gets `ceil(now + ttl)`, `ttl` one day by default ([`PostgresStoreBuilder::ttl`]).
//! - A row is live while `expire >= to_timestamp(ceil(now))`, with `now` the **database's** clock (`now()`), the
//!   one clock every read, write and prune uses. So a record is found until the end of the second in which its
//!   `cookie.expires` falls, up to one second later than the session layer's strict rule (and a record with
//!   `maxAge: 0` is still found in its own second), exactly as with connect-pg-simple. Expired rows are never
//!   returned, never saved over (`save_if` reports them gone) and never touched; `create` reuses their ids.
//! - Pruning deletes exactly the rows that are no longer live (`expire < ceil(now)`).
//!
//! **Time zone.** `expire` has no time zone: connect-pg-simple writes and compares it in the connection's
//! `TimeZone`. This store writes and compares UTC wall-clock time whatever the connection's setting (its
//! statements say `AT TIME ZONE 'UTC'`), and its own connections also pin `TimeZone=UTC`. **The Node side must use
//! UTC too**: run the database (or the Node app's role) with `timezone = 'UTC'`, or give pg the option
//! `options: '-c TimeZone=UTC'`; otherwise its `expire` values are shifted by the zone's offset.
//!
//! # Conditional writes
//!
//! The session layer never loses a concurrent write and never brings back a destroyed session; the store gives it
//! the three conditional writes, each one statement:
//!
//! - `create` is a plain `INSERT`; a unique violation means the id exists. An expired row with that id is deleted
//!   and the insert tried once more.
//! - `save_if` is one `UPDATE ... WHERE sid = $1 AND sess::text = $2 AND <live>`: it writes only if the row's
//!   `sess` text is still the text that was read (the version is the stored JSON text: Node writers bump no
//!   counter) and the row is live, and it never inserts, so a destroyed session is never recreated. The affected
//!   row count says saved; otherwise the same statement looks at the row as of its snapshot: live means conflict,
//!   missing or expired means gone. (A row destroyed while the statement runs can be reported as a conflict; the
//!   layer's reload then finds it gone.) A stale version takes no row lock, so the losers of a race do not queue.
//! - `touch` updates only `expire`, only of a live row, as connect-pg-simple's touch does (the stored
//!   `cookie.expires` text is left as it was).
//!
//! `set` is connect-pg-simple's upsert, for tools; `all`, `len` and `clear` count live rows only.
//!
//! # Failures
//!
//! Every call is bounded by [`PostgresStoreBuilder::timeout`] (default 5 s, waiting for a pooled connection
//! included). A server that is down, a connection that was killed, or a call that takes too long fails with
//! [`StoreError::Unavailable`](express_session::StoreError::Unavailable), which the session layer answers with a
//! 503; anything else is [`StoreError::Backend`](express_session::StoreError::Backend) (500). Each statement is
//! atomic, so a failure writes nothing half-way, and the pool reconnects by itself once the server is back.
//!
//! # Differences from connect-pg-simple
//!
//! | connect-pg-simple | here |
//! |---|---|
//! | `set` always upserts, so a slow request can recreate a destroyed session | the layer uses `create` / `save_if`; `set` remains for tools |
//! | `touch` updates `expire` even of an expired row | only a live row is touched |
//! | the table's `TimeZone` follows the connection | always UTC (see above) |
//! | a session that does not parse is destroyed by `get` | it is treated as absent and left for pruning |
//! | `DELETE ... WHERE expire < now` in one statement | batches of [`PostgresStoreBuilder::prune_batch_size`] rows, skipping locked rows |
//! | pruning interval randomised between 50 % and 150 % | a fixed interval |
//! | with another `tableName`, the DDL still names `session_pkey` and `IDX_session_expire` (so a second table in the schema fails) | `N_pkey` and `IDX_N_expire` for table `N` |
//! | no `all`, `length`, `clear` | all three, over live rows |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls` | no | TLS connections (`sslmode=require` and up), with rustls |

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod sql;
mod store;

pub use store::{PostgresStore, PostgresStoreBuilder};
