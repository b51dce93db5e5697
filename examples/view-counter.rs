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
//!
//! Run it with `cargo run --example view-counter` and open <http://127.0.0.1:3000/foo>.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use express_session::{Session, SessionError, SessionManagerLayer, SessionOptions};

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
    Ok(format!("you viewed this page {} times", views[&path]))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions =
        SessionManagerLayer::new(SessionOptions::new().secret("keyboard cat").resave(false).save_uninitialized(true))?;
    let app = Router::new().route("/foo", get(count_view)).route("/bar", get(count_view)).layer(sessions);
    express_session_examples::serve(app).await?;
    Ok(())
}
