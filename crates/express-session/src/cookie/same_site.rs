//! The `SameSite` cookie attribute.

use std::str::FromStr;

use super::ParseAttributeError;

/// The `SameSite` cookie attribute.
///
/// ```
/// use express_session::{CookieOptions, SameSite};
/// assert_eq!(SameSite::Lax.as_attribute(), "Lax");
/// assert_eq!("strict".parse::<SameSite>(), Ok(SameSite::Strict));
/// let options = CookieOptions::new().same_site(SameSite::Lax);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Strict` (express: `true` or `'strict'`).
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None`; requires `Secure`.
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_attribute(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

impl FromStr for SameSite {
    type Err = ParseAttributeError;

    /// Case-insensitive `strict`, `lax` or `none`, as express accepts them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "lax" => Ok(Self::Lax),
            "none" => Ok(Self::None),
            _ => Err(ParseAttributeError::same_site(s)),
        }
    }
}
