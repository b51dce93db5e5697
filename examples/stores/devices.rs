//! express-session's devices example: every session of a user. Log in by name (in two browsers, say), see your
//! sessions in a table with this device marked, end one of them, log out the other devices, or log out
//! everywhere. The app is `express_session_examples::devices`.
//!
//! Run it with `cargo run --example devices` and open <http://127.0.0.1:3000/>: the sessions are in memory
//! (`MemoryStore`, with its owner index under the data key `user`).
//!
//! It lives in this package, next to the Redis store, so that `view-counter` and `login` build without the store
//! clients.

use express_session::MemoryStore;
use express_session_examples::devices;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::builder().owner_key("user").build();
    println!("sessions in memory");
    express_session_examples::serve(devices::app(devices::options().store(store))?).await?;
    Ok(())
}
