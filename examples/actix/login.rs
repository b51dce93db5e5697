//! express-session's second README example on actix-web: log in and out, regenerating the session against
//! fixation. The twin of `cargo run --example login` (axum): the same routes, pages and cookies.
//!
//! Run it with `cargo run --example actix-login` and open <http://127.0.0.1:3000/>.

use express_session_actix::SessionMiddleware;
use express_session_examples_actix::login;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions = SessionMiddleware::new(login::options())?;
    express_session_examples_actix::serve(sessions, login::routes).await?;
    Ok(())
}
