//! [`SessionManagerLayer`].

use tower_layer::Layer;

use super::SessionManager;
use crate::engine::Engine;
use crate::options::{ConfigError, SessionOptions};

/// The tower [`Layer`] that gives every request a [`Session`](crate::Session), as `app.use(session(options))`
/// does in express.
///
/// As in express: a request that already has a session (an outer session layer gave it one) passes through
/// untouched, so stacked layers never both set a cookie or save; and the cookie-path gate checks the original
/// request path (express's `originalUrl`), which under axum's `Router::nest` is the
/// [`OriginalUri`](https://docs.rs/axum/latest/axum/extract/struct.OriginalUri.html), not the stripped URI.
///
/// ```
/// use express_session::{SessionManagerLayer, SessionOptions};
///
/// let layer = SessionManagerLayer::new(
///     SessionOptions::new()
///         .secret("a long random secret, from your configuration")
///         .resave(false)
///         .save_uninitialized(true),
/// )
/// .expect("valid options");
/// let app: axum::Router = axum::Router::new().layer(layer);
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionManagerLayer {
    engine: Engine,
}

impl SessionManagerLayer {
    /// Validates the options and builds the layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a configuration mistake (no secret, an invalid cookie name, path or domain,
    /// `SameSite=None` or `Partitioned` without `Secure`, a `__Host-`/`__Secure-` name without the attributes
    /// its prefix requires). The message says how to fix it.
    pub fn new(options: SessionOptions) -> Result<Self, ConfigError> {
        Ok(Self::from_engine(Engine::new(options)?))
    }

    /// The layer of an [`Engine`]: requests through it and through the engine's other users (another adapter,
    /// the engine used directly) share the configuration, the store and its circuit breaker.
    ///
    /// ```
    /// use express_session::engine::Engine;
    /// use express_session::{SessionManagerLayer, SessionOptions};
    ///
    /// let engine = Engine::new(SessionOptions::new().secret("a long random secret, from your configuration"))
    ///     .expect("valid options");
    /// let layer = SessionManagerLayer::from_engine(engine.clone());
    /// # let _ = layer;
    /// ```
    pub fn from_engine(engine: Engine) -> Self {
        Self { engine }
    }

    /// The layer's engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl<S> Layer<S> for SessionManagerLayer {
    type Service = SessionManager<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionManager::new(inner, self.engine.clone())
    }
}
