//! express-session's second README example: log in and out, regenerating the session against fixation.
//!
//! Run it with `cargo run --example login` and open <http://127.0.0.1:3000/>.

use express_session_examples::login;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    express_session_examples::serve(login::app(login::options())?).await?;
    Ok(())
}
