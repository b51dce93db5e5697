//! express-session's devices example: every session of a user. Log in by name (in two browsers, say), see your
//! sessions in a table with this device marked, end one of them, log out the other devices, or log out
//! everywhere. The app is `express_session_examples::devices`.
//!
//! Run it with `cargo run --example devices` and open <http://127.0.0.1:3000/>: the sessions are in memory
//! (`MemoryStore`, with its owner index under the data key `user`). With `REDIS_URL` set (for example
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run --example devices`) they are in Redis, where connect-redis keeps
//! them (`sess:<id>`), with the owner index in one set per user (`owner:sess:<name>`): two servers on one Redis
//! list and end each other's sessions.
//!
//! It lives in this package, next to the Redis store, so that `view-counter` and `login` build without the store
//! clients.

use express_session::MemoryStore;
use express_session_examples::devices;
use express_session_redis::RedisStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = devices::options();
    // An empty REDIS_URL is none.
    let app = match std::env::var("REDIS_URL").ok().filter(|url| !url.is_empty()) {
        Some(url) => {
            let store = RedisStore::builder().owner_key("user").connect(&url).await.map_err(|error| {
                let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
                format!("cannot use Redis at REDIS_URL: {error}: {cause}")
            })?;
            println!("sessions in Redis (REDIS_URL)");
            devices::app(options.store(store))?
        }
        None => {
            println!("sessions in memory (set REDIS_URL to keep them in Redis)");
            devices::app(options.store(MemoryStore::builder().owner_key("user").build()))?
        }
    };
    express_session_examples::serve(app).await?;
    Ok(())
}
