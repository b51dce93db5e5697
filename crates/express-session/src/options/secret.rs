//! The secrets that sign the session cookie.

use std::fmt;
use std::sync::Arc;

/// A secret used to sign the session cookie. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl<T: AsRef<[u8]>> From<T> for Secret {
    fn from(value: T) -> Self {
        Self(value.as_ref().into())
    }
}
