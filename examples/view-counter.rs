//! express-session's first README example: count the views of each path in the session.
//!
//! Run it with `cargo run --example view-counter` and open <http://127.0.0.1:3000/foo>.

use express_session_examples::view_counter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    express_session_examples::serve(view_counter::app(view_counter::options())?).await?;
    Ok(())
}
