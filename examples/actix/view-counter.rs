//! express-session's first README example on actix-web: count the views of each path in the session. The twin of
//! `cargo run --example view-counter` (axum): the same routes, pages and cookies.
//!
//! Run it with `cargo run --example actix-view-counter` and open <http://127.0.0.1:3000/foo>.

use express_session_actix::SessionMiddleware;
use express_session_examples_actix::view_counter;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions = SessionMiddleware::new(view_counter::options())?;
    express_session_examples_actix::serve(sessions, view_counter::routes).await?;
    Ok(())
}
