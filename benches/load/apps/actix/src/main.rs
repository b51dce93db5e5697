//! The view-counter app on actix-web + actix-session (CookieSessionStore or RedisSessionStore). The counter is
//! read with `get` and written with `insert`: actix-session 0.11's `update` on an existing key does not mark the
//! session changed, so its new value would not be saved.
//!
//! `STORE=none` serves the same routes with no session middleware (`/foo` answers as a first view would): the
//! actix-web ceiling, as `bench-plain` is axum's.
//!
//! `STORE=cookie|redis|none`, `PORT`, `REDIS_URL`. One worker: the benchmark pins the server to one core.

use std::collections::BTreeMap;

use actix_session::storage::{CookieSessionStore, RedisSessionStore};
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{App, HttpRequest, HttpServer, web};

type Views = BTreeMap<String, u64>;

async fn count_view(session: Session, request: HttpRequest) -> actix_web::Result<String> {
    let mut views: Views = session.get("views")?.unwrap_or_default();
    let n = {
        let n = views.entry(request.path().to_owned()).or_insert(0);
        *n += 1;
        *n
    };
    session.insert("views", views)?;
    Ok(format!("you viewed this page {n} times"))
}

async fn fill(session: Session, request: HttpRequest) -> actix_web::Result<String> {
    session.insert("blob", "x".repeat(1024))?;
    count_view(session, request).await
}

/// The ceiling's `/foo`, `/bar` and `/fill`: no session, the page of a first view.
async fn count_view_none(request: HttpRequest) -> String {
    let _path = request.path().to_owned();
    format!("you viewed this page {} times", 1)
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

fn routes_none(cfg: &mut web::ServiceConfig) {
    cfg.route("/foo", web::get().to(count_view_none))
        .route("/bar", web::get().to(count_view_none))
        .route("/fill", web::get().to(count_view_none))
        .route("/static", web::get().to(ok));
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = std::env::var("STORE").unwrap_or_else(|_| "cookie".into());
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    // A fixed 64-byte key (actix-session requires one); the default content security, Private (AES-256-GCM).
    let key = Key::from(&[7u8; 64]);
    println!("listening on 127.0.0.1:{port} (actix-session, {store})");
    match store.as_str() {
        "cookie" => {
            HttpServer::new(move || {
                App::new()
                    .wrap(
                        SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                            .cookie_secure(false)
                            .build(),
                    )
                    .configure(routes)
            })
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await?
        }
        "redis" => {
            let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
            let redis = RedisSessionStore::new(url).await.map_err(|e| e.to_string())?;
            HttpServer::new(move || {
                App::new()
                    .wrap(SessionMiddleware::builder(redis.clone(), key.clone()).cookie_secure(false).build())
                    .configure(routes)
            })
            .workers(1)
            .bind(("127.0.0.1", port))?
            .run()
            .await?
        }
        "none" => {
            HttpServer::new(|| App::new().configure(routes_none)).workers(1).bind(("127.0.0.1", port))?.run().await?
        }
        other => return Err(format!("unknown STORE {other}").into()),
    }
    Ok(())
}
