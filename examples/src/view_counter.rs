//! express-session's first README example: count the views of each path in the session.
//!
//! ```js
//! app.use(session({ secret: 'keyboard cat', resave: false, saveUninitialized: true }))
//! app.use(function (req, res, next) {
//!   if (!req.session.views) req.session.views = {}
//!   var pathname = parseurl(req).pathname
//!   req.session.views[pathname] = (req.session.views[pathname] || 0) + 1
//!   next()
//! })
//! app.get('/foo', (req, res) => res.send('you viewed this page ' + req.session.views['/foo'] + ' times'))
//! app.get('/bar', (req, res) => res.send('you viewed this page ' + req.session.views['/bar'] + ' times'))
//! ```

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use express_session::{ConfigError, Session, SessionError, SessionManagerLayer, SessionOptions};

type Views = BTreeMap<String, u64>;

async fn count_view(session: Session, request: Request) -> Result<String, SessionError> {
    let path = request.uri().path().to_owned();
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

/// The app: `/foo` and `/bar` behind the session layer with express's example options.
///
/// # Errors
///
/// Never with these options; the `Result` is the layer's validation.
pub fn app(options: SessionOptions) -> Result<Router, ConfigError> {
    let sessions = SessionManagerLayer::new(options)?;
    Ok(Router::new().route("/foo", get(count_view)).route("/bar", get(count_view)).layer(sessions))
}

/// express's example options: secret "keyboard cat", `resave: false`, `saveUninitialized: true`.
pub fn options() -> SessionOptions {
    // express's example secret is short; real apps use a long random one (the layer refuses short ones unless
    // told otherwise).
    SessionOptions::new().secret("keyboard cat").allow_short_secret(true).resave(false).save_uninitialized(true)
}
