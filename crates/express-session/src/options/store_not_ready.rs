//! What the layer does when the store is not ready.

/// What the layer does when the store reports that it is not ready (express: a `disconnect` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreNotReady {
    /// Answer 503 without calling the handler (the default: fail closed).
    #[default]
    Fail,
    /// Call the handler without a session, as express does.
    PassThrough,
}
