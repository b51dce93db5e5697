//! The value checks of the session handle: reading a stored value as a type, and refusing a value that could not
//! be read back once stored.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::SessionError;
use crate::record::Fields;

/// Reads a stored value as a `T`. A value kept as JSON text (see
/// [`Record::raw_json`](crate::record::Record::raw_json)) is parsed now, without serde_json's recursion limit up
/// to [`MAX_VALUE_DEPTH`](crate::record::MAX_VALUE_DEPTH).
pub(super) fn read_value<T: DeserializeOwned>(value: &Value) -> Result<T, SessionError> {
    let read = match crate::record::raw_text(value) {
        Some(text) => crate::record::parse_raw(text),
        None => T::deserialize(value),
    };
    read.map_err(|error| SessionError::Deserialize(redact(error)))
}

/// The value under `key` as a `T`, `None` when absent: read straight from its stored text when it has one (no
/// [`Value`] is built for it), else as [`read_value`] reads it (which also says why a stored text does not read).
pub(super) fn read_field<T: DeserializeOwned>(fields: &Fields, key: &str) -> Result<Option<T>, SessionError> {
    if let Some(text) = fields.stored_str(key)
        && let Ok(value) = serde_json::from_str::<T>(text)
    {
        return Ok(Some(value));
    }
    match fields.get(key) {
        None => Ok(None),
        Some(v) => read_value(v).map(Some),
    }
}

/// serde's type errors quote the value (`invalid type: string "alice", expected u64`), and errors are logged:
/// keep only what the program expected.
fn redact(error: serde_json::Error) -> serde_json::Error {
    use serde::de::Error as _;
    if !error.is_data() {
        // Syntax errors (a lone surrogate, an unreadable depth) name the problem and its position only.
        return error;
    }
    let message = error.to_string();
    if message.starts_with("the stored value is nested ")
        || message.starts_with("the stored JSON value has no Rust form")
    {
        return error;
    }
    match message.rfind(", expected ") {
        Some(at) => serde_json::Error::custom(format!(
            "the stored value does not have the requested type ({})",
            &message[at + 2..]
        )),
        None => serde_json::Error::custom("the stored value does not have the requested type"),
    }
}

/// Refuses a value that could not be read back once stored.
///
/// The stand-in of a value kept as text (which a handler can get from the store's API, `Record::data()`) is
/// written as that text: it is held to the text's depth, and must be one JSON value.
pub(super) fn check_depth(value: &Value) -> Result<(), SessionError> {
    let limit = crate::record::MAX_VALUE_DEPTH;
    let depth = match crate::record::raw_text(value) {
        Some(text) => {
            if serde_json::value::RawValue::from_string(text.to_owned()).is_err() {
                use serde::ser::Error as _;
                return Err(SessionError::Serialize(serde_json::Error::custom(
                    "the stand-in of a stored JSON text holds no JSON value",
                )));
            }
            crate::record::text_depth(text)
        }
        None => crate::record::value_depth(value),
    };
    if depth > limit {
        return Err(SessionError::TooDeep { depth, limit });
    }
    Ok(())
}
