//! What the layer does when the store fails during a request.

/// What the layer does when the store fails (or times out) during a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Answer 503 (unreachable) or 500 with a short body and no `Set-Cookie`; the cause is logged. The default.
    #[default]
    Fail,
    /// Serve the request without a session, as express does when its store is disconnected: session calls
    /// report [`SessionError::NoSession`](crate::SessionError::NoSession), a failed end-of-request write leaves
    /// the response as the handler made it (without `Set-Cookie`), and the cause is logged.
    ServeWithoutSession,
}
