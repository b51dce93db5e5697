//! express-session's login example on PostgreSQL: the same app as `login`, with its sessions in connect-pg-simple's
//! table (`session`: `sid`, `sess` json, `expire`), created if missing, so a Node app using connect-pg-simple with
//! the same secret (and its pg connections in `TimeZone=UTC`) shares its logins.
//!
//! Run it with `cargo run --example postgres-login` (PostgreSQL at `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1/test`) and open <http://127.0.0.1:3000/>;
//! `psql -c 'SELECT sid, sess, expire FROM session'` shows the sessions.

use express_session_examples::login;
use express_session_postgres::PostgresStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
    let store = PostgresStore::builder().create_table_if_missing(true).connect(&url).await.map_err(|error| {
        let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
        format!("cannot use PostgreSQL at {url}: {error}: {cause}")
    })?;
    express_session_examples::serve(login::app(login::options().store(store))?).await?;
    Ok(())
}
