//! express-session's first README example: count the views of each path in the session (the twin of
//! `express_session_examples::view_counter`).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, web};
use express_session::SessionOptions;
use express_session_actix::{Session, SessionError};

type Views = BTreeMap<String, u64>;

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

/// The routes: `GET /foo` and `GET /bar` (and `HEAD`, as axum's `get` answers it).
///
/// ```
/// use actix_web::App;
/// use express_session_actix::SessionMiddleware;
/// use express_session_examples_actix::view_counter;
///
/// let sessions = SessionMiddleware::new(view_counter::options()).expect("valid options");
/// let app = App::new().wrap(sessions).configure(view_counter::routes);
/// # let _ = app;
/// ```
pub fn routes(config: &mut web::ServiceConfig) {
    for path in ["/foo", "/bar"] {
        config.service(web::resource(path).route(web::get().to(count_view)).route(web::head().to(count_view)));
    }
}

/// express's example options: secret "keyboard cat", `resave: false`, `saveUninitialized: true`.
pub fn options() -> SessionOptions {
    // express's example secret is short; real apps use a long random one (the middleware refuses short ones
    // unless told otherwise).
    SessionOptions::new().secret("keyboard cat").allow_short_secret(true).resave(false).save_uninitialized(true)
}
