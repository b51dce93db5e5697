//! express-session's login example on actix-web and Redis: the twin of `cargo run --example redis-login` (axum),
//! with the routes and pages of `actix-login` and its sessions where connect-redis keeps them (`sess:<id>`,
//! express-session's JSON, TTL from the cookie). The same secret and options as `redis-login` and express's
//! example, so `redis-login` and a Node app on connect-redis (e2e/node-login/app.js) on the same Redis share its
//! logins: e2e/three.test.js logs in on this one and out on the Node one.
//!
//! Run it with `cargo run --example actix-redis-login` (Redis at `REDIS_URL`, default `redis://127.0.0.1:6379`)
//! and open <http://127.0.0.1:3000/>; `redis-cli --scan --pattern 'sess:*'` shows the sessions.

use express_session_actix::SessionMiddleware;
use express_session_examples_actix::login;
use express_session_redis::RedisStore;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisStore::connect(&url).await.map_err(|error| {
        let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
        format!("cannot use Redis at {url}: {error}: {cause}")
    })?;
    let sessions = SessionMiddleware::new(login::options().store(store))?;
    express_session_examples_actix::serve(sessions, login::routes).await?;
    Ok(())
}
