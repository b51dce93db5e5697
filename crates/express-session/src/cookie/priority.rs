//! The `Priority` cookie attribute.

use std::str::FromStr;

use super::ParseAttributeError;

/// The `Priority` cookie attribute (a Chrome extension).
///
/// ```
/// use express_session::{CookieOptions, Priority};
/// assert_eq!(Priority::High.as_attribute(), "High");
/// assert_eq!("HIGH".parse::<Priority>(), Ok(Priority::High));
/// let options = CookieOptions::new().priority(Priority::High);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// `Priority=Low`.
    Low,
    /// `Priority=Medium`.
    Medium,
    /// `Priority=High`.
    High,
}

impl Priority {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_attribute(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
        }
    }
}

impl FromStr for Priority {
    type Err = ParseAttributeError;

    /// Case-insensitive `low`, `medium` or `high`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            _ => Err(ParseAttributeError::priority(s)),
        }
    }
}
