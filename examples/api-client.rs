//! Sessions for API clients: the session id in the `X-Session` header instead of a cookie.
//!
//! Run it with `cargo run --example api-client`, then:
//!
//! ```text
//! curl -si -X POST localhost:3000/login -H 'content-type: application/json' -d '{"user":"alice"}'
//! curl -s localhost:3000/me -H 'X-Session: <the x-session header of the login answer>'
//! ```

use express_session_examples::api_client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    express_session_examples::serve(api_client::app(api_client::options())?).await?;
    Ok(())
}
