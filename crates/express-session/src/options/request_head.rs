//! What a custom `genid` sees of the request.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, Method, Uri};

/// The parts of a request a custom [`genid`](crate::SessionOptions::genid) can look at (express passes `req`).
///
/// ```
/// use express_session::options::RequestHead;
/// let head = RequestHead::new(http::Method::GET, "/login".parse().unwrap(), http::HeaderMap::new());
/// assert_eq!(head.uri.path(), "/login");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request URI.
    pub uri: Uri,
    /// The request headers.
    pub headers: HeaderMap,
}

impl RequestHead {
    /// The parts of a request, for an adapter that calls the engine (or a test of a `genid`).
    pub fn new(method: Method, uri: Uri, headers: HeaderMap) -> Self {
        Self { method, uri, headers }
    }
}

/// A custom `genid` closure.
#[derive(Clone)]
pub(crate) struct GenIdFn(pub(crate) Arc<dyn Fn(&RequestHead) -> String + Send + Sync>);

impl fmt::Debug for GenIdFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GenIdFn(custom)")
    }
}
