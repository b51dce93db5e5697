//! express-session's `unset` option.

/// express's `unset`: what `req.session = null` (here [`Session::unset`](crate::Session::unset)) does to the
/// stored session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Unset {
    /// Keep the stored session; only this request's changes are discarded.
    #[default]
    Keep,
    /// Destroy the stored session at the end of the request.
    Destroy,
}
