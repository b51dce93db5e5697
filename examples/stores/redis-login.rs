//! express-session's login example on Redis: the same app as `login`, with its sessions where connect-redis keeps
//! them (`sess:<id>`, express-session's JSON, TTL from the cookie), so a Node app using connect-redis with the same
//! secret shares its logins.
//!
//! Run it with `cargo run --example redis-login` (Redis at `REDIS_URL`, default `redis://127.0.0.1:6379`) and
//! open <http://127.0.0.1:3000/>; `redis-cli --scan --pattern 'sess:*'` shows the sessions.

use express_session_examples::login;
use express_session_redis::RedisStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisStore::connect(&url).await.map_err(|error| {
        let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
        format!("cannot use Redis at {url}: {error}: {cause}")
    })?;
    express_session_examples::serve(login::app(login::options().store(store))?).await?;
    Ok(())
}
