//! The view-counter app on actix-web with our middleware (`express-session-actix`): the handler of
//! `examples/actix/src/view_counter.rs` (`session.update`, atomic per key), plus the benchmark's `/static` (never
//! touches the session) and `/fill` (stores 1 KiB once, then counts), as `bench-ours` on axum.
//!
//! `STORE=memory|redis|redis-worker`, `PORT`, `REDIS_URL`. One worker, as `bench-actix`: the benchmark pins the
//! server to one core. `redis-worker` (the system `ours-actix-redis`) builds the store inside the app factory with
//! `connect_lazy`, as the actix crate's README advises, so that its connection task runs on the worker's own
//! runtime (one connection per worker); `redis` (the opt-in system `ours-actix-redis-main`) connects it in `main`,
//! as actix-session's RedisSessionStore is set up (its connection task then runs on the main thread's runtime, and
//! every store call of the worker crosses threads).

use std::collections::BTreeMap;

use actix_web::{App, HttpRequest, HttpServer, web};
use express_session::SessionOptions;
use express_session_actix::{Session, SessionError, SessionMiddleware};

type Views = BTreeMap<String, u64>;

/// `examples/actix/src/view_counter.rs`'s handler, verbatim.
async fn count_view(session: Session, request: HttpRequest) -> Result<String, SessionError> {
    let path = request.path().to_owned();
    let key = path.clone();
    // `update` is atomic per key: concurrent requests of one session never lose a view.
    let views = session
        .update("views", move |views: Option<Views>| {
            let mut views = views.unwrap_or_default();
            *views.entry(key.clone()).or_insert(0) += 1;
            views
        })
        .await?;
    Ok(format!("you viewed this page {} times", views.get(&path).copied().unwrap_or(0)))
}

/// S4's setup: the session gets a 1 KiB string, then the view is counted as on `/foo`.
async fn fill(session: Session, request: HttpRequest) -> Result<String, SessionError> {
    session.insert("blob", "x".repeat(1024)).await?;
    count_view(session, request).await
}

async fn ok() -> &'static str {
    "ok"
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/foo", web::get().to(count_view))
        .route("/bar", web::get().to(count_view))
        .route("/fill", web::get().to(fill))
        .route("/static", web::get().to(ok));
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // express's example options, as `view_counter::options()`; Secure is off by default.
    let options =
        SessionOptions::new().secret("keyboard cat").allow_short_secret(true).resave(false).save_uninitialized(true);
    let store = std::env::var("STORE").unwrap_or_else(|_| "memory".into());
    let options = match store.as_str() {
        "memory" | "redis-worker" => options,
        "redis" => {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
            options.store(express_session_redis::RedisStore::connect(&url).await?)
        }
        other => return Err(format!("unknown STORE {other}").into()),
    };
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    println!("listening on 127.0.0.1:{port} (ours on actix-web, {store})");
    if store == "redis-worker" {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
        // Fails here, not in the factory, for a URL the store would refuse.
        express_session_redis::RedisStore::builder().connect_lazy(&url)?;
        return Ok(HttpServer::new(move || {
            // The URL was checked in `main` (`Client::open` on the same text), and the factory runs on the worker's
            // runtime: this does not fail.
            let redis = express_session_redis::RedisStore::builder().connect_lazy(&url).expect("checked in main");
            let options = SessionOptions::new()
                .secret("keyboard cat")
                .allow_short_secret(true)
                .resave(false)
                .save_uninitialized(true)
                .store(redis);
            App::new().wrap(SessionMiddleware::new(options).expect("options")).configure(routes)
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await?);
    }
    let sessions = SessionMiddleware::new(options)?;
    HttpServer::new(move || App::new().wrap(sessions.clone()).configure(routes))
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await?;
    Ok(())
}
